/* apic/apic.h: the interrupt path: userspace IOAPIC, split irqchip + x2APIC API, LAPIC set-up, MSI routes and irqfds. */
#ifndef APIC_H
#define APIC_H

#include "../vmm.h"
#include "../irq.h"

struct vm;
struct vcpu;

#define IOAPIC_PINS 24
#define IOAPIC_ID   0     /* MADT's IOAPIC ID (x2APIC IDs use 0..n-1, separate namespace) */
#define IOAPIC_SIZE 0x1000 /* MMIO window at IOAPIC_ADDR */

/*
 * Deliver one MSI. addr/data are in the Intel SDM's MSI format (addr 0xFEExxxxx,
 * destination ID bits 7:0 in addr 19:12 and bits 14:8 in addr 11:5).
 */
typedef void msi_send_fn(void *opaque, uint64_t addr, uint32_t data);
/*
 * A pin's redirection entry now translates to this MSI (masked or not). With a
 * split irqchip KVM finds the level-triggered vectors that need
 * KVM_EXIT_IOAPIC_EOI by scanning GSI routes 0..IOAPIC_PINS-1, so these must
 * be mirrored there (apic_ioapic_setup does). Called under the IOAPIC lock.
 */
typedef void ioapic_route_fn(void *opaque, unsigned pin, uint64_t addr, uint32_t data);

/*
 * The userspace IOAPIC (82093AA register model, version 0x20 with the EOI
 * register at +0x40, 24 pins). Delivers by turning a redirection entry into an
 * MSI and calling send() (under the IOAPIC lock). Thread safe: own lock.
 * Edge interrupts that arrive while their entry is masked are latched and
 * delivered on unmask (as QEMU does; Linux tolerates both). NULL on ENOMEM.
 */
struct ioapic *ioapic_create(msi_send_fn *send, void *opaque);
/* Install the route mirror hook (may be NULL); called at once for every pin. */
void ioapic_set_route_hook(struct ioapic *io, ioapic_route_fn *route);
void ioapic_destroy(struct ioapic *io);
/*
 * The MMIO handler for [IOAPIC_ADDR, +IOAPIC_SIZE); opaque is the ioapic.
 * Only aligned 32-bit accesses to IOREGSEL (0x00), IOWIN (0x10) and EOI (0x40)
 * do anything; other sizes/offsets read 0 and are ignored (rate-limited warning).
 */
io_fn ioapic_mmio;
/*
 * Set the wire level of a pin (0/1; an active-low entry sees it inverted).
 * Edge: a rising effective level fires; level: fires while asserted and remote
 * IRR is clear. Out-of-range pins are ignored. Safe from any thread.
 */
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* KVM_EXIT_IOAPIC_EOI for `vector`: clear remote IRR of matching level entries, re-fire if still asserted. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/*
 * Create the IOAPIC for a VM: MSIs go out with KVM_SIGNAL_MSI, pin routes are
 * mirrored to GSIs 0..IOAPIC_PINS-1, the MMIO window is registered and
 * vm->ioapic set. Call after apic_vm_setup. -errno on failure.
 */
int apic_ioapic_setup(struct vm *vm) MUST_CHECK;

/* Enable split irqchip (24 IOAPIC routes) and the x2APIC API (32-bit IDs, no broadcast quirk).
 * Must run before the first vCPU is created. -errno (message printed naming the ioctl). */
int apic_vm_setup(struct vm *vm) MUST_CHECK;
/*
 * Per vCPU, after its CPUID is set (cpu_vcpu_setup calls it): LAPIC LVTs as
 * firmware leaves them (LINT0 ExtINT masked, LINT1 NMI). -errno (message
 * printed naming the ioctl).
 */
int apic_lapic_setup(struct vcpu *v) MUST_CHECK;

/*
 * Convert an SDM-format MSI address to KVM's x2APIC-API form (destination
 * bits 31:8 in address_hi 31:8, the extended-ID bits 11:5 moved there).
 * false if addr is not an interrupt message. Pure; exported for tests.
 */
bool msi_addr_to_kvm(uint64_t addr, uint32_t *lo, uint32_t *hi);

#endif
