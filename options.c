/* options.c: the command line: getopt_long into struct options; errors come back as a message and an action, never an exit. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "virtio/vhost_user.h"
#include "sandbox/sandbox.h"

const char options_usage_text[] =
"usage: vmm --kernel FILE [options]\n"
"       vmm run [options] [--] COMMAND [ARG...]   (see vmm run --help)\n"
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
"      --vhost-user SOCKET,type=blk|net|fs[,tag=NAME]\n"
"                        a virtio device served by an external vhost-user back-end\n"
"                        listening on the unix socket SOCKET (e.g. qemu-storage-daemon,\n"
"                        virtiofsd: fs with the tag the guest mounts); repeatable\n"
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
"                        run no guest: serve the one --disk, --net or --share as\n"
"                        a vhost-user back-end on the unix socket SOCKET for\n"
"                        another VMM; exit 0 when it disconnects\n"
"      --share HOSTDIR,tag=NAME[,ro]\n"
"                        export a host directory through virtio-fs, served by its\n"
"                        own sandboxed device process; in the guest: mount -t\n"
"                        virtiofs NAME /mnt; repeatable\n"
"      --vsock cid=N     a virtio-vsock device with guest CID N, served by the host's\n"
"                        vhost-vsock (AF_VSOCK sockets between host and guest)\n"
"      --console WHERE   stdio (default), none, or a FILE for the guest's serial output\n"
"  -t, --timeout SECS    stop the guest after SECS seconds (exit 124)\n"
"      --shutdown-timeout SECS\n"
"                        on SIGTERM, press the guest's ACPI power button and stop\n"
"                        it SECS seconds later if it is still running (exit 143);\n"
"                        0 stops it at once (default 30)\n"
"      --debug-exit      a guest write of v to port 0xf4 (arm64: to MMIO 0x9010000)\n"
"                        exits with (v<<1)|1\n"
"      --dump-dtb FILE   arm64: write the guest's device tree to FILE and exit\n"
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

const char options_run_usage_text[] =
"usage: vmm run [options] [--] COMMAND [ARG...]\n"
"Boot a kernel with the host's files shared read-only through virtio-fs, run\n"
"COMMAND in the guest in this directory with this environment, and exit with\n"
"its status. No initramfs is needed: vmm is the guest's /init.\n"
"\n"
"  -k, --kernel FILE     the kernel (default /boot/vmlinuz-RELEASE of the running\n"
"                        host); modules it needs for virtio-pci, virtiofs and\n"
"                        overlayfs come from /lib/modules/RELEASE\n"
"      --root DIR        the guest's root directory (default /): read-only, under\n"
"                        a tmpfs overlay whose changes are lost at exit\n"
"      --rw DIR          DIR (under the root) is writable from the guest, and what\n"
"                        it writes there reaches the host; repeatable, at most 7\n"
"  -a, --append STRING   added to the kernel command line \"" RUN_APPEND "\"\n"
"  Also: --memory, --cpus, --timeout, --share, --disk, --net, --vsock, --stats,\n"
"  --verbose, as for vmm (see vmm --help).\n"
"\n"
"COMMAND's standard output is vmm's standard output; its standard error and the\n"
"kernel's messages are vmm's standard error. Standard input reaches COMMAND only\n"
"from a terminal (otherwise it reads /dev/null).\n"
"\n"
"Exit status: COMMAND's own (128+N when signal N ended it; 127 not found, 126\n"
"not executable, as a shell says); 125 the guest could not start COMMAND. When\n"
"vmm ends the guest itself it says why on standard error first: 1 runtime\n"
"failure, 2 bad usage or input, 3 guest kernel panic, 124 --timeout expired,\n"
"128+N vmm was killed by signal N.\n";

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

/* vmm run: the command, and what a run cannot take. */
static enum opt_action run_check(struct options *o, int argc, char **argv, char *err, size_t errlen)
{
	if (optind >= argc)
		return usage(err, errlen, "vmm run: a COMMAND to run is required");
	if (o->initrd || o->nmodules)
		return usage(err, errlen, "vmm run builds the guest's initramfs itself: no --initrd or --module");
	if (o->serve)
		return usage(err, errlen, "vmm run: --serve-vhost-user runs no guest");
	if (o->nshares + 1 + o->nrw > (int)ARRAY_SIZE(o->shares))
		return usage(err, errlen, "vmm run: at most %zu --share and --rw options in all",
			     ARRAY_SIZE(o->shares) - 1);
	o->cmd = argv + optind;
	o->ncmd = argc - optind;
	return OPT_RUN;
}

