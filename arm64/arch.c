/* arm64/arch.c: the arm64 machine: an Image and its initrd and device tree in RAM, the GICv3 + ITS, MMIO UARTs and exit devices, PSCI vCPUs, the boot registers, system-event exits. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <libfdt.h>

#include "arm64.h"
#include "../arch.h"
#include "../kvm.h"
#include "../le.h"
#include "../run.h"
#include "../vcpu.h"
#include "../boot/boot.h"
#include "../dev/dev.h"

#define IMAGE_MAGIC      0x644d5241u   /* "ARM\x64" at offset 56 */
#define DTB_MAX          0x10000
#define SZ_2M            0x200000ull
#define CORE_REG(r)      (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(r))
#define MPIDR_EL1        ARM64_SYS_REG(3, 0, 0, 0, 5)
#define PSTATE_EL1H_MASKED 0x3c5       /* EL1h, D, A, I and F masked: the boot protocol's state */

static gpa_t kernel_entry, dtb_addr;
static uint64_t mpidr[MAX_CPUS];

/* KVM's MPIDR for vCPU id (Aff0 0-15, then Aff1, Aff2); checked against KVM's own once the vCPUs exist. */
static uint64_t mpidr_of(int id)
{
	return (uint64_t)(id & 0xf) | (uint64_t)((id >> 4) & 0xff) << 8 | (uint64_t)((id >> 12) & 0xff) << 16;
}

/*
 * The arm64 boot protocol (Documentation/arch/arm64/booting.rst): the Image at a 2 MiB-aligned
 * base plus its text_offset, with image_size bytes from there free for the kernel; the device
 * tree 8-byte aligned right after them; the initrd at the top of RAM; x0 holds the tree's
 * address, the MMU is off.
 */
