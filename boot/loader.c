/* boot/loader.c: boot_load(): check the fixed boot area, detect the kernel format, hand off to the bzImage or ELF loader. */
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

int boot_load(const struct guest_mem *m, const struct boot_input *in, struct boot_entry *out,
	      char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!in->kernel || in->kernel_len == 0)
		return boot_err(err, errlen, "kernel file is empty");
	/* Page tables, zero page, command line and ACPI live below 1 MiB; kernels start there. */
	if (m->low_size < BOOT_KERNEL_ADDR || m->low_size > MMIO_HOLE_START)
		return boot_err(err, errlen, "guest RAM below 4 GiB is 0x%llx bytes; need 1 MiB to 3 GiB",
				(unsigned long long)m->low_size);
	if (in->initrd_len && !in->initrd)
		return boot_err(err, errlen, "initrd length without data");
	if (is_elf(in))
		return boot_load_elf(m, in, out, err, errlen);
	if (is_bzimage(in))
		return boot_load_bzimage(m, in, out, err, errlen);
	if (in->kernel_len < BZ_MAGIC_OFF + 4)
		return boot_err(err, errlen, "kernel file truncated: %zu bytes is too short for a bzImage or ELF",
				in->kernel_len);
	return boot_err(err, errlen, "not a bzImage or ELF kernel (no \"HdrS\" at 0x202, no ELF magic)");
}
