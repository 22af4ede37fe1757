/* tests/guest/rt.c: the tiny guest runtime: polled COM1 output, IDT, poweroff, failure by triple fault. */
#include "rt.h"

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

struct idt_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern const uint8_t isr_stubs[];   /* start.S: 256 stubs of 16 bytes */
static struct idt_gate idt[256] __attribute__((aligned(16)));
static isr_fn *handlers[256];

void putc_com1(char c)
{
	/* Bounded wait for THRE: a missing or stuck UART must not hang the guest. */
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
		;
	outb(COM1, (uint8_t)c);
}

void puts_com1(const char *s)
{
	while (*s)
		putc_com1(*s++);
}

void puthex(uint64_t v)
{
	char buf[19];
	int i = sizeof(buf) - 1;

	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	puts_com1(&buf[i]);
}

void putdec(uint64_t v)
{
	char buf[21];
	int i = sizeof(buf) - 1;

	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_com1(&buf[i]);
}

void putkv(const char *s, uint64_t v)
{
	puts_com1(s);
	puthex(v);
	putc_com1('\n');
}

static void idt_gate_set(uint8_t vec, uint64_t addr)
{
	struct idt_gate *g = &idt[vec];

	g->off_lo = (uint16_t)addr;
	g->sel = 0x08;          /* our GDT's code segment (start.S) */
	g->ist = 0;
	g->type = 0x8E;         /* present, DPL0, 64-bit interrupt gate: IF cleared on entry */
	g->off_mid = (uint16_t)(addr >> 16);
	g->off_hi = (uint32_t)(addr >> 32);
	g->zero = 0;
}

void idt_load(void)
{
	struct idt_ptr p = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	__asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++)
		idt_gate_set((uint8_t)v, (uint64_t)(uintptr_t)(isr_stubs + 16 * v));
	idt_load();
}

void idt_set_handler(uint8_t vector, isr_fn *fn)
{
	handlers[vector] = fn;
}

void idt_load_empty(void)
{
	struct idt_ptr p = { 0, 0 };

	__asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

void isr_dispatch(struct frame *f);
void isr_dispatch(struct frame *f)
{
	isr_fn *fn = handlers[f->vector & 255];

	if (fn) {
		fn(f);
		return;
	}
	puts_com1("guest FAIL: unexpected vector ");
	putdec(f->vector);
	puts_com1(" error ");
	puthex(f->error);
	puts_com1(" rip ");
	puthex(f->rip);
	putc_com1('\n');
	triple_fault();
}

noreturn void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

noreturn void poweroff(void)
{
	outb(ACPI_PM, (5 << 2) | (1 << 5));   /* SLP_TYP = S5, SLP_EN */
	halt_forever();
}

noreturn void triple_fault(void)
{
	idt_load_empty();
	for (;;)
		__asm__ volatile("ud2" ::: "memory");
}

noreturn void fail(const char *why)
{
	puts_com1("guest FAIL: ");
	puts_com1(why);
	putc_com1('\n');
	triple_fault();
}

uint32_t ioapic_read(uint8_t reg)
{
	mmio_write32(IOAPIC_BASE, reg);
	return mmio_read32(IOAPIC_BASE + 0x10);
}

void ioapic_write(uint8_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

void ioapic_rte_set(unsigned pin, uint32_t lo, uint32_t dest)
{
	ioapic_write((uint8_t)(0x10 + 2 * pin), RTE_MASKED);
	ioapic_write((uint8_t)(0x11 + 2 * pin), dest << 24);
	ioapic_write((uint8_t)(0x10 + 2 * pin), lo);
}

static void spurious_isr(struct frame *f)
{
	(void)f;   /* no EOI for the spurious vector */
}

uint32_t x2apic_enable(void)
{
	uint32_t r[4], id;
	uint64_t base;

	cpuid(1, r);
	if (!(r[2] & (1u << 21)))
		fail("CPUID.1:ECX.x2APIC[21] is clear");
	base = rdmsr(MSR_APIC_BASE);
	if (!(base & (1u << 11)))   /* disabled -> x2APIC directly is an illegal transition */
		wrmsr(MSR_APIC_BASE, base | (1u << 11));
	wrmsr(MSR_APIC_BASE, base | (1u << 11) | (1u << 10));
	if ((rdmsr(MSR_APIC_BASE) & 0xC00) != 0xC00)
		fail("IA32_APIC_BASE does not keep EN|EXTD");
	idt_set_handler(0xFF, spurious_isr);
	wrmsr(MSR_X2APIC_TPR, 0);
	wrmsr(MSR_X2APIC_SVR, 0x100 | 0xFF);   /* APIC software enable, spurious vector 0xFF */
	id = (uint32_t)rdmsr(MSR_X2APIC_ID);
	if (id > 255)
		fail("x2APIC ID does not fit a physical IOAPIC destination");
	return id;
}

uint64_t cmdline_uint(uint64_t zero_page, const char *key, uint64_t dflt)
{
	const volatile char *p = (const volatile char *)(uintptr_t)*(volatile uint32_t *)(zero_page + 0x228);
	size_t k = 0;

	if (!zero_page || !p)
		return dflt;
	while (key[k])
		k++;
	for (size_t i = 0; i < 4096 && p[i]; i++) {
		size_t j = 0;
		uint64_t v = 0;

		if (i > 0 && p[i - 1] != ' ')
			continue;
		while (j < k && p[i + j] == key[j])
			j++;
		if (j < k || p[i + j] < '0' || p[i + j] > '9')
			continue;
		for (; p[i + j] >= '0' && p[i + j] <= '9'; j++)
			v = v * 10 + (uint64_t)(p[i + j] - '0');
		return v;
	}
	return dflt;
}

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}
