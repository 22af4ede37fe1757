/* tests/unit/test_serial.c: the 16550A model (Linux's probe, FIFO, IIR priorities, IRQ line) and the console. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "dev/dev.h"
#include "unit.h"
#include "vm.h"

/* ---- stubs for vm.c ---- */
static int irq_level = -1, irq_pin = -1, irq_calls;
static int irq_hist[64];
void vm_set_irq(struct vm *vm, unsigned pin, int level)
{
	irq_pin = (int)pin;
	irq_level = level;
	if (irq_calls < 64)
		irq_hist[irq_calls] = level;
	irq_calls++;
}
static int exit_code = -1;
void vm_request_exit(struct vm *vm, int code) { exit_code = code; }

static struct vm vm;   /* static: the regions' opaque pointers stay reachable */
static struct serial *s;

static uint8_t in(unsigned off)
{
	uint64_t v = 0xdead;
	CHECK(io_dispatch(&vm.io, IO_PIO, COM1_PORT + off, &v, 1, false));
	return (uint8_t)v;
}

static void out(unsigned off, uint8_t b)
{
	uint64_t v = b;
	CHECK(io_dispatch(&vm.io, IO_PIO, COM1_PORT + off, &v, 1, true));
}

/* A fresh VM with one UART writing to out_fd. */
static void fresh(int out_fd)
{
	serial_destroy(s);
	memset(&vm, 0, sizeof(vm));
	pthread_mutex_init(&vm.io_lock, NULL);
	s = serial_create(&vm, IO_PIO, COM1_PORT, COM1_IRQ, out_fd);
	CHECK(s != NULL);
	irq_level = irq_pin = -1;
	irq_calls = 0;
}

static bool efd_ready(void)
{
	struct pollfd p = { serial_rx_space_fd(s), POLLIN, 0 };
	return poll(&p, 1, 0) == 1;
}

static void efd_drain(void)
{
	uint64_t c;
	ssize_t n = read(serial_rx_space_fd(s), &c, sizeof(c));
	(void)n;
}

/* The register dance of Linux's 8250 autoconfig() and autoconfig_16550a(). */
static void linux_probe(void)
{
	fresh(-1);
	uint8_t save_ier = in(1);
	out(1, 0);
	uint8_t s2 = in(1) & 0x0f;
	out(1, 0x0f);
	uint8_t s3 = in(1) & 0x0f;
	out(1, save_ier);
	CHECK(s2 == 0 && s3 == 0x0f);
	uint8_t save_mcr = in(4), save_lcr = in(3);
	out(4, 0x10 | 0x08 | 0x02);              /* LOOP | OUT2 | RTS */
	CHECK((in(6) & 0xf0) == 0x90);           /* DCD | CTS */
	out(4, save_mcr);
	out(3, 0xbf); out(2, 0); out(3, 0);      /* EFR := 0 (an FCR write here) */
	out(2, 0x01);
	CHECK(in(2) >> 6 == 3);                  /* FIFOs enabled: 16550 class */
	out(3, 0x80);
	CHECK(in(2) != 0);                       /* no EFR under DLAB: not ST16C650V1 */
	out(3, 0xbf);
	CHECK(in(2) != 0);                       /* not a 16650 */
	out(3, 0);
	uint8_t m1 = in(4);
	out(3, 0xe0);
	CHECK(!((in(2) ^ m1) & 0x10));           /* not a National SuperIO */
	out(3, 0);
	out(2, 0x21);
	uint8_t a = in(2) >> 5;
	out(2, 0x01); out(3, 0x80); out(2, 0x21);
	uint8_t b = in(2) >> 5;
	out(2, 0x01); out(3, 0);
	CHECK(!(a == 6 && b == 7));              /* not a TI16750 */
	uint8_t ier = in(1);
	out(1, ier & ~0x40);
	out(1, ier | 0x40);
	CHECK(!(in(1) & 0x40));                  /* not an XScale */
	out(1, ier);
	out(7, 0x55); CHECK(in(7) == 0x55);
	out(7, 0xaa); CHECK(in(7) == 0xaa);
	out(3, save_lcr);
	out(2, 0x07);                            /* serial8250_clear_fifos */
	CHECK(in(5) != 0xff && (in(5) & 0x60) == 0x60);
	CHECK(irq_calls == 0);                   /* OUT2 never set without loop: line stayed low */
}

