/* log.c: the three error tiers' printers: fatal setup errors, rate-limited guest faults, -v diagnostics. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm.h"

int vmm_verbose;

static void vprint(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputs(suffix, stderr);
	fputc('\n', stderr);
}

noreturn void fatal(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint("vmm: ", fmt, ap, "");
	va_end(ap);
	exit(code);
}

noreturn void fatal_errno(int code, const char *fmt, ...)
{
	char why[128];
	va_list ap;
	snprintf(why, sizeof(why), ": %s", strerror(errno));
	va_start(ap, fmt);
	vprint("vmm: ", fmt, ap, why);
	va_end(ap);
	exit(code);
}

/* At most 10 guest-caused lines per second; the rest are counted and summarised. */
static bool guest_line_allowed(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static time_t window;
	static unsigned in_window, dropped;
	time_t now = time(NULL);
	bool print;

	pthread_mutex_lock(&lock);
	if (now != window) {
		if (dropped)
			fprintf(stderr, "vmm: guest: %u more warnings suppressed\n", dropped);
		window = now;
		in_window = dropped = 0;
	}
	print = in_window++ < 10;
	if (!print)
		dropped++;
	pthread_mutex_unlock(&lock);
	return print;
}

void guest_warn(const char *fmt, ...)
{
	if (!guest_line_allowed())
		return;
	va_list ap;
	va_start(ap, fmt);
	vprint("vmm: guest: ", fmt, ap, "");
	va_end(ap);
}

void guest_vlog(int level, const char *fmt, ...)
{
	if (vmm_verbose < level || !guest_line_allowed())
		return;
	va_list ap;
	va_start(ap, fmt);
	vprint("vmm: guest: ", fmt, ap, "");
	va_end(ap);
}

/* -v lines carry the time since the first one, so the start-up pipeline can be timed. */
void vlog(const char *fmt, ...)
{
	static struct timespec t0;
	struct timespec t;
	char prefix[32];
	if (!vmm_verbose)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (!t0.tv_sec && !t0.tv_nsec)
		t0 = t;
	snprintf(prefix, sizeof(prefix), "vmm: [%7.2f ms] ",
		 (double)(t.tv_sec - t0.tv_sec) * 1e3 + (double)(t.tv_nsec - t0.tv_nsec) / 1e6);
	va_list ap;
	va_start(ap, fmt);
	vprint(prefix, fmt, ap, "");
	va_end(ap);
}
