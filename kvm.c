/* kvm.c: the thin KVM layer: VM, memory, vCPU creation and the vCPU run loop. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvm.h"
#include "sandbox/sandbox.h"
#include "apic/apic.h"

long kvm_ioctl_(int fd, unsigned long req, unsigned long arg)
{
	long r;
	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR && req != KVM_RUN);
	return r < 0 ? -errno : r;
}

long kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name)
{
	long r = kvm_ioctl_(fd, req, (unsigned long)arg);
	if (r < 0)
		fprintf(stderr, "vmm: %s: %s\n", name, strerror((int)-r));
	return r;
}

long kvm_check_(int fd, unsigned long req, unsigned long arg, const char *name)
{
	long r = kvm_ioctl_named(fd, req, (void *)arg, name);
	if (r < 0)
		exit(EXIT_RUNTIME);
	return r;
}

static void require_cap(struct vm *vm, long cap, const char *name)
{
	if (kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap) <= 0)
		fatal(EXIT_RUNTIME, "/dev/kvm lacks %s, which vmm needs", name);
}

void kvm_create_vm(struct vm *vm)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		fatal_errno(EXIT_RUNTIME, "/dev/kvm (is KVM available and accessible?)");
	long v = kvm_ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION)
		fatal(EXIT_RUNTIME, "/dev/kvm: API version %ld, vmm needs %d", v, KVM_API_VERSION);
	require_cap(vm, KVM_CAP_SPLIT_IRQCHIP, "KVM_CAP_SPLIT_IRQCHIP");
	require_cap(vm, KVM_CAP_X2APIC_API, "KVM_CAP_X2APIC_API");
	require_cap(vm, KVM_CAP_IRQFD, "KVM_CAP_IRQFD");
	require_cap(vm, KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD");
	require_cap(vm, KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI");
	require_cap(vm, KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING");
	require_cap(vm, KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY");
	long max = kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max > 0 && vm->opt.cpus > max)
		fatal(EXIT_USAGE, "--cpus %d: this host's KVM allows at most %ld", vm->opt.cpus, max);

	vm->vm_fd = (int)kvm_check(vm->kvm_fd, KVM_CREATE_VM, 0);
	vm->run_size = (size_t)kvm_check(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	/* Intel needs these three pages somewhere unused; just below the LAPIC/BIOS area. */
	kvm_check(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000);
	uint64_t ident = 0xfffbc000;
	kvm_check(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident);
}

static void add_slot(struct vm *vm, uint32_t slot, gpa_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	kvm_check(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

void kvm_alloc_memory(struct vm *vm, uint64_t size)
{
	vm->mem.low_size = size < MMIO_HOLE_START ? size : MMIO_HOLE_START;
	vm->mem.high_size = size - vm->mem.low_size;
	vm->mem.host = guest_ram_create(size, &vm->mem_fd, &vm->mem_backing);
	if (!vm->mem.host)
		fatal_errno(EXIT_USAGE, "--memory: cannot create %" PRIu64 " bytes of guest RAM", size);
	vlog("guest RAM: %s", ram_backing_names[vm->mem_backing]);
}

void kvm_register_memory(struct vm *vm)
{
	add_slot(vm, 0, 0, vm->mem.low_size, vm->mem.host);
	if (vm->mem.high_size)
		add_slot(vm, 1, HIGH_RAM_START, vm->mem.high_size, vm->mem.host + vm->mem.low_size);
}

void kvm_create_vcpu(struct vm *vm, int id)
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

void kvm_set_boot_regs(struct vcpu *v, const struct boot_entry *e)
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

void kvm_dump_regs(struct vcpu *v)
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
	kvm_dump_regs(v);
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

void *kvm_vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	if (!v->vm->opt.no_sandbox && sandbox_enter(SB_ROLE_VCPU, v->fd) < 0) {
		fprintf(stderr, "vmm: vCPU %d: cannot enter the sandbox\n", v->id);
		vm_request_exit(v->vm, EXIT_RUNTIME);
		return NULL;
	}
	for (;;) {
		long r = kvm_ioctl(v->fd, KVM_RUN, 0);
		if (atomic_load(&v->vm->exit_code) >= 0)
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
