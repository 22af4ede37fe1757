/* tests/bench/mkrun.c: write the initramfs `vmm run` builds, for QEMU to boot the same job (make bench, part run). */
/*
 * usage: mkrun OUT.cpio INIT MODDIR [--rw GUESTDIR]... -- COMMAND [ARGS...]
 * run_initramfs with plan.init = INIT (a vmm binary: the guest's /init), the root share "vmm-root"
 * read-only, each --rw GUESTDIR as "vmm-rwN" (as vmm run names its --rw shares), cwd "/", the
 * environment PATH=/usr/bin:/bin only, no tty, modules from MODDIR (/lib/modules/RELEASE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

int main(int argc, char **argv)
{
	static char *const envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", NULL };
	struct run_share shares[RUN_MAX_SHARES] = { { "vmm-root", "/", true } };
	static char tags[RUN_MAX_SHARES][16];
	unsigned n = 1;
	int i = 4;
	char err[256];
	struct cpio c = { 0 };

	if (argc < 6) {
		fprintf(stderr, "usage: mkrun OUT.cpio INIT MODDIR [--rw GUESTDIR]... -- COMMAND [ARGS...]\n");
		return 2;
	}
	for (; i < argc && strcmp(argv[i], "--"); i++) {
		if (strcmp(argv[i], "--rw") || i + 1 >= argc || n >= RUN_MAX_SHARES)
			return fprintf(stderr, "mkrun: bad argument %s\n", argv[i]), 2;
		snprintf(tags[n], sizeof(tags[n]), "vmm-rw%u", n);
		shares[n] = (struct run_share){ tags[n], argv[++i], false };
		n++;
	}
	if (i + 1 >= argc)
		return fprintf(stderr, "mkrun: no command\n"), 2;
	struct run_plan p = { .cwd = "/", .tty = false, .argv = argv + i + 1, .argc = argc - i - 1, .envp = envp,
			      .shares = shares, .nshares = n, .moddir = argv[3], .init = argv[2] };
	if (run_initramfs(&p, &c, err, sizeof(err)) < 0)
		return fprintf(stderr, "mkrun: %s\n", err), 1;
	FILE *f = fopen(argv[1], "wb");
	if (!f || fwrite(c.buf, 1, c.len, f) != c.len || fclose(f))
		return perror(argv[1]), 1;
	return 0;
}
