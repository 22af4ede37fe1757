/* vcpu.h: a vCPU: creation, boot registers, the KVM_RUN loop and exit dispatch. */
#ifndef VCPU_H
#define VCPU_H

#include "vm.h"

struct boot_entry;

/* Create vCPU `id` and map its kvm_run. Exits on failure. */
void vcpu_create(struct vm *vm, int id);
/* Put the boot vCPU into the entry state the loader asked for. Exits on failure. */
void vcpu_set_boot_regs(struct vcpu *v, const struct boot_entry *e);
/* The vCPU thread body: KVM_RUN until the VM stops. */
void *vcpu_thread(void *arg);
/* Print a vCPU's registers to stderr (for runtime failures). */
void vcpu_dump_regs(struct vcpu *v);

#endif
