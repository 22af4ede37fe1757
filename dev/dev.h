/* dev/dev.h: the platform devices a PC guest expects: 8250 UART + console, i8042 reset, ACPI PM, debug-exit, pvpanic. */
#ifndef DEV_H
#define DEV_H

#include "../vmm.h"

struct vm;

#define COM1_PORT 0x3F8
#define COM1_IRQ  4
#define COM2_PORT 0x2F8
#define COM2_IRQ  3
#define DEBUG_EXIT_PORT 0xF4

/*
 * 16550A UART at `base` in space `sp` (8 byte-wide registers: x86's COM1_PORT/COM1_IRQ and
 * COM2_PORT/COM2_IRQ, or arm64's MMIO UART) on interrupt line `irq` (vm_set_irq), driven with vm_set_irq() only when the line level changes.
 * Transmitted bytes are written to out_fd (-1: discarded); a write that cannot
 * proceed within 2 s drops bytes until out_fd is writable again. The caller
 * stores the result in vm->serial. NULL with errno set on failure.
 */
struct serial *serial_create(struct vm *vm, enum io_space sp, uint64_t base, unsigned irq, int out_fd);
/* Free the UART (its io region stays registered: use only when tearing down the VM). */
void serial_destroy(struct serial *s);
/*
 * Feed console input from the main thread (takes vm->io_lock). Returns the
 * bytes accepted: fewer than len when the receive FIFO is full (or the UART is
 * in loopback); the rest must be offered again after serial_rx_space_fd fires.
 */
size_t serial_rx(struct serial *s, const uint8_t *buf, size_t len);
/*
 * A non-blocking eventfd that becomes readable once, after serial_rx accepted
 * fewer bytes than offered, when the guest has emptied the receive FIFO. The
 * reader drains it (console_pump does).
 */
int serial_rx_space_fd(struct serial *s);

/* pvpanic (reads 3; bit 0 written: exit EXIT_PANIC) and debug-exit (see below); opaque is the vm. */
io_fn pvpanic_io, debug_exit_io;

/*
 * Register the small ports: i8042 (0x60, 0x64: status 0, command 0xFE resets),
 * port 0x80 (POST codes, ignored), ACPI PM at ACPI_PM_PORT (+0 sleep control:
 * SLP_EN with SLP_TYP S5 powers off; +1 sleep status; +2 reset register),
 * pvpanic at PVPANIC_PORT (reads 3; bit 0 written: exit EXIT_PANIC) and, if
 * vm->opt.debug_exit, debug-exit at DEBUG_EXIT_PORT (4 ports; writing v exits
 * with ((v << 1) | 1) & 0xff, the status QEMU's isa-debug-exit gives; under
 * vm->opt.run, with v & 0xff: the status of vmm run's command).
 * Reset and power off call vm_request_exit(vm, EXIT_GUEST_OFF).
 * Also writes a 7-byte stub at the reset vector 0xFFFF0 (must be RAM, reserved
 * in e820, not overwritten later) that resets through the i8042: Linux on
 * HW-reduced ACPI reboots via "EFI" then "BIOS", never the reset register.
 * Returns 0 or the io_register error.
 */
int platform_devices_create(struct vm *vm) MUST_CHECK;

/* Console on the main thread. spec: "stdio", "none" or a file path. */
#define CONSOLE_BUF 256
struct console {
	int in_fd;         /* -1: no input (none, FILE, or stdin reached EOF) */
	int out_fd;        /* -1: discard */
	bool raw;          /* stdin is a terminal switched to raw mode */
	bool saw_ctrl_a;
	uint8_t pend[CONSOLE_BUF + 1];   /* input the UART has not taken yet (+1: filter room) */
	size_t pend_off, pend_len;       /* pend_off is 0 between console_pump calls */
};
/*
 * Open the console. spec NULL means "stdio": in 0, out 1; a terminal on stdin
 * is put in raw mode (output processing kept) and restored at exit and on
 * SIGINT/TERM/HUP/QUIT/SEGV/BUS/ABRT (handlers installed only where the
 * disposition is still SIG_DFL; they restore and re-raise). "none": no input,
 * output discarded. Otherwise a FILE created 0644 and truncated, no input;
 * exits 2 naming the file if it cannot be opened. Ignores SIGPIPE, so a closed
 * output pipe drops output instead of killing the VMM.
 */
void console_open(struct console *c, const char *spec);
/*
 * Filter input bytes in place; buf must have room for n + 1 bytes (a Ctrl-A
 * held from the previous call may come out in front). Raw mode only: Ctrl-A x
 * quits, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A other sends both. Not raw:
 * bytes pass unchanged. Returns the count left, or -1 to quit.
 */
ssize_t console_filter(struct console *c, uint8_t *buf, size_t n);
/*
 * True while the main loop should poll in_fd: input open and, for a pipe,
 * nothing waiting for the UART. A terminal is always read (Ctrl-A x must work);
 * what does not fit the buffer while the guest is not reading is dropped.
 */
bool console_wants_input(const struct console *c);
/*
 * Main thread: move input to the UART. Call when in_fd polled readable
 * (in_ready) or serial_rx_space_fd(s) did. Returns 0, or -1 when the user
 * typed Ctrl-A x. At EOF or a read error sets in_fd to -1 (stdin stays open).
 */
int console_pump(struct console *c, struct serial *s, bool in_ready) MUST_CHECK;
/* Restore the terminal; safe to call twice and from a signal handler. */
void console_restore(void);
/* In a forked process that must leave the terminal alone: make console_restore do nothing. */
void console_forget(void);

#endif
