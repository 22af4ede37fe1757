/*
 * echo: console input through the UART's interrupt: SPI 1 (INTID 33, level) routed to CPU 0 in
 * the distributor (GICD_IROUTER, group 1, enabled), the UART's received-data interrupt on (IER,
 * MCR OUT2). Each IRQ drains the receive FIFO (the line drops when it is empty) and ends the
 * interrupt; at a newline the guest prints what it got and powers off.
 */
#include "rt.h"

#define UART_INTID 33
#define UART_RBR 0
#define UART_IER 1
#define UART_IIR 2
#define UART_MCR 4
#define UART_LSR 5

static volatile uint64_t irqs, other, len, done;
static char line[64];

void exc_handler(uint64_t type, struct frame *f)
{
	if (type != VEC_IRQ) {
		exc_default(type, f);
		return;
	}
	uint64_t iar = sr_rd(ICC_IAR1_EL1), intid = iar & 0xffffff;
	if (intid >= 1020)
		return;
	if (intid == UART_INTID) {
		irqs++;
		(void)r8(UART_BASE + UART_IIR);
		for (int i = 0; i < 64 && (r8(UART_BASE + UART_LSR) & 1); i++) {
			char c = (char)r8(UART_BASE + UART_RBR);
			if (c == '\n' || c == '\r')
				done = 1;
			else if (len < sizeof(line) - 1)
				line[len++] = c;
		}
	} else {
		other++;
	}
	sr_wr(ICC_EOIR1_EL1, iar);
	isb();
}

int main(void)
{
	int fails = 0;

	if (!gic_cpu_init(&fails)) {
		debug_exit(0x7f);
		system_off();
	}
	uintptr_t pr = GICD_BASE + GICD_IPRIORITYR + (UART_INTID / 4) * 4;
	w32(pr, (r32(pr) & ~(0xffu << 8 * (UART_INTID % 4))) | 0x80u << 8 * (UART_INTID % 4));
	w64(GICD_BASE + GICD_IROUTER + 8 * UART_INTID, cpu_index_mpidr() & 0xff00ffffffull);
	w32(GICD_BASE + GICD_IGROUPR + 4 * (UART_INTID / 32),
	    r32(GICD_BASE + GICD_IGROUPR + 4 * (UART_INTID / 32)) | 1u << (UART_INTID % 32));
	w32(GICD_BASE + GICD_ISENABLER + 4 * (UART_INTID / 32), 1u << (UART_INTID % 32));
	w8(UART_BASE + UART_MCR, 0x0b);   /* DTR, RTS, OUT2 (the IRQ line's gate) */
	w8(UART_BASE + UART_IER, 0x01);   /* received data available */
	say("echo: waiting for a line");
	while (!done)
		wait_irq();
	line[len] = 0;
	puts("echo: got '");
	puts(line);
	say("'");
	puts("echo: interrupts ");
	put_dec(irqs);
	putc('\n');
	if (other)
		fail_hex("interrupts other than the UART's:", other);
	system_off();
}
