/* tests/guest/hostile.c: odd and unclaimed port/MMIO accesses vmm must contain: all-ones reads, no crash, rate-limited logs. */
#include "rt.h"

#define ZP_E820_ENTRIES 0x1E8
#define ZP_E820_TABLE   0x2D0
#define UNCLAIMED_PORT  0x1234
#define UNCLAIMED_MMIO  0xD0000000ul    /* 32-bit PCI window, no device there */

static bool failed;

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void want(const char *what, uint64_t got, uint64_t expect)
{
	if (got == expect)
		return;
	puts_com1("guest FAIL: hostile: ");
	puts_com1(what);
	puts_com1(": got ");
	puthex(got);
	putkv(", want ", expect);
	failed = true;
}

/* A 2 MiB-aligned guest-physical address below the MMIO hole that no e820 RAM entry covers, or 0. */
static uint64_t hole_in_ram_map(uint64_t zp)
{
	uint64_t top = 0;
	unsigned n = *(volatile uint8_t *)(zp + ZP_E820_ENTRIES);

	for (unsigned i = 0; i < n && i < 128; i++) {
		volatile uint8_t *e = (volatile uint8_t *)(zp + ZP_E820_TABLE + 20 * i);
		uint64_t a = *(volatile uint64_t *)e, len = *(volatile uint64_t *)(e + 8);

		if (*(volatile uint32_t *)(e + 16) == 1 && a < 0xC0000000ul && a + len > top)
			top = a + len;
	}
	top = (top + 0x3FFFFF) & ~0x1FFFFFul;
	return top < 0xC0000000ul ? top : 0;
}

static void ports(void)
{
	static uint8_t buf[16];
	static const char msg[] = "hostile: rep outsb ok\n";
	const char *p = msg;
	uint64_t cnt = sizeof(msg) - 1;
	uint8_t *d = buf;

	want("inb from an unclaimed port", inb(UNCLAIMED_PORT), 0xFF);
	want("inw from an unclaimed port", inw(UNCLAIMED_PORT), 0xFFFF);
	want("inl from an unclaimed port", inl(UNCLAIMED_PORT), 0xFFFFFFFFu);
	outb(UNCLAIMED_PORT, 0x5A);
	putkv("hostile: inl across the end of COM1 (0x3fe) ", inl(COM1 + 6));
	__asm__ volatile("rep outsb" : "+S"(p), "+c"(cnt) : "d"(COM1) : "memory");
	cnt = sizeof(buf);
	__asm__ volatile("rep insb" : "+D"(d), "+c"(cnt) : "d"(UNCLAIMED_PORT) : "memory");
	for (unsigned i = 0; i < sizeof(buf); i++)
		want("rep insb from an unclaimed port", buf[i], 0xFF);
}

static void mmio(uint64_t zp)
{
	uint64_t gap = hole_in_ram_map(zp);

	mmio_write32(UNCLAIMED_MMIO, 0x12345678);
	want("32-bit read of unclaimed MMIO", mmio_read32(UNCLAIMED_MMIO), 0xFFFFFFFFu);
	want("64-bit read of unclaimed MMIO", *(volatile uint64_t *)UNCLAIMED_MMIO, ~0ull);
	want("8-bit read of unclaimed MMIO", *(volatile uint8_t *)(UNCLAIMED_MMIO + 3), 0xFF);
	for (int i = 0; i < 1000; i++)   /* under -v each is logged: the log must be rate limited */
		(void)mmio_read32(UNCLAIMED_MMIO + 4 * (unsigned)i);
	if (gap) {
		putkv("hostile: reading past the end of RAM at ", gap);
		*(volatile uint32_t *)gap = 0xdeadbeef;
		want("read past the end of RAM", *(volatile uint32_t *)gap, 0xFFFFFFFFu);
	}
}

/* Broken IOAPIC use: bad sizes, bad registers, a reserved delivery mode. Many times, to test the log rate limit. */
static void ioapic_abuse(void)
{
	for (int i = 0; i < 500; i++) {
		(void)*(volatile uint8_t *)(IOAPIC_BASE + 0x10);
		*(volatile uint16_t *)IOAPIC_BASE = 0x10;
		(void)*(volatile uint32_t *)(IOAPIC_BASE + 0x13);
	}
	mmio_write32(IOAPIC_BASE, 0xFF);
	mmio_write32(IOAPIC_BASE + 0x10, 0xFFFFFFFF);
	want("IOAPIC register 0xff", mmio_read32(IOAPIC_BASE + 0x10), 0);
	mmio_write32(IOAPIC_BASE, 0x10 + 2 * 23);
	mmio_write32(IOAPIC_BASE + 0x10, 0x3 << 8 | 0x50);   /* pin 23: reserved delivery mode 3, unmasked */
	mmio_write32(IOAPIC_BASE + 0x40, 0x50);             /* EOI register for a vector nobody raised */
	mmio_write32(IOAPIC_BASE, 0x10 + 2 * 23);
	mmio_write32(IOAPIC_BASE + 0x10, 1u << 16);
	mmio_write32(IOAPIC_BASE, 1);
	want("IOAPIC version after the abuse", mmio_read32(IOAPIC_BASE + 0x10), 0x00170020);
}

void guest_main(uint64_t zero_page)
{
	idt_init();
	ports();
	mmio(zero_page);
	ioapic_abuse();
	if (failed)
		fail("hostile: see the lines above");
	puts_com1("hostile ok\n");
	poweroff();
}