/* serial8250_do_startup's THRE re-assert test and TXEN test must see a working UART. */
static void thre_interrupt(void)
{
	fresh(-1);
	out(4, 0x0b);                            /* DTR RTS OUT2 */
	CHECK(in(2) == 0x01);                    /* FIFO off, nothing pending */
	out(1, 0x02);
	CHECK(irq_level == 1 && irq_pin == COM1_IRQ);
	uint8_t iir1 = in(2);
	CHECK(iir1 == 0x02);
	CHECK(irq_level == 0);                   /* the IIR read acknowledged THRE */
	CHECK(in(2) == 0x01);
	out(1, 0);
	out(1, 0x02);
	CHECK(in(2) == 0x02);                    /* re-asserted: no UART_BUG_THRE */
	out(1, 0);
	out(1, 0x02);
	CHECK((in(5) & 0x40) && in(2) == 0x02);  /* TEMT and THRE pending: no UART_BUG_TXEN */
	/* A THR write drops the line and raises it again: an edge per byte. */
	out(1, 0x02);                            /* no change: no new pending */
	CHECK(in(2) == 0x01);
	out(1, 0);
	out(1, 0x02);
	CHECK(irq_level == 1);
	int before = irq_calls;
	out(0, 'a');
	CHECK(irq_calls == before + 2 && irq_hist[before] == 0 && irq_hist[before + 1] == 1);
	out(1, 0);
	CHECK(irq_level == 0);
}

static void dlab(void)
{
	fresh(-1);
	out(1, 0x05);
	out(3, 0x83);
	out(0, 0x01); out(1, 0x00);              /* 115200 */
	CHECK(in(0) == 0x01 && in(1) == 0x00);
	out(0, 0x0c); out(1, 0x02);
	CHECK(in(0) == 0x0c && in(1) == 0x02 && in(3) == 0x83);
	out(3, 0x03);
	CHECK(in(1) == 0x05);                    /* IER untouched by DLM writes */
	CHECK(in(3) == 0x03);
	CHECK(serial_rx(s, (const uint8_t *)"z", 1) == 1);
	out(3, 0x83);
	CHECK(in(0) == 0x0c && (in(5) & 1));     /* DLL read does not pop RX */
	out(3, 0x03);
	CHECK(in(0) == 'z' && !(in(5) & 1));
}

static void rx_fifo(void)
{
	uint8_t buf[20];
	for (int i = 0; i < 20; i++)
		buf[i] = (uint8_t)('A' + i);
	fresh(-1);
	out(4, 0x08);
	out(2, 0x81);                            /* FIFO on, trigger 8 */
	out(1, 0x01);
	CHECK(irq_level == -1);
	CHECK(serial_rx(s, buf, 20) == 16);
	CHECK(irq_level == 1);
	CHECK(in(2) == 0xc4 && (in(5) & 0x01) && !(in(5) & 0x02));
	for (int i = 0; i < 10; i++)
		CHECK(in(0) == 'A' + i);
	CHECK(in(2) == 0xcc);                    /* below trigger: character timeout */
	CHECK(!efd_ready());
	for (int i = 10; i < 16; i++)
		CHECK(in(0) == 'A' + i);
	CHECK(in(2) == 0xc1 && irq_level == 0 && !(in(5) & 1));
	CHECK(efd_ready());                      /* main thread may offer the rest */
	efd_drain();
	CHECK(serial_rx(s, buf + 16, 4) == 4);
	CHECK(!efd_ready());
	out(2, 0x83);                            /* clear RX FIFO */
	CHECK(!(in(5) & 1) && irq_level == 0);
	CHECK(in(0) == 0);                       /* empty RBR reads 0 */
	out(2, 0x00);                            /* FIFO off: one byte holding register */
	CHECK(in(2) == 0x01);
	CHECK(serial_rx(s, buf, 3) == 1 && in(2) == 0x04);
	CHECK(in(0) == 'A');
	out(4, 0x10);                            /* loopback overrun without FIFO keeps the newest */
	out(0, '1'); out(0, '2');
	CHECK(in(5) == 0x63 && in(0) == '2');
	CHECK(efd_ready());
}

