/* run.h: `vmm run`: the initramfs that boots into this binary as PID 1, the plan it executes, and that PID 1. */
#ifndef RUN_H
#define RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdnoreturn.h>

#include "vmm.h"
#include "boot/boot.h"

/*
 * The guest reports the command's status by writing one byte to this port (outb); in run mode
 * vmm exits with that byte as its own status (not debug-exit's (v << 1) | 1).
 */
#define RUN_EXIT_PORT 0xF4
/*
 * Statuses run_init reports besides the command's own (0..255; 128 + N if signal N killed it):
 * 125 the run could not start the command (a setup step failed: plan, mounts, fork; one line
 * "vmm run: ..." on the guest's ttyS1), 126 the command was found but could not be executed,
 * 127 it was not found (as a shell says), 1 the working directory does not exist in the guest.
 */
#define RUN_EXIT_SETUP    125
#define RUN_EXIT_NOEXEC   126
#define RUN_EXIT_NOTFOUND 127

/* Most kernel modules and shares a plan carries. */
#define RUN_MAX_MODS   64
#define RUN_PLAN_PATH  "/vmm-run"   /* in the guest: its presence makes PID 1 vmm the run's /init */
#define RUN_MAX_SHARES 32

struct run_share { const char *tag, *guest_path; bool ro; };
struct run_plan {
	const char *cwd;                 /* the host's working directory: the command starts there in the guest */
	bool tty;                        /* host stdin and stdout are terminals: interactive */
	char *const *argv;               /* the command, argc >= 1 */
	int argc;
	char *const *envp;               /* environment, NULL-terminated */
	const struct run_share *shares;  /* shares[0] is the root (guest_path "/"), then --rw dirs */
	unsigned nshares;
	const char *moddir;              /* /lib/modules/RELEASE, or NULL: load none */
	const char *init;                /* the guest's /init: NULL for this binary (benchmarks give vmm's path) */
};

/*
 * The initramfs for a run: /init = this binary (read /proc/self/exe, or p->init), /vmm-run (the plan),
 * /modules/NN-name.ko[.xz|.zst|.gz] (copied from p->moddir, resolved with kmod_resolve: wanted
 * virtio_pci, virtiofs (required), overlay and pvpanic_mmio (optional); none if p->moddir is NULL), directories
 * /dev /proc /sys /newroot /lower /ovl /modules; finished (TRAILER!!!). out must be zeroed; on
 * error it is freed. 0, or -errno with a one-line reason in err.
 */
int run_initramfs(const struct run_plan *p, struct cpio *out, char *err, size_t errlen) MUST_CHECK;

/*
 * The plan file /vmm-run: NUL-terminated records "key=value", in this order:
 *   cwd=PATH                     once
 *   tty=0|1                      once
 *   mod=/modules/NN-NAME.ko[.xz] repeated, in load order
 *   share=TAG,GUESTPATH,ro|rw    repeated, the first is the root (GUESTPATH "/"); TAG has no ','
 *                                (GUESTPATH may: the mode follows the last ',')
 *   env=NAME=VALUE               repeated
 *   arg=ARG                      repeated, argv in order (at least one)
 * A value is any bytes but NUL. The parser takes the records in any order.
 */
/* The plan for p, with the modules' guest paths mods[0..nmods). 0, -EINVAL (p cannot be written: no
 * argv, no root share, a tag with ',', an env entry without '=') or -ENOMEM; *out is malloc'd. */
int run_plan_write(const struct run_plan *p, const char *const *mods, unsigned nmods,
		   char **out, size_t *outlen) MUST_CHECK;

/* A parsed plan: every string points into buf. */
struct run_guest {
	struct run_plan p;                  /* moddir NULL; argv, envp, shares point below */
	const char *mods[RUN_MAX_MODS];
	unsigned nmods;
	struct run_share shares[RUN_MAX_SHARES];
	char **argv, **envp;                /* NULL-terminated */
	char *buf;
};
/*
 * Parse a plan (a copy is kept in g->buf). 0, or -EINVAL with the reason in err (a record without
 * NUL, '=' or a known key, a bad tty or share, a repeated cwd or tty, no cwd, no arg, no root
 * share, too many) or -ENOMEM. Free with run_guest_free (also after an error).
 */
int run_plan_parse(const void *plan, size_t len, struct run_guest *g, char *err, size_t errlen) MUST_CHECK;
void run_guest_free(struct run_guest *g);

/*
 * The guest's PID 1 (main() calls it first thing when getpid() == 1): mounts /dev /proc /sys,
 * loads the plan's modules, mounts the root share (virtiofs, read-only) under a tmpfs overlay
 * (or read-only with a tmpfs /tmp if overlay fails) and the other shares, switches root, runs the
 * command (stdout /dev/ttyS0, stderr /dev/ttyS1, stdin ttyS0 with tty=1 else /dev/null), reaps
 * every process until it exits, drains the UARTs and writes its status to RUN_EXIT_PORT, then
 * powers off. Never returns.
 */
noreturn void run_init(void);

/* ---- the host's side ---- */

/* What vmm run adds to the options: the shares' specs and guest paths, the kernel, the guest's cwd. */
struct run_host {
	char kernel[PATH_MAX];
	char cwd[PATH_MAX];                  /* as the guest sees it */
	char dirs[ARRAY_SIZE(((struct options *)0)->shares)][PATH_MAX];   /* the shares' guest paths */
	struct run_share shares[ARRAY_SIZE(((struct options *)0)->shares)];
	unsigned nshares;
	bool tty;
};
/*
 * Before the inputs are opened: the kernel (default /boot/vmlinuz-RELEASE of
 * the running host), a read-only --share of the root (tag vmm-root) and one
 * per --rw (vmm-rwN), the guest's cwd, the kernel command line (RUN_APPEND
 * and --append), whether stdin and stdout are a terminal. Bad input is fatal
 * (EXIT_USAGE) naming the option.
 */
void run_prepare(struct options *o, struct run_host *rh);
/* The run's initramfs for `kernel` (its release names the modules' directory); fatal (EXIT_USAGE) on failure. */
struct cpio run_initrd(const struct options *o, const struct run_host *rh, const void *kernel, size_t klen);


#endif
