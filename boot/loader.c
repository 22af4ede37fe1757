/* boot/loader.c: boot_load(): check the fixed boot area, detect the kernel format, hand off to the bzImage, ELF (PVH or 64-bit) or multiboot loader. */
#include <elf.h>
#include <string.h>

#include "boot.h"

#define BZ_MAGIC_OFF 0x202

static bool is_elf(const struct boot_input *in)
{
	return in->kernel_len >= 4 && !memcmp(in->kernel, "\177ELF", 4);
}

static bool is_bzimage(const struct boot_input *in)
{
	return in->kernel_len >= BZ_MAGIC_OFF + 4 && !memcmp(in->kernel + BZ_MAGIC_OFF, "HdrS", 4);
}

/* An ELF with the Xen PVH note boots through PVH even if it also has a multiboot header. */
static bool is_pvh_elf(const struct guest_mem *m, const struct boot_input *in)
{
	struct boot_elf e;

	return boot_elf_parse(&e, m, in->kernel, in->kernel_len, NULL, 0) == 0 && e.pvh;
}

static int no_modules(const struct boot_input *in, const char *what, char *err, size_t errlen)
{
	if (in->nmods)
		return boot_err(err, errlen, "--module needs a multiboot kernel; this is %s", what);
	return 0;
}

int boot_load(const struct guest_mem *m, const struct boot_input *in, struct boot_entry *out,
	      char *err, size_t errlen)
{
	long mb, bad;

	memset(out, 0, sizeof(*out));
	if (!in->kernel || in->kernel_len == 0)
		return boot_err(err, errlen, "kernel file is empty");
	/* Page tables, zero page, command line and ACPI live below 1 MiB; kernels start there. */
	if (m->low_size < BOOT_KERNEL_ADDR || m->low_size > MMIO_HOLE_START)
		return boot_err(err, errlen, "guest RAM below 4 GiB is 0x%llx bytes; need 1 MiB to 3 GiB",
				(unsigned long long)m->low_size);
	if (in->initrd_len && !in->initrd)
		return boot_err(err, errlen, "initrd length without data");
	mb = boot_multiboot_find(in, &bad);
	if (is_elf(in)) {
		bool pvh = is_pvh_elf(m, in);
		if (mb >= 0 && !pvh)
			return boot_load_multiboot(m, in, (size_t)mb, out, err, errlen);
		if (bad >= 0 && !pvh && in->kernel_len > EI_CLASS && in->kernel[EI_CLASS] == ELFCLASS32)
			return boot_err(err, errlen, "ELF32 kernel: its multiboot header at 0x%lx has a bad checksum",
					bad);
		if (no_modules(in, "an ELF kernel without a multiboot header", err, errlen))
			return -1;
		return boot_load_elf(m, in, out, err, errlen);
	}
	if (is_bzimage(in)) {
		if (no_modules(in, "a bzImage", err, errlen))
			return -1;
		return boot_load_bzimage(m, in, out, err, errlen);
	}
	if (mb >= 0)
		return boot_load_multiboot(m, in, (size_t)mb, out, err, errlen);
	if (bad >= 0)
		return boot_err(err, errlen, "multiboot header at 0x%lx has a bad checksum", bad);
	if (in->kernel_len < BZ_MAGIC_OFF + 4)
		return boot_err(err, errlen, "kernel file truncated: %zu bytes is too short for a bzImage or ELF",
				in->kernel_len);
	return boot_err(err, errlen, "not a bzImage, ELF or multiboot kernel (no \"HdrS\" at 0x202, no ELF "
			"magic, no multiboot header in the first 8192 bytes)");
}