/* Loopback: THR feeds RX, the 17th byte overruns, nothing leaves, the pin is gated. */
static void loopback_overrun(void)
{
	int p[2];
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	fresh(p[1]);
	out(2, 0xc1);                            /* trigger 14 */
	out(4, 0x18);                            /* LOOP | OUT2 */
	out(1, 0x0f);
	for (int i = 0; i < 17; i++)
		out(0, (uint8_t)i);
	CHECK(irq_calls == 0);                   /* loopback disconnects OUT2 from the pin */
	CHECK(in(2) == 0xc6);                    /* line status first */
	uint8_t lsr = in(5);
	CHECK((lsr & 0x03) == 0x03);             /* DR | OE */
	CHECK((in(5) & 0x02) == 0);              /* OE cleared by reading LSR */
	CHECK(in(2) == 0xc4);                    /* then data */
	for (int i = 0; i < 16; i++)
		CHECK(in(0) == i);
	CHECK(serial_rx(s, (const uint8_t *)"q", 1) == 0);   /* wire disconnected */
	char c;
	CHECK(read(p[0], &c, 1) < 0 && errno == EAGAIN);
	out(4, 0x08);                            /* leave loopback: raises THRE on the pin */
	CHECK(efd_ready());
	CHECK(irq_level == 1);
	close(p[0]); close(p[1]);
}

static void priorities_and_msr(void)
{
	fresh(-1);
	out(4, 0x08);
	CHECK((in(6) & 0xf0) == 0xb0);           /* DCD DSR CTS asserted */
	out(4, 0x18);                            /* loopback: DCD from OUT2 only */
	out(1, 0x08);
	CHECK(in(2) == 0x00);                    /* modem status: DSR, CTS deltas */
	uint8_t msr = in(6);
	CHECK(msr == (0x80 | 0x03));
	CHECK(in(2) == 0x01);
	out(4, 0x1c);                            /* OUT1 -> RI */
	CHECK(in(6) == 0xc0);                    /* no delta on RI rising */
	out(4, 0x18);
	CHECK(in(6) == (0x80 | 0x04));           /* TERI on RI falling */
	out(4, 0x1b);
	out(1, 0x0f);                            /* all sources: MSI, THRE */
	CHECK(in(2) == 0x02);                    /* THRE above MSI; read acks it */
	CHECK(in(2) == 0x00);
	out(0, 'x');                             /* loopback RX data: above THRE */
	CHECK(in(2) == 0x04);
	CHECK(in(0) == 'x');
	CHECK(in(2) == 0x02);
	CHECK(in(2) == 0x00);
	in(6);
	CHECK(in(2) == 0x01);
}

static void out2_gates_line(void)
{
	fresh(-1);
	out(1, 0x02);
	CHECK(irq_calls == 0);
	out(4, 0x08);
	CHECK(irq_level == 1);
	out(4, 0x00);
	CHECK(irq_level == 0);
	out(4, 0x08);
	CHECK(irq_level == 1);
	in(2);
	CHECK(irq_level == 0);
}

