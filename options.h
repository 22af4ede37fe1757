/* options.h: the command line parser: fills struct options (vmm.h) and returns what main should do, without printing or exiting. */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stddef.h>

#include "vmm.h"

#define DEFAULT_APPEND "console=ttyS0 panic=-1"
/* vmm run: the kernel speaks on COM2 (stderr), quietly; COM1 is the command's stdout. --append adds to it. */
#define RUN_APPEND "console=ttyS1 quiet panic=-1 rdinit=/init"
#define DEFAULT_SHUTDOWN_TIMEOUT 30   /* seconds */

/* What options_parse asks main to do. */
enum opt_action {
	OPT_RUN = 0,          /* options are complete: boot */
	OPT_USAGE,            /* bad usage: err holds the message; exit EXIT_USAGE */
	OPT_HELP,             /* print options_usage_text, exit 0 */
	OPT_VERSION,          /* print the version, exit 0 */
	OPT_PRINT_SANDBOX,    /* print the sandbox lists, exit 0 */
	OPT_SERVE,            /* no guest: serve the one --disk on --serve-vhost-user */
};

/* The --help text. */
extern const char options_usage_text[];
/* The text of `vmm run --help`. */
extern const char options_run_usage_text[];

/*
 * Parse argv into *o (defaults first). "vmm run [options] [--] CMD [ARG...]"
 * sets o->run and o->cmd; its options end at the first argument that is not one. On OPT_USAGE, err gets one line without
 * the "vmm: " prefix (truncated to errlen). Restartable: getopt's state is
 * reset on every call. Pointers in *o point into argv. May arm the sandbox
 * self-test (--sandbox-selftest).
 */
enum opt_action options_parse(struct options *o, int argc, char **argv, char *err, size_t errlen);

#endif
