/* arch.h: what each architecture (x86/arch.c, arm64/arch.c; the Makefile picks one) gives the shared pipeline in vmm.c and vcpu.c. */
#ifndef ARCH_H
#define ARCH_H

#include "vm.h"

struct console;
struct run_host;

/* Load the kernel, initrd and firmware tables into guest RAM (before KVM); every bad input exits 2. */
void arch_load_guest(struct vm *vm, const struct run_host *rh);
/* Right after KVM_CREATE_VM, before memory slots and vCPUs: checks and VM-wide set-up. Exits on failure. */
void arch_vm_setup(struct vm *vm);
/* The interrupt controller, the UARTs (vm->serial: the console) and the platform devices; PCI comes after. */
void arch_devices_create(struct vm *vm, struct console *con);
/* Per vCPU, right after KVM_CREATE_VCPU. Exits on failure. */
void arch_vcpu_setup(struct vcpu *v);
/* Once every vCPU exists: what needs them all (arm64's GIC), then the boot vCPU's entry registers. */
void arch_vcpus_ready(struct vm *vm);
/* An exit the shared loop in vcpu.c does not handle; false when this vCPU must stop. */
bool arch_handle_exit(struct vcpu *v);
/* Print a vCPU's registers to stderr (for runtime failures). */
void arch_dump_regs(struct vcpu *v);
/* SIGTERM with --shutdown-timeout: ask the guest to power off (x86: the ACPI power button); false if it has no way. */
bool arch_power_button(struct vm *vm);
/* In the guest (vmm run's /init): hand the command's status to vmm through the debug-exit device. */
void arch_guest_status(uint8_t status);

#endif
