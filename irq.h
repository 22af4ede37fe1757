/* irq.h: MSI routes (mirrored to KVM_SET_GSI_ROUTING), irqfds and KVM_SIGNAL_MSI: the interrupt path every device uses, on any architecture. */
#ifndef IRQ_H
#define IRQ_H

#include "vmm.h"

struct vm;
struct kvm_msi;

/*
 * MSI routing, mirrored in vm->routes under vm->route_lock and pushed whole
 * with KVM_SET_GSI_ROUTING. GSIs below MSI_FIRST_GSI (machine.h) belong to the
 * interrupt controller (x86: the IOAPIC's pins); the rest are handed out by
 * msi_gsi_alloc. addr/data as the guest wrote them into an MSI-X entry. Failed ioctls print their name.
 */
int msi_gsi_alloc(struct vm *vm) MUST_CHECK;                 /* a free GSI (no route yet), or -ENOSPC */
/* Free a GSI from msi_gsi_alloc (its route is removed first); -EINVAL if not allocated. */
int msi_gsi_free(struct vm *vm, int gsi) MUST_CHECK;
/*
 * Route gsi to the MSI addr/data and update KVM (no ioctl if unchanged).
 * -EINVAL if gsi is out of range, or if addr is not an interrupt message
 * (0x00000000_FEExxxxx): then the GSI is left with no route.
 */
int msi_route_set(struct vm *vm, int gsi, uint64_t addr, uint32_t data) MUST_CHECK;
/* The same for a message from PCI requester `devid` (bus << 8 | devfn), which arm64's ITS needs. */
int msi_route_set_dev(struct vm *vm, int gsi, uint64_t addr, uint32_t data, uint32_t devid) MUST_CHECK;
/* Remove gsi's route from KVM (an irqfd on it then does nothing); the GSI stays allocated. */
int msi_route_clear(struct vm *vm, int gsi) MUST_CHECK;
/* KVM_IRQFD: writes to eventfd efd raise gsi / stop doing so. */
int irqfd_assign(struct vm *vm, int efd, int gsi) MUST_CHECK;
int irqfd_deassign(struct vm *vm, int efd, int gsi) MUST_CHECK;
/* Inject one MSI now (KVM_SIGNAL_MSI). 0 if delivered or blocked by the guest; -EINVAL if not an interrupt message. */
int msi_signal(struct vm *vm, uint64_t addr, uint32_t data) MUST_CHECK;

/*
 * The architecture's part (apic/msi.c, arm64/gic.c): the KVM form of the message a device
 * wrote (address, data, requester id). false if addr is not an interrupt message here. Pure.
 */
bool arch_msi(uint64_t addr, uint32_t data, uint32_t devid, struct kvm_msi *out);

#endif
