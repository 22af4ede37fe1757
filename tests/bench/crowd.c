/* tests/bench/crowd.c: start N copies of a command at the same time; time until all have exited, failures, summed peak own memory. */
/*
 * usage: crowd -n N [-s STATUS] [-m MARKER] [-o DIR] [-i MS] [-g KIB] [-t SECS] [-l LABEL] -- COMMAND [ARGS...]
 * All N children are forked back to back (stdin /dev/null, stdout+stderr to DIR/LABEL.I, or to
 * /dev/null without -o). A child fails if its exit status is not STATUS (default 0), if it
 * is still running after SECS (default 600: then it is killed), or, with -m, if its output
 * has no line containing MARKER. Every MS milliseconds (default 50) /proc/PID/status of each
 * live child is read for its own memory, RssAnon+RssFile (guest RAM that is shared memory,
 * RssShmem, is not counted: give the guest a memfd or tmpfs file as RAM); with -g KIB instead
 * resident memory less guest RAM from /proc/PID/smaps (see smaps_own). The peaks are summed
 * (own_kib_sum), and with -g and -m so are the first samples after each guest's marker appeared
 * (own_marker_kib_sum: the steady state, after loading).
 * One result line:
 *   LABEL n=N failed=F all_exit_ms=T median_exit_ms=M own_kib_sum=S own_kib_max=X own_marker_kib_sum=M sampled=S killed=K failures=...
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#define MAXN 1000

struct child { pid_t pid; int status; double exit_ms; long own_kib, own_mark_kib; int done, marked; };

static long guest_kib;   /* -g */
static int has_marker(const char *file, const char *marker);

static void sample(struct child *c)
{
	if (guest_kib) {
		long own = smaps_own(c->pid, guest_kib);
		if (own > c->own_kib)
			c->own_kib = own;
		return;
	}
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	long own = field(buf, "RssAnon:") + field(buf, "RssFile:");
	if (own > c->own_kib)
		c->own_kib = own;
}

static int has_marker(const char *file, const char *marker)
{
	FILE *f = fopen(file, "r");
	if (!f)
		return 0;
	char line[4096];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, marker) != NULL;
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	int n = 1, want = 0, c;
	double interval = 50, limit_ms = 600e3;
	const char *marker = NULL, *dir = NULL, *label = "crowd";
	while ((c = getopt(argc, argv, "+n:s:m:o:i:g:t:l:")) != -1) {
		switch (c) {
		case 'n': n = atoi(optarg); break;
		case 's': want = atoi(optarg); break;
		case 'm': marker = optarg; break;
		case 'o': dir = optarg; break;
		case 'i': interval = atof(optarg); break;
		case 'g': guest_kib = atol(optarg); break;
		case 't': limit_ms = atof(optarg) * 1e3; break;
		case 'l': label = optarg; break;
		default: return 2;
		}
	}
	if (optind >= argc || n < 1 || n > MAXN || (marker && !dir)) {
		fprintf(stderr, "usage: crowd -n N [-s STATUS] [-m MARKER -o DIR] [-i MS] [-g KIB] [-t SECS] [-l LABEL] -- COMMAND...\n");
		return 2;
	}
	static struct child ch[MAXN];
	char file[4096];
	double t0 = now_ms();
	for (int i = 0; i < n; i++) {
		if (dir)
			snprintf(file, sizeof(file), "%s/%s.%d", dir, label, i);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			ch[i].done = 1;
			ch[i].status = -1;
			continue;
		}
		if (pid == 0) {
			int in = open("/dev/null", O_RDONLY);
			int out = dir ? open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644) : open("/dev/null", O_WRONLY);
			if (in >= 0)
				dup2(in, 0);
			if (out >= 0) {
				dup2(out, 1);
				dup2(out, 2);
			}
			execvp(argv[optind], argv + optind);
			perror(argv[optind]);
			_exit(127);
		}
		ch[i].pid = pid;
	}
	int left = 0, killed = 0;
	for (int i = 0; i < n; i++)
		left += !ch[i].done;
	double next_sample = 0;
	while (left > 0) {
		int st;
		pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			for (int i = 0; i < n; i++) {
				if (ch[i].pid != pid || ch[i].done)
					continue;
				ch[i].done = 1;
				ch[i].exit_ms = now_ms() - t0;
				ch[i].status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				left--;
			}
		}
		double t = now_ms() - t0;
		if (t >= next_sample) {
			for (int i = 0; i < n; i++) {
				if (ch[i].done)
					continue;
				sample(&ch[i]);
				/* the guest is up, loading is over: the steady state */
				if (guest_kib && marker && !ch[i].marked) {
					snprintf(file, sizeof(file), "%s/%s.%d", dir, label, i);
					if (has_marker(file, marker)) {
						ch[i].marked = 1;
						ch[i].own_mark_kib = smaps_own(ch[i].pid, guest_kib);
					}
				}
			}
			next_sample = t + interval;
		}
		if (t > limit_ms && !killed) {
			for (int i = 0; i < n; i++)
				if (!ch[i].done)
					kill(ch[i].pid, SIGKILL);
			killed = 1;
		}
		usleep(2000);
	}
	double all = 0, ex[MAXN];
	long sum = 0, max = 0, mark_sum = 0;
	int sampled = 0;   /* a guest that lived less than one interval may have no sample */
	int failed = 0;
	char statuses[256] = "";
	for (int i = 0; i < n; i++) {
		ex[i] = ch[i].exit_ms;
		if (ch[i].exit_ms > all)
			all = ch[i].exit_ms;
		sum += ch[i].own_kib;
		mark_sum += ch[i].own_mark_kib;
		sampled += ch[i].own_kib > 0;
		if (ch[i].own_kib > max)
			max = ch[i].own_kib;
		int bad = ch[i].status != want;
		if (!bad && marker) {
			snprintf(file, sizeof(file), "%s/%s.%d", dir, label, i);
			bad = !has_marker(file, marker);
		}
		if (bad) {
			failed++;
			size_t l = strlen(statuses);
			if (l < sizeof(statuses) - 16)
				snprintf(statuses + l, sizeof(statuses) - l, "%s%d:%d", l ? "," : "", i, ch[i].status);
		}
	}
	qsort(ex, (size_t)n, sizeof(*ex), cmp);
	printf("%s n=%d failed=%d all_exit_ms=%.1f median_exit_ms=%.1f own_kib_sum=%ld own_kib_max=%ld own_marker_kib_sum=%ld sampled=%d killed=%d failures=%s\n",
	       label, n, failed, all, n % 2 ? ex[n / 2] : (ex[n / 2 - 1] + ex[n / 2]) / 2, sum, max, mark_sum, sampled, killed,
	       failed ? statuses : "none");
	return failed != 0;
}
