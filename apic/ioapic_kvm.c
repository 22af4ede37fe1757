/* apic/ioapic_kvm.c: wires the userspace IOAPIC to KVM: KVM_SIGNAL_MSI delivery, pin routes for EOI exits, MMIO. */
#include <errno.h>

#include "apic.h"
#include "../vm.h"

static void kvm_send(void *opaque, uint64_t addr, uint32_t data)
{
	int r = msi_signal(opaque, addr, data);
	(void)r;   /* a failing ioctl has printed its name; nothing else to do for one interrupt */
}

/*
 * KVM learns which vectors need KVM_EXIT_IOAPIC_EOI from the level-triggered
 * MSI routes of GSIs 0..IOAPIC_PINS-1. Delivery itself uses KVM_SIGNAL_MSI, so
 * edge entries need no route: skipping them keeps Linux's RTE writes (and our
 * set-up) free of KVM_SET_GSI_ROUTING calls.
 */
static void kvm_route(void *opaque, unsigned pin, uint64_t addr, uint32_t data)
{
	int r;

	if (data & (1u << 15))
		r = msi_route_set(opaque, (int)pin, addr, data);
	else
		r = msi_route_clear(opaque, (int)pin);
	(void)r;   /* a failing ioctl has printed its name */
}

int apic_ioapic_setup(struct vm *vm)
{
	struct ioapic *io = ioapic_create(kvm_send, vm);
	int r;

	if (!io)
		return -ENOMEM;
	ioapic_set_route_hook(io, kvm_route);
	r = io_register(&vm->io, IO_MMIO, IOAPIC_ADDR, IOAPIC_SIZE, ioapic_mmio, io, "ioapic");
	if (r < 0) {
		ioapic_destroy(io);
		return r;
	}
	vm->ioapic = io;
	return 0;
}
