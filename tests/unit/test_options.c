/* tests/unit/test_options.c: the option parser: actions, messages, defaults, and parsing twice in one process. */
#include "options.h"
#include "unit.h"

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
	CHECK(PARSE("--serve-vhost-user", "s") == OPT_USAGE && strstr(err, "exactly one --disk or --net"));
	CHECK(PARSE("--serve-vhost-user", "s", "--net", "tap=t") == OPT_SERVE && o.nnets == 1);
	CHECK(PARSE("--serve-vhost-user", "s", "--net", "tap=t", "-d", "a") == OPT_USAGE);
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=net") == OPT_RUN && o.nvhost_user == 1);
	CHECK(PARSE("-k", "x", "--vhost-user", "s,type=fs") == OPT_USAGE && strstr(err, "type=net"));
	CHECK(PARSE("--serve-vhost-user", "s", "-d", "a", "-k", "x") == OPT_USAGE);
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
	RUN(usage_errors);
	RUN(reparse);
	return UNIT_DONE();
}