/* Random register traffic: IIR stays well-formed and the pin always agrees with it. */
static void random_traffic(void)
{
	static const uint8_t ids[] = { 0x01, 0x00, 0x02, 0x04, 0x06, 0x0c };
	unsigned seed = 12345, bad_iir = 0, bad_line = 0, bad_dr = 0;
	fresh(-1);
	for (int i = 0; i < 200000; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned r = seed >> 8, off = r & 7;
		uint8_t v = (uint8_t)(r >> 3);
		if ((r >> 11) % 8 == 0) {
			uint8_t b[20] = { 0 };
			size_t n = serial_rx(s, b, (r >> 14) % 20);
			bad_dr += n > 16;
		} else if ((r >> 11) % 2) {
			out(off, off == 3 ? (uint8_t)(v & 0x83) : v);
		} else {
			uint8_t mcr = in(4), got = in(off);
			if (off == 2) {
				bool known = false;
				for (size_t k = 0; k < sizeof(ids); k++)
					known |= (got & 0x3f) == ids[k];
				bad_iir += !known || (got & 0x30);
				/* after the read, a gated-on pin is high iff something is still pending */
				bool gate = (mcr & 0x18) == 0x08;
				if (gate && (got & 1))
					bad_line += irq_level == 1;
				if (gate && !(got & 1) && (got & 0x0f) != 0x02)
					bad_line += irq_level != 1;   /* the source is still there */
			}
		}
	}
	CHECK(bad_iir == 0);
	CHECK(bad_line == 0);
	CHECK(bad_dr == 0);
	/* every call changed the level: no redundant vm_set_irq */
	fresh(-1);
	int last = 0, redundant = 0;
	for (int i = 0; i < 20000; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned r = seed >> 8;
		int before = irq_calls;
		if (r & 1)
			out(r >> 1 & 7, (uint8_t)(r >> 4));
		else
			in(r >> 1 & 7);
		for (int k = before; k < irq_calls && k < 64; k++) {
			redundant += irq_hist[k] == last;
			last = irq_hist[k];
		}
		if (irq_calls > 32)
			irq_calls = 0;
	}
	CHECK(redundant == 0);
}

