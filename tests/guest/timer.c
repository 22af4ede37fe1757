/* tests/guest/timer.c: the local APIC timer in x2APIC mode: one-shot, periodic and (if CPUID has it) TSC-deadline. */
#include "rt.h"

#define VEC_TIMER       0x44
#define MSR_LVT_TIMER   0x832
#define MSR_TMICT       0x838   /* initial count */
#define MSR_TMCCT       0x839   /* current count */
#define MSR_TDCR        0x83E   /* divide configuration */
#define MSR_TSC_DEADLINE 0x6E0
#define LVT_MASKED      (1u << 16)
#define LVT_PERIODIC    (1u << 17)
#define LVT_TSC_DEADLINE (2u << 17)

static volatile unsigned ticks;
static bool failed;

static void timer_isr(struct frame *f)
{
	ticks++;
	x2apic_eoi();
}

static void note(const char *what, uint64_t v)
{
	puts_com1("guest FAIL: timer: ");
	putkv(what, v);
	failed = true;
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void window(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sti_nop_cli();
}

static void timer_stop(void)
{
	wrmsr(MSR_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	wrmsr(MSR_TMICT, 0);
}

static void one_shot(void)
{
	ticks = 0;
	wrmsr(MSR_TDCR, 0xB);             /* divide by 1 */
	wrmsr(MSR_LVT_TIMER, VEC_TIMER);
	wrmsr(MSR_TMICT, 1000000);
	puts_com1("timer: one-shot armed\n");
	while (ticks == 0)
		sti_hlt();
	window(2000);
	if (ticks != 1)
		note("one-shot fired more than once: ", ticks);
	if (rdmsr(MSR_TMCCT) != 0)
		note("current count not 0 after the one-shot: ", rdmsr(MSR_TMCCT));
	puts_com1("timer: one-shot ok\n");
}

static void periodic(void)
{
	ticks = 0;
	wrmsr(MSR_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
	wrmsr(MSR_TMICT, 500000);
	puts_com1("timer: periodic armed\n");
	while (ticks < 3)
		sti_hlt();
	timer_stop();
	puts_com1("timer: periodic ok\n");
}

static void tsc_deadline(void)
{
	uint32_t r[4];

	cpuid(1, r);
	if (!(r[2] & (1u << 24))) {
		puts_com1("timer: note: no TSC-deadline in CPUID.1:ECX[24]\n");
		return;
	}
	ticks = 0;
	wrmsr(MSR_LVT_TIMER, LVT_TSC_DEADLINE | VEC_TIMER);
	__asm__ volatile("mfence" ::: "memory");
	wrmsr(MSR_TSC_DEADLINE, rdtsc() + 2000000);
	puts_com1("timer: tsc-deadline armed\n");
	while (ticks == 0)
		sti_hlt();
	if (rdmsr(MSR_TSC_DEADLINE) != 0)
		note("IA32_TSC_DEADLINE not cleared after it fired: ", rdmsr(MSR_TSC_DEADLINE));
	timer_stop();
	puts_com1("timer: tsc-deadline ok\n");
}

void guest_main(uint64_t zero_page)
{
	idt_init();
	idt_set_handler(VEC_TIMER, timer_isr);
	x2apic_enable();
	one_shot();
	periodic();
	tsc_deadline();
	if (failed)
		fail("timer: see the lines above");
	puts_com1("timer ok\n");
	poweroff();
}
