/* dev/serial.c: 16550A UART (COM1, COM2) register model: 16-byte RX FIFO, loopback, IIR priorities, OUT2-gated IRQ line. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dev.h"
#include "../vm.h"

/* Register offsets (DLAB=0 unless noted). */
enum { UART_RBR_THR = 0, UART_IER = 1, UART_IIR_FCR = 2, UART_LCR = 3, UART_MCR = 4,
       UART_LSR = 5, UART_MSR = 6, UART_SCR = 7 };

#define IER_RDI   0x01   /* received data available */
#define IER_THRI  0x02   /* transmit holding register empty */
#define IER_RLSI  0x04   /* receiver line status */
#define IER_MSI   0x08   /* modem status */
#define IER_MASK  0x0F   /* a 16550A has no bits 7:4 (Linux probes this) */

#define IIR_NO_INT 0x01
#define IIR_MSI    0x00
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_RLSI   0x06
#define IIR_TIMEOUT 0x0C
#define IIR_FIFO   0xC0  /* "FIFOs enabled": what makes Linux say 16550A */

#define FCR_ENABLE  0x01
#define FCR_CLR_RX  0x02

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1F

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_ERR  0x1E   /* OE, PE, FE, BI: cleared by reading LSR */
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80
#define MSR_DELTA 0x0F
#define MSR_TERI 0x04

#define RX_FIFO 16
#define OUT_STALL_MS 2000   /* how long one byte may wait for a stuck out_fd */

struct serial {
	unsigned irq;                /* IOAPIC pin */
	struct vm *vm;
	int out_fd, rx_efd;
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	bool fifo_on;
	uint8_t trigger;        /* RX trigger level in bytes */
	uint8_t lsr_err;        /* latched LSR error bits */
	uint8_t msr_delta;      /* MSR bits 3:0 */
	bool thr_ipending;      /* THRE interrupt latched, cleared by IIR read or THR write */
	bool irq_level;         /* what we last told vm_set_irq */
	bool rx_blocked;        /* serial_rx refused bytes: signal rx_efd once drained */
	bool out_stalled;       /* out_fd stopped taking bytes: drop without waiting */
	uint8_t rx[RX_FIFO];
	unsigned rx_head, rx_count;
};

static unsigned rx_capacity(const struct serial *s)
{
	return s->fifo_on ? RX_FIFO : 1;
}

/* Modem status lines: a null modem with everything asserted, or MCR fed back in loopback. */
static uint8_t msr_lines(const struct serial *s)
{
	uint8_t m = s->mcr;
	if (!(m & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	return (uint8_t)((m & MCR_DTR ? MSR_DSR : 0) | (m & MCR_RTS ? MSR_CTS : 0) |
			 (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0));
}

/* The highest-priority pending interrupt, as IIR bits 3:0. */
static uint8_t iir_source(const struct serial *s)
{
	if ((s->ier & IER_RLSI) && s->lsr_err)
		return IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_count) {
		/* No timer: a FIFO below its trigger level reports the timeout at once. */
		return s->fifo_on && s->rx_count < s->trigger ? IIR_TIMEOUT : IIR_RDI;
	}
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return IIR_THRI;
	if ((s->ier & IER_MSI) && s->msr_delta)
		return IIR_MSI;
	return IIR_NO_INT;
}

/* Drive the IRQ line. On a PC, OUT2 gates it; loopback disconnects OUT2 from the pin. */
static void update_irq(struct serial *s)
{
	bool gate = (s->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
	bool level = gate && iir_source(s) != IIR_NO_INT;
	if (level == s->irq_level)
		return;
	s->irq_level = level;
	vm_set_irq(s->vm, s->irq, level);
}

static void rx_space_signal(struct serial *s)
{
	uint64_t one = 1;
	if (!s->rx_blocked)
		return;
	s->rx_blocked = false;
	if (write(s->rx_efd, &one, sizeof(one)) < 0)
		vlog("serial: rx eventfd: %s", strerror(errno));
}

static void rx_clear(struct serial *s)
{
	s->rx_head = s->rx_count = 0;
	rx_space_signal(s);
}

/* One received byte. Overrun sets OE: a full FIFO loses the new byte, a full RBR the old one. */
static void rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count >= rx_capacity(s)) {
		s->lsr_err |= LSR_OE;
		if (!s->fifo_on)
			s->rx[s->rx_head] = b;
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % RX_FIFO] = b;
	s->rx_count++;
}

static uint8_t rx_pop(struct serial *s)
{
	if (!s->rx_count)
		return 0;
	uint8_t b = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % RX_FIFO;
	if (--s->rx_count == 0)
		rx_space_signal(s);
	return b;
}

/* Wait for out_fd at most OUT_STALL_MS (0 while already stalled); false: drop the byte. */
static bool out_ready(struct serial *s)
{
	struct pollfd p = { .fd = s->out_fd, .events = POLLOUT };
	int r;
	do
		r = poll(&p, 1, s->out_stalled ? 0 : OUT_STALL_MS);
	while (r < 0 && errno == EINTR);
	bool ok = r == 1 && (p.revents & POLLOUT) && !(p.revents & (POLLERR | POLLNVAL));
	if (!ok && !s->out_stalled)
		vlog("serial: console output stalled or closed; dropping bytes");
	s->out_stalled = !ok;
	return ok;
}

