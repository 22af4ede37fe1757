/* tests/guest/bootinfo.c: checks what vmm hands a 64-bit ELF guest: CPU mode, zero page, e820, ACPI tables (RSDP to MADT). */
#include "rt.h"

/* struct boot_params offsets (Linux Documentation/arch/x86/zero-page.rst). */
#define ZP_ACPI_RSDP    0x070
#define ZP_E820_ENTRIES 0x1E8
#define ZP_CMDLINE_PTR  0x228
#define ZP_E820_TABLE   0x2D0
#define E820_RAM        1
#define FOUR_GIB        0x100000000ull
#define MMIO_HOLE       0xC0000000ull

extern char __image_start[], __image_end[];
static bool failed;
static uint64_t zp;
static unsigned want_cpus;   /* "cpus=N" on the command line: MADT must list N enabled CPUs */

static void bad(const char *what, uint64_t v)
{
	puts_com1("guest FAIL: bootinfo: ");
	putkv(what, v);
	failed = true;
}

static uint8_t rd8(uint64_t a) { return *(volatile uint8_t *)a; }
static uint16_t rd16(uint64_t a) { return *(volatile uint16_t *)a; }
static uint32_t rd32(uint64_t a) { return *(volatile uint32_t *)a; }
static uint64_t rd64(uint64_t a) { return *(volatile uint64_t *)a; }

