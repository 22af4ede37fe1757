/* options.c: the command line: getopt_long into struct options; errors come back as a message and an action, never an exit. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "sandbox/sandbox.h"

const char options_usage_text[] =
"usage: vmm --kernel FILE [options]\n"
"Boot one guest on KVM; vmm exits when the guest does.\n"
"\n"
"  -k, --kernel FILE     bzImage, vmlinux ELF (PVH entry when the ELF has the note,\n"
"                        ELF32 too) or a multiboot kernel (ELF or a.out kludge)\n"
"  -i, --initrd FILE     initial ramdisk (multiboot: module 0, its string the file name)\n"
"      --module FILE[,CMDLINE]\n"
"                        a multiboot module (string CMDLINE, else FILE); repeatable,\n"
"                        at most 8 modules with the initrd\n"
"  -a, --append STRING   kernel command line (default \"" DEFAULT_APPEND "\")\n"
"  -m, --memory SIZE     guest RAM, with K, M or G suffix (default 256M)\n"
"  -c, --cpus N          virtual CPUs, 1 to 64 (default 1)\n"
"  -d, --disk PATH[,ro][,direct][,serial=ID]\n"
"                        a virtio-blk disk (raw image or block device); repeatable:\n"
"                        vda, vdb, ... in order\n"
"  -n, --net tap=IFNAME[,mac=MAC]\n"
"                        a virtio-net device on a tap; repeatable: eth0, eth1, ...\n"
"      --vhost-user SOCKET,type=blk|net\n"
"                        a virtio device served by an external vhost-user back-end\n"
"                        listening on the unix socket SOCKET (e.g. qemu-storage-daemon);\n"
"                        repeatable\n"
"      --device-isolation process|thread\n"
"                        serve each --disk and --net in its own sandboxed device\n"
"                        process"
" (vhost-user over shared guest RAM; default), or in\n"
"                        threads of this process\n"
"      --on-device-crash restart|exit\n"
"                        a device process that dies is replaced and its requests in\n"
"                        flight are done again (default; at most 5 times a minute), or\n"
"                        vmm exits 1\n"
"      --serve-vhost-user SOCKET\n"
"                        run no guest: serve the one --disk or --net as a vhost-user\n"
"                        back-end on the unix socket SOCKET for another VMM; exit 0\n"
"                        when it disconnects\n"
"      --vsock cid=N     a virtio-vsock device with guest CID N, served by the host's\n"
"                        vhost-vsock (AF_VSOCK sockets between host and guest)\n"
"      --console WHERE   stdio (default), none, or a FILE for the guest's serial output\n"
"  -t, --timeout SECS    stop the guest after SECS seconds (exit 124)\n"
"      --shutdown-timeout SECS\n"
"                        on SIGTERM, press the guest's ACPI power button and stop\n"
"                        it SECS seconds later if it is still running (exit 143);\n"
"                        0 stops it at once (default 30)\n"
"      --debug-exit      port 0xf4: a guest write of v exits with (v<<1)|1\n"
"      --stats           print exit and device counters on exit\n"
"      --no-sandbox      debugging only: run without seccomp, Landlock and no_new_privs\n"
"      --print-sandbox   list the system calls each thread role may make, and exit\n"
"  -v, --verbose         more diagnostics (repeat for more)\n"
"  -h, --help            this text\n"
"  -V, --version         print the version\n"
"\n"
"On a terminal, Ctrl-A x quits and Ctrl-A Ctrl-A sends Ctrl-A; Ctrl-C goes to the guest.\n"
"\n"
"Exit status: 0 guest powered off or rebooted; 1 runtime failure (KVM error,\n"
"emulation failure, triple fault); 2 bad usage or input; 3 guest panicked (pvpanic);\n"
"124 --timeout expired; (v<<1)|1 debug-exit; 128+N killed by signal N.\n";

static __attribute__((format(printf, 3, 4))) enum opt_action
usage(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return OPT_USAGE;
}

/* "256M", "1G", "65536K", "1048576": bytes, or 0 on a malformed size. */
static uint64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return 0;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end == 'i' && shift)
		end++;
	if ((*end == 'b' || *end == 'B') && shift)
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)v << shift;
}

/* A whole number in [lo, hi] into *v; false if s is anything else. */
static bool parse_int(const char *s, long lo, long hi, long *v)
{
	char *end;
	errno = 0;
	*v = strtol(s, &end, 10);
	return !errno && end != s && !*end && *v >= lo && *v <= hi;
}

enum { LO_CONSOLE = 256, LO_DEBUG_EXIT, LO_STATS, LO_NO_SANDBOX,
       LO_PRINT_SANDBOX, LO_SANDBOX_SELFTEST, LO_SHUTDOWN_TIMEOUT, LO_VSOCK, LO_MODULE,
       LO_VHOST_USER, LO_ISOLATION, LO_ON_CRASH, LO_SERVE };

