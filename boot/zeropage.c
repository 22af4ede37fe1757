/* boot/zeropage.c: the Linux zero page (struct boot_params) a boot loader hands the 64-bit entry. */
#include <string.h>

#include "boot.h"
#include "../le.h"

/* Offsets in struct boot_params (Documentation/arch/x86/zero-page.rst, boot.rst). */
#define ZP_ACPI_RSDP        0x070
#define ZP_EXT_RAMDISK_IMG  0x0c0
#define ZP_EXT_RAMDISK_SIZE 0x0c4
#define ZP_EXT_CMD_LINE     0x0c8
#define ZP_E820_ENTRIES     0x1e8
#define ZP_TYPE_OF_LOADER   0x210
#define ZP_LOADFLAGS        0x211
#define ZP_RAMDISK_IMAGE    0x218
#define ZP_RAMDISK_SIZE     0x21c
#define ZP_HEAP_END_PTR     0x224
#define ZP_CMD_LINE_PTR     0x228
#define ZP_SETUP_DATA       0x250
#define ZP_E820_TABLE       0x2d0
#define E820_ENTRY_SIZE     20

#define LOADER_UNDEFINED    0xff
#define CAN_USE_HEAP        0x80
#define HEAP_END            0xfe00   /* heap_end_ptr: offset from the real-mode setup start */

static void put_e820(const struct guest_mem *m, uint8_t *zp)
{
	struct e820_entry e[E820_MAX];
	int n = boot_e820(m, e);

	zp[ZP_E820_ENTRIES] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		uint8_t *p = zp + ZP_E820_TABLE + i * E820_ENTRY_SIZE;
		put_le64(p, e[i].addr);
		put_le64(p + 8, e[i].size);
		put_le32(p + 16, e[i].type);
	}
}

int boot_write_zero_page(const struct guest_mem *m, const struct boot_input *in, uint8_t *zp,
			 gpa_t initrd)
{
	uint64_t rd_size = initrd ? in->initrd_len : 0;

	zp[ZP_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	zp[ZP_LOADFLAGS] |= CAN_USE_HEAP;
	put_le16(zp + ZP_HEAP_END_PTR, HEAP_END);
	put_le32(zp + ZP_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_ADDR);
	put_le32(zp + ZP_EXT_CMD_LINE, 0);
	put_le32(zp + ZP_RAMDISK_IMAGE, (uint32_t)initrd);
	put_le32(zp + ZP_EXT_RAMDISK_IMG, (uint32_t)(initrd >> 32));
	put_le32(zp + ZP_RAMDISK_SIZE, (uint32_t)rd_size);
	put_le32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)(rd_size >> 32));
	put_le64(zp + ZP_SETUP_DATA, 0);   /* we pass no setup_data chain */
	put_le64(zp + ZP_ACPI_RSDP, in->rsdp);
	put_e820(m, zp);
	return gm_write(m, BOOT_ZERO_PAGE, zp, 4096) ? -1 : 0;
}
