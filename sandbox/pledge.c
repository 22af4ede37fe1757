/* sandbox/pledge.c: the sandbox API on OpenBSD: pledge(2) promises and unveil(2); compiled only there. */
#ifdef __OpenBSD__
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

/*
 * pledge(2) binds the whole process, not a thread, and can only narrow. So
 * the first sandbox_enter() pledges the union of every role's promises and
 * later calls (from the other threads) change nothing. A violation is
 * reported by the kernel (SIGABRT and a "pledge" log line), not by us.
 */
static const char *const role_promises[SB_ROLE_COUNT] = {
	[SB_ROLE_MAIN] = "stdio tty",
	[SB_ROLE_VCPU] = "stdio vmm",
	[SB_ROLE_BLK] = "stdio",
	[SB_ROLE_NET] = "stdio",
};
#define ALL_PROMISES "stdio tty vmm"

static const char *const role_names[SB_ROLE_COUNT] = { "main", "vcpu", "blk", "net" };

int sandbox_no_new_privs(void)
{
	return 0;   /* pledge needs no such flag, and execve is never promised */
}

/* unveil(2) with no permission on "/" and then locked: no path is visible. */
int sandbox_landlock_deny_all(void)
{
	if (unveil("/", "") < 0 || unveil(NULL, NULL) < 0)
		return -errno;
	return 0;
}

int sandbox_enter(enum sb_role role)
{
	static volatile int pledged;   /* a race only pledges the same string twice: allowed */

	if ((unsigned)role >= SB_ROLE_COUNT)
		return -EINVAL;
	if (pledged)
		return 0;
	if (pledge(ALL_PROMISES, NULL) < 0)
		return -errno;
	pledged = 1;
	return 0;
}

void sandbox_set_fatal_hook(void (*hook)(void))
{
	(void)hook;
}

const char *sandbox_role_name(enum sb_role role)
{
	return (unsigned)role < SB_ROLE_COUNT ? role_names[role] : "?";
}

const char *sandbox_syscall_name(long nr)
{
	(void)nr;
	return "?";
}

const struct sb_policy *sandbox_policy(enum sb_role role)
{
	(void)role;
	return NULL;   /* the policy is pledge promises, printed by sandbox_print */
}

void sandbox_print(FILE *out)
{
	for (int r = 0; r < SB_ROLE_COUNT; r++)
		fprintf(out, "%s: pledge(\"%s\") (process-wide: \"%s\")\n",
			role_names[r], role_promises[r], ALL_PROMISES);
}
#endif
