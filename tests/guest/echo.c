/* tests/guest/echo.c: console input: COM1 receive interrupts (IOAPIC pin 4, edge) collect one line, which the guest echoes back. */
#include "rt.h"

#define PIN      4
#define VEC_RX   0x45
#define UART_RBR (COM1 + 0)
#define UART_IER (COM1 + 1)
#define UART_MCR (COM1 + 4)
#define UART_LSR (COM1 + 5)

static char line[128];
static volatile unsigned len, rx_irqs;
static volatile bool done;

/* Drain the receive FIFO: the line drops, so the next byte makes a new edge. */
static void rx_isr(struct frame *f)
{
	rx_irqs++;
	while (inb(UART_LSR) & 1) {
		char c = (char)inb(UART_RBR);

		if (c == '\n')
			done = true;
		else if (c != '\r' && len < sizeof(line) - 1 && !done)
			line[len++] = c;
	}
	x2apic_eoi();
}

void guest_main(uint64_t zero_page)
{
	uint32_t id;

	idt_init();
	idt_set_handler(VEC_RX, rx_isr);
	id = x2apic_enable();
	ioapic_rte_set(PIN, VEC_RX, id);
	/* FCR left alone: clearing the FIFO could drop input that vmm delivered before we got here */
	outb(UART_MCR, 0x0B);
	outb(UART_IER, 0x01);   /* ERBFI: data-ready interrupt */
	puts_com1("echo: ready\n");
	while (!done)
		sti_hlt();
	outb(UART_IER, 0);
	line[len] = 0;
	puts_com1("echo: got '");
	puts_com1(line);
	puts_com1("'\n");
	putkv("echo: receive interrupts ", rx_irqs);
	poweroff();
}
