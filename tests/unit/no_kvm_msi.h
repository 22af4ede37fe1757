/* tests/unit/no_kvm_msi.h: irq.c's KVM calls for tests that run devices without KVM: no GSI, no route, no irqfd. */
#ifndef NO_KVM_MSI_H
#define NO_KVM_MSI_H
#include <errno.h>
#include "vmm.h"

int msi_gsi_alloc(struct vm *vm) { (void)vm; return -ENOSPC; }
int msi_route_set_dev(struct vm *vm, int gsi, uint64_t a, uint32_t d, uint32_t devid) { (void)vm; (void)gsi; (void)a; (void)d; (void)devid; return -EINVAL; }
int irqfd_assign(struct vm *vm, int efd, int gsi) { (void)vm; (void)efd; (void)gsi; return -EINVAL; }
int irqfd_deassign(struct vm *vm, int efd, int gsi) { (void)vm; (void)efd; (void)gsi; return -EINVAL; }
#endif