static void output_pipe(void)
{
	int p[2];
	char got[16] = { 0 };
	CHECK(pipe(p) == 0);
	fresh(p[1]);
	for (const char *c = "hello\r\n"; *c; c++) {
		while (!(in(5) & 0x20))
			;
		out(0, (uint8_t)*c);
	}
	CHECK(read(p[0], got, sizeof(got)) == 7 && memcmp(got, "hello\r\n", 7) == 0);
	out(3, 0x80); out(0, 'Q'); out(3, 0);    /* DLL write: nothing sent */
	out(0, '!');
	CHECK(read(p[0], got, sizeof(got)) == 1 && got[0] == '!');
	close(p[0]);
	out(0, 'x');                             /* reader gone: dropped, no SIGPIPE death */
	close(p[1]);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* A reader that stopped reading costs one bounded wait, then bytes drop at once. */
static void output_stall(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	char junk[4096] = { 0 };
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	while (write(p[1], junk, 1) > 0)
		;
	fcntl(p[1], F_SETFL, 0);                 /* blocking again, full */
	fresh(p[1]);
	double t0 = now();
	out(0, 'a');
	double t1 = now();
	for (int i = 0; i < 100; i++)
		out(0, 'b');
	double t2 = now();
	CHECK(t1 - t0 >= 1.5 && t1 - t0 < 4);
	CHECK(t2 - t1 < 0.5);
	char big[65536];
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	while (read(p[0], big, sizeof(big)) > 0)
		;
	out(0, 'c');                             /* writable again: delivered */
	CHECK(read(p[0], big, 1) == 1 && big[0] == 'c');
	close(p[0]); close(p[1]);
}

static ssize_t filt(struct console *c, uint8_t *buf, const char *in_s)
{
	size_t n = strlen(in_s);
	memcpy(buf, in_s, n);
	return console_filter(c, buf, n);
}

static void filter(void)
{
	struct console c = { .raw = true };
	uint8_t b[32];
	CHECK(filt(&c, b, "abc") == 3 && memcmp(b, "abc", 3) == 0);
	CHECK(filt(&c, b, "ab\x01xcd") == -1);
	c.saw_ctrl_a = false;
	CHECK(filt(&c, b, "a\x01\x01" "b") == 3 && memcmp(b, "a\x01" "b", 3) == 0);
	CHECK(filt(&c, b, "a\x01zb") == 4 && memcmp(b, "a\x01zb", 4) == 0);
	CHECK(filt(&c, b, "\x01\x01\x01\x01") == 2 && memcmp(b, "\x01\x01", 2) == 0);
	/* Ctrl-A split across reads */
	CHECK(filt(&c, b, "ab\x01") == 2 && c.saw_ctrl_a);
	CHECK(filt(&c, b, "zq") == 3 && memcmp(b, "\x01zq", 3) == 0 && !c.saw_ctrl_a);
	CHECK(filt(&c, b, "\x01") == 0 && c.saw_ctrl_a);
	CHECK(filt(&c, b, "\x01y") == 2 && memcmp(b, "\x01y", 2) == 0);
	CHECK(filt(&c, b, "\x01") == 0);
	CHECK(filt(&c, b, "x") == -1);
	c.saw_ctrl_a = false;
	CHECK(filt(&c, b, "\x01") == 0);
	CHECK(filt(&c, b, "\x01\x01x") == -1);   /* held ^A + ^A = one ^A, then ^A x */
	/* not a terminal: everything passes */
	struct console p = { .raw = false };
	CHECK(filt(&p, b, "a\x01x\x01") == 4 && memcmp(b, "a\x01x\x01", 4) == 0);
}

/* stdin is a pipe: 40 bytes go to the guest 16 at a time as it drains the FIFO; EOF stops input. */
static void pump(void)
{
	int p[2];
	uint8_t data[40];
	CHECK(pipe(p) == 0);
	fresh(-1);
	out(2, 0x01);
	struct console c = { .in_fd = p[0], .out_fd = -1 };
	for (int i = 0; i < 40; i++)
		data[i] = (uint8_t)(i + 1);
	CHECK(write(p[1], data, 40) == 40);
	CHECK(console_wants_input(&c));
	CHECK(console_pump(&c, s, true) == 0);
	CHECK(!console_wants_input(&c));
	int got = 0;
	for (int round = 0; round < 5 && got < 40; round++) {
		while (in(5) & 1)
			CHECK(in(0) == ++got);
		if (efd_ready())
			CHECK(console_pump(&c, s, false) == 0);
	}
	CHECK(got == 40 && console_wants_input(&c));
	close(p[1]);
	CHECK(console_pump(&c, s, true) == 0);
	CHECK(c.in_fd == -1 && !console_wants_input(&c));
	close(p[0]);
}

/* A terminal keeps being read while the guest ignores its UART, so Ctrl-A x still quits. */
static void pump_raw_ignored(void)
{
	int p[2];
	uint8_t data[600];
	CHECK(pipe(p) == 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fresh(-1);
	out(2, 0x01);
	struct console c = { .in_fd = p[0], .out_fd = -1, .raw = true };
	memset(data, 'k', sizeof(data));
	CHECK(write(p[1], data, sizeof(data)) == sizeof(data));
	for (int i = 0; i < 5; i++) {
		CHECK(console_wants_input(&c));
		CHECK(console_pump(&c, s, true) == 0);
	}
	CHECK(c.pend_len == CONSOLE_BUF && c.pend_off == 0);
	CHECK(write(p[1], "\x01" "x", 2) == 2);
	CHECK(console_pump(&c, s, true) == -1);
	int got = 0;
	while (in(5) & 1)
		got += in(0) == 'k';
	CHECK(got == 16);
	CHECK(console_pump(&c, s, false) == 0);  /* the held bytes flow on */
	CHECK(c.pend_len == CONSOLE_BUF - 16);
	close(p[0]); close(p[1]);
}

/* Regression: a Ctrl-A carried into a read that fills the buffer must not overrun it (input died for good). */
static void pump_carry_full(void)
{
	int p[2];
	uint8_t data[16 + CONSOLE_BUF - 1];
	CHECK(pipe(p) == 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fresh(-1);
	out(2, 0x01);
	struct console c = { .in_fd = p[0], .out_fd = -1, .raw = true };
	memset(data, 'k', sizeof(data));
	CHECK(write(p[1], data, sizeof(data)) == sizeof(data));
	for (int i = 0; i < 4; i++)
		CHECK(console_pump(&c, s, true) == 0);
	CHECK(c.pend_len == CONSOLE_BUF - 1);     /* the UART's FIFO holds 16, 255 wait */
	CHECK(write(p[1], "\x01", 1) == 1);
	CHECK(console_pump(&c, s, true) == 0);
	CHECK(c.saw_ctrl_a && c.pend_len == CONSOLE_BUF - 1);
	CHECK(write(p[1], "h", 1) == 1);
	CHECK(console_pump(&c, s, true) == 0);
	CHECK(c.pend_len <= CONSOLE_BUF && c.in_fd == p[0]);
	CHECK(write(p[1], "\x01" "x", 2) == 2);   /* still read, still quits */
	int r = 0;
	for (int i = 0; i < 3 && r == 0; i++)
		r = console_pump(&c, s, true);
	CHECK(r == -1);
	close(p[0]); close(p[1]);
}

static void open_specs(void)
{
	struct console c;
	console_open(&c, "none");
	CHECK(c.in_fd == -1 && c.out_fd == -1 && !c.raw);
	char path[] = "/tmp/vmm-console-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, "old contents", 12) == 12);
	close(fd);
	unlink(path);
	mode_t old = umask(022);
	console_open(&c, path);
	umask(old);
	CHECK(c.in_fd == -1 && c.out_fd >= 0);
	CHECK(write(c.out_fd, "hi", 2) == 2);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644 && st.st_size == 2);
	close(c.out_fd);
	console_open(&c, path);                  /* truncates */
	CHECK(stat(path, &st) == 0 && st.st_size == 0);
	close(c.out_fd);
	unlink(path);
	/* unopenable file: exit 2 with the name */
	int e[2];
	CHECK(pipe(e) == 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(e[1], 2);
		console_open(&c, "/nonexistent-dir/console.log");
		_exit(0);
	}
	close(e[1]);
	char msg[256] = { 0 };
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(msg) - 1 && (r = read(e[0], msg + n, sizeof(msg) - 1 - n)) > 0)
		n += (size_t)r;
	close(e[0]);
	int st2;
	waitpid(pid, &st2, 0);
	CHECK(WIFEXITED(st2) && WEXITSTATUS(st2) == 2);
	CHECK(n > 0 && strstr(msg, "/nonexistent-dir/console.log"));
}

/* stdio on a pipe is plain streaming; on a terminal it is raw, restored at exit and on a signal. */
static int child_on(int in_fd, int how)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct console c;
		dup2(in_fd, 0);
		console_open(&c, "stdio");
		if (c.in_fd != 0 || c.out_fd != 1)
			_exit(10);
		if (how == 0)
			_exit(c.raw ? 11 : 0);
		struct termios t;
		if (!c.raw || tcgetattr(0, &t) < 0 || (t.c_lflag & (ICANON | ECHO | ISIG)) ||
		    !(t.c_oflag & OPOST))
			_exit(12);
		if (how == 2)
			raise(SIGTERM);
		exit(0);                         /* atexit restores */
	}
	int st;
	waitpid(pid, &st, 0);
	return st;
}

static void stdio_modes(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	int st = child_on(p[0], 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(p[0]); close(p[1]);

	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m)) {
		printf("SKIP stdio_raw: no pty\n");
		return;
	}
	int sl = open(ptsname(m), O_RDWR | O_NOCTTY);
	CHECK(sl >= 0);
	struct termios t;
	for (int how = 1; how <= 2; how++) {
		st = child_on(sl, how);
		if (how == 1)
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		else
			CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
		CHECK(tcgetattr(sl, &t) == 0 && (t.c_lflag & ICANON) && (t.c_lflag & ECHO));
	}
	close(sl); close(m);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(linux_probe);
	RUN(thre_interrupt);
	RUN(dlab);
	RUN(rx_fifo);
	RUN(loopback_overrun);
	RUN(priorities_and_msr);
	RUN(out2_gates_line);
	RUN(random_traffic);
	RUN(output_pipe);
	RUN(output_stall);
	RUN(filter);
	RUN(pump);
	RUN(pump_raw_ignored);
	RUN(pump_carry_full);
	RUN(open_specs);
	RUN(stdio_modes);
	serial_destroy(s);
	return UNIT_DONE();
}