enum { LO_CONSOLE = 256, LO_DEBUG_EXIT, LO_STATS, LO_NO_SANDBOX,
       LO_PRINT_SANDBOX, LO_SANDBOX_SELFTEST, LO_SHUTDOWN_TIMEOUT, LO_VSOCK, LO_MODULE,
       LO_VHOST_USER, LO_ISOLATION, LO_ON_CRASH, LO_SERVE, LO_SHARE, LO_ROOT, LO_RW, LO_DUMP_DTB };

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
		{ "dump-dtb", required_argument, 0, LO_DUMP_DTB },
		{ "net", required_argument, 0, 'n' },
		{ "disk", required_argument, 0, 'd' },
		{ "vsock", required_argument, 0, LO_VSOCK },
		{ "module", required_argument, 0, LO_MODULE },
		{ "vhost-user", required_argument, 0, LO_VHOST_USER },
		{ "device-isolation", required_argument, 0, LO_ISOLATION },
		{ "on-device-crash", required_argument, 0, LO_ON_CRASH },
		{ "serve-vhost-user", required_argument, 0, LO_SERVE },
		{ "share", required_argument, 0, LO_SHARE },
		{ "root", required_argument, 0, LO_ROOT },
		{ "rw", required_argument, 0, LO_RW },
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
	bool run = argc > 1 && strcmp(argv[1], "run") == 0;

	if (run) {   /* "run" becomes argv[0]: its options end at the command */
		argc--;
		argv++;
	}
	*o = (struct options){ .append = DEFAULT_APPEND, .console = "stdio",
			       .mem_size = 256ull << 20, .cpus = 1,
			       .shutdown_timeout = DEFAULT_SHUTDOWN_TIMEOUT };
	if (errlen)
		err[0] = '\0';
	opterr = 0;
	optind = 0;   /* 0, not 1: glibc and musl then forget everything from a previous scan */
	o->run = run;
	if (run)
		o->append = NULL;   /* vmm adds --append to RUN_APPEND */
	while ((c = getopt_long(argc, argv, run ? "+:k:i:a:m:c:t:d:n:vhV" : ":k:i:a:m:c:t:d:n:vhV",
				longopts, NULL)) != -1) {
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
		case LO_DUMP_DTB: o->dump_dtb = optarg; break;
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
			static const char *const types[] = { [VU_TYPE_BLK] = "blk", [VU_TYPE_NET] = "net",
							     [VU_TYPE_FS] = "fs" };
			const char *t = strstr(optarg, ",type="), *tag = NULL;
			int type = -1, i = o->nvhost_user;
			size_t len;
			if (i == (int)ARRAY_SIZE(o->vhost_user))
				return usage(err, errlen, "at most %zu --vhost-user options", ARRAY_SIZE(o->vhost_user));
			if (t && t != optarg) {
				t += strlen(",type=");
				len = strcspn(t, ",");
				for (int k = 0; k < (int)ARRAY_SIZE(types); k++)
					if (len == strlen(types[k]) && !strncmp(t, types[k], len))
						type = k;
				tag = t[len] ? t + len : NULL;
			}
			/* fs: ",tag=NAME" for a back-end that leaves the config space to the front-end (virtiofsd) */
			if (type == VU_TYPE_FS && tag && (strncmp(tag, ",tag=", 5) || !tag[5] || strlen(tag + 5) > 36 ||
							  strchr(tag + 5, ',')))
				type = -1;
			if (type < 0 || (tag && type != VU_TYPE_FS))
				return usage(err, errlen, "--vhost-user '%s': expected SOCKET,type=blk, "
					     "SOCKET,type=net or SOCKET,type=fs[,tag=NAME]", optarg);
			o->vhost_user_type[i] = type;
			o->vhost_user_tag[i] = tag ? tag + 5 : NULL;
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
		case LO_SHARE:
			if (o->nshares == (int)ARRAY_SIZE(o->shares))
				return usage(err, errlen, "at most %zu --share options", ARRAY_SIZE(o->shares));
			o->shares[o->nshares++] = optarg;
			break;
		case LO_ROOT:
		case LO_RW:
			if (!run)
				return usage(err, errlen, "%s is an option of 'vmm run'", argv[optind - 1]);
			if (optarg[0] == '\0')
				return usage(err, errlen, "%s: expected a directory", argv[optind - 1]);
			if (c == LO_ROOT)
				o->root = optarg;
			else if (o->nrw == (int)ARRAY_SIZE(o->rw))
				return usage(err, errlen, "at most %zu --rw options", ARRAY_SIZE(o->rw));
			else
				o->rw[o->nrw++] = optarg;
			break;
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
	if (run)
		return run_check(o, argc, argv, err, errlen);
	if (optind < argc)
		return usage(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (o->serve) {
		if (o->ndisks + o->nnets + o->nshares != 1 || o->kernel || o->vsock || o->nvhost_user)
			return usage(err, errlen, "--serve-vhost-user takes exactly one --disk, --net or --share and no guest options");
		return OPT_SERVE;
	}
	if (!o->kernel)
		return usage(err, errlen, "--kernel FILE is required");
	return OPT_RUN;
}
