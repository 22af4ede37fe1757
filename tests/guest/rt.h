/* tests/guest/rt.h: the tiny runtime shared by the freestanding test guests (port I/O, MSRs, COM1, IDT, exits). */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

/* Ports and addresses the vmm under test provides (see the top-level dev/dev.h, boot/boot.h, vmm.h). */
#define COM1            0x3F8
#define DEBUG_EXIT      0xF4
#define ACPI_PM         0x600     /* +0 sleep control, +2 reset register */
#define I8042_CMD       0x64
#define IOAPIC_BASE     0xFEC00000ul
#define MSR_APIC_BASE   0x1B
#define MSR_EFER        0xC0000080
#define MSR_X2APIC_ID   0x802
#define MSR_X2APIC_TPR  0x808
#define MSR_X2APIC_EOI  0x80B
#define MSR_X2APIC_SVR  0x80F

/* The entry state start.S records before it changes anything. */
extern uint64_t entry_rflags, entry_cs, entry_rsi;

/* What an interrupt handler sees: the registers start.S saved, then the CPU's frame. */
struct frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
typedef void isr_fn(struct frame *f);

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}
static inline void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}
static inline uint32_t mmio_read32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
/* sti; hlt as one unit: an interrupt already pending wakes the hlt. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }
/* Let a pending interrupt in (sti's shadow covers the nop), then close again. */
static inline void sti_nop_cli(void) { __asm__ volatile("sti; nop; cli" ::: "memory"); }

/* COM1 output, polled. '\n' is sent as is (tests match lines). */
void putc_com1(char c);
void puts_com1(const char *s);
void puthex(uint64_t v);           /* "0x" and lowercase hex, no padding */
void putdec(uint64_t v);
/* puts_com1(s) then puthex(v) then '\n'. */
void putkv(const char *s, uint64_t v);

/* Fill the IDT with the stubs of start.S (all 256 vectors) and load it.
 * Vectors without a handler print "guest FAIL: unexpected vector" and die(). */
void idt_init(void);
/* Load the IDT that idt_init() filled (an AP calls this). */
void idt_load(void);
/* Route `vector` to fn (runs with interrupts off; must EOI itself). */
void idt_set_handler(uint8_t vector, isr_fn *fn);
/* Load an IDT of limit 0: any exception after this is a triple fault. */
void idt_load_empty(void);

/* IOAPIC indirect registers (IOREGSEL at +0, IOWIN at +0x10). */
uint32_t ioapic_read(uint8_t reg);
void ioapic_write(uint8_t reg, uint32_t v);
#define RTE_MASKED (1u << 16)
#define RTE_LEVEL  (1u << 15)
#define RTE_RIRR   (1u << 14)
/* Program redirection entry `pin` (low dword lo), physical destination `dest`; masked while the halves change. */
void ioapic_rte_set(unsigned pin, uint32_t lo, uint32_t dest);
/* Check CPUID, switch the local APIC to x2APIC mode, software-enable it (spurious vector 0xFF,
 * whose handler it installs), TPR 0. Returns the x2APIC ID; fail()s if any step does not hold. */
uint32_t x2apic_enable(void);
static inline void x2apic_eoi(void) { wrmsr(MSR_X2APIC_EOI, 0); }

/* ACPI poweroff (sleep control <- SLP_TYP 5 | SLP_EN): vmm exits 0. Halts if ignored (the test then times out). */
noreturn void poweroff(void);
/* Interrupts off, hlt forever. */
noreturn void halt_forever(void);
/* Print "guest FAIL: <why>" and triple fault: vmm exits non-zero. */
noreturn void fail(const char *why);
/* Triple fault now (empty IDT + ud2). */
noreturn void triple_fault(void);

/* The unsigned number after "key" (e.g. "cpus=") as a word of the zero page's command line, else dflt. */
uint64_t cmdline_uint(uint64_t zero_page, const char *key, uint64_t dflt);

/* What the compiler may call even in freestanding code. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* Each guest defines this; zero_page is RSI at entry (struct boot_params). Returning powers off. */
void guest_main(uint64_t zero_page);

#endif
