/* kvm.h: the thin KVM layer: VM, memory, vCPU creation and the vCPU run loop. */
#ifndef KVM_H
#define KVM_H

#include "vm.h"
#include "boot/boot.h"

/*
 * ioctl wrapper that names the failing ioctl: returns the ioctl's result, or
 * -errno. Use kvm_check() where failure is fatal at setup.
 */
#define kvm_ioctl(fd, req, arg) kvm_ioctl_(fd, req, (unsigned long)(arg))
long kvm_ioctl_(int fd, unsigned long req, unsigned long arg);
/* The same, printing "vmm: <name>: <strerror>" on failure (name may add detail: "KVM_ENABLE_CAP(X)"). */
long kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name) MUST_CHECK;
#define kvm_check(fd, req, arg) kvm_check_(fd, req, (unsigned long)(arg), #req)
long kvm_check_(int fd, unsigned long req, unsigned long arg, const char *name);

/* Open /dev/kvm, check the API version and the capabilities we need, create the VM. Exits on failure. */
void kvm_create_vm(struct vm *vm);
/* Back guest RAM with a memfd: low part, then the part above 4 GiB. Needs no KVM. Exits on failure. */
void kvm_alloc_memory(struct vm *vm, uint64_t size);
/* Register the guest RAM with the VM as memory slots 0 (low) and 1 (high). Exits on failure. */
void kvm_register_memory(struct vm *vm);
/* Create vCPU `id` and map its kvm_run. Exits on failure. */
void kvm_create_vcpu(struct vm *vm, int id);
/* Put the boot vCPU into the entry state the loader asked for. Exits on failure. */
void kvm_set_boot_regs(struct vcpu *v, const struct boot_entry *e);
/* The vCPU thread body: KVM_RUN until the VM stops. */
void *kvm_vcpu_thread(void *arg);
/* Print a vCPU's registers to stderr (for runtime failures). */
void kvm_dump_regs(struct vcpu *v);

#endif
