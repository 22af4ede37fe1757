/* dev/platform.c: the small PC ports: i8042 reset, POST port 0x80, ACPI PM sleep/reset registers, and pvpanic and debug-exit (dev/exit.c) at their ports. */
#include <errno.h>
#include <stdlib.h>

#include "dev.h"
#include "../vm.h"
#include "../boot/boot.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT  0x64
#define POST_PORT       0x80

#define SLP_EN          0x20
#define SLP_TYP_SHIFT   2
#define SLP_TYP_MASK    0x07
#define WAK_STS         0x80

/*
 * i8042: no keyboard, no mouse. Status reads 0 (input buffer empty, nothing to
 * read), so Linux's kb_wait() never waits and a probe finds nothing. Commands
 * 0xF0-0xFF pulse output-port lines; a clear bit 0 pulses CPU reset (0xFE).
 */
static void i8042_cmd_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	struct vm *vm = opaque;
	if (!is_write) {
		*val = 0;
		return;
	}
	uint8_t cmd = (uint8_t)*val;
	if ((cmd & 0xF1) == 0xF0) {
		vlog("i8042: reset (command 0x%02x)", cmd);
		vm_request_exit(vm, EXIT_GUEST_OFF);
	}
}

/* i8042 data port: nothing to read, writes go nowhere. */
static void i8042_data_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	if (!is_write)
		*val = 0;
}

/* Port 0x80: POST codes and Linux's I/O delay; claimed so it costs nothing but the exit. */
static void post_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	if (!is_write)
		*val = 0;
}

/* ACPI hardware-reduced sleep control (+0), sleep status (+1), reset register (+2). */
struct acpi_pm {
	struct vm *vm;
	uint8_t sleep_sts;
};

static void pm_sleep_ctl(struct acpi_pm *pm, uint8_t v)
{
	unsigned typ = (v >> SLP_TYP_SHIFT) & SLP_TYP_MASK;
	if (!(v & SLP_EN))
		return;
	if (typ == ACPI_SLP_TYP_S5) {
		vlog("acpi: power off (S5)");
		vm_request_exit(pm->vm, EXIT_GUEST_OFF);
		return;
	}
	/* Only S5 exists (DSDT); any other state "wakes" at once so the guest's wait loop ends. */
	guest_warn("acpi: sleep type %u not supported, waking at once", typ);
	pm->sleep_sts |= WAK_STS;
}

static void pm_write(struct acpi_pm *pm, unsigned reg, uint8_t v)
{
	switch (reg) {
	case 0: pm_sleep_ctl(pm, v); break;
	case 1: pm->sleep_sts &= (uint8_t)~v; break;   /* write 1 to clear */
	case 2:
		if (v == ACPI_RESET_VALUE) {
			vlog("acpi: reset register");
			vm_request_exit(pm->vm, EXIT_GUEST_OFF);
		}
		break;
	}
}

static void acpi_pm_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	struct acpi_pm *pm = opaque;
	uint64_t out = 0;
	for (unsigned i = 0; i < size && off + i < 3; i++) {
		unsigned reg = (unsigned)off + i;
		if (is_write)
			pm_write(pm, reg, (uint8_t)(*val >> (8 * i)));
		else if (reg == 1)
			out |= (uint64_t)pm->sleep_sts << (8 * i);
	}
	if (!is_write)
		*val = out;
}

/*
 * The reset vector (F000:FFF0). Linux on HW-reduced ACPI reboots through EFI,
 * then "BIOS": it returns to real mode and jumps here. We have no BIOS, so
 * the vector pulses reset through the i8042: mov al,0xfe; out 0x64,al; hlt; jmp $-1.
 */
#define RESET_VECTOR 0xFFFF0ull
static void write_reset_stub(struct vm *vm)
{
	static const uint8_t stub[] = { 0xB0, 0xFE, 0xE6, 0x64, 0xF4, 0xEB, 0xFD };
	if (gm_write(&vm->mem, RESET_VECTOR, stub, sizeof(stub)) < 0)
		vlog("platform: no RAM at the reset vector; a BIOS-style reboot will hang");
}

int platform_devices_create(struct vm *vm)
{
	write_reset_stub(vm);
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int r;
	if (!pm)
		return -ENOMEM;
	pm->vm = vm;
	r = io_register(&vm->io, IO_PIO, ACPI_PM_PORT, 3, acpi_pm_io, pm, "acpi-pm");
	if (r) {
		free(pm);
		return r;
	}
	r = io_register(&vm->io, IO_PIO, I8042_DATA_PORT, 1, i8042_data_io, vm, "i8042-data");
	if (!r)
		r = io_register(&vm->io, IO_PIO, I8042_CMD_PORT, 1, i8042_cmd_io, vm, "i8042-cmd");
	if (!r)
		r = io_register(&vm->io, IO_PIO, POST_PORT, 1, post_io, vm, "post");
	if (!r)
		r = io_register(&vm->io, IO_PIO, PVPANIC_PORT, 1, pvpanic_io, vm, "pvpanic");
	if (!r && (vm->opt.debug_exit || vm->opt.run))
		r = io_register(&vm->io, IO_PIO, DEBUG_EXIT_PORT, 4, debug_exit_io, vm, "debug-exit");
	return r;
}
