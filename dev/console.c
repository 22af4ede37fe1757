/* dev/console.c: the host side of the serial console: stdio (raw terminal), none or a file; Ctrl-A x; input pump. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "dev.h"

#define CTRL_A 0x01

/* What the signal handlers need to put the terminal back: the only globals here. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

void console_restore(void)
{
	if (!tio_saved)
		return;
	tio_saved = 0;
	tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

void console_forget(void)
{
	tio_saved = 0;
}

static void restore_and_reraise(int sig)
{
	/* SA_RESETHAND put the default action back; SA_NODEFER lets raise() deliver it now. */
	console_restore();
	raise(sig);
}

/* Install the restoring handler where nobody (e.g. main) has installed one. */
static void install_restore_handlers(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT };
	struct sigaction sa = { .sa_handler = restore_and_reraise,
				.sa_flags = SA_RESETHAND | SA_NODEFER };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
		    old.sa_handler == SIG_DFL)
			sigaction(sigs[i], &sa, NULL);
	}
}

/*
 * Raw input (no echo, no line editing, no signals from keys, no CR/LF or
 * flow-control mapping) but output processing kept, so the VMM's own "\n"
 * messages still start at column 0; the guest's "\r\n" is unaffected.
 */
static bool term_make_raw(int fd)
{
	static bool hooks_done;
	struct termios t;
	if (!isatty(fd) || tcgetattr(fd, &saved_tio) < 0)
		return false;
	t = saved_tio;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (!hooks_done) {
		hooks_done = true;
		atexit(console_restore);
		install_restore_handlers();
	}
	tio_saved = 1;
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		tio_saved = 0;
		return false;
	}
	return true;
}

void console_open(struct console *c, const char *spec)
{
	memset(c, 0, sizeof(*c));
	c->in_fd = c->out_fd = -1;
	signal(SIGPIPE, SIG_IGN);
	if (!spec || strcmp(spec, "stdio") == 0) {
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		c->raw = term_make_raw(STDIN_FILENO);
		return;
	}
	if (strcmp(spec, "none") == 0)
		return;
	c->out_fd = open(spec, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
	if (c->out_fd < 0)
		fatal_errno(EXIT_USAGE, "cannot open console file '%s'", spec);
}

/* A Ctrl-A held from the last call meets buf[0]: bytes done (1-2, n grown), or -1 to quit. */
static ssize_t filter_carry(struct console *c, uint8_t *buf, size_t *n)
{
	c->saw_ctrl_a = false;
	if (buf[0] == 'x')
		return -1;
	if (buf[0] == CTRL_A)
		return 1;
	memmove(buf + 1, buf, *n);
	buf[0] = CTRL_A;
	(*n)++;
	return 2;
}

ssize_t console_filter(struct console *c, uint8_t *buf, size_t n)
{
	size_t r = 0, w = 0;
	if (!c->raw || n == 0)
		return (ssize_t)n;
	if (c->saw_ctrl_a) {
		ssize_t done = filter_carry(c, buf, &n);
		if (done < 0)
			return -1;
		r = w = (size_t)done;
	}
	/* w <= r throughout: a Ctrl-A writes nothing, its pair at most two. */
	for (; r < n; r++) {
		uint8_t b = buf[r];
		if (!c->saw_ctrl_a) {
			if (b == CTRL_A)
				c->saw_ctrl_a = true;
			else
				buf[w++] = b;
			continue;
		}
		c->saw_ctrl_a = false;
		if (b == 'x')
			return -1;
		if (b != CTRL_A)
			buf[w++] = CTRL_A;
		buf[w++] = b;
	}
	return (ssize_t)w;
}

/* A terminal is always read, so Ctrl-A x works even when the guest ignores its UART. */
bool console_wants_input(const struct console *c)
{
	return c->in_fd >= 0 && (c->raw || c->pend_off >= c->pend_len);
}

/* Read up to room bytes into dst: the count, 0 if none now; EOF or error stops input for good. */
static size_t console_read(struct console *c, uint8_t *dst, size_t room)
{
	ssize_t n;
	do
		n = read(c->in_fd, dst, room);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n <= 0) {
		if (n < 0)
			vlog("console: read: %s", strerror(errno));
		c->in_fd = -1;
		return 0;
	}
	return (size_t)n;
}

/* Offer the waiting bytes to the UART; keep the rest at the front of pend. */
static void console_flush(struct console *c, struct serial *s)
{
	c->pend_off += serial_rx(s, c->pend + c->pend_off, c->pend_len - c->pend_off);
	memmove(c->pend, c->pend + c->pend_off, c->pend_len - c->pend_off);
	c->pend_len -= c->pend_off;
	c->pend_off = 0;
}

int console_pump(struct console *c, struct serial *s, bool in_ready)
{
	uint8_t scratch[CONSOLE_BUF + 1];
	uint64_t cnt;
	ssize_t n = read(serial_rx_space_fd(s), &cnt, sizeof(cnt));   /* drain; EAGAIN is fine */
	(void)n;
	console_flush(c, s);
	if (!in_ready || c->in_fd < 0)
		return 0;
	/*
	 * Pipe input waits for the guest; terminal input beyond a full buffer is dropped (an overrun).
	 * A carried Ctrl-A can grow the filtered input by one byte: leave room for it.
	 */
	size_t room = CONSOLE_BUF - c->pend_len;
	if (c->saw_ctrl_a && room)
		room--;
	bool full = room == 0;
	uint8_t *dst = full ? scratch : c->pend + c->pend_len;
	size_t got = console_read(c, dst, full ? CONSOLE_BUF : room);
	if (got == 0)
		return 0;
	n = console_filter(c, dst, got);   /* dst has room for one more byte */
	if (n < 0)
		return -1;
	if (full) {
		vlog("console: guest is not reading its UART: %zd input bytes dropped", n);
		return 0;
	}
	c->pend_len += (size_t)n;
	console_flush(c, s);
	return 0;
}
