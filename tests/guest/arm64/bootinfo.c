/*
 * bootinfo: the state vmm hands the boot CPU (Documentation/arch/arm64/booting.rst): EL1, MMU off,
 * DAIF masked, x0 = a valid device tree (8-byte aligned, in RAM), x1-x3 = 0, the Image at its
 * text_offset; what the tree says (/chosen bootargs and initrd, /memory, /cpus); PSCI's version.
 * Prints what it found, "guest FAIL: ..." for each mismatch, then "bootinfo ok" and powers off.
 */
#include "rt.h"

extern char _head[], _end[];

int main(void)
{
	struct boot_state *b = &boot_state;
	const uint8_t *fdt = (const uint8_t *)b->x[0];
	uint64_t base, size, mpidr[MAX_CPUS];
	int fails = 0, len, n;

	say_hex("bootinfo: x0", b->x[0]);
	if (b->x[1] || b->x[2] || b->x[3])
		fail("x1-x3 are not 0"), fails++;
	say_hex("bootinfo: CurrentEL", b->current_el >> 2);
	if (b->current_el >> 2 != 1)
		fail("not entered at EL1"), fails++;
	if ((b->daif & 0x3c0) != 0x3c0)
		fail_hex("DAIF not all masked at entry", b->daif), fails++;
	if (b->sctlr & 1)
		fail("entered with the MMU on"), fails++;
	say_hex("bootinfo: loaded at", b->head);
	if (b->head != (uint64_t)(uintptr_t)_head)
		fail_hex("the Image is not at RAM + text_offset: linked at", (uint64_t)(uintptr_t)_head), fails++;
	if (!fdt_ok(fdt) || b->x[0] < RAM_BASE) {
		fail("x0 is not a device tree in RAM");
		system_off();
	}
	say_hex("bootinfo: dtb size", be32(fdt + 4));
	if (b->x[0] < (uint64_t)(uintptr_t)_end)
		fail_hex("the device tree overlaps the Image (image_size): it ends at", (uint64_t)(uintptr_t)_end), fails++;

	if (!fdt_memory(fdt, &base, &size))
		fail("no /memory reg"), fails++;
	puts("bootinfo: memory ");
	put_hex(base);
	puts(" size ");
	put_hex(size);
	putc('\n');
	if (b->x[0] < base || b->x[0] + be32(fdt + 4) > base + size)
		fail("the device tree is outside /memory"), fails++;

	n = fdt_cpus(fdt, mpidr, MAX_CPUS);
	puts("bootinfo: cpus ");
	put_dec((uint64_t)n);
	putc('\n');
	if (n < 1 || mpidr[0] != cpu_index_mpidr())
		fail_hex("/cpus's first reg is not this CPU's MPIDR", cpu_index_mpidr()), fails++;

	const char *args = fdt_chosen(fdt, "bootargs", &len);
	puts("bootinfo: bootargs '");
	if (args)
		puts(args);
	say("'");
	const uint8_t *is = fdt_chosen(fdt, "linux,initrd-start", &len), *ie;
	int len2;
	ie = fdt_chosen(fdt, "linux,initrd-end", &len2);
	if (is && ie) {
		uint64_t s = len == 8 ? be64(is) : be32(is), e = len2 == 8 ? be64(ie) : be32(ie);
		puts("bootinfo: initrd '");
		for (uint64_t a = s; a < e && a < s + 64; a++) {
			char c = (char)r8(a);
			if (c == '\n')
				break;
			putc(c);
		}
		say("'");
		if (s < base || e > base + size || e < s)
			fail("the initrd is outside /memory"), fails++;
		if (s < b->x[0] + be32(fdt + 4) && e > b->x[0])
			fail("the initrd overlaps the device tree"), fails++;
		if (s < (uint64_t)(uintptr_t)_end)
			fail("the initrd overlaps the Image (image_size)"), fails++;
	}

	long v = psci(PSCI_VERSION, 0, 0, 0);
	puts("bootinfo: psci ");
	put_dec((uint64_t)(v >> 16));
	putc('.');
	put_dec((uint64_t)(v & 0xffff));
	putc('\n');
	if (v < 2)   /* 0.2 at least */
		fail_hex("PSCI_VERSION", (uint64_t)v), fails++;
	say_hex("bootinfo: timer frequency", counter_hz());
	if (!fails)
		say("bootinfo ok");
	system_off();
}
