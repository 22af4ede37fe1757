/* apic/msi.c: MSI routing (vm->routes mirrored to KVM_SET_GSI_ROUTING), irqfds and KVM_SIGNAL_MSI. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "apic.h"
#include "../kvm.h"
#include "../vm.h"

#define MSI_ADDR_BASE  0xfee00000u
#define MSI_ADDR_MASK  0xfff00000u
#define MSI_EXT_SHIFT  5
#define MSI_EXT_MASK   (0x7fu << MSI_EXT_SHIFT)

bool msi_addr_to_kvm(uint64_t addr, uint32_t *lo, uint32_t *hi)
{
	uint32_t a = (uint32_t)addr;

	if ((addr >> 32) != 0 || (a & MSI_ADDR_MASK) != MSI_ADDR_BASE)
		return false;
	*lo = a & ~MSI_EXT_MASK;
	*hi = ((a & MSI_EXT_MASK) >> MSI_EXT_SHIFT) << 8;   /* destination bits 14:8 */
	return true;
}

/* Room for every GSI; a union keeps the flexible array legal and aligned. */
union routing_buf {
	struct kvm_irq_routing r;
	uint8_t raw[sizeof(struct kvm_irq_routing) + MAX_GSI * sizeof(struct kvm_irq_routing_entry)];
};

/* Push the whole mirror to KVM. Called with route_lock held. */
static int push_routes(struct vm *vm)
{
	union routing_buf buf;
	uint32_t n = 0;

	memset(&buf, 0, sizeof(buf));
	for (int gsi = 0; gsi < MAX_GSI; gsi++) {
		struct kvm_irq_routing_entry *e = &buf.r.entries[n];

		if (!vm->routes[gsi].used || !vm->routes[gsi].addr_lo)
			continue;
		e->gsi = (uint32_t)gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = vm->routes[gsi].addr_lo;
		e->u.msi.address_hi = vm->routes[gsi].addr_hi;
		e->u.msi.data = vm->routes[gsi].data;
		n++;
	}
	buf.r.nr = n;
	return kvm_ioctl_named(vm->vm_fd, KVM_SET_GSI_ROUTING, &buf.r, "KVM_SET_GSI_ROUTING");
}

/* Replace gsi's route (lo == 0: no route) and push; on failure restore the mirror. Lock held. */
static int route_update(struct vm *vm, int gsi, uint32_t lo, uint32_t hi, uint32_t data)
{
	typeof(vm->routes[0]) old = vm->routes[gsi];
	int r;

	if (old.addr_lo == lo && (!lo || (old.addr_hi == hi && old.data == data)))
		return 0;
	vm->routes[gsi].addr_lo = lo;
	vm->routes[gsi].addr_hi = lo ? hi : 0;
	vm->routes[gsi].data = lo ? data : 0;
	r = push_routes(vm);
	if (r < 0)
		vm->routes[gsi] = old;
	return r < 0 ? r : 0;
}

int msi_gsi_alloc(struct vm *vm)
{
	int gsi = -ENOSPC;

	pthread_mutex_lock(&vm->route_lock);
	for (int i = IOAPIC_PINS; i < MAX_GSI; i++) {
		if (!vm->routes[i].used) {
			memset(&vm->routes[i], 0, sizeof(vm->routes[i]));
			vm->routes[i].used = true;
			gsi = i;
			break;
		}
	}
	pthread_mutex_unlock(&vm->route_lock);
	return gsi;
}

int msi_gsi_free(struct vm *vm, int gsi)
{
	int r = -EINVAL;

	if (gsi < IOAPIC_PINS || gsi >= MAX_GSI)
		return -EINVAL;
	pthread_mutex_lock(&vm->route_lock);
	if (vm->routes[gsi].used) {
		r = route_update(vm, gsi, 0, 0, 0);
		if (r == 0)
			vm->routes[gsi].used = false;
	}
	pthread_mutex_unlock(&vm->route_lock);
	return r;
}

int msi_route_set(struct vm *vm, int gsi, uint64_t addr, uint32_t data)
{
	uint32_t lo = 0, hi = 0;
	bool valid = msi_addr_to_kvm(addr, &lo, &hi);
	int r;

	if (gsi < 0 || gsi >= MAX_GSI)
		return -EINVAL;
	pthread_mutex_lock(&vm->route_lock);
	if (gsi < IOAPIC_PINS)
		vm->routes[gsi].used = true;
	if (!vm->routes[gsi].used)
		r = -EINVAL;
	else if (!valid)
		r = route_update(vm, gsi, 0, 0, 0) < 0 ? -EIO : -EINVAL;
	else
		r = route_update(vm, gsi, lo, hi, data);
	pthread_mutex_unlock(&vm->route_lock);
	return r;
}

int msi_route_clear(struct vm *vm, int gsi)
{
	int r;

	if (gsi < 0 || gsi >= MAX_GSI)
		return -EINVAL;
	pthread_mutex_lock(&vm->route_lock);
	r = route_update(vm, gsi, 0, 0, 0);
	pthread_mutex_unlock(&vm->route_lock);
	return r;
}

static int irqfd(struct vm *vm, int efd, int gsi, uint32_t flags, const char *name)
{
	struct kvm_irqfd f;

	if (gsi < 0 || gsi >= MAX_GSI || efd < 0)
		return -EINVAL;
	memset(&f, 0, sizeof(f));
	f.fd = (uint32_t)efd;
	f.gsi = (uint32_t)gsi;
	f.flags = flags;
	int r = kvm_ioctl_named(vm->vm_fd, KVM_IRQFD, &f, name);
	return r < 0 ? r : 0;
}

int irqfd_assign(struct vm *vm, int efd, int gsi)
{
	return irqfd(vm, efd, gsi, 0, "KVM_IRQFD");
}

int irqfd_deassign(struct vm *vm, int efd, int gsi)
{
	return irqfd(vm, efd, gsi, KVM_IRQFD_FLAG_DEASSIGN, "KVM_IRQFD(deassign)");
}

int msi_signal(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi m;

	memset(&m, 0, sizeof(m));
	if (!msi_addr_to_kvm(addr, &m.address_lo, &m.address_hi))
		return -EINVAL;
	m.data = data;
	int r = kvm_ioctl_named(vm->vm_fd, KVM_SIGNAL_MSI, &m, "KVM_SIGNAL_MSI");
	return r < 0 ? r : 0;   /* 0 = blocked by the guest (e.g. APIC disabled): not an error */
}
