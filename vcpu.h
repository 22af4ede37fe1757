/* vcpu.h: a vCPU: creation, the KVM_RUN loop and exit dispatch. */
#ifndef VCPU_H
#define VCPU_H

#include "vm.h"

/* Create vCPU `id` and map its kvm_run. Exits on failure. */
void vcpu_create(struct vm *vm, int id);
/* The vCPU thread body: KVM_RUN until the VM stops. */
void *vcpu_thread(void *arg);
/* A fatal guest or KVM failure on v: print what and the registers, stop the VM with EXIT_RUNTIME. */
void vcpu_fail(struct vcpu *v, const char *what);

#endif
