/*
 * timer: the virtual timer's interrupt (PPI 27) through the in-kernel GICv3: the guest wakes its
 * redistributor (GICR_WAKER), enables PPI 27 in the SGI frame, sets ICC_SRE/PMR/IGRPEN1 and a
 * vector table whose IRQ handler acknowledges (ICC_IAR1), checks the INTID, masks the timer
 * (CNTV_CTL) and ends the interrupt (ICC_EOIR1). Three rounds of a ~10 ms one-shot, each waited for
 * with wfi; prints each interrupt and ends with debug-exit of the number taken (3: status 7).
 */
#include "rt.h"

#define TIMER_PPI       27
#define ROUNDS          3

static volatile uint64_t irqs, spurious, other, last_intid;

void exc_handler(uint64_t type, struct frame *f)
{
	if (type != VEC_IRQ) {
		exc_default(type, f);
		return;
	}
	uint64_t iar = sr_rd(ICC_IAR1_EL1), intid = iar & 0xffffff;
	last_intid = intid;
	if (intid == TIMER_PPI) {
		sr_wr(cntv_ctl_el0, 3);   /* enabled, output masked: the level drops */
		isb();
		irqs++;
	} else if (intid >= 1020) {
		spurious++;
		return;
	} else {
		other++;
	}
	sr_wr(ICC_EOIR1_EL1, iar);
	isb();
}

int main(void)
{
	uint64_t hz = counter_hz(), tval = hz / 100;
	uintptr_t rd;
	int fails = 0;

	say_hex("timer: GICD_PIDR2 arch rev", (r32(GICD_BASE + GICD_PIDR2) >> 4) & 0xf);
	say_hex("timer: counter frequency", hz);
	if (hz == 0) {
		fail("CNTFRQ_EL0 is 0");
		debug_exit(0x7f);
		system_off();
	}
	rd = gic_cpu_init(&fails);
	if (!rd) {
		debug_exit(0x7f);
		system_off();
	}
	say_hex("timer: redistributor", rd);
	w32(rd + GICR_SGI + GICR_IGROUPR0, r32(rd + GICR_SGI + GICR_IGROUPR0) | (1u << TIMER_PPI));
	/* priority 0x80 for INTID 27: byte 3 of IPRIORITYR6 (a word access) */
	uintptr_t pr = rd + GICR_SGI + GICR_IPRIORITYR + (TIMER_PPI / 4) * 4;
	w32(pr, (r32(pr) & ~(0xffu << 24)) | 0x80u << 24);
	w32(rd + GICR_SGI + GICR_ISENABLER0, 1u << TIMER_PPI);
	if (!(r32(rd + GICR_SGI + GICR_ISENABLER0) & (1u << TIMER_PPI)))
		fail("PPI 27 does not read back as enabled"), fails++;

	for (uint64_t round = 0; round < ROUNDS; round++) {
		uint64_t t0 = counter(), dt;
		sr_wr(cntv_tval_el0, tval);
		sr_wr(cntv_ctl_el0, 1);   /* enabled, not masked */
		isb();
		/* check with IRQs masked, wfi (a pending IRQ wakes it even so), then let it in */
		while (irqs == round)
			wait_irq();
		dt = counter() - t0;
		puts("timer: interrupt ");
		put_dec(irqs);
		puts(" (INTID ");
		put_dec(last_intid);
		puts(") after ");
		put_dec(dt * 1000000 / hz);
		say(" us");
		if (dt < tval)
			fail_hex("the interrupt came before the timer expired: ticks", dt), fails++;
		if (!(sr_rd(cntv_ctl_el0) & 4))
			fail("CNTV_CTL.ISTATUS is clear after the interrupt"), fails++;
	}
	sr_wr(cntv_ctl_el0, 0);
	isb();
	/* nothing pending now: an acknowledge reads the spurious INTID */
	uint64_t iar = sr_rd(ICC_IAR1_EL1) & 0xffffff;
	if (iar != 1023)
		fail_hex("ICC_IAR1_EL1 with nothing pending is not 1023:", iar), fails++;
	if (other)
		fail_hex("interrupts other than the timer's:", other), fails++;
	puts("timer: interrupts ");
	put_dec(irqs);
	puts(", spurious ");
	put_dec(spurious);
	putc('\n');
	if (!fails)
		say("timer ok");
	debug_exit((uint32_t)irqs);
	system_off();
}
