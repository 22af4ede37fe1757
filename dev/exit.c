/* dev/exit.c: the devices a guest ends the VM through, at a port (x86) or MMIO (arm64): pvpanic and debug-exit. */
#include "dev.h"
#include "../vm.h"

#define PVPANIC_PANICKED      0x01
#define PVPANIC_CRASH_LOADED  0x02

/* pvpanic: reads advertise both events; a panic ends the VM, a loaded kdump kernel is logged. */
void pvpanic_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	struct vm *vm = opaque;
	if (!is_write) {
		*val = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;
		return;
	}
	if (*val & PVPANIC_PANICKED) {
		guest_warn("pvpanic: guest panicked");
		vm_request_exit(vm, EXIT_PANIC);
	} else if (*val & PVPANIC_CRASH_LOADED) {
		guest_warn("pvpanic: guest crashed, crash kernel loaded");
	}
}

/*
 * debug-exit (QEMU's isa-debug-exit): any write of v, any size, at any of its
 * ports ends the VM with status (v << 1) | 1. The process status keeps only the
 * low 8 bits, so we keep them here too (and never produce -1, "running").
 * Under vmm run the guest's /init writes its command's status here, as it is.
 */
void debug_exit_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	struct vm *vm = opaque;

	if (!is_write) {
		*val = 0;
		return;
	}
	if (vm->opt.run)
		atomic_store(&vm->run_reported, true);
	vm_request_exit(vm, (int)((vm->opt.run ? *val : (*val << 1) | 1) & 0xff));
}
