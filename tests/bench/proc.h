/* tests/bench/proc.h: what stopwatch.c and crowd.c both need: a clock, /proc/PID/status fields, own memory from smaps. */
#ifndef BENCH_PROC_H
#define BENCH_PROC_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The number after `name` in /proc/PID/status text, 0 if absent. */
static long field(const char *status, const char *name)
{
	const char *p = strstr(status, name);
	return p ? strtol(p + strlen(name), NULL, 10) : 0;
}

/*
 * With -g KIB: the process's resident memory less its guest RAM, from /proc/PID/smaps: the Rss
 * of every mapping except those of at least KIB (the guest RAM mapping, whatever backs it:
 * anonymous, memfd or tmpfs file). This counts the binary's and libraries' resident pages
 * whatever file system they are on (in an initramfs they are shared memory, not RssFile).
 */
static long smaps_own(pid_t pid, long ram_kib)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long size = 0, own = 0, v;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Size: %ld kB", &v) == 1)
			size = v;
		else if (sscanf(line, "Rss: %ld kB", &v) == 1 && size < ram_kib)
			own += v;
	}
	fclose(f);
	return own;
}

/* qsort order for doubles. */
static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}
#endif
