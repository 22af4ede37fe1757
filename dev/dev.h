/* dev/dev.h: the platform devices a PC guest expects: 8250 UART + console, i8042 reset, ACPI PM, debug-exit, pvpanic. */
#ifndef DEV_H
#define DEV_H

#include "../vmm.h"

#define COM1_PORT 0x3F8
#define COM1_IRQ  4
#define DEBUG_EXIT_PORT 0xF4

/* 8250/16550A UART at COM1_PORT on IOAPIC pin COM1_IRQ; output goes to out_fd (-1: discarded). */
struct serial *serial_create(struct vm *vm, int out_fd);
/* Feed console input; returns bytes accepted (0 when the receive FIFO is full). */
size_t serial_rx(struct serial *s, const uint8_t *buf, size_t len);
/* An eventfd that becomes readable when the guest drains the receive FIFO. */
int serial_rx_space_fd(struct serial *s);

/* Register the small ports: i8042 (0x60, 0x64), ACPI PM at ACPI_PM_PORT, pvpanic, debug-exit if enabled. */
int platform_devices_create(struct vm *vm) MUST_CHECK;

/* Console on the main thread. spec: "stdio", "none" or a file path. */
struct console {
	int in_fd;         /* -1: no input */
	int out_fd;        /* -1: discard */
	bool raw;          /* stdin is a terminal switched to raw mode */
	bool saw_ctrl_a;
};
/* Open the console; exits 2 with a clear message if FILE cannot be opened. */
void console_open(struct console *c, const char *spec);
/* Filter input bytes in place (Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A). Returns the count left, or -1 to quit. */
ssize_t console_filter(struct console *c, uint8_t *buf, size_t n);
/* Restore the terminal; safe to call twice and from a signal handler. */
void console_restore(void);

#endif
