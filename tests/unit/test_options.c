/* tests/unit/test_options.c: the option parser: actions, messages, defaults, and parsing twice in one process. */
#include "options.h"
#include "unit.h"
#include "virtio/vhost_user.h"

static struct options o;
static char err[256];

/* Parse a NULL-terminated list (argv[0] added). */
#define PARSE(...) parse((char *[]){ "vmm", __VA_ARGS__, NULL })
static enum opt_action parse(char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	return options_parse(&o, argc, argv, err, sizeof(err));
}

static void actions(void)
{
	CHECK(PARSE("--help") == OPT_HELP);
	CHECK(PARSE("-V") == OPT_VERSION);
	CHECK(PARSE("--print-sandbox") == OPT_PRINT_SANDBOX);
	CHECK(PARSE("-k", "bz") == OPT_RUN && !strcmp(o.kernel, "bz"));
	CHECK(o.mem_size == 256ull << 20 && o.cpus == 1 && !strcmp(o.console, "stdio"));
	CHECK(!strcmp(o.append, DEFAULT_APPEND));
	CHECK(PARSE("--kernel", "k", "-m", "1G", "-c", "4", "-t", "9", "-v", "-v", "--stats",
		    "-d", "a", "--disk", "b", "-n", "tap=x") == OPT_RUN);
	CHECK(o.mem_size == 1ull << 30 && o.cpus == 4 && o.timeout == 9 && o.verbose == 2 && o.stats);
	CHECK(o.ndisks == 2 && !strcmp(o.disks[1], "b") && o.nnets == 1);
	CHECK(PARSE("--sandbox-selftest", "main:open", "-k", "x") == OPT_RUN);
	CHECK(PARSE("-k", "mb", "--module", "m1", "--module", "m2,arg a=1") == OPT_RUN);
	CHECK(o.nmodules == 2 && !strcmp(o.modules[0], "m1") && !strcmp(o.modules[1], "m2,arg a=1"));
	CHECK(PARSE("--serve-vhost-user", "s", "--disk", "a") == OPT_SERVE && !o.kernel);
	CHECK(PARSE("--se", "s", "--cpus", "4", "--disk", "a") == OPT_SERVE);
	CHECK(PARSE("--serve-vhost-user", "s") == OPT_USAGE && strstr(err, "exactly one --disk, --net or --share"));
	CHECK(PARSE("--serve-vhost-user", "s", "--share", "/d,tag=t") == OPT_SERVE && o.nshares == 1);
	CHECK(PARSE("--serve-vhost-user", "s", "--net", "tap=t") == OPT_SERVE && o.nnets == 1);
	CHECK(PARSE("--serve-vhost-user", "s", "--net", "tap=t", "-d", "a") == OPT_USAGE);
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=net") == OPT_RUN && o.nvhost_user == 1);
	CHECK(o.vhost_user_type[0] == VU_TYPE_NET);
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=fs", "--vhost-user", "t,type=blk") == OPT_RUN);
	CHECK(o.vhost_user_type[0] == VU_TYPE_FS && o.vhost_user_type[1] == VU_TYPE_BLK);
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=9p") == OPT_USAGE && strstr(err, "type=fs[,tag=NAME]"));
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=fs,tag=myfs") == OPT_RUN && !strcmp(o.vhost_user_tag[0], "myfs"));
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=fs") == OPT_RUN && !o.vhost_user_tag[0]);
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=blk,tag=x") == OPT_USAGE);
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=fs,tag=") == OPT_USAGE);
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=fs,tag=a,b") == OPT_USAGE);
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=fs,tag=0123456789012345678901234567890123456") == OPT_USAGE);
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=fsx") == OPT_USAGE);
	CHECK(PARSE("-k", "x", "--vhost-user", ",type=fs") == OPT_USAGE);
	CHECK(PARSE("-k", "x", "--share", "/a,tag=a", "--share", "/b,tag=b,ro") == OPT_RUN && o.nshares == 2);
	CHECK(PARSE("--serve-vhost-user", "s", "-d", "a", "-k", "x") == OPT_USAGE);
}

