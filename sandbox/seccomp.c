/* sandbox/seccomp.c: builds each role's seccomp-BPF allow-list, installs it per thread, reports violations. */
#ifdef __linux__
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "sandbox.h"

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1   /* si_code of a seccomp SIGSYS */
#endif
/* Low 32 bits of argument i (x86-64 is little-endian). */
#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i)))

/* Read by the SIGSYS handler, so they cannot live in struct vm. */
static _Thread_local int sb_thread_role = -1;
static void (*_Atomic sb_fatal_hook)(void);
static int sb_exit_status = EXIT_RUNTIME;
/* Set by the main thread before other threads exist; read-only after. */
static int sb_vm_fd = -1, sb_tty_fd = -1;

/* Program builder: emits into a bounded array and remembers overflow. */
struct bpf_out {
	struct sock_filter *p;
	size_t n, max;
};

static void emit(struct bpf_out *o, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (o->n < o->max)
		o->p[o->n] = (struct sock_filter){ code, jt, jf, k };
	o->n++;
}

static void emit_ret(struct bpf_out *o, uint32_t action)
{
	emit(o, BPF_RET | BPF_K, 0, 0, action);
}

/* Kill anything that is not a native syscall of this architecture (machine.h), x32 included. */
static void emit_prologue(struct bpf_out *o)
{
	emit(o, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
	emit(o, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, SECCOMP_AUDIT_ARCH);
	emit_ret(o, SECCOMP_RET_KILL_PROCESS);
	emit(o, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
#ifdef SECCOMP_X32_BIT
	emit(o, BPF_JMP | BPF_JGE | BPF_K, 0, 1, SECCOMP_X32_BIT);
	emit_ret(o, SECCOMP_RET_KILL_PROCESS);
#endif
}

/* How many of p's ioctl rules are bound to fd kind k, which this thread has. */
static size_t fd_rules(const struct sb_policy *p, const struct sb_ids *ids, int k)
{
	size_t n = 0;

	if (ids->fd[k] < 0)
		return 0;
	for (size_t i = 0; i < p->nioctl; i++)
		n += p->ioctl[i].fd == (enum sb_fd)k;
	return n;
}

/*
 * ioctl: one group per fd kind the thread has: "fd == N" then "request in
 * the list bound to N". Compare only the low 32 bits of both: the kernel
 * takes them as unsigned int, and musl passes the request as an int,
 * sign-extended (_IOR requests have bit 31 set), so the high half is not
 * reliable. A kind the thread lacks (-1) has no group: nothing matches it.
 */
static void emit_ioctl(struct bpf_out *o, const struct sb_policy *p, const struct sb_ids *ids)
{
	size_t len = 3, start = o->n, allow;

	for (int k = 0; k < SB_FD_COUNT; k++) {
		size_t n = fd_rules(p, ids, k);
		len += n ? n + 4 : 0;
	}
	allow = start + len - 1;
	emit(o, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(len - 1), SYS_ioctl);
	for (int k = 0; k < SB_FD_COUNT; k++) {
		size_t n = fd_rules(p, ids, k);
		if (!n)
			continue;
		emit(o, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(0));
		emit(o, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(n + 2), (uint32_t)ids->fd[k]);
		emit(o, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(1));
		for (size_t i = 0; i < p->nioctl; i++)
			if (p->ioctl[i].fd == (enum sb_fd)k)
				emit(o, BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)(allow - o->n - 1), 0,
				     p->ioctl[i].req);
		emit_ret(o, SECCOMP_RET_TRAP);   /* the right fd, another request */
	}
	emit_ret(o, SECCOMP_RET_TRAP);           /* an fd no rule is bound to */
	emit_ret(o, SECCOMP_RET_ALLOW);
}

/* tkill: only the calling thread (musl's raise and abort); tid is arg 0. */
static void emit_self(struct bpf_out *o, int nr, pid_t tid)
{
	emit(o, BPF_JMP | BPF_JEQ | BPF_K, 0, 4, (uint32_t)nr);
	emit(o, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(0));
	emit(o, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, (uint32_t)tid);
	emit_ret(o, SECCOMP_RET_TRAP);
	emit_ret(o, SECCOMP_RET_ALLOW);
}

/* mmap/mprotect: no executable mappings (prot is argument 2 of both). */
static void emit_no_exec(struct bpf_out *o, int nr)
{
	emit(o, BPF_JMP | BPF_JEQ | BPF_K, 0, 4, (uint32_t)nr);
	emit(o, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(2));
	emit(o, BPF_JMP | BPF_JSET | BPF_K, 0, 1, PROT_EXEC);
	emit_ret(o, SECCOMP_RET_TRAP);
	emit_ret(o, SECCOMP_RET_ALLOW);
}

/* One allow-list entry; every block returns, so A always holds nr on entry. */
static void emit_rule(struct bpf_out *o, const struct sb_policy *p, const struct sb_ids *ids,
		      const struct sb_syscall *s)
{
	switch (s->check) {
	case SB_IOCTL:
		emit_ioctl(o, p, ids);
		break;
	case SB_SELF:
		emit_self(o, s->nr, ids->tid);
		break;
	case SB_NO_EXEC:
		emit_no_exec(o, s->nr);
		break;
	case SB_ANY:
		emit(o, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)s->nr);
		emit_ret(o, SECCOMP_RET_ALLOW);
		break;
	}
}

