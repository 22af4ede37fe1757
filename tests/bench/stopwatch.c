/* tests/bench/stopwatch.c: run a command N times; median wall time to a console marker and to exit, and peak memory. */
/*
 * usage: stopwatch [-n RUNS] [-m MARKER] [-k KEY] [-g KIB] [-l LABEL] [-t SECS] -- COMMAND [ARGS...]
 * A run still going after SECS (default 600) is killed and reported with status 137.
 * The command's stdout+stderr go through a pipe we read; the time to the first
 * line containing MARKER is "marker", the time to exit is "exit". While it runs,
 * /proc/PID/status is sampled every 2 ms for peak RssAnon+RssFile (the process's
 * own memory) and RssShmem (guest RAM in a memfd). With -k KEY, the number after "KEY=" on
 * the marker's line (e.g. the guest's uptime) is collected too. With -g KIB, own memory is
 * instead resident memory less guest RAM, from /proc/PID/smaps every 50 ms (see smaps_own),
 * and with -m also own_marker_kib, read when the marker appeared (the steady state, after loading).
 * One result line:
 *   LABEL runs=N exit_ms=MEDIAN min_ms=MIN [marker_ms=... marker_seen=N] [KEY=MEDIAN]
 *         own_kib=... shmem_kib=... status=S killed=K
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

struct result { double exit_ms, marker_ms, key_val; long own_kib, own_mark_kib, shmem_kib; int status; bool killed, in_marker_line; };

static const char *key;   /* -k */
static long guest_kib;    /* -g */

static void sample(pid_t pid, struct result *r)
{
	if (guest_kib) {   /* smaps is costly to read: every 50 ms */
		static double last;
		if (now_ms() - last < 50)
			return;
		last = now_ms();
		long own = smaps_own(pid, guest_kib);
		if (own > r->own_kib)
			r->own_kib = own;
		return;
	}
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	long own = field(buf, "RssAnon:") + field(buf, "RssFile:");
	long shm = field(buf, "RssShmem:");
	if (own > r->own_kib)
		r->own_kib = own;
	if (shm > r->shmem_kib)
		r->shmem_kib = shm;
}

/* Scan output for the marker; a line may arrive in pieces, so keep a tail. */
static void scan(char *tail, size_t *tlen, const char *buf, size_t n, const char *marker,
		 double t0, struct result *r, pid_t pid)
{
	for (size_t i = 0; i < n; i++) {
		if (*tlen < 255)
			tail[(*tlen)++] = buf[i];
		tail[*tlen] = 0;
		if (marker && r->marker_ms < 0 && strstr(tail, marker)) {
			r->marker_ms = now_ms() - t0;
			r->in_marker_line = true;
			if (guest_kib)   /* the guest is up, loading is over: the steady state */
				r->own_mark_kib = smaps_own(pid, guest_kib);
		}
		if (buf[i] == '\n') {
			if (r->in_marker_line && key) {   /* the whole marker line is in tail */
				char k[64];
				snprintf(k, sizeof(k), "%s=", key);
				const char *p = strstr(tail, k);
				if (p)
					r->key_val = strtod(p + strlen(k), NULL);
			}
			r->in_marker_line = false;
			*tlen = 0;
		}
	}
}

static struct result run_once(char **argv, const char *marker, bool echo, double limit_ms)
{
	struct result r = { .marker_ms = -1, .key_val = -1 };
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) { perror("pipe"); exit(2); }
	double t0 = now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	close(p[1]);
	char buf[4096], tail[256];
	size_t tlen = 0;
	for (;;) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		int k = poll(&pf, 1, 2);
		sample(pid, &r);
		if (!r.killed && now_ms() - t0 > limit_ms)
			r.killed = kill(pid, SIGKILL) == 0;
		if (k <= 0)
			continue;
		ssize_t n = read(p[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		if (echo && write(2, buf, (size_t)n) < 0)
			echo = false;
		scan(tail, &tlen, buf, (size_t)n, marker, t0, &r, pid);
	}
	int st;
	waitpid(pid, &st, 0);
	r.exit_ms = now_ms() - t0;
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	close(p[0]);
	return r;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	int runs = 5, c;
	double limit_ms = 600e3;
	const char *marker = NULL, *label = "run";
	while ((c = getopt(argc, argv, "+n:m:k:g:l:t:")) != -1) {
		switch (c) {
		case 'k': key = optarg; break;
		case 'g': guest_kib = atol(optarg); break;
		case 'n': runs = atoi(optarg); break;
		case 'm': marker = optarg; break;
		case 'l': label = optarg; break;
		case 't': limit_ms = atof(optarg) * 1e3; break;
		default: return 2;
		}
	}
	if (optind >= argc || runs < 1 || runs > 1000) {
		fprintf(stderr, "usage: stopwatch [-n RUNS] [-m MARKER] [-k KEY] [-g KIB] [-l LABEL] [-t SECS] -- COMMAND...\n");
		return 2;
	}
	double ex[1000], mk[1000], kv[1000];
	long own = 0, own_mark = 0, shm = 0;
	int status = 0, nmk = 0, nkv = 0, killed = 0;
	for (int i = 0; i < runs; i++) {
		struct result r = run_once(argv + optind, marker, getenv("STOPWATCH_ECHO") != NULL, limit_ms);
		if (getenv("STOPWATCH_ECHO"))
			fprintf(stderr, "stopwatch: %s run %d: %.1f ms, status %d%s\n", label, i + killed,
				r.exit_ms, r.status, r.killed ? ", killed" : "");
		if (r.killed) {   /* a hung run is counted, not timed */
			killed++;
			i--;
			runs--;
			continue;
		}
		ex[i] = r.exit_ms;
		if (r.marker_ms >= 0)
			mk[nmk++] = r.marker_ms;
		if (r.key_val >= 0)
			kv[nkv++] = r.key_val;
		if (r.own_kib > own) own = r.own_kib;
		if (r.own_mark_kib > own_mark) own_mark = r.own_mark_kib;
		if (r.shmem_kib > shm) shm = r.shmem_kib;
		status = r.status;
	}
	if (runs < 1) {
		printf("%s runs=0 killed=%d\n", label, killed);
		return 1;
	}
	double exmin = ex[0];
	for (int i = 1; i < runs; i++)
		if (ex[i] < exmin) exmin = ex[i];
	printf("%s runs=%d exit_ms=%.1f min_ms=%.1f", label, runs, median(ex, runs), exmin);
	if (marker)
		printf(" marker_ms=%.1f marker_seen=%d", nmk ? median(mk, nmk) : -1.0, nmk);
	if (key)
		printf(" %s=%.3f", key, nkv ? median(kv, nkv) : -1.0);
	printf(" own_kib=%ld", own);
	if (guest_kib && marker)
		printf(" own_marker_kib=%ld", own_mark);
	printf(" shmem_kib=%ld status=%d killed=%d\n", shm, status, killed);
	return 0;
}