static void out_byte(struct serial *s, uint8_t b)
{
	ssize_t n;
	if (s->out_fd < 0 || !out_ready(s))
		return;
	do
		n = write(s->out_fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		s->out_stalled = true;
}

static void write_thr(struct serial *s, uint8_t b)
{
	/* The line drops while the byte "transmits" and rises when THR is empty again:
	 * that edge is what an edge-triggered IOAPIC pin needs for the next THRE interrupt. */
	s->thr_ipending = false;
	update_irq(s);
	if (s->mcr & MCR_LOOP)
		rx_push(s, b);
	else
		out_byte(s, b);
	s->thr_ipending = true;
}

static void write_ier(struct serial *s, uint8_t v)
{
	uint8_t old = s->ier;
	s->ier = v & IER_MASK;
	/* THR is always empty here: enabling THRI raises THRE at once (Linux's THRE and TXEN tests). */
	if ((s->ier & IER_THRI) && !(old & IER_THRI))
		s->thr_ipending = true;
}

static void write_fcr(struct serial *s, uint8_t v)
{
	static const uint8_t trig[4] = { 1, 4, 8, 14 };
	bool on = v & FCR_ENABLE;
	if (on != s->fifo_on)
		rx_clear(s);   /* changing FIFO mode resets both FIFOs */
	s->fifo_on = on;
	if (!on)
		return;
	s->trigger = trig[v >> 6];
	if (v & FCR_CLR_RX)
		rx_clear(s);
}

static void write_mcr(struct serial *s, uint8_t v)
{
	uint8_t before = msr_lines(s), after, changed;
	bool was_loop = s->mcr & MCR_LOOP;
	s->mcr = v & MCR_MASK;
	after = msr_lines(s);
	changed = before ^ after;
	s->msr_delta |= (uint8_t)(changed >> 4) & (MSR_DELTA & ~MSR_TERI);
	if ((before & MSR_RI) && !(after & MSR_RI))
		s->msr_delta |= MSR_TERI;
	if (was_loop && !(s->mcr & MCR_LOOP))
		rx_space_signal(s);   /* the wire is connected again */
}

static void reg_write(struct serial *s, unsigned off, uint8_t v)
{
	bool dlab = s->lcr & LCR_DLAB;
	switch (off) {
	case UART_RBR_THR: if (dlab) s->dll = v; else write_thr(s, v); break;
	case UART_IER:     if (dlab) s->dlm = v; else write_ier(s, v); break;
	case UART_IIR_FCR: write_fcr(s, v); break;
	case UART_LCR:     s->lcr = v; break;
	case UART_MCR:     write_mcr(s, v); break;
	case UART_SCR:     s->scr = v; break;
	default:           break;   /* LSR, MSR: read only */
	}
}

static uint8_t read_iir(struct serial *s)
{
	uint8_t src = iir_source(s);
	if (src == IIR_THRI)
		s->thr_ipending = false;   /* reading IIR acknowledges THRE */
	return (uint8_t)(src | (s->fifo_on ? IIR_FIFO : 0));
}

static uint8_t read_lsr(struct serial *s)
{
	uint8_t v = (uint8_t)(LSR_THRE | LSR_TEMT | s->lsr_err | (s->rx_count ? LSR_DR : 0));
	s->lsr_err = 0;
	return v;
}

static uint8_t read_msr(struct serial *s)
{
	uint8_t v = msr_lines(s) | s->msr_delta;
	s->msr_delta = 0;
	return v;
}

static uint8_t reg_read(struct serial *s, unsigned off)
{
	bool dlab = s->lcr & LCR_DLAB;
	switch (off) {
	case UART_RBR_THR: return dlab ? s->dll : rx_pop(s);
	case UART_IER:     return dlab ? s->dlm : s->ier;
	case UART_IIR_FCR: return read_iir(s);
	case UART_LCR:     return s->lcr;
	case UART_MCR:     return s->mcr;
	case UART_LSR:     return read_lsr(s);
	case UART_MSR:     return read_msr(s);
	default:           return s->scr;
	}
}

/* The port I/O handler: wider accesses act as consecutive byte accesses, as on the ISA bus. */
static void serial_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	struct serial *s = opaque;
	uint64_t out = 0;
	for (unsigned i = 0; i < size && off + i < 8; i++) {
		if (is_write)
			reg_write(s, (unsigned)off + i, (uint8_t)(*val >> (8 * i)));
		else
			out |= (uint64_t)reg_read(s, (unsigned)off + i) << (8 * i);
		update_irq(s);
	}
	if (!is_write)
		*val = out;
}

struct serial *serial_create(struct vm *vm, enum io_space sp, uint64_t base, unsigned irq, int out_fd)
{
	struct serial *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	*s = (struct serial){ .vm = vm, .out_fd = out_fd, .trigger = 1, .irq = irq };
	s->rx_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int r = s->rx_efd < 0 ? -errno
		: io_register(&vm->io, sp, base, 8, serial_io, s, "serial");
	if (r < 0) {
		if (s->rx_efd >= 0)
			close(s->rx_efd);
		free(s);
		errno = -r;
		return NULL;
	}
	return s;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	close(s->rx_efd);
	free(s);
}

size_t serial_rx(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;
	pthread_mutex_lock(&s->vm->io_lock);
	/* In loopback the receiver hears only the transmitter. */
	while (n < len && !(s->mcr & MCR_LOOP) && s->rx_count < rx_capacity(s))
		rx_push(s, buf[n++]);
	if (n < len)
		s->rx_blocked = true;
	update_irq(s);
	pthread_mutex_unlock(&s->vm->io_lock);
	return n;
}

int serial_rx_space_fd(struct serial *s)
{
	return s->rx_efd;
}
