/* vcpu.c: a vCPU: creation, the KVM_RUN loop and the exits every architecture has (MMIO to the registry, errors); the rest go to arch_handle_exit. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "vcpu.h"
#include "kvm.h"
#include "arch.h"
#include "sandbox/sandbox.h"

void vcpu_create(struct vm *vm, int id)
{
	struct vcpu *v = &vm->vcpu[id];
	v->vm = vm;
	v->id = id;
	v->fd = (int)kvm_check(vm->vm_fd, KVM_CREATE_VCPU, id);
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED)
		fatal_errno(EXIT_RUNTIME, "mmap of vCPU %d's kvm_run", id);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned sz = run->mmio.len;
	uint64_t val = 0;

	v->exits_mmio++;
	if (sz != 1 && sz != 2 && sz != 4 && sz != 8) {
		guest_warn("MMIO access of %u bytes at 0x%llx ignored", sz, run->mmio.phys_addr);
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		return;
	}
	if (run->mmio.is_write)
		memcpy(&val, run->mmio.data, sz);
	pthread_mutex_lock(&v->vm->io_lock);
	bool claimed = io_dispatch(&v->vm->io, IO_MMIO, run->mmio.phys_addr, &val, sz, run->mmio.is_write);
	pthread_mutex_unlock(&v->vm->io_lock);
	if (!claimed)
		guest_vlog(1, "unclaimed MMIO %s 0x%llx size %u", run->mmio.is_write ? "write" : "read",
			   run->mmio.phys_addr, sz);
	if (!run->mmio.is_write)
		memcpy(run->mmio.data, &val, sz);
}

void vcpu_fail(struct vcpu *v, const char *what)
{
	fprintf(stderr, "vmm: vCPU %d: %s\n", v->id, what);
	arch_dump_regs(v);
	vm_request_exit(v->vm, EXIT_RUNTIME);
}

/* Handle one exit; false when this vCPU must stop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char msg[128];

	switch (run->exit_reason) {
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		v->exits_hlt++;
		return true;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(msg, sizeof(msg), "KVM internal error, suberror %u%s",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			 " (instruction emulation failed)" : "");
		vcpu_fail(v, msg);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(msg, sizeof(msg), "VM entry failed, hardware reason 0x%llx",
			 run->fail_entry.hardware_entry_failure_reason);
		vcpu_fail(v, msg);
		return false;
	default:
		return arch_handle_exit(v);
	}
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	if (!v->vm->opt.no_sandbox && sandbox_enter(SB_ROLE_VCPU, v->fd) < 0) {
		fprintf(stderr, "vmm: vCPU %d: cannot enter the sandbox\n", v->id);
		vm_request_exit(v->vm, EXIT_RUNTIME);
		return NULL;
	}
	for (;;) {
		long r = kvm_ioctl(v->fd, KVM_RUN, 0);
		if (vm_exit_code(v->vm) >= 0)
			break;
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0) {
			errno = (int)-r;
			fprintf(stderr, "vmm: vCPU %d: KVM_RUN: %s\n", v->id, strerror(errno));
			vm_request_exit(v->vm, EXIT_RUNTIME);
			break;
		}
		if (!handle_exit(v))
			break;
	}
	return NULL;
}
