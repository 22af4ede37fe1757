/* tests/fuzz/fuzz_boot.c: libFuzzer harness for the kernel loaders (bzImage, ELF32/64, PVH, multiboot with modules) on hostile images. */
#include <sys/mman.h>
#include <string.h>
#include "boot/boot.h"
#include "vm.h"
void vm_set_irq(struct vm *vm, unsigned pin, int level) { (void)vm; (void)pin; (void)level; }
void vm_request_exit(struct vm *vm, int code) { (void)vm; (void)code; }
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static struct guest_mem m;
	if (!m.host) {
		m.host = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		m.low_size = 40 << 20; m.high_size = 24 << 20;
	}
	static const uint8_t rd[5000];
	static const struct boot_module mods[2] = { { rd, 100, "mod0" }, { rd, 5000, NULL } };
	struct boot_input in = { .kernel = d, .kernel_len = n, .initrd = n & 1 ? rd : NULL,
				 .initrd_len = n & 1 ? sizeof(rd) : 0, .cmdline = "console=ttyS0", .rsdp = 0xE0000,
				 .initrd_name = "initrd", .mods = mods, .nmods = (int)(n >> 1 & 3) % 3 };
	struct boot_entry out; char err[128];
	int r = boot_load(&m, &in, &out, err, sizeof(err));
	if (r != 0 && r != -1) __builtin_trap();
	return 0;
}
