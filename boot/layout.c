/* boot/layout.c: guest memory layout at boot: e820 map, GDT, identity page tables, command line, initrd placement. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "boot.h"

#define PAGE_SIZE   0x1000ull
#define PTE_P       0x001ull
#define PTE_RW      0x002ull
#define PTE_PS      0x080ull   /* 2 MiB page in a PD entry */

int boot_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int e820_add(struct e820_entry *e, int n, uint64_t addr, uint64_t end, uint32_t type)
{
	if (end <= addr || n >= E820_MAX)
		return n;
	e[n] = (struct e820_entry){ addr, end - addr, type };
	return n + 1;
}

int boot_e820(const struct guest_mem *m, struct e820_entry e[E820_MAX])
{
	uint64_t low = m->low_size < MMIO_HOLE_START ? m->low_size : MMIO_HOLE_START;
	int n = 0;

	n = e820_add(e, n, 0, low < EBDA_START ? low : EBDA_START, E820_RAM);
	n = e820_add(e, n, EBDA_START, BOOT_KERNEL_ADDR, E820_RESERVED);
	n = e820_add(e, n, BOOT_KERNEL_ADDR, low, E820_RAM);
	/* Linux only trusts MCFG when the ECAM window is reserved in e820. */
	n = e820_add(e, n, PCI_ECAM_START, PCI_ECAM_START + PCI_ECAM_SIZE, E820_RESERVED);
	if (m->high_size)
		n = e820_add(e, n, HIGH_RAM_START, HIGH_RAM_START + m->high_size, E820_RAM);
	return n;
}

/*
 * 0x08: 32-bit code (PVH entry), 0x10: 64-bit code (__BOOT_CS), 0x18: data (__BOOT_DS),
 * 0x20: the 32-bit TSS the PVH ABI wants in TR (base 0, limit 0x67).
 */
static int write_gdt(const struct guest_mem *m)
{
	static const uint64_t gdt[5] = {
		0, 0x00cf9b000000ffffull, 0x00af9b000000ffffull, 0x00cf93000000ffffull,
		0x00008b0000000067ull,
	};
	return gm_write(m, BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

/* PML4 -> one PDPT -> four PDs of 2 MiB pages: identity map of [0, 4 GiB). */
static int write_page_tables(const struct guest_mem *m)
{
	uint64_t t[512];
	gpa_t pdpt = BOOT_PML4_ADDR + PAGE_SIZE, pd = pdpt + PAGE_SIZE;

	memset(t, 0, sizeof(t));
	t[0] = pdpt | PTE_P | PTE_RW;
	if (gm_write(m, BOOT_PML4_ADDR, t, sizeof(t)))
		return -1;
	for (int i = 0; i < 4; i++)
		t[i] = (pd + i * PAGE_SIZE) | PTE_P | PTE_RW;
	if (gm_write(m, pdpt, t, sizeof(t)))
		return -1;
	for (uint64_t i = 0; i < 4; i++) {
		for (uint64_t j = 0; j < 512; j++)
			t[j] = ((i << 30) | (j << 21)) | PTE_P | PTE_RW | PTE_PS;
		if (gm_write(m, pd + i * PAGE_SIZE, t, sizeof(t)))
			return -1;
	}
	return 0;
}

int boot_write_cpu_tables(const struct guest_mem *m, struct boot_entry *out)
{
	if (write_gdt(m) || write_page_tables(m))
		return -1;
	out->gdt = BOOT_GDT_ADDR;
	out->cr3 = BOOT_PML4_ADDR;
	return 0;
}

int boot_write_cmdline(const struct guest_mem *m, const char *cmdline, uint64_t max,
		       char *err, size_t errlen)
{
	const char *s = cmdline ? cmdline : "";
	size_t len = strlen(s);

	if (max > BOOT_CMDLINE_MAX - 1)
		max = BOOT_CMDLINE_MAX - 1;
	if (len > max)
		return boot_err(err, errlen, "command line is %zu bytes, the kernel accepts at most %llu",
				len, (unsigned long long)max);
	if (gm_write(m, BOOT_CMDLINE_ADDR, s, len + 1))
		return boot_err(err, errlen, "no guest RAM for the command line at 0x%llx",
				BOOT_CMDLINE_ADDR);
	return 0;
}

int boot_place_initrd(const struct guest_mem *m, const struct boot_input *in, gpa_t lo, gpa_t hi,
		      gpa_t *addr, char *err, size_t errlen)
{
	uint64_t top = m->low_size < hi ? m->low_size : hi;
	uint64_t len = in->initrd_len;
	gpa_t at;

	*addr = 0;
	if (!in->initrd || len == 0)
		return 0;
	if (len > top || ((top - len) & ~(PAGE_SIZE - 1)) < lo)
		return boot_err(err, errlen,
				"initrd of %llu bytes does not fit in guest RAM between the kernel's end 0x%llx and 0x%llx",
				(unsigned long long)len, (unsigned long long)lo, (unsigned long long)top);
	at = (top - len) & ~(PAGE_SIZE - 1);
	if (gm_write(m, at, in->initrd, len))
		return boot_err(err, errlen, "initrd at 0x%llx is outside guest RAM", (unsigned long long)at);
	*addr = at;
	return 0;
}