void arch_load_guest(struct vm *vm, const struct run_host *rh)
{
	const struct guest_mem *m = &vm->mem;
	uint64_t ram = m->high_size, ram_end = HIGH_RAM_START + ram;
	struct mapped_file kf = boot_map_file(vm->opt.kernel, "--kernel"), inf = { 0 };
	const uint8_t *k = kf.data, *initrd = NULL;
	size_t klen = kf.len, ilen = 0;
	struct cpio run = { 0 };
	char err[160];

	if (klen >= 2 && k[0] == 0x1f && k[1] == 0x8b)
		fatal(EXIT_USAGE, "--kernel %s: a gzip-compressed Image (such as Debian's vmlinuz): "
		      "give the Image itself (gzip -dc FILE > Image)", vm->opt.kernel);
	if (klen < 64 || get_le32(k + 56) != IMAGE_MAGIC)
		fatal(EXIT_USAGE, "--kernel %s: not an arm64 Image (no \"ARM\\x64\" magic at offset 56)",
		      vm->opt.kernel);
	uint64_t text_offset = get_le64(k + 8), image_size = get_le64(k + 16);
	if (image_size == 0)   /* before Linux 3.17: text_offset unknown, 0x80000 by convention */
		text_offset = 0x80000, image_size = klen;
	if (image_size < klen || text_offset > ram || image_size > ram - text_offset ||
	    ram < SZ_2M * 2 || HIGH_RAM_START + text_offset + image_size + 8 + DTB_MAX > ram_end)
		fatal(EXIT_USAGE, "--kernel %s: the Image (%llu bytes at offset %#llx) does not fit in --memory %lluM",
		      vm->opt.kernel, (unsigned long long)image_size, (unsigned long long)text_offset,
		      (unsigned long long)(ram >> 20));
	kernel_entry = HIGH_RAM_START + text_offset;
	if (gm_write(m, kernel_entry, k, klen) < 0)
		fatal(EXIT_RUNTIME, "cannot copy the kernel into guest RAM");

	/* the device tree right after what the kernel may use: a tiny guest then touches one 2 MiB page */
	dtb_addr = (kernel_entry + image_size + 7) & ~7ull;
	uint64_t istart = 0, iend = 0;
	if (vm->opt.initrd)
		inf = boot_map_file(vm->opt.initrd, "--initrd"), initrd = inf.data, ilen = inf.len;
	if (vm->opt.run) {
		run = run_initrd(&vm->opt, rh, k, klen);   /* the kernel tells its release: its modules */
		initrd = run.buf, ilen = run.len;
	}
	if (initrd) {
		uint64_t room = ram_end - (dtb_addr + DTB_MAX);
		if (room < 0x1000 || ilen > room - 0x1000)
			fatal(EXIT_USAGE, "--initrd %s: %zu bytes do not fit in --memory %lluM beside the kernel",
			      vm->opt.initrd ? vm->opt.initrd : "(vmm run)", ilen, (unsigned long long)(ram >> 20));
		istart = (ram_end - ilen) & ~0xfffull;
		iend = istart + ilen;
		if (gm_write(m, istart, initrd, ilen) < 0)
			fatal(EXIT_RUNTIME, "cannot copy the initrd into guest RAM");
		if (vm->opt.initrd)
			munmap((void *)initrd, ilen);
		cpio_free(&run);
	}

	munmap((void *)k, klen);
	for (int i = 0; i < vm->ncpus; i++)
		mpidr[i] = mpidr_of(i);
	struct fdt_config c = {
		.ncpus = vm->ncpus, .mpidr = mpidr, .ram_size = ram, .cmdline = vm->opt.append,
		.initrd_start = istart, .initrd_end = iend, .uart2 = vm->opt.run,
		.debug_exit = vm->opt.debug_exit || vm->opt.run,
	};
	void *dtb = gm_ptr(m, dtb_addr, DTB_MAX);
	if (!dtb || fdt_build(dtb, DTB_MAX, &c, err, sizeof(err)) < 0)
		fatal(EXIT_USAGE, "%s", dtb ? err : "no room for the device tree");
	if (vm->opt.dump_dtb) {
		int fd = open(vm->opt.dump_dtb, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		size_t n = fdt_totalsize(dtb);
		if (fd < 0 || write(fd, dtb, n) != (ssize_t)n || close(fd) < 0)
			fatal_errno(EXIT_USAGE, "--dump-dtb %s", vm->opt.dump_dtb);
		exit(0);
	}
}

void arch_vm_setup(struct vm *vm)
{
	kvm_require_cap(vm, KVM_CAP_ARM_PSCI_0_2, "KVM_CAP_ARM_PSCI_0_2");
	gic_create(vm);
	/* a VM capability on arm64: /dev/kvm itself answers -EINVAL, the VM 1 only once it has an ITS */
	if (kvm_ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID) <= 0)
		fatal(EXIT_RUNTIME, "KVM does not take device ids with MSIs (KVM_CAP_MSI_DEVID), which the ITS needs");
	/* An MMIO access without a valid syndrome (a load/store pair, writeback): KVM_RUN would fail
	 * with ENOSYS; with this it exits to us and the guest gets an external abort, as on hardware. */
	if (kvm_ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_NISV_TO_USER) > 0 &&
	    kvm_ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_INJECT_EXT_DABT) > 0) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_ARM_NISV_TO_USER };
		if (kvm_ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			fatal_errno(EXIT_RUNTIME, "KVM_ENABLE_CAP KVM_CAP_ARM_NISV_TO_USER");
	}
}

void arch_devices_create(struct vm *vm, struct console *con)
{
	vm->serial = serial_create(vm, IO_MMIO, UART_BASE, UART_SPI, con->out_fd);
	if (!vm->serial)
		fatal(EXIT_RUNTIME, "cannot create the serial port");
	if (vm->opt.run && !serial_create(vm, IO_MMIO, UART2_BASE, UART2_SPI, STDERR_FILENO))
		fatal(EXIT_RUNTIME, "cannot create the second serial port");
	if (io_register(&vm->io, IO_MMIO, PVPANIC_BASE, 2, pvpanic_io, vm, "pvpanic") < 0 ||
	    ((vm->opt.debug_exit || vm->opt.run) &&
	     io_register(&vm->io, IO_MMIO, DEBUG_EXIT_BASE, 4, debug_exit_io, vm, "debug-exit") < 0))
		fatal(EXIT_RUNTIME, "cannot create the platform devices");
}

static void set_reg(struct vcpu *v, uint64_t id, uint64_t val, const char *what)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)&val };

	if (kvm_ioctl(v->fd, KVM_SET_ONE_REG, &r) < 0)
		fatal_errno(EXIT_RUNTIME, "vCPU %d: cannot set %s (KVM_SET_ONE_REG)", v->id, what);
}

static int get_reg(struct vcpu *v, uint64_t id, uint64_t *val)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)val };

	return (int)kvm_ioctl(v->fd, KVM_GET_ONE_REG, &r);
}

