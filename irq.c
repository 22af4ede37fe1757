/* irq.c: MSI routing (vm->routes mirrored to KVM_SET_GSI_ROUTING), irqfds and KVM_SIGNAL_MSI, on any architecture (arch_msi says what a message means). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "irq.h"
#include "kvm.h"
#include "vm.h"

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
		e->flags = vm->routes[gsi].flags;
		e->u.msi.address_lo = vm->routes[gsi].addr_lo;
		e->u.msi.address_hi = vm->routes[gsi].addr_hi;
		e->u.msi.data = vm->routes[gsi].data;
		e->u.msi.devid = vm->routes[gsi].devid;
		n++;
	}
	buf.r.nr = n;
	return kvm_ioctl_named(vm->vm_fd, KVM_SET_GSI_ROUTING, &buf.r, "KVM_SET_GSI_ROUTING");
}

/* Replace gsi's route (m NULL: no route) and push; on failure restore the mirror. Lock held. */
static int route_update(struct vm *vm, int gsi, const struct kvm_msi *m)
{
	typeof(vm->routes[0]) old = vm->routes[gsi];
	int r;

	if (!m ? !old.addr_lo : old.addr_lo == m->address_lo && old.addr_hi == m->address_hi &&
	    old.data == m->data && old.flags == m->flags && old.devid == m->devid)
		return 0;
	vm->routes[gsi].addr_lo = m ? m->address_lo : 0;
	vm->routes[gsi].addr_hi = m ? m->address_hi : 0;
	vm->routes[gsi].data = m ? m->data : 0;
	vm->routes[gsi].flags = m ? m->flags : 0;
	vm->routes[gsi].devid = m ? m->devid : 0;
	r = push_routes(vm);
	if (r < 0)
		vm->routes[gsi] = old;
	return r < 0 ? r : 0;
}

int msi_gsi_alloc(struct vm *vm)
{
	int gsi = -ENOSPC;

	pthread_mutex_lock(&vm->route_lock);
	for (int i = MSI_FIRST_GSI; i < MAX_GSI; i++) {
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

	if (gsi < MSI_FIRST_GSI || gsi >= MAX_GSI)
		return -EINVAL;
	pthread_mutex_lock(&vm->route_lock);
	if (vm->routes[gsi].used) {
		r = route_update(vm, gsi, NULL);
		if (r == 0)
			vm->routes[gsi].used = false;
	}
	pthread_mutex_unlock(&vm->route_lock);
	return r;
}

int msi_route_set_dev(struct vm *vm, int gsi, uint64_t addr, uint32_t data, uint32_t devid)
{
	struct kvm_msi m;
	bool valid = arch_msi(addr, data, devid, &m);
	int r;

	if (gsi < 0 || gsi >= MAX_GSI)
		return -EINVAL;
	pthread_mutex_lock(&vm->route_lock);
	if (gsi < MSI_FIRST_GSI)
		vm->routes[gsi].used = true;
	if (!vm->routes[gsi].used)
		r = -EINVAL;
	else if (!valid)
		r = route_update(vm, gsi, NULL) < 0 ? -EIO : -EINVAL;
	else
		r = route_update(vm, gsi, &m);
	pthread_mutex_unlock(&vm->route_lock);
	return r;
}

int msi_route_set(struct vm *vm, int gsi, uint64_t addr, uint32_t data)
{
	return msi_route_set_dev(vm, gsi, addr, data, 0);
}

int msi_route_clear(struct vm *vm, int gsi)
{
	int r;

	if (gsi < 0 || gsi >= MAX_GSI)
		return -EINVAL;
	pthread_mutex_lock(&vm->route_lock);
	r = route_update(vm, gsi, NULL);
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

	if (!arch_msi(addr, data, 0, &m))
		return -EINVAL;
	int r = kvm_ioctl_named(vm->vm_fd, KVM_SIGNAL_MSI, &m, "KVM_SIGNAL_MSI");
	return r < 0 ? r : 0;   /* 0 = blocked by the guest (e.g. APIC disabled): not an error */
}
