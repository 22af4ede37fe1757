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

/* At most 10 guest warnings per second; the rest are counted and summarised. */
void guest_warn(const char *fmt, ...)
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
	if (!print)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprint("vmm: guest: ", fmt, ap, "");
	va_end(ap);
}

void vlog(const char *fmt, ...)
{
	if (!vmm_verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprint("vmm: ", fmt, ap, "");
	va_end(ap);
}
