/* x86/arch.c: the PC: bzImage/PVH/multiboot and ACPI into RAM, split irqchip with our IOAPIC, COM1/COM2 and the platform ports, CPUID and LAPIC per vCPU, the boot registers, port I/O exits. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/io.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "../arch.h"
#include "../kvm.h"
#include "../vcpu.h"
#include "../run.h"
#include "../apic/apic.h"
#include "../boot/boot.h"
#include "../dev/dev.h"
#include "cpu.h"

static struct boot_entry entry;   /* where vCPU 0 starts: arch_load_guest sets it */

/* Load kernel, initrd, multiboot modules and ACPI tables into guest RAM; every bad input exits 2 here, before KVM. */
void arch_load_guest(struct vm *vm, const struct run_host *rh)
{
	if (vm->opt.dump_dtb)
		fatal(EXIT_USAGE, "--dump-dtb: an x86 guest is described by ACPI tables, not a device tree");
	struct acpi_config ac = { .ncpus = vm->ncpus, .pm_port = ACPI_PM_PORT,
				  .pvpanic_port = PVPANIC_PORT, .pci = true, .com2 = vm->opt.run };
	struct cpio run = { 0 };
	struct mapped_file k = boot_map_file(vm->opt.kernel, "--kernel");
	struct mapped_file i = { 0 };
	struct mapped_file mf[ARRAY_SIZE(vm->opt.modules)];
	struct boot_module mods[ARRAY_SIZE(vm->opt.modules)];
	char paths[ARRAY_SIZE(vm->opt.modules)][PATH_MAX];
	if (vm->opt.initrd)
		i = boot_map_file(vm->opt.initrd, "--initrd");
	if (vm->opt.run) {
		run = run_initrd(&vm->opt, rh, k.data, k.len);
		i = (struct mapped_file){ run.buf, run.len };
	}
	/* --module FILE[,CMDLINE]: the string is CMDLINE, else FILE */
	for (int n = 0; n < vm->opt.nmodules; n++) {
		const char *arg = vm->opt.modules[n], *comma = strchr(arg, ',');
		size_t len = comma ? (size_t)(comma - arg) : strlen(arg);
		if (len >= PATH_MAX)
			fatal(EXIT_USAGE, "--module %s: file name too long", arg);
		memcpy(paths[n], arg, len);
		paths[n][len] = '\0';
		mf[n] = boot_map_file(paths[n], "--module");
		mods[n] = (struct boot_module){ mf[n].data, mf[n].len, comma ? comma + 1 : paths[n] };
	}

	gpa_t rsdp = acpi_build(&vm->mem, &ac);
	if (!rsdp)
		fatal(EXIT_RUNTIME, "cannot build the ACPI tables");
	struct boot_input in = { .kernel = k.data, .kernel_len = k.len, .initrd = i.data,
				 .initrd_len = i.len, .cmdline = vm->opt.append, .rsdp = rsdp,
				 .initrd_name = vm->opt.initrd, .mods = mods, .nmods = vm->opt.nmodules };
	char err[256], *end;
	if (boot_load(&vm->mem, &in, &entry, err, sizeof(err)) < 0) {
		long idx = strncmp(err, "module ", 7) ? -1 : strtol(err + 7, &end, 10);
		if (idx >= 0 && idx < vm->opt.nmodules && end[0] == ':' && end[1] == ' ')
			fatal(EXIT_USAGE, "--module %s: %s", paths[idx], end + 2);
		bool initrd = strncmp(err, "initrd", 6) == 0;
		fatal(EXIT_USAGE, "%s %s: %s", initrd ? "--initrd" : "--kernel",
		      initrd ? vm->opt.initrd : vm->opt.kernel, err);
	}
	munmap((void *)k.data, k.len);
	if (vm->opt.initrd)
		munmap((void *)i.data, i.len);
	cpio_free(&run);
	for (int n = 0; n < vm->opt.nmodules; n++)
		munmap((void *)mf[n].data, mf[n].len);
}

static void set_seg(struct kvm_segment *s, uint16_t sel, bool code, bool l, bool db)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .present = 1,
		.type = code ? 0xb : 0x3, .dpl = 0, .db = db, .s = 1, .l = l, .g = 1,
	};
}

static void set_boot_regs(struct vcpu *v, const struct boot_entry *e)
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

void arch_dump_regs(struct vcpu *v)
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
	if (r.rip == 0xfff0 && s.cs.selector == 0xf000)
		fprintf(stderr, "  (the reset state, not the faulting one: on AMD, KVM reinitialises a vCPU that "
				"triple-faulted; the guest's console shows what it did last)\n");
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

void arch_vm_setup(struct vm *vm)
{
	kvm_require_cap(vm, KVM_CAP_SPLIT_IRQCHIP, "KVM_CAP_SPLIT_IRQCHIP");
	kvm_require_cap(vm, KVM_CAP_X2APIC_API, "KVM_CAP_X2APIC_API");
	/* Intel needs these three pages somewhere unused; just below the LAPIC/BIOS area. */
	kvm_check(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000);
	uint64_t ident = 0xfffbc000;
	kvm_check(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident);
	if (apic_vm_setup(vm) < 0)
		fatal(EXIT_RUNTIME, "cannot set up the split irqchip and x2APIC API");
}

void arch_devices_create(struct vm *vm, struct console *con)
{
	if (apic_ioapic_setup(vm) < 0)
		fatal(EXIT_RUNTIME, "cannot create the IOAPIC");
	vm->serial = serial_create(vm, IO_PIO, COM1_PORT, COM1_IRQ, con->out_fd);
	if (!vm->serial)
		fatal(EXIT_RUNTIME, "cannot create the serial port");
	/* vmm run: the command's standard error and the kernel's messages */
	if (vm->opt.run && !serial_create(vm, IO_PIO, COM2_PORT, COM2_IRQ, STDERR_FILENO))
		fatal(EXIT_RUNTIME, "cannot create the second serial port");
	if (platform_devices_create(vm) < 0)
		fatal(EXIT_RUNTIME, "cannot create the platform devices");
}

void arch_vcpu_setup(struct vcpu *v)
{
	if (cpu_vcpu_setup(v->vm, v) < 0)
		fatal(EXIT_RUNTIME, "cannot set up CPUID and local APIC of vCPU %d", v->id);
}

void arch_vcpus_ready(struct vm *vm)
{
	set_boot_regs(&vm->vcpu[0], &entry);
}

void vm_set_irq(struct vm *vm, unsigned pin, int level)
{
	ioapic_set_irq(vm->ioapic, pin, level);
}

bool arch_power_button(struct vm *vm)
{
	vm_set_irq(vm, ACPI_PWRBTN_GSI, 1);
	vm_set_irq(vm, ACPI_PWRBTN_GSI, 0);
	return true;
}

bool arch_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char msg[64];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_IOAPIC_EOI:
		v->exits_eoi++;
		ioapic_eoi(v->vm->ioapic, run->eoi.vector);
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(v, "guest triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		vm_request_exit(v->vm, EXIT_GUEST_OFF);
		return false;
	default:
		v->exits_other++;
		snprintf(msg, sizeof(msg), "unexpected KVM exit reason %u", run->exit_reason);
		vcpu_fail(v, msg);
		return false;
	}
}

void arch_guest_status(uint8_t status)
{
	if (ioperm(RUN_EXIT_PORT, 1, 1) == 0)
		outb(status, RUN_EXIT_PORT);
}
