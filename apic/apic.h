/* apic/apic.h: the interrupt path: userspace IOAPIC, x2APIC CPUID/LAPIC set-up, MSI routes and irqfds. */
#ifndef APIC_H
#define APIC_H

#include "../vmm.h"

#define IOAPIC_PINS 24
#define IOAPIC_ID   0     /* MADT's IOAPIC ID (x2APIC IDs use 0..n-1, separate namespace) */

typedef void msi_send_fn(void *opaque, uint64_t addr, uint32_t data);

/*
 * The userspace IOAPIC (82093AA register model, version 0x20, 24 pins).
 * Delivers by turning a redirection entry into an MSI (addr/data as the
 * Intel SDM's MSI format) and calling send(). Thread safe: own lock.
 */
struct ioapic *ioapic_create(msi_send_fn *send, void *opaque);
void ioapic_destroy(struct ioapic *io);
/* The MMIO handler for [IOAPIC_ADDR, +0x1000). */
io_fn ioapic_mmio;
/* Set the input level of a pin (edge: a 0->1 transition fires; level: fires while 1 and remote IRR clear). */
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* KVM_EXIT_IOAPIC_EOI for `vector`: clear remote IRR of matching level entries, re-fire if still asserted. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/* Enable split irqchip (24 IOAPIC routes) and the x2APIC API (32-bit IDs, no broadcast quirk). */
int apic_vm_setup(struct vm *vm) MUST_CHECK;
/* Per vCPU: CPUID from KVM_GET_SUPPORTED_CPUID with topology, APIC ID = id, x2APIC, KVM leaves; LAPIC LVTs. */
int apic_vcpu_setup(struct vm *vm, struct vcpu *v) MUST_CHECK;

/* MSI routing: GSIs >= IOAPIC_PINS. */
int msi_gsi_alloc(struct vm *vm) MUST_CHECK;                 /* a free GSI, or -ENOSPC */
int msi_route_set(struct vm *vm, int gsi, uint64_t addr, uint32_t data) MUST_CHECK;  /* updates KVM */
int msi_route_clear(struct vm *vm, int gsi) MUST_CHECK;       /* updates KVM */
int irqfd_assign(struct vm *vm, int efd, int gsi) MUST_CHECK;
int irqfd_deassign(struct vm *vm, int efd, int gsi) MUST_CHECK;
/* Inject one MSI now (KVM_SIGNAL_MSI). */
int msi_signal(struct vm *vm, uint64_t addr, uint32_t data) MUST_CHECK;

#endif
