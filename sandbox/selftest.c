/* sandbox/selftest.c: the test-only hook: after entering a chosen role, a thread makes one forbidden call. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "sandbox.h"

/* Set once by the main thread before any other thread exists; read-only after. */
static struct { int role; char call[16]; } armed = { -1, "" };

static const char *const calls[] = { "open", "execve", "socket", "ptrace", "ioctl", "ioctl-fd",
				     "tkill", "write-file" };

int sandbox_selftest_arm(const char *spec)
{
	const char *colon = strchr(spec, ':');
	if (!colon)
		return -EINVAL;
	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		const char *name = sandbox_role_name((enum sb_role)r);
		if (strlen(name) != (size_t)(colon - spec) || strncmp(spec, name, strlen(name)))
			continue;
		for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
			if (strcmp(colon + 1, calls[i]) == 0) {
				armed.role = r;
				strcpy(armed.call, calls[i]);
				return 0;
			}
		}
	}
	return -EINVAL;
}

/*
 * ioctl-fd: the role's first ioctl rule whose fd this thread has, made on
 * another fd it holds: the VM fd (e.g. KVM_RUN from a vCPU thread), or stderr
 * for a rule bound to the VM fd, which no rule is bound to.
 */
static void wrong_fd_ioctl(enum sb_role role, const struct sb_ids *ids)
{
	const struct sb_policy *p = sandbox_policy(role);
	const struct sb_ioctl *rule = &p->ioctl[0];

	if (!p->nioctl) {   /* a role with no ioctl at all: any request on any fd */
		syscall(SYS_ioctl, STDERR_FILENO, TCSETS, 0);
		return;
	}
	for (size_t i = 0; i < p->nioctl; i++) {
		if (ids->fd[p->ioctl[i].fd] >= 0) {
			rule = &p->ioctl[i];
			break;
		}
	}
	int fd = rule->fd != SB_FD_VM && ids->fd[SB_FD_VM] >= 0 ? ids->fd[SB_FD_VM] : STDERR_FILENO;
	syscall(SYS_ioctl, fd, rule->req, 0);
}

/* Each branch is a call the role does not allow; the SIGSYS handler must stop it. */
void sandbox_selftest_fire(enum sb_role role, const struct sb_ids *ids)
{
	static char *const argv[] = { "/bin/true", NULL };
	if (armed.role != (int)role)
		return;
	if (!strcmp(armed.call, "open"))
		syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
	else if (!strcmp(armed.call, "execve"))
		syscall(SYS_execve, argv[0], argv, argv + 1);
	else if (!strcmp(armed.call, "socket"))
		syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	else if (!strcmp(armed.call, "ptrace"))
		syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
	else if (!strcmp(armed.call, "ioctl"))
		syscall(SYS_ioctl, -1, KVM_SET_USER_MEMORY_REGION, 0);
	else if (!strcmp(armed.call, "ioctl-fd"))
		wrong_fd_ioctl(role, ids);
	else if (!strcmp(armed.call, "tkill"))   /* another thread (the main one, or the next); signal 0 */
		syscall(SYS_tkill, ids->tid == getpid() ? ids->tid + 1 : getpid(), 0);
	else if (!strcmp(armed.call, "write-file"))
		syscall(SYS_openat, AT_FDCWD, "/tmp/vmm-sandbox-selftest", O_WRONLY | O_CREAT, 0600);
}
