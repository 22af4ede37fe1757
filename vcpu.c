/* vcpu.c: a vCPU: creation, boot registers, the KVM_RUN loop and its exit dispatch (port I/O and MMIO to the registry, IOAPIC EOIs). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "vcpu.h"
#include "kvm.h"
#include "boot/boot.h"
#include "apic/apic.h"
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

static void set_seg(struct kvm_segment *s, uint16_t sel, bool code, bool l, bool db)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .present = 1,
		.type = code ? 0xb : 0x3, .dpl = 0, .db = db, .s = 1, .l = l, .g = 1,
	};
}

void vcpu_set_boot_regs(struct vcpu *v, const struct boot_entry *e)
{
	struct kvm_sregs sr;
	kvm_check(v->fd, KVM_GET_SREGS, &sr);
	set_seg(&sr.cs, e->pvh ? 0x08 : 0x10, true, !e->pvh, e->pvh);
	set_seg(&sr.ds, 0x18, false, false, true);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	/* A 32-bit busy TSS, as the PVH entry rules (and VMX entry checks) want. */
	sr.tr = (struct kvm_segment){ .selector = BOOT_TSS_SEL, .limit = 0x67, .type = 11,
				      .present = 1 };
	sr.gdt.base = e->gdt;
	sr.gdt.limit = 5 * 8 - 1;
	sr.cr0 = 0x11;  /* PE | ET */
	sr.cr4 = 0;
	sr.efer = 0;
	if (!e->pvh) {
		sr.cr0 |= 0x80000000u;  /* PG */
		sr.cr3 = e->cr3;
		sr.cr4 = 0x20;          /* PAE */
		sr.efer = 0x500;        /* LME | LMA */
	}
	kvm_check(v->fd, KVM_SET_SREGS, &sr);

	struct kvm_regs r = { .rflags = 2, .rip = e->rip, .rsi = e->rsi, .rbx = e->rbx, .rax = e->rax };
	kvm_check(v->fd, KVM_SET_REGS, &r);
}

void vcpu_dump_regs(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (kvm_ioctl(v->fd, KVM_GET_REGS, &r) < 0 || kvm_ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(stderr, "vmm: vCPU %d: registers unavailable\n", v->id);
		return;
	}
	fprintf(stderr,
		"vmm: vCPU %d registers:\n"
		"  rip %016llx rsp %016llx rflags %08llx\n"
		"  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		"  rsi %016llx rdi %016llx rbp %016llx\n"
		"  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %llx\n"
		"  cs %04x (base %llx l=%d db=%d) ss %04x\n",
		v->id, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp,
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector, s.cs.base, s.cs.l, s.cs.db,
		s.ss.selector);
}

/* Port I/O exit: `count` repetitions for string instructions. */
static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool wr = run->io.direction == KVM_EXIT_IO_OUT;
	unsigned sz = run->io.size;
	bool claimed = true;

	v->exits_io++;
	pthread_mutex_lock(&v->vm->io_lock);
	for (uint32_t i = 0; i < run->io.count; i++, data += sz) {
		uint64_t val = 0;
		if (wr)
			memcpy(&val, data, sz);
		claimed &= io_dispatch(&v->vm->io, IO_PIO, run->io.port, &val, sz, wr);
		if (!wr)
			memcpy(data, &val, sz);
	}
	pthread_mutex_unlock(&v->vm->io_lock);
	if (!claimed)   /* logged outside the lock: stderr may block */
		guest_vlog(2, "unclaimed port %s 0x%x size %u", wr ? "out" : "in", run->io.port, sz);
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

static void fail(struct vcpu *v, const char *what)
{
	fprintf(stderr, "vmm: vCPU %d: %s\n", v->id, what);
	vcpu_dump_regs(v);
	vm_request_exit(v->vm, EXIT_RUNTIME);
}

/* Handle one exit; false when this vCPU must stop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char msg[128];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_IOAPIC_EOI:
		v->exits_eoi++;
		ioapic_eoi(v->vm->ioapic, run->eoi.vector);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		v->exits_hlt++;
		return true;
	case KVM_EXIT_SHUTDOWN:
		fail(v, "guest triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		vm_request_exit(v->vm, EXIT_GUEST_OFF);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(msg, sizeof(msg), "KVM internal error, suberror %u%s",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			 " (instruction emulation failed)" : "");
		fail(v, msg);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(msg, sizeof(msg), "VM entry failed, hardware reason 0x%llx",
			 run->fail_entry.hardware_entry_failure_reason);
		fail(v, msg);
		return false;
	default:
		v->exits_other++;
		snprintf(msg, sizeof(msg), "unexpected KVM exit reason %u", run->exit_reason);
		fail(v, msg);
		return false;
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