/* The host's preferred CPU model with PSCI 0.2+; every vCPU but the first starts off (PSCI CPU_ON wakes it). */
void arch_vcpu_setup(struct vcpu *v)
{
	struct kvm_vcpu_init init;
	uint64_t id;

	kvm_check(v->vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &init);
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (v->id)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	kvm_check(v->fd, KVM_ARM_VCPU_INIT, &init);
	if (get_reg(v, MPIDR_EL1, &id) < 0)
		fatal_errno(EXIT_RUNTIME, "vCPU %d: cannot read MPIDR_EL1", v->id);
	if ((id & 0xff00ffffffull) != mpidr[v->id])
		fatal(EXIT_RUNTIME, "vCPU %d: KVM gave it MPIDR %#llx, the device tree says %#llx",
		      v->id, (unsigned long long)id, (unsigned long long)mpidr[v->id]);
}

void arch_vcpus_ready(struct vm *vm)
{
	struct vcpu *v = &vm->vcpu[0];

	gic_init(vm);
	set_reg(v, CORE_REG(regs.pstate), PSTATE_EL1H_MASKED, "PSTATE");
	set_reg(v, CORE_REG(regs.pc), kernel_entry, "PC");
	set_reg(v, CORE_REG(regs.regs[0]), dtb_addr, "X0");
}

/* No power button yet: SIGTERM stops the guest at once. */
bool arch_power_button(struct vm *vm)
{
	return false;
}

void arch_dump_regs(struct vcpu *v)
{
	uint64_t pc = 0, sp = 0, pstate = 0, x[4] = { 0 };

	if (get_reg(v, CORE_REG(regs.pc), &pc) < 0 || get_reg(v, CORE_REG(regs.sp), &sp) < 0 ||
	    get_reg(v, CORE_REG(regs.pstate), &pstate) < 0) {
		fprintf(stderr, "vmm: vCPU %d: registers unavailable\n", v->id);
		return;
	}
	for (int i = 0; i < 4; i++)
		(void)get_reg(v, CORE_REG(regs.regs[i]), &x[i]);
	fprintf(stderr, "vmm: vCPU %d registers:\n  pc %016llx sp %016llx pstate %08llx\n"
		"  x0 %016llx x1 %016llx x2 %016llx x3 %016llx\n", v->id,
		(unsigned long long)pc, (unsigned long long)sp, (unsigned long long)pstate,
		(unsigned long long)x[0], (unsigned long long)x[1], (unsigned long long)x[2],
		(unsigned long long)x[3]);
}

bool arch_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char msg[64];

	switch (run->exit_reason) {
	case KVM_EXIT_ARM_NISV: {
		struct kvm_vcpu_events ev = { 0 };
		guest_warn("vCPU %d: an MMIO access at %#llx that KVM cannot decode (no syndrome: a load/store "
			   "pair or writeback?): external abort injected", v->id,
			   (unsigned long long)run->arm_nisv.fault_ipa);
		v->exits_other++;
		ev.exception.ext_dabt_pending = 1;
		if (kvm_ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
			vcpu_fail(v, "cannot inject an external abort (KVM_SET_VCPU_EVENTS)");
			return false;
		}
		return true;
	}
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
		case KVM_SYSTEM_EVENT_RESET:
			vlog("PSCI: system %s", run->system_event.type == KVM_SYSTEM_EVENT_RESET ? "reset" : "off");
			vm_request_exit(v->vm, EXIT_GUEST_OFF);
			return false;
		case KVM_SYSTEM_EVENT_CRASH:
			guest_warn("PSCI: the guest reported a crash");
			vm_request_exit(v->vm, EXIT_PANIC);
			return false;
		default:
			v->exits_other++;
			return true;   /* wake-up, suspend: nothing to do, run on */
		}
	default:
		v->exits_other++;
		snprintf(msg, sizeof(msg), "unexpected KVM exit reason %u", run->exit_reason);
		vcpu_fail(v, msg);
		return false;
	}
}

/* Guest side of vmm run: the debug-exit register through /dev/mem (no driver claims it). */
void arch_guest_status(uint8_t status)
{
	int fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	volatile uint32_t *p;

	if (fd < 0)
		return;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, DEBUG_EXIT_BASE);
	if (p != MAP_FAILED)
		*p = status;
	close(fd);
}