/* vmm run: its options end at the command, whose own options stay its own. */
static void run(void)
{
	static char *a1[] = { "vmm", "run", "--", "sh", "-c", "exit 7", NULL };
	static char *a2[] = { "vmm", "run", "-k", "bz", "--rw", "/out", "--rw", "/x", "--root", "/r", "-m", "1G",
			      "ls", "-l", "-k", NULL };   /* o.cmd points into argv: keep it alive */

	CHECK(parse(a1) == OPT_RUN && o.run && o.ncmd == 3);
	CHECK(!strcmp(o.cmd[0], "sh") && !strcmp(o.cmd[2], "exit 7") && o.cmd[3] == NULL);
	CHECK(!o.kernel && !o.append && o.nshares == 0);
	CHECK(parse(a2) == OPT_RUN);
	CHECK(!strcmp(o.kernel, "bz") && o.nrw == 2 && !strcmp(o.rw[1], "/x") && !strcmp(o.root, "/r"));
	CHECK(o.ncmd == 3 && !strcmp(o.cmd[1], "-l") && !strcmp(o.cmd[2], "-k") && o.mem_size == 1ull << 30);
	CHECK(PARSE("run", "-a", "quiet") == OPT_USAGE && strstr(err, "COMMAND to run is required"));
	CHECK(PARSE("run", "--initrd", "i", "true") == OPT_USAGE && strstr(err, "no --initrd"));
	CHECK(PARSE("run", "--help") == OPT_HELP && o.run);
	CHECK(PARSE("--rw", "/x", "-k", "k") == OPT_USAGE && strstr(err, "option of 'vmm run'"));
	CHECK(PARSE("run", "--rw", "", "true") == OPT_USAGE && strstr(err, "expected a directory"));
	CHECK(PARSE("run", "--rw", "1", "--rw", "2", "--rw", "3", "--rw", "4", "--rw", "5", "--rw", "6",
		    "--rw", "7", "--rw", "8", "true") == OPT_USAGE && strstr(err, "at most 7 --rw"));
	CHECK(PARSE("run", "--share", "a,tag=a", "--rw", "1", "--rw", "2", "--rw", "3", "--rw", "4", "--rw", "5",
		    "--rw", "6", "--rw", "7", "true") == OPT_USAGE && strstr(err, "at most 7 --share and --rw"));
	/* "run" anywhere but first is an argument, as before */
	CHECK(PARSE("-k", "x", "run") == OPT_USAGE && strstr(err, "unexpected argument 'run'"));
	CHECK(PARSE("-k", "x") == OPT_RUN && !o.run && !strcmp(o.append, DEFAULT_APPEND));
}

static void usage_errors(void)
{
	CHECK(PARSE("--bogus") == OPT_USAGE && !strcmp(err, "unknown option '--bogus'"));
	CHECK(PARSE("--kernel") == OPT_USAGE && !strcmp(err, "option '--kernel' needs an argument"));
	CHECK(PARSE("-k", "x", "y") == OPT_USAGE && !strcmp(err, "unexpected argument 'y'"));
	CHECK(PARSE("-m", "12Q", "-k", "x") == OPT_USAGE && strstr(err, "--memory '12Q'"));
	CHECK(PARSE("-c", "65", "-k", "x") == OPT_USAGE &&
	      !strcmp(err, "--cpus '65': expected a whole number from 1 to 64"));
	CHECK(PARSE("-t", "-1", "-k", "x") == OPT_USAGE && strstr(err, "--timeout '-1'"));
	CHECK(PARSE("-v") == OPT_USAGE && !strcmp(err, "--kernel FILE is required"));
	CHECK(PARSE("--sandbox-selftest", "nope", "-k", "x") == OPT_USAGE && strstr(err, "ROLE:CALL"));
	CHECK(PARSE("-d", "1", "-d", "2", "-d", "3", "-d", "4", "-d", "5", "-d", "6", "-d", "7",
		    "-d", "8", "-d", "9", "-k", "x") == OPT_USAGE && strstr(err, "at most 8 --disk"));
	CHECK(PARSE("--module", "1", "--module", "2", "--module", "3", "--module", "4", "--module", "5",
		    "--module", "6", "--module", "7", "--module", "8", "--module", "9", "-k", "x") == OPT_USAGE &&
	      strstr(err, "at most 8 --module"));
	CHECK(PARSE("--module", "", "-k", "x") == OPT_USAGE && strstr(err, "FILE[,CMDLINE]"));
	/* a tiny buffer truncates, never overflows */
	char small[8];
	CHECK(options_parse(&o, 2, (char *[]){ "vmm", "--bogus", NULL }, small, sizeof(small)) == OPT_USAGE);
	CHECK(!strcmp(small, "unknown"));
}

/* getopt's hidden state (optind, the position inside "-vvk") must not leak into the next parse. */
static void reparse(void)
{
	CHECK(PARSE("-vZv") == OPT_USAGE);         /* stops inside a short-option group */
	CHECK(PARSE("-vvk", "x") == OPT_RUN && o.verbose == 2 && !strcmp(o.kernel, "x"));
	CHECK(PARSE("-k", "x", "--", "y") == OPT_USAGE);
	CHECK(PARSE("-k", "x") == OPT_RUN && o.ndisks == 0 && o.verbose == 0 && o.nmodules == 0);
}

int main(void)
{
	RUN(actions);
	RUN(run);
	RUN(usage_errors);
	RUN(reparse);
	return UNIT_DONE();
}