int sandbox_build_filter(enum sb_role role, const struct sb_ids *ids, struct sock_filter *prog,
			 size_t max)
{
	const struct sb_policy *p = sandbox_policy(role);
	struct bpf_out o = { prog, 0, max };

	if (!p || p->nioctl > 200)   /* keeps every jump of the ioctl block within 255 */
		return -EINVAL;
	emit_prologue(&o);
	for (size_t i = 0; i < p->nsys; i++)
		emit_rule(&o, p, ids, &p->sys[i]);
	emit_ret(&o, SECCOMP_RET_TRAP);
	if (o.n > max || o.n > BPF_MAXINSNS)
		return -ENOSPC;
	return (int)o.n;
}

/* ---- the SIGSYS handler: raw syscalls only (no errno, no libc or sanitizer hooks) ---- */
#define raw3 machine_raw_syscall3   /* machine.h */

static void put(const char *s)
{
	size_t len = 0;

	while (s[len])
		len++;
	while (len > 0) {
		long w = raw3(SYS_write, 2, (long)s, (long)len);
		if (w == -EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

/* The report is built in one buffer and written at once, so that two threads trapping together do not interleave. */
struct line { char b[256]; size_t n; };

static void add(struct line *l, const char *s)
{
	while (*s && l->n < sizeof(l->b) - 1)
		l->b[l->n++] = *s++;
	l->b[l->n] = '\0';
}

static void add_num(struct line *l, unsigned long v, unsigned base)
{
	char buf[24];
	char *q = buf + sizeof(buf) - 1;

	*q = '\0';
	do {
		*--q = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	add(l, q);
}

/* "vmm: sandbox: vcpu thread made forbidden syscall ioctl (16), request 0x5412 on fd 3" */
static void report(int nr, const ucontext_t *uc)
{
	struct line l = { .n = 0 };

	add(&l, "vmm: sandbox: ");
	add(&l, sandbox_role_name((enum sb_role)sb_thread_role));
	add(&l, " thread made forbidden syscall ");
	add(&l, sandbox_syscall_name(nr));
	add(&l, " (");
	add_num(&l, (unsigned long)nr, 10);
	add(&l, ")");
	if (nr == SYS_ioctl) {
		add(&l, ", request 0x");
		add_num(&l, (uint32_t)UC_ARG1(uc), 16);
		int fd = (int)UC_ARG0(uc);   /* the kernel takes the low 32 bits */
		add(&l, fd < 0 ? " on fd -" : " on fd ");
		add_num(&l, fd < 0 ? -(unsigned long)fd : (unsigned long)fd, 10);
	} else if (nr == SYS_mmap || nr == SYS_mprotect) {
		add(&l, ", prot 0x");
		add_num(&l, (unsigned long)UC_ARG2(uc), 16);
	}
	add(&l, "\n");
	put(l.b);
}

/* SECCOMP_RET_TRAP lands here: name the call, run the hook once, end the process. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	void (*hook)(void);

	if (si->si_code == SYS_SECCOMP)
		report(si->si_syscall, uctx);
	else
		put("vmm: sandbox: unexpected SIGSYS\n");   /* kill -SYS: no syscall to name */
	hook = atomic_exchange(&sb_fatal_hook, NULL);   /* once, even if two threads trap */
	if (hook)
		hook();
	for (;;)
		raw3(SYS_exit_group, sb_exit_status, 0, 0);
}

void sandbox_set_exit_status(int status)
{
	sb_exit_status = status;
}

void sandbox_set_fatal_hook(void (*hook)(void))
{
	sb_fatal_hook = hook;
}

void sandbox_set_fds(int vm_fd, int tty_fd)
{
	sb_vm_fd = vm_fd;
	sb_tty_fd = tty_fd;
}

int sandbox_no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* The handler is process-wide (harmless to set twice); SIGSYS must not be blocked here. */
static int install_sigsys(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	return -pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int sandbox_enter(enum sb_role role, int own_fd)
{
	struct sock_filter prog[SB_FILTER_MAX];
	struct sock_fprog fprog;
	struct sb_ids ids = { .tid = (pid_t)syscall(SYS_gettid) };
	int n, r;

	ids.fd[SB_FD_VM] = sb_vm_fd;
	ids.fd[SB_FD_TTY] = sb_tty_fd;
	ids.fd[SB_FD_VCPU] = role == SB_ROLE_VCPU ? own_fd : -1;
	ids.fd[SB_FD_TAP] = role == SB_ROLE_NET || role == SB_ROLE_NET_PROC ? own_fd : -1;
	ids.fd[SB_FD_VHOST] = role == SB_ROLE_VSOCK ? own_fd : -1;
	n = sandbox_build_filter(role, &ids, prog, ARRAY_SIZE(prog));

	if (n < 0)
		return n;
	r = sandbox_no_new_privs();
	if (r < 0)
		return r;
	r = install_sigsys();
	if (r < 0)
		return r;
	sb_thread_role = (int)role;
	fprog = (struct sock_fprog){ .len = (unsigned short)n, .filter = prog };
	/* No SECCOMP_FILTER_FLAG_TSYNC: this thread only. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0) {
		r = -errno;
		sb_thread_role = -1;
		return r;
	}
	sandbox_selftest_fire(role, &ids);
	return 0;
}
#endif
