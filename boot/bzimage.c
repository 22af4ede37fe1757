/* boot/bzimage.c: bzImage loader for the Linux x86 64-bit boot protocol (2.12+), entered at load address + 0x200. */
#include <stdio.h>
#include <string.h>

#include "boot.h"
#include "../le.h"

/* Setup header fields: offsets in the file's first sector and in the zero page alike. */
#define HDR_START           0x1f1
#define HDR_SETUP_SECTS     0x1f1
#define HDR_SYSSIZE         0x1f4
#define HDR_BOOT_FLAG       0x1fe
#define HDR_JUMP_LEN        0x201   /* header ends at 0x202 + this byte */
#define HDR_MAGIC           0x202
#define HDR_VERSION         0x206
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_XLOADFLAGS      0x236
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE       0x260
#define HDR_MIN_END         0x264   /* through init_size: all a 2.12 header has */
#define HDR_MAX_END         0x290   /* edd_mbr_sig_buffer follows in boot_params */

#define BOOT_FLAG_MAGIC     0xAA55
#define MIN_VERSION         0x020c
#define XLF_KERNEL_64       0x0001
#define ENTRY_64_OFFSET     0x200

struct bz {
	const uint8_t *f;
	size_t len;
	uint64_t setup_size, pm_len, hdr_end;
	uint64_t kernel_end;   /* end of the area the kernel may use while booting */
};

static int check_magic(const struct bz *b, char *err, size_t errlen)
{
	unsigned ver;

	if (b->len < HDR_MIN_END)
		return boot_err(err, errlen, "bzImage truncated: %zu bytes, too short for a setup header",
				b->len);
	if (get_le16(b->f + HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC)
		return boot_err(err, errlen, "bad bzImage boot_flag 0x%04x (want 0xAA55)",
				get_le16(b->f + HDR_BOOT_FLAG));
	ver = get_le16(b->f + HDR_VERSION);
	if (ver < MIN_VERSION)
		return boot_err(err, errlen, "boot protocol %u.%02u too old (need 2.12 or later)",
				ver >> 8, ver & 0xff);
	if (!(get_le16(b->f + HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return boot_err(err, errlen, "bzImage has no 64-bit entry point (XLF_KERNEL_64 clear)");
	return 0;
}

static int check_sizes(struct bz *b, char *err, size_t errlen)
{
	unsigned sects = b->f[HDR_SETUP_SECTS] ? b->f[HDR_SETUP_SECTS] : 4;
	uint64_t sys = (uint64_t)get_le32(b->f + HDR_SYSSIZE) * 16;

	b->setup_size = (sects + 1ull) * 512;
	b->hdr_end = 0x202ull + b->f[HDR_JUMP_LEN];
	if (b->hdr_end > HDR_MAX_END)
		b->hdr_end = HDR_MAX_END;
	if (b->hdr_end < HDR_MIN_END)
		return boot_err(err, errlen, "bzImage setup header ends at 0x%llx, too short for protocol 2.12",
				(unsigned long long)b->hdr_end);
	if (b->setup_size >= b->len)
		return boot_err(err, errlen, "bzImage truncated: %zu bytes, setup alone needs %llu",
				b->len, (unsigned long long)b->setup_size);
	b->pm_len = b->len - b->setup_size;
	if (sys > b->pm_len)
		return boot_err(err, errlen, "bzImage truncated: %zu bytes, header says %llu",
				b->len, (unsigned long long)(b->setup_size + sys));
	return 0;
}

/* The 64-bit entry relocates itself to pref_address and runs in [pref, pref + init_size). */
static int check_ram(const struct guest_mem *m, struct bz *b, char *err, size_t errlen)
{
	uint64_t pref = get_le64(b->f + HDR_PREF_ADDRESS), init = get_le32(b->f + HDR_INIT_SIZE);
	uint64_t load_end = BOOT_KERNEL_ADDR + b->pm_len;

	if (pref < BOOT_KERNEL_ADDR)
		pref = BOOT_KERNEL_ADDR;
	if (pref > UINT64_MAX - init || pref + init > m->low_size || load_end > m->low_size)
		return boot_err(err, errlen,
				"guest RAM too small: the kernel needs 0x%llx bytes (pref_address 0x%llx + init_size 0x%llx), RAM below 4 GiB is 0x%llx",
				(unsigned long long)(pref > UINT64_MAX - init ? UINT64_MAX : pref + init),
				(unsigned long long)pref, (unsigned long long)init,
				(unsigned long long)m->low_size);
	b->kernel_end = pref + init > load_end ? pref + init : load_end;
	return 0;
}

static int setup_zero_page(const struct guest_mem *m, const struct boot_input *in,
			   const struct bz *b, gpa_t initrd, char *err, size_t errlen)
{
	uint8_t zp[4096];

	memset(zp, 0, sizeof(zp));
	memcpy(zp + HDR_START, b->f + HDR_START, b->hdr_end - HDR_START);
	if (boot_write_zero_page(m, in, zp, initrd))
		return boot_err(err, errlen, "no guest RAM for the zero page");
	return 0;
}

int boot_load_bzimage(const struct guest_mem *m, const struct boot_input *in,
		      struct boot_entry *out, char *err, size_t errlen)
{
	struct bz b = { .f = in->kernel, .len = in->kernel_len };
	uint64_t rd_max;
	gpa_t initrd;

	if (check_magic(&b, err, errlen) || check_sizes(&b, err, errlen) ||
	    check_ram(m, &b, err, errlen))
		return -1;
	if (boot_write_cmdline(m, in->cmdline, get_le32(b.f + HDR_CMDLINE_SIZE), err, errlen))
		return -1;
	if (gm_write(m, BOOT_KERNEL_ADDR, b.f + b.setup_size, b.pm_len))
		return boot_err(err, errlen, "kernel does not fit in guest RAM");
	rd_max = (uint64_t)get_le32(b.f + HDR_INITRD_ADDR_MAX) + 1;
	if (boot_place_initrd(m, in, b.kernel_end, rd_max, &initrd, err, errlen) ||
	    setup_zero_page(m, in, &b, initrd, err, errlen))
		return -1;
	if (boot_write_cpu_tables(m, out))
		return boot_err(err, errlen, "no guest RAM for the boot page tables");
	out->pvh = false;
	out->rip = BOOT_KERNEL_ADDR + ENTRY_64_OFFSET;
	out->rsi = BOOT_ZERO_PAGE;
	out->rbx = 0;
	return 0;
}