enum opt_action options_parse(struct options *o, int argc, char **argv, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, 0, 'k' },
		{ "initrd", required_argument, 0, 'i' },
		{ "append", required_argument, 0, 'a' },
		{ "memory", required_argument, 0, 'm' },
		{ "cpus", required_argument, 0, 'c' },
		{ "console", required_argument, 0, LO_CONSOLE },
		{ "timeout", required_argument, 0, 't' },
		{ "shutdown-timeout", required_argument, 0, LO_SHUTDOWN_TIMEOUT },
		{ "debug-exit", no_argument, 0, LO_DEBUG_EXIT },
		{ "stats", no_argument, 0, LO_STATS },
		{ "net", required_argument, 0, 'n' },
		{ "disk", required_argument, 0, 'd' },
		{ "vsock", required_argument, 0, LO_VSOCK },
		{ "module", required_argument, 0, LO_MODULE },
		{ "vhost-user", required_argument, 0, LO_VHOST_USER },
		{ "device-isolation", required_argument, 0, LO_ISOLATION },
		{ "on-device-crash", required_argument, 0, LO_ON_CRASH },
		{ "serve-vhost-user", required_argument, 0, LO_SERVE },
		{ "no-sandbox", no_argument, 0, LO_NO_SANDBOX },
		{ "print-sandbox", no_argument, 0, LO_PRINT_SANDBOX },
		{ "sandbox-selftest", required_argument, 0, LO_SANDBOX_SELFTEST },  /* tests only */
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	long n;
	int c;

	*o = (struct options){ .append = DEFAULT_APPEND, .console = "stdio",
			       .mem_size = 256ull << 20, .cpus = 1,
			       .shutdown_timeout = DEFAULT_SHUTDOWN_TIMEOUT };
	if (errlen)
		err[0] = '\0';
	opterr = 0;
	optind = 0;   /* 0, not 1: glibc and musl then forget everything from a previous scan */
	while ((c = getopt_long(argc, argv, ":k:i:a:m:c:t:d:n:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o->kernel = optarg; break;
		case 'i': o->initrd = optarg; break;
		case 'a': o->append = optarg; break;
		case 'm':
			o->mem_size = parse_size(optarg);
			if (o->mem_size == 0)
				return usage(err, errlen, "--memory '%s': expected a size such as 512M or 2G", optarg);
			break;
		case 'c':
			if (!parse_int(optarg, 1, MAX_CPUS, &n))
				return usage(err, errlen, "--cpus '%s': expected a whole number from %d to %d",
					     optarg, 1, MAX_CPUS);
			o->cpus = (int)n;
			break;
		case 't':
			if (!parse_int(optarg, 1, 86400 * 365, &n))
				return usage(err, errlen, "--timeout '%s': expected a whole number from %d to %d",
					     optarg, 1, 86400 * 365);
			o->timeout = (unsigned)n;
			break;
		case LO_SHUTDOWN_TIMEOUT:
			if (!parse_int(optarg, 0, 86400, &n))
				return usage(err, errlen, "--shutdown-timeout '%s': expected a whole number from %d to %d",
					     optarg, 0, 86400);
			o->shutdown_timeout = (unsigned)n;
			break;
		case LO_CONSOLE: o->console = optarg; break;
		case LO_VSOCK:
			if (o->vsock)
				return usage(err, errlen, "only one --vsock");
			o->vsock = optarg;
			break;
		case LO_DEBUG_EXIT: o->debug_exit = true; break;
		case LO_STATS: o->stats = true; break;
		case 'n':
			if (o->nnets == (int)ARRAY_SIZE(o->nets))
				return usage(err, errlen, "at most %zu --net options", ARRAY_SIZE(o->nets));
			o->nets[o->nnets++] = optarg;
			break;
		case 'd':
			if (o->ndisks == (int)ARRAY_SIZE(o->disks))
				return usage(err, errlen, "at most %zu --disk options", ARRAY_SIZE(o->disks));
			o->disks[o->ndisks++] = optarg;
			break;
		case LO_MODULE:
			if (o->nmodules == (int)ARRAY_SIZE(o->modules))
				return usage(err, errlen, "at most %zu --module options", ARRAY_SIZE(o->modules));
			if (optarg[0] == '\0' || optarg[0] == ',')
				return usage(err, errlen, "--module '%s': expected FILE[,CMDLINE]", optarg);
			o->modules[o->nmodules++] = optarg;
			break;
		case LO_VHOST_USER: {
			const char *t = strstr(optarg, ",type=");
			if (o->nvhost_user == (int)ARRAY_SIZE(o->vhost_user))
				return usage(err, errlen, "at most %zu --vhost-user options", ARRAY_SIZE(o->vhost_user));
			if (!t || t == optarg || (strcmp(t, ",type=blk") && strcmp(t, ",type=net")))
				return usage(err, errlen, "--vhost-user '%s': expected SOCKET,type=blk or SOCKET,type=net",
					     optarg);
			o->vhost_user[o->nvhost_user++] = optarg;
			break;
		}
		case LO_ISOLATION:
			if (strcmp(optarg, "process") && strcmp(optarg, "thread"))
				return usage(err, errlen, "--device-isolation '%s': expected process or thread", optarg);
			o->isolation_thread = optarg[0] == 't';
			break;
		case LO_ON_CRASH:
			if (strcmp(optarg, "restart") && strcmp(optarg, "exit"))
				return usage(err, errlen, "--on-device-crash '%s': expected restart or exit", optarg);
			o->crash_exit = optarg[0] == 'e';
			break;
		case LO_SERVE: o->serve = optarg; break;
		case LO_NO_SANDBOX: o->no_sandbox = true; break;
		case LO_PRINT_SANDBOX: return OPT_PRINT_SANDBOX;
		case LO_SANDBOX_SELFTEST:
			if (sandbox_selftest_arm(optarg) < 0)
				return usage(err, errlen, "--sandbox-selftest '%s': expected ROLE:CALL", optarg);
			break;
		case 'v': o->verbose++; break;
		case 'h': return OPT_HELP;
		case 'V': return OPT_VERSION;
		case ':': return usage(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
		default: return usage(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (o->serve) {
		if (o->ndisks + o->nnets != 1 || o->kernel || o->vsock || o->nvhost_user)
			return usage(err, errlen, "--serve-vhost-user takes exactly one --disk or --net and no guest options");
		return OPT_SERVE;
	}
	if (!o->kernel)
		return usage(err, errlen, "--kernel FILE is required");
	return OPT_RUN;
}
