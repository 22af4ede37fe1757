/* tests/guest/smp.c: starts the APs with INIT-SIPI-SIPI (x2APIC ICR), checks their IDs, then sends each a fixed IPI. */
#include "rt.h"

#define TRAMP_BASE   0x10000ul   /* smp_tramp.S; SIPI vector 0x10 */
#define MSR_ICR      0x830
#define ICR_ALL_BUT_SELF (3ull << 18)
#define ICR_ASSERT   (1ull << 14)
#define ICR_INIT     (5ull << 8)
#define ICR_SIPI     (6ull << 8)
#define VEC_IPI      0x46
#define MAX_CPUS     16

extern uint8_t ap_tramp[], ap_tramp_end[];
extern uint64_t ap_tramp_cr3, ap_tramp_entry, ap_tramp_stacks;
extern uint32_t ap_tramp_next;

static uint8_t ap_stacks[MAX_CPUS + 1][4096] __attribute__((aligned(16)));
static volatile uint32_t ap_ids[MAX_CPUS];
static volatile unsigned ap_slot, ap_up, ipi_seen[MAX_CPUS];
static bool failed;

static void note(const char *what, uint64_t v)
{
	puts_com1("guest FAIL: smp: ");
	putkv(what, v);
	failed = true;
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void delay(uint64_t cycles)
{
	uint64_t t = rdtsc();

	while (rdtsc() - t < cycles)
		__asm__ volatile("pause");
}

/* Spin (interrupts off) until *v >= want or about `cycles` TSC cycles pass. */
static bool wait_for(volatile unsigned *v, unsigned want, uint64_t cycles)
{
	uint64_t t = rdtsc();

	while (*v < want)
		if (rdtsc() - t > cycles)
			return false;
	return true;
}

static void ipi_isr(struct frame *f)
{
	uint32_t id = (uint32_t)rdmsr(MSR_X2APIC_ID);

	__atomic_fetch_add(&ipi_seen[id % MAX_CPUS], 1, __ATOMIC_SEQ_CST);
	x2apic_eoi();
}

/* Called on each AP by smp_tramp.S, in long mode on its own stack. */
void ap_main(void);
void ap_main(void)
{
	unsigned i;

	idt_load();
	i = __atomic_fetch_add(&ap_slot, 1, __ATOMIC_SEQ_CST);
	ap_ids[i % MAX_CPUS] = x2apic_enable();
	__atomic_fetch_add(&ap_up, 1, __ATOMIC_SEQ_CST);   /* only now may the BSP read ap_ids[i] */
	for (;;)
		sti_hlt();   /* wait for the BSP's IPI */
}

static void tramp_install(uint64_t zp)
{
	uint64_t cr3;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	if (cr3 >= 0x100000000ull)
		fail("smp: CR3 above 4 GiB: a 32-bit AP cannot load it");
	ap_tramp_cr3 = cr3;
	ap_tramp_entry = (uint64_t)(uintptr_t)ap_main;
	ap_tramp_stacks = (uint64_t)(uintptr_t)ap_stacks;
	ap_tramp_next = 0;
	memcpy((void *)TRAMP_BASE, ap_tramp, (size_t)(ap_tramp_end - ap_tramp));
}

static void start_aps(unsigned want)
{
	wrmsr(MSR_ICR, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT);
	delay(10000000);
	for (int i = 0; i < 2 && ap_up < want; i++) {
		wrmsr(MSR_ICR, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_SIPI | (TRAMP_BASE >> 12));
		wait_for(&ap_up, want, 2000000000ull);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	putkv("smp: APs up: ", ap_up);
	if (ap_up != want)
		note("APs up differ from cpus= minus 1; want ", want);
}

static void check_ids(uint32_t me, unsigned n)
{
	uint32_t seen = 1u << me;

	for (unsigned i = 0; i < n && i < MAX_CPUS; i++) {
		uint32_t id = ap_ids[i];

		putkv("smp: AP x2APIC id ", id);
		if (id >= MAX_CPUS || (seen & (1u << id)))
			note("AP x2APIC id out of range or repeated: ", id);
		else
			seen |= 1u << id;
	}
}

static void ipi_round(uint32_t me, unsigned n)
{
	for (unsigned i = 0; i < n && i < MAX_CPUS; i++) {
		uint32_t id = ap_ids[i];

		if (id >= MAX_CPUS || id == me)
			continue;
		wrmsr(MSR_ICR, (uint64_t)id << 32 | ICR_ASSERT | VEC_IPI);
		if (!wait_for(&ipi_seen[id], 1, 2000000000ull))
			note("no IPI reached the AP with x2APIC id ", id);
	}
	if (ipi_seen[me])
		note("the BSP took its own IPI: ", ipi_seen[me]);
}

void guest_main(uint64_t zero_page)
{
	unsigned cpus = (unsigned)cmdline_uint(zero_page, "cpus=", 2);
	uint32_t me;

	idt_init();
	idt_set_handler(VEC_IPI, ipi_isr);
	me = x2apic_enable();
	putkv("smp: BSP x2APIC id ", me);
	if (cpus < 2 || cpus > MAX_CPUS)
		fail("smp: cpus= must be 2..16");
	tramp_install(zero_page);
	start_aps(cpus - 1);
	check_ids(me, ap_up);
	ipi_round(me, ap_up);
	if (failed)
		fail("smp: see the lines above");
	puts_com1("smp ok\n");
	poweroff();
}
