/* tests/fuzz/fuzz_options.c: libFuzzer harness for the option parser: argv is the input split at NUL bytes. */
/*
 * Build: clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *        tests/fuzz/fuzz_options.c options.c sandbox/selftest.c sandbox/policy.c -o build/fuzz/fuzz_options
 * Each input is parsed twice (getopt's state must not leak between calls) and
 * must give the same action both times; a parse that succeeds must leave the
 * options inside their documented ranges, a usage error must leave a message.
 */
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define MAX_ARGS 64

static enum opt_action parse(struct options *o, const uint8_t *data, size_t n, char *err, size_t errlen)
{
	static char buf[4096 + 1];
	char *argv[MAX_ARGS + 2];
	int argc = 0;

	if (n > sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	memcpy(buf, data, n);
	buf[n] = '\0';
	argv[argc++] = "vmm";
	for (size_t i = 0; i < n && argc < MAX_ARGS + 1; i += strlen(buf + i) + 1)
		argv[argc++] = buf + i;
	argv[argc] = NULL;
	return options_parse(o, argc, argv, err, errlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct options o;
	char err[64], err2[64];
	enum opt_action a = parse(&o, data, n, err, sizeof(err));

	if (a > OPT_SERVE)
		__builtin_trap();
	if (a == OPT_SERVE && (!o.serve || o.ndisks + o.nnets + o.nshares != 1 || o.kernel || o.run))
		__builtin_trap();
	if (a == OPT_USAGE && !err[0])
		__builtin_trap();
	if (a == OPT_RUN && (o.cpus < 1 || o.cpus > MAX_CPUS || !o.mem_size || o.ndisks > 8 || o.nnets > 8 ||
			     o.nshares > 8 || !o.console))
		__builtin_trap();
	/* a guest needs its kernel and command line; vmm run (kernel by default) its command and room for its shares */
	if (a == OPT_RUN && !o.run && (!o.kernel || !o.append || o.cmd || o.nrw || o.root))
		__builtin_trap();
	if (a == OPT_RUN && o.run && (o.ncmd < 1 || !o.cmd || !o.cmd[0] || o.cmd[o.ncmd] ||
				      o.nshares + 1 + o.nrw > 8 || o.initrd || o.nmodules))
		__builtin_trap();
	if (parse(&o, data, n, err2, (n & 15) + 1) != a)
		__builtin_trap();
	if (a == OPT_USAGE && strncmp(err, err2, n & 15))
		__builtin_trap();
	return 0;
}
