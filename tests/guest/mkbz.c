/* tests/guest/mkbz.c: host tool: wraps a flat guest image (entry at +0x200) in a minimal bzImage (boot protocol 2.15), plus hostile variants. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../le.h"

#define SETUP_SECTS 1
#define SETUP_SIZE  ((SETUP_SECTS + 1) * 512)

static uint8_t *img;   /* setup + protected-mode part */
static size_t img_len;


static void put(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || (len && fwrite(b, 1, len, f) != len) || fclose(f)) {
		fprintf(stderr, "mkbz: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* The setup header fields a 64-bit loader reads (Documentation/arch/x86/boot.rst). */
static void header(uint8_t *h, size_t pm_len, uint32_t init_size)
{
	h[0x1f1] = SETUP_SECTS;
	put_le32(h + 0x1f4, (uint32_t)(pm_len / 16));      /* syssize */
	put_le16(h + 0x1fe, 0xAA55);                       /* boot_flag */
	h[0x200] = 0xEB;                               /* jump over the header ... */
	h[0x201] = 0x66;                               /* ... which ends at 0x268 */
	memcpy(h + 0x202, "HdrS", 4);
	put_le16(h + 0x206, 0x020F);                       /* protocol 2.15 */
	h[0x211] = 0x01;                               /* loadflags: LOADED_HIGH */
	put_le32(h + 0x214, 0x100000);                     /* code32_start */
	put_le32(h + 0x22c, 0x7FFFFFFF);                   /* initrd_addr_max */
	put_le32(h + 0x230, 0x200000);                     /* kernel_alignment */
	h[0x234] = 0;                                  /* not relocatable: load at 1 MiB */
	put_le16(h + 0x236, 0x0001);                       /* xloadflags: XLF_KERNEL_64 */
	put_le32(h + 0x238, 2047);                         /* cmdline_size */
	put_le64(h + 0x258, 0x100000);                     /* pref_address */
	put_le32(h + 0x260, init_size);                    /* init_size */
}

static void read_pm(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0x200 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "mkbz: %s: cannot read, or not more than 0x200 bytes\n", path);
		exit(1);
	}
	img_len = SETUP_SIZE + (((size_t)n + 15) & ~(size_t)15);
	img = calloc(1, img_len);
	if (!img || fread(img + SETUP_SIZE, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	fclose(f);
}

typedef void mutate_fn(uint8_t *b, size_t *len);
static void m_trunc_header(uint8_t *b, size_t *len) { *len = 0x240; }
static void m_trunc_setup(uint8_t *b, size_t *len) { *len = SETUP_SIZE - 100; }
static void m_trunc_kernel(uint8_t *b, size_t *len) { *len -= 64; }
static void m_boot_flag(uint8_t *b, size_t *len) { put_le16(b + 0x1fe, 0); }
static void m_old_protocol(uint8_t *b, size_t *len) { put_le16(b + 0x206, 0x0200); }
static void m_no_64bit(uint8_t *b, size_t *len) { put_le16(b + 0x236, 0); }
static void m_short_header(uint8_t *b, size_t *len) { b[0x201] = 0; }
static void m_setup_sects(uint8_t *b, size_t *len) { b[0x1f1] = 255; }
static void m_syssize_huge(uint8_t *b, size_t *len) { put_le32(b + 0x1f4, 0xFFFFFFFF); }
static void m_init_size_huge(uint8_t *b, size_t *len) { put_le32(b + 0x260, 0xFFFFFFFF); }
static void m_pref_wrap(uint8_t *b, size_t *len) { put_le64(b + 0x258, 0xFFFFFFFFFFFFF000ull); }

static const struct { const char *name; mutate_fn *fn; } mutations[] = {
	{ "bz-trunc-header", m_trunc_header },
	{ "bz-trunc-setup", m_trunc_setup },
	{ "bz-trunc-kernel", m_trunc_kernel },
	{ "bz-boot-flag", m_boot_flag },
	{ "bz-old-protocol", m_old_protocol },
	{ "bz-no-64bit", m_no_64bit },
	{ "bz-short-header", m_short_header },
	{ "bz-setup-sects", m_setup_sects },
	{ "bz-syssize-huge", m_syssize_huge },
	{ "bz-init-size-huge", m_init_size_huge },
	{ "bz-pref-wrap", m_pref_wrap },
};

int main(int argc, char **argv)
{
	char path[4096];

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: mkbz PM.bin INIT_SIZE OUT.bzimage [BADDIR]\n");
		return 1;
	}
	read_pm(argv[1]);
	header(img, img_len - SETUP_SIZE, (uint32_t)strtoul(argv[2], NULL, 0));
	put(argv[3], img, img_len);
	for (size_t i = 0; argc == 5 && i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		uint8_t *b = malloc(img_len);
		size_t len = img_len;

		if (!b)
			return 1;
		memcpy(b, img, img_len);
		mutations[i].fn(b, &len);
		snprintf(path, sizeof(path), "%s/%s.img", argv[4], mutations[i].name);
		put(path, b, len);
		free(b);
	}
	return 0;
}