static uint64_t cr(int n)
{
	uint64_t v = 0;

	if (n == 0)
		__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	else if (n == 3)
		__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	else if (n == 4)
		__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static void check_cpu(void)
{
	putkv("bootinfo: entry CS ", entry_cs);
	putkv("bootinfo: entry RFLAGS ", entry_rflags);
	putkv("bootinfo: CR3 ", cr(3));
	if (entry_cs != 0x10)
		bad("entry CS is not 0x10: ", entry_cs);
	if (entry_rflags & (1u << 9))
		bad("entered with interrupts enabled: rflags ", entry_rflags);
	if ((cr(0) & 0x80000001u) != 0x80000001u)
		bad("CR0 lacks PE|PG: ", cr(0));
	if (!(cr(4) & (1u << 5)))
		bad("CR4 lacks PAE: ", cr(4));
	if ((rdmsr(MSR_EFER) & 0x500) != 0x500)
		bad("EFER lacks LME|LMA: ", rdmsr(MSR_EFER));
}

static bool ram_covers(uint64_t lo, uint64_t hi)
{
	unsigned n = rd8(zp + ZP_E820_ENTRIES);

	for (unsigned i = 0; i < n && i < 128; i++) {
		uint64_t e = zp + ZP_E820_TABLE + 20 * i;
		uint64_t a = rd64(e), len = rd64(e + 8);

		if (rd32(e + 16) == E820_RAM && a <= lo && hi <= a + len)
			return true;
	}
	return false;
}

static bool ram_overlaps(uint64_t lo, uint64_t hi)
{
	unsigned n = rd8(zp + ZP_E820_ENTRIES);

	for (unsigned i = 0; i < n && i < 128; i++) {
		uint64_t e = zp + ZP_E820_TABLE + 20 * i;
		uint64_t a = rd64(e), len = rd64(e + 8);

		if (rd32(e + 16) == E820_RAM && a < hi && lo < a + len)
			return true;
	}
	return false;
}

static void check_e820(void)
{
	unsigned n = rd8(zp + ZP_E820_ENTRIES);

	putkv("bootinfo: e820 entries ", n);
	if (n == 0 || n > 128) {
		bad("e820 entry count out of 1..128: ", n);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = zp + ZP_E820_TABLE + 20 * i;

		puts_com1("bootinfo: e820 ");
		puthex(rd64(e));
		puts_com1(" +");
		puthex(rd64(e + 8));
		putkv(" type ", rd32(e + 16));
	}
	if (!ram_covers((uint64_t)__image_start, (uint64_t)__image_end))
		bad("no e820 RAM entry covers the loaded image at ", (uint64_t)__image_start);
	if (ram_overlaps(zp, zp + 0x1000))
		puts_com1("bootinfo: note: the zero page lies in e820 RAM\n");
	if (ram_overlaps(MMIO_HOLE, FOUR_GIB))
		bad("e820 RAM overlaps the MMIO hole at ", MMIO_HOLE);
}

static bool sum_ok(uint64_t a, uint32_t len)
{
	uint8_t s = 0;

	for (uint32_t i = 0; i < len; i++)
		s = (uint8_t)(s + rd8(a + i));
	return s == 0;
}

static bool sig_is(uint64_t a, const char *sig)
{
	for (int i = 0; sig[i]; i++)
		if (rd8(a + i) != (uint8_t)sig[i])
			return false;
	return true;
}

/* An ACPI table at a: below 4 GiB (our identity map), sane length, checksum 0. */
static bool table_ok(uint64_t a, const char *sig)
{
	uint32_t len;

	if (a == 0 || a >= FOUR_GIB - 0x10000) {
		bad("ACPI table address outside the identity map: ", a);
		return false;
	}
	len = rd32(a + 4);
	if ((sig && !sig_is(a, sig)) || len < 36 || len > 0x10000 || !sum_ok(a, len)) {
		bad("ACPI table with bad signature, length or checksum at ", a);
		return false;
	}
	if (ram_overlaps(a, a + len))
		bad("ACPI table inside e820 RAM (the OS may overwrite it) at ", a);
	return true;
}

static bool find_bytes(uint64_t a, uint32_t len, const char *pat, uint32_t plen)
{
	for (uint32_t i = 0; i + plen <= len; i++)
		if (sig_is(a + i, pat))
			return true;
	return false;
}

static void check_fadt(uint64_t f)
{
	uint32_t len = rd32(f + 4), flags = rd32(f + 112);
	uint64_t dsdt = len >= 148 && rd64(f + 140) ? rd64(f + 140) : rd32(f + 40);

	putkv("bootinfo: FADT flags ", flags);
	if (table_ok(dsdt, "DSDT") && !find_bytes(dsdt, rd32(dsdt + 4), "_S5_", 4))
		bad("DSDT has no _S5_ object (no ACPI poweroff): ", dsdt);
	if (!(flags & (1u << 10)) || rd8(f + 116) != 1 || rd64(f + 120) != ACPI_PM + 2 || rd8(f + 128) != 1)
		bad("FADT reset register is not I/O 0x602 value 1; flags ", flags);
	if (flags & (1u << 20)) {
		if (len < 268 || rd8(f + 244) != 1 || rd64(f + 248) != ACPI_PM || rd64(f + 260) != ACPI_PM + 1)
			bad("hardware-reduced FADT without sleep control/status at I/O 0x600/0x601; length ", len);
	} else {
		putkv("bootinfo: note: FADT not hardware-reduced, PM1a_CNT_BLK ", rd32(f + 64));
	}
}

static uint32_t my_apic_id(void)
{
	uint32_t r[4];

	cpuid(0, r);
	if (r[0] >= 0xB) {
		cpuid(0xB, r);
		return r[3];
	}
	cpuid(1, r);
	return r[1] >> 24;
}

static void check_madt(uint64_t m)
{
	uint32_t len = rd32(m + 4), me = my_apic_id();
	bool cpu = false, ioapic = false;
	unsigned ncpus = 0;

	putkv("bootinfo: MADT flags ", rd32(m + 40));
	if (rd32(m + 40) & 1)
		bad("MADT sets PCAT_COMPAT (the design has no PIC): flags ", rd32(m + 40));
	for (uint64_t e = m + 44; e + 2 <= m + len && rd8(e + 1) >= 2; e += rd8(e + 1)) {
		uint8_t type = rd8(e);

		if (type == 0 && rd8(e + 3) == me && (rd32(e + 4) & 1))
			cpu = true;
		if (type == 9 && rd32(e + 4) == me && (rd32(e + 8) & 1))
			cpu = true;
		if ((type == 0 && (rd32(e + 4) & 1)) || (type == 9 && (rd32(e + 8) & 1)))
			ncpus++;
		if (type == 9)
			putkv("bootinfo: MADT local x2APIC id ", rd32(e + 4));
		if (type == 1 && rd32(e + 4) == IOAPIC_BASE && rd32(e + 8) == 0)
			ioapic = true;
	}
	if (!cpu)
		bad("MADT has no enabled local (x2)APIC entry for this CPU, APIC ID ", me);
	if (!ioapic)
		bad("MADT has no IOAPIC at 0xfec00000 with GSI base 0; length ", len);
	if (want_cpus && ncpus != want_cpus)
		bad("MADT enabled CPU entries differ from cpus= on the command line: ", ncpus);
}

static void check_acpi(void)
{
	uint64_t rsdp = rd64(zp + ZP_ACPI_RSDP), xsdt;
	bool facp = false, apic = false;

	putkv("bootinfo: RSDP ", rsdp);
	if (rsdp == 0 || rsdp >= 0x100000 || !sig_is(rsdp, "RSD PTR ") || !sum_ok(rsdp, 20)) {
		bad("no valid RSDP (below 1 MiB) at acpi_rsdp_addr: ", rsdp);
		return;
	}
	if (rd8(rsdp + 15) < 2 || rd32(rsdp + 20) < 36 || !sum_ok(rsdp, 36)) {
		bad("RSDP is not ACPI 2.0+ with a valid extended checksum: revision ", rd8(rsdp + 15));
		return;
	}
	xsdt = rd64(rsdp + 24);
	if (!table_ok(xsdt, "XSDT"))
		return;
	for (uint64_t p = xsdt + 36; p + 8 <= xsdt + rd32(xsdt + 4); p += 8) {
		uint64_t t = rd64(p);

		if (!table_ok(t, NULL))
			continue;
		puts_com1("bootinfo: table ");
		for (int i = 0; i < 4; i++)
			putc_com1((char)rd8(t + i));
		putkv(" at ", t);
		if (sig_is(t, "FACP") && !facp) {
			facp = true;
			check_fadt(t);
		}
		if (sig_is(t, "APIC") && !apic) {
			apic = true;
			check_madt(t);
		}
	}
	if (!facp || !apic)
		bad("XSDT lacks FACP or APIC; found FACP? ", facp);
}

/* The identity map must reach the IOAPIC just below 4 GiB. */
static void check_ioapic_mapped(void)
{
	mmio_write32(IOAPIC_BASE, 1);
	putkv("bootinfo: IOAPIC version register ", mmio_read32(IOAPIC_BASE + 0x10));
}

/* Linux ignores the initrd when type_of_loader is 0 (arch/x86/kernel/setup.c), so a loader must set it. */
static void check_setup_header(void)
{
	putkv("bootinfo: type_of_loader ", rd8(zp + 0x210));
	if (!sig_is(zp + 0x202, "HdrS"))
		return;
	puts_com1("bootinfo: setup header HdrS\n");
	putkv("bootinfo: protocol ", rd16(zp + 0x206));
	if (rd8(zp + 0x210) == 0)
		bad("setup header copied but type_of_loader is 0 (Linux would ignore the initrd): ", 0);
	if (rd32(zp + ZP_CMDLINE_PTR) == 0)
		bad("setup header copied but cmd_line_ptr is 0: ", 0);
}

static void show_cmdline(void)
{
	uint64_t p = rd32(zp + ZP_CMDLINE_PTR);

	if (p == 0 || p >= 0x100000) {
		putkv("bootinfo: cmdline pointer ", p);
		return;
	}
	puts_com1("bootinfo: cmdline '");
	for (int i = 0; i < 256 && rd8(p + i); i++)
		putc_com1((char)rd8(p + i));
	puts_com1("'\n");
}

void guest_main(uint64_t zero_page)
{
	idt_init();
	zp = zero_page;
	putkv("bootinfo: zero page ", zp);
	check_cpu();
	if (zp == 0 || zp >= FOUR_GIB - 0x1000)
		fail("bootinfo: RSI does not point to a zero page");
	check_e820();
	show_cmdline();
	check_setup_header();
	want_cpus = (unsigned)cmdline_uint(zp, "cpus=", 0);
	check_acpi();
	check_ioapic_mapped();
	if (failed)
		fail("bootinfo: see the lines above");
	puts_com1("bootinfo ok\n");
	poweroff();
}
