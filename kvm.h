/* kvm.h: the thin KVM layer: ioctl wrappers that name the ioctl, the VM and its memory slots (vCPUs: vcpu.h). */
#ifndef KVM_H
#define KVM_H

#include "vmm.h"

struct vm;

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

/* Exit 1 naming the capability unless /dev/kvm has it. */
void kvm_require_cap(struct vm *vm, long cap, const char *name);
/* Open /dev/kvm, check the API version and the capabilities we need, create the VM. Exits on failure. */
void kvm_create_vm(struct vm *vm);
/* Back guest RAM with a memfd: low part, then the part above 4 GiB. Needs no KVM. Exits on failure. */
void kvm_alloc_memory(struct vm *vm, uint64_t size);
/* Register the guest RAM with the VM as memory slots 0 (low) and 1 (high). Exits on failure. */
void kvm_register_memory(struct vm *vm);

#endif
