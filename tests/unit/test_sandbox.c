/* tests/unit/test_sandbox.c: seccomp filters decoded by a small BPF interpreter, then enforced for real in forked children; Landlock deny-all. */
#include <errno.h>
#include <fcntl.h>
#include <sys/statfs.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/falloc.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <linux/vhost.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "sandbox/sandbox.h"

#define NSYSCALLS 471      /* 0 .. listns (470) */
#define BAD_PROG 0xdeadbeefu
#define EXIT_SKIP 77

/* ---- a classic-BPF interpreter for the subset a seccomp filter may use ---- */
static uint32_t load_abs(const struct seccomp_data *d, uint32_t k)
{
	uint32_t v;
	if (k % 4 || k + 4 > sizeof(*d))
		return BAD_PROG;
	memcpy(&v, (const char *)d + k, 4);
	return v;
}

static int jump_taken(uint16_t op, uint32_t a, uint32_t k, int *bad)
{
	switch (op) {
	case BPF_JEQ: return a == k;
	case BPF_JGT: return a > k;
	case BPF_JGE: return a >= k;
	case BPF_JSET: return (a & k) != 0;
	}
	*bad = 1;
	return 0;
}

/* Runs prog over d; returns the SECCOMP_RET_* action or BAD_PROG. */
static uint32_t bpf_run(const struct sock_filter *prog, int n, const struct seccomp_data *d)
{
	uint32_t a = 0;
	int pc = 0, bad = 0;

	while (pc >= 0 && pc < n) {
		const struct sock_filter *f = &prog[pc++];
		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
			if (f->code != (BPF_LD | BPF_W | BPF_ABS))
				return BAD_PROG;
			a = load_abs(d, f->k);
			break;
		case BPF_JMP:
			if (BPF_SRC(f->code) != BPF_K)
				return BAD_PROG;
			if (BPF_OP(f->code) == BPF_JA) {
				pc += (int)f->k;
				break;
			}
			pc += jump_taken(BPF_OP(f->code), a, f->k, &bad) ? f->jt : f->jf;
			if (bad)
				return BAD_PROG;
			break;
		case BPF_RET:
			return BPF_RVAL(f->code) == BPF_K ? f->k : BAD_PROG;
		default:
			return BAD_PROG;
		}
	}
	return BAD_PROG;   /* ran off the end */
}

static struct sock_filter progs[SB_ROLE_COUNT][SB_FILTER_MAX];
static int prog_len[SB_ROLE_COUNT];

/* The filters are built for these fds and this tid; FD_OTHER is bound to nothing. */
#define FD_VM 5
#define FD_VCPU 6
#define FD_TAP 7
#define FD_VHOST 8
#define FD_OTHER 3
#define TID 4242
static const struct sb_ids ids = { .fd = { [SB_FD_VM] = FD_VM, [SB_FD_VCPU] = FD_VCPU,
	[SB_FD_TAP] = FD_TAP, [SB_FD_VHOST] = FD_VHOST, [SB_FD_TTY] = 0 }, .tid = TID };
static const int some_fds[] = { 0, 1, 2, FD_OTHER, FD_VM, FD_VCPU, FD_TAP, FD_VHOST, -1 };

static uint32_t eval(enum sb_role r, uint32_t arch, int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct seccomp_data d;
	memset(&d, 0, sizeof(d));
	d.arch = arch;
	d.nr = nr;
	d.args[0] = a0;
	d.args[1] = a1;
	d.args[2] = a2;
	return bpf_run(progs[r], prog_len[r], &d);
}

/* A syscall on fd FD_OTHER (ioctl: on the fd its first rule is bound to). */
static uint32_t call(enum sb_role r, int nr, uint64_t a1, uint64_t a2)
{
	uint64_t a0 = FD_OTHER;
	if (nr == SYS_ioctl && sandbox_policy(r)->nioctl)
		a0 = (uint64_t)ids.fd[sandbox_policy(r)->ioctl[0].fd];
	if (nr == SYS_tkill)
		a0 = TID;
	return eval(r, AUDIT_ARCH_X86_64, nr, a0, a1, a2);
}

/* ioctl(fd, req) as role r's filter answers it. */
static uint32_t ioctl_on(enum sb_role r, int fd, uint64_t req)
{
	return eval(r, AUDIT_ARCH_X86_64, SYS_ioctl, (uint64_t)(int64_t)fd, req, 0);
}

static const struct sb_syscall *find_rule(enum sb_role r, int nr)
{
	const struct sb_policy *p = sandbox_policy(r);
	for (size_t i = 0; i < p->nsys; i++)
		if (p->sys[i].nr == nr)
			return &p->sys[i];
	return NULL;
}

/* Whether role r lists req on fd kind k (-1: on any kind). */
static int has_ioctl_on(enum sb_role r, uint32_t req, int k)
{
	const struct sb_policy *p = sandbox_policy(r);
	for (size_t i = 0; i < p->nioctl; i++)
		if (p->ioctl[i].req == req && (k < 0 || p->ioctl[i].fd == (enum sb_fd)k))
			return 1;
	return 0;
}
static int has_ioctl(enum sb_role r, uint32_t req) { return has_ioctl_on(r, req, -1); }

static void test_build(void)
{
	struct sock_filter small[4];
	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		prog_len[r] = sandbox_build_filter(r, &ids, progs[r], SB_FILTER_MAX);
		CHECK(prog_len[r] > 0 && prog_len[r] <= SB_FILTER_MAX);
	}
	CHECK(sandbox_build_filter(SB_ROLE_COUNT, &ids, progs[0], SB_FILTER_MAX) == -EINVAL);
	CHECK(sandbox_build_filter(SB_ROLE_VCPU, &ids, small, 4) == -ENOSPC);
	CHECK(sandbox_policy(SB_ROLE_COUNT) == NULL);
}

/* Every listed syscall is allowed (with the arguments its check permits). */
static void test_listed_allowed(void)
{
	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		const struct sb_policy *p = sandbox_policy(r);
		for (size_t i = 0; i < p->nsys; i++) {
			const struct sb_syscall *s = &p->sys[i];
			uint64_t a1 = s->check == SB_IOCTL ? p->ioctl[0].req : 0x1234;
			CHECK(call(r, s->nr, a1, PROT_READ | PROT_WRITE) == SECCOMP_RET_ALLOW);
		}
	}
}

/* Everything not listed traps, for every syscall number there is. */
static void test_unlisted_trapped(void)
{
	static const int sample[] = { SYS_open, SYS_openat, SYS_execve, SYS_execveat,
		SYS_socket, SYS_ptrace, SYS_fork, SYS_vfork, SYS_clone, 435 /* clone3 */,
		SYS_connect, SYS_mount, SYS_prctl, SYS_seccomp, SYS_kill,
		SYS_process_vm_writev, SYS_memfd_create, 444 /* landlock_create_ruleset */ };

	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		/* a device process creates vhost-user's in-flight record: its one memfd */
		bool proc = r == SB_ROLE_BLK_PROC || r == SB_ROLE_NET_PROC || r == SB_ROLE_FS_PROC;
		/* the FUSE server opens files under its share (Landlock bounds where) */
		bool fs = r == SB_ROLE_FS_PROC;
		for (size_t i = 0; i < ARRAY_SIZE(sample); i++)
			if (!(proc && sample[i] == SYS_memfd_create) && !(fs && sample[i] == SYS_openat))
				CHECK(call(r, sample[i], 0, 0) == SECCOMP_RET_TRAP);
		for (int nr = 0; nr < NSYSCALLS; nr++)
			if (!find_rule(r, nr))
				CHECK(call(r, nr, 0, 0) == SECCOMP_RET_TRAP);
		CHECK(call(r, 1000, 0, 0) == SECCOMP_RET_TRAP);
	}
}

static void test_arch_and_x32_killed(void)
{
	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		CHECK(eval(r, AUDIT_ARCH_I386, SYS_write, 0, 0, 0) == SECCOMP_RET_KILL_PROCESS);
		CHECK(eval(r, AUDIT_ARCH_I386, 5 /* i386 open */, 0, 0, 0) == SECCOMP_RET_KILL_PROCESS);
		CHECK(eval(r, AUDIT_ARCH_AARCH64, SYS_futex, 0, 0, 0) == SECCOMP_RET_KILL_PROCESS);
		CHECK(call(r, 0x40000000 | SYS_write, 0, 0) == SECCOMP_RET_KILL_PROCESS);
		CHECK(call(r, 0x40000000 | 515 /* x32 readv */, 0, 0) == SECCOMP_RET_KILL_PROCESS);
		CHECK(call(r, -1, 0, 0) == SECCOMP_RET_KILL_PROCESS);
	}
}

static void test_ioctl_requests(void)
{
	static const uint32_t never[] = { KVM_CREATE_VM, KVM_CREATE_VCPU,
		KVM_SET_USER_MEMORY_REGION, KVM_SET_REGS, KVM_SET_SREGS, TIOCSTI,
		0x400454ca /* TUNSETIFF */, 0 };

	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		const struct sb_policy *p = sandbox_policy(r);
		for (size_t i = 0; i < p->nioctl; i++) {
			uint32_t req = p->ioctl[i].req;
			int fd = ids.fd[p->ioctl[i].fd];
			CHECK(ioctl_on(r, fd, req) == SECCOMP_RET_ALLOW);
			/* musl passes the request as int: sign-extended high half */
			CHECK(ioctl_on(r, fd, 0xffffffff00000000ull | req) == SECCOMP_RET_ALLOW);
			CHECK(ioctl_on(r, fd, req ^ 1) == SECCOMP_RET_TRAP || has_ioctl(r, req ^ 1));
			/* an allowed request on any fd it is not bound to */
			for (size_t j = 0; j < ARRAY_SIZE(some_fds); j++) {
				int k = -1;
				for (int kk = 0; kk < SB_FD_COUNT; kk++)
					if (ids.fd[kk] == some_fds[j])
						k = kk;
				if (k < 0 || !has_ioctl_on(r, req, k))
					CHECK(ioctl_on(r, some_fds[j], req) == SECCOMP_RET_TRAP);
			}
		}
		for (size_t i = 0; i < ARRAY_SIZE(never); i++)
			for (size_t j = 0; j < ARRAY_SIZE(some_fds); j++)
				CHECK(ioctl_on(r, some_fds[j], never[i]) == SECCOMP_RET_TRAP);
	}
	CHECK(has_ioctl_on(SB_ROLE_VCPU, KVM_RUN, SB_FD_VCPU) && has_ioctl_on(SB_ROLE_VCPU, KVM_SIGNAL_MSI, SB_FD_VM));
	CHECK(ioctl_on(SB_ROLE_VCPU, FD_VCPU, KVM_RUN) == SECCOMP_RET_ALLOW);
	CHECK(ioctl_on(SB_ROLE_VCPU, FD_VM, KVM_RUN) == SECCOMP_RET_TRAP);        /* KVM_RUN on the VM fd */
	CHECK(ioctl_on(SB_ROLE_VCPU, FD_VCPU + 1, KVM_RUN) == SECCOMP_RET_TRAP);  /* another vCPU's fd */
	CHECK(ioctl_on(SB_ROLE_VCPU, FD_VM, KVM_IRQFD) == SECCOMP_RET_ALLOW);
	CHECK(ioctl_on(SB_ROLE_VCPU, FD_VCPU, KVM_IRQFD) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_VCPU, FD_OTHER, KVM_IRQFD) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_VCPU, 0, TCSETS) == SECCOMP_RET_ALLOW);
	CHECK(ioctl_on(SB_ROLE_VCPU, FD_OTHER, TCSETS) == SECCOMP_RET_TRAP);     /* TCSETS on a disk */
	CHECK(ioctl_on(SB_ROLE_VCPU, 0, TCSETSW) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_MAIN, FD_VCPU, KVM_RUN) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_BLK, FD_VCPU, KVM_RUN) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_NET, FD_TAP, 0x400454d0 /* TUNSETOFFLOAD */) == SECCOMP_RET_ALLOW);
	CHECK(ioctl_on(SB_ROLE_NET, FD_VM, 0x400454d0) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_NET, FD_TAP, KVM_SIGNAL_MSI) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_NET, FD_VM, KVM_SIGNAL_MSI) == SECCOMP_RET_ALLOW);
	CHECK(ioctl_on(SB_ROLE_BLK_IO, FD_VM, KVM_SIGNAL_MSI) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_VSOCK, FD_VHOST, VHOST_VSOCK_SET_RUNNING) == SECCOMP_RET_ALLOW);
	CHECK(ioctl_on(SB_ROLE_VSOCK, FD_VM, VHOST_VSOCK_SET_RUNNING) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_VSOCK, FD_VHOST, VHOST_VSOCK_SET_GUEST_CID) == SECCOMP_RET_TRAP);   /* set up before */
	CHECK(ioctl_on(SB_ROLE_VCPU, FD_VHOST, VHOST_SET_MEM_TABLE) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_MAIN, 0, TCGETS) == SECCOMP_RET_TRAP);
	CHECK(ioctl_on(SB_ROLE_MAIN, 1, TIOCGWINSZ) == SECCOMP_RET_TRAP);
}

/* A kind the thread lacks (-1) has no rule at all: not even fd -1 (0xffffffff) passes. */
static void test_ioctl_missing_fds(void)
{
	struct sock_filter prog[SB_FILTER_MAX];
	struct sb_ids none = ids;
	struct seccomp_data d = { .nr = SYS_ioctl, .arch = AUDIT_ARCH_X86_64 };

	none.fd[SB_FD_TTY] = -1;
	none.fd[SB_FD_VM] = -1;
	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		const struct sb_policy *p = sandbox_policy(r);
		int n = sandbox_build_filter(r, &none, prog, ARRAY_SIZE(prog));
		CHECK(n > 0);
		for (size_t i = 0; n > 0 && i < p->nioctl; i++) {
			for (size_t j = 0; j < ARRAY_SIZE(some_fds); j++) {
				int fd = some_fds[j];
				d.args[0] = (uint64_t)(int64_t)fd;
				d.args[1] = p->ioctl[i].req;
				int ok = (p->ioctl[i].fd == SB_FD_VCPU && fd == FD_VCPU) ||
					 (p->ioctl[i].fd == SB_FD_TAP && fd == FD_TAP) ||
					 (p->ioctl[i].fd == SB_FD_VHOST && fd == FD_VHOST);
				CHECK(bpf_run(prog, n, &d) == (ok ? SECCOMP_RET_ALLOW : SECCOMP_RET_TRAP));
			}
		}
	}
}

/* tkill only to the thread itself; tgkill not at all (musl never uses it). */
static void test_signals_self_only(void)
{
	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		CHECK(eval(r, AUDIT_ARCH_X86_64, SYS_tkill, TID, SIGABRT, 0) == SECCOMP_RET_ALLOW);
		CHECK(eval(r, AUDIT_ARCH_X86_64, SYS_tkill, TID + 1, SIGABRT, 0) == SECCOMP_RET_TRAP);
		CHECK(eval(r, AUDIT_ARCH_X86_64, SYS_tkill, 1, SIGKILL, 0) == SECCOMP_RET_TRAP);
		CHECK(eval(r, AUDIT_ARCH_X86_64, SYS_tgkill, TID, TID, SIGABRT) == SECCOMP_RET_TRAP);
		CHECK(eval(r, AUDIT_ARCH_X86_64, SYS_kill, 0, SIGKILL, 0) == SECCOMP_RET_TRAP);
	}
}

static void test_no_exec_mappings(void)
{
	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		CHECK(call(r, SYS_mmap, 0, PROT_READ | PROT_WRITE) == SECCOMP_RET_ALLOW);
		CHECK(call(r, SYS_mmap, 0, PROT_NONE) == SECCOMP_RET_ALLOW);
		CHECK(call(r, SYS_mmap, 0, PROT_READ | PROT_EXEC) == SECCOMP_RET_TRAP);
		CHECK(call(r, SYS_mprotect, 0, PROT_EXEC) == SECCOMP_RET_TRAP);
		CHECK(call(r, SYS_mprotect, 0, PROT_READ) == SECCOMP_RET_ALLOW);
		CHECK(call(r, 329 /* pkey_mprotect */, 0, PROT_READ) == SECCOMP_RET_TRAP);
	}
}

static void test_role_differences(void)
{
	CHECK(call(SB_ROLE_BLK_IO, SYS_preadv, 0, 0) == SECCOMP_RET_ALLOW);
	CHECK(call(SB_ROLE_BLK_IO, SYS_fallocate, 0, 0) == SECCOMP_RET_ALLOW);
	CHECK(call(SB_ROLE_BLK, SYS_preadv, 0, 0) == SECCOMP_RET_TRAP);   /* the device thread does no disk I/O */
	CHECK(call(SB_ROLE_BLK_IO, SYS_epoll_pwait, 0, 0) == SECCOMP_RET_TRAP);
	CHECK(call(SB_ROLE_BLK, SYS_epoll_pwait, 0, 0) == SECCOMP_RET_ALLOW);
	CHECK(call(SB_ROLE_VCPU, SYS_preadv, 0, 0) == SECCOMP_RET_TRAP);
	CHECK(call(SB_ROLE_NET, SYS_pwritev, 0, 0) == SECCOMP_RET_TRAP);
	CHECK(call(SB_ROLE_NET, SYS_readv, 0, 0) == SECCOMP_RET_ALLOW);
	CHECK(call(SB_ROLE_VCPU, SYS_poll, 0, 0) == SECCOMP_RET_ALLOW);   /* the UART waits for a slow console */
	CHECK(call(SB_ROLE_VCPU, SYS_epoll_wait, 0, 0) == SECCOMP_RET_TRAP);
	CHECK(call(SB_ROLE_NET, SYS_fdatasync, 0, 0) == SECCOMP_RET_TRAP);
	CHECK(call(SB_ROLE_MAIN, SYS_ioctl, KVM_SIGNAL_MSI, 0) == SECCOMP_RET_ALLOW);
	CHECK(call(SB_ROLE_MAIN, SYS_ppoll, 0, 0) == SECCOMP_RET_ALLOW);
	CHECK(call(SB_ROLE_FS_PROC, SYS_openat, 0, 0) == SECCOMP_RET_ALLOW);
	CHECK(call(SB_ROLE_FS_PROC, SYS_getdents64, 0, 0) == SECCOMP_RET_ALLOW);
	CHECK(call(SB_ROLE_FS_PROC, SYS_ioctl, 0, 0) == SECCOMP_RET_TRAP);   /* no ioctl at all */
	CHECK(call(SB_ROLE_FS_PROC, SYS_open, 0, 0) == SECCOMP_RET_TRAP);
	CHECK(call(SB_ROLE_FS_PROC, SYS_openat2, 0, 0) == SECCOMP_RET_TRAP);
	CHECK(call(SB_ROLE_FS_PROC, SYS_chroot, 0, 0) == SECCOMP_RET_TRAP);
	CHECK(call(SB_ROLE_FS_PROC, SYS_open_by_handle_at, 0, 0) == SECCOMP_RET_TRAP);
	CHECK(call(SB_ROLE_BLK_PROC, SYS_getdents64, 0, 0) == SECCOMP_RET_TRAP);
	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		CHECK(call(r, SYS_exit_group, 0, 0) == SECCOMP_RET_ALLOW);
		CHECK(call(r, SYS_rt_sigreturn, 0, 0) == SECCOMP_RET_ALLOW);
		CHECK(call(r, SYS_futex, 0, 0) == SECCOMP_RET_ALLOW);
	}
}

static void test_names(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	CHECK(!strcmp(sandbox_syscall_name(0), "read"));
	CHECK(!strcmp(sandbox_syscall_name(SYS_openat), "openat"));
	CHECK(!strcmp(sandbox_syscall_name(SYS_execve), "execve"));
	CHECK(!strcmp(sandbox_syscall_name(SYS_ioctl), "ioctl"));
	CHECK(!strcmp(sandbox_syscall_name(446), "landlock_restrict_self"));
	CHECK(!strcmp(sandbox_syscall_name(470), "listns"));
	CHECK(!strcmp(sandbox_syscall_name(-1), "?"));
	CHECK(!strcmp(sandbox_syscall_name(100000), "?"));
	for (int nr = 0; nr < 335; nr++)     /* 0..334 has no holes on x86-64 */
		CHECK(strcmp(sandbox_syscall_name(nr), "?") != 0);
	CHECK(!strcmp(sandbox_role_name(SB_ROLE_VCPU), "vcpu"));
	CHECK(!strcmp(sandbox_role_name(SB_ROLE_COUNT), "?"));

	f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	if (!f)
		return;
	sandbox_print(f);
	fclose(f);
	CHECK(strstr(buf, "vcpu (30 syscalls, 8 ioctl requests): ioctl(KVM_RUN on vcpu-fd, ") != NULL);
	CHECK(strstr(buf, "blk-proc (35 syscalls, 0 ioctl requests): ") != NULL);
	CHECK(strstr(buf, "net-proc (37 syscalls, 1 ioctl request): ") != NULL);
	CHECK(strstr(buf, "KVM_IRQFD on vm-fd") && strstr(buf, "TCSETS on stdin)"));
	CHECK(strstr(buf, "TUNSETOFFLOAD on tap-fd") && strstr(buf, " tkill(own thread) "));
	CHECK(strstr(buf, "ioctl request): preadv") && !strstr(buf, "tgkill"));
	CHECK(strstr(buf, "mmap(no PROT_EXEC)") != NULL);
	/* openat only in fs-proc, the last line */
	char *fsl = strstr(buf, "fs-proc (");
	CHECK(fsl && strstr(buf, "openat") > fsl && !strchr(fsl, '\n')[1]);
	CHECK(fsl && strstr(fsl, "fs-proc (61 syscalls, 0 ioctl requests): ") == fsl);
	free(buf);
}

/* ---- the real kernel, in forked children ---- */
/* A readable file: /etc/hostname where there is one (a minimal initramfs has none). Set by main. */
static const char *a_file = "/etc/hostname";

/*
 * After sandbox_enter the child only makes raw syscalls: the sanitizers'
 * runtime would make calls the roles forbid (sigaltstack, ...).
 */
typedef void child_fn(void);

struct child_result {
	int status;
	char out[512];
};

/*
 * Not noreturn, and no loop a compiler could prove endless: before a noreturn
 * call ASan inserts __asan_handle_no_return, which calls sigaltstack, and
 * every role forbids that. exit_group does not return anyway.
 */
static void child_exit(int code)
{
	syscall(SYS_exit_group, code);
}

/* fork; the child sends stderr to a pipe, enters `role`, runs fn, exits 0 if it survives. */
static int io_fd, pipe_fd[2];   /* own fd (vCPU, tap) = io_fd; "VM fd" = pipe_fd[0]; "terminal" = pipe_fd[1] */
static void run_child(enum sb_role role, child_fn *fn, struct child_result *res)
{
	int p[2];
	pid_t pid;
	size_t n = 0;
	ssize_t got;

	memset(res, 0, sizeof(*res));
	if (pipe(p) < 0) {
		res->status = -1;
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 2);
		if (sandbox_enter(role, io_fd) < 0)
			child_exit(EXIT_SKIP);
		fn();
		child_exit(0);
	}
	close(p[1]);
	while (n < sizeof(res->out) - 1 &&
	       (got = read(p[0], res->out + n, sizeof(res->out) - 1 - n)) > 0)
		n += (size_t)got;
	close(p[0]);
	if (pid < 0 || waitpid(pid, &res->status, 0) < 0)
		res->status = -1;
}

static int exited_with(const struct child_result *res, int code)
{
	return WIFEXITED(res->status) && WEXITSTATUS(res->status) == code;
}

static void do_openat(void) { syscall(SYS_openat, AT_FDCWD, a_file, O_RDONLY); }
static void do_execve(void) { syscall(SYS_execve, "/bin/true", NULL, NULL); }
static void do_socket(void) { syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0); }
static void do_ptrace(void) { syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0); }
static void do_clone(void) { syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); }
static void do_ioctl_tiocsti(void) { syscall(SYS_ioctl, 0, TIOCSTI, "x"); }
static void do_ioctl_kvm_run(void) { syscall(SYS_ioctl, -1, KVM_RUN, 0); }
static void do_kvm_run_on_vm_fd(void) { syscall(SYS_ioctl, pipe_fd[0], KVM_RUN, 0); }
static void do_tcsets_on_file(void) { syscall(SYS_ioctl, io_fd, TCSETS, 0); }
static void do_offload_on_vm_fd(void) { syscall(SYS_ioctl, pipe_fd[0], 0x400454d0 /* TUNSETOFFLOAD */, 0); }
static void do_tkill_other(void) { syscall(SYS_tkill, syscall(SYS_getpid) + 100000, SIGTERM); }
static void do_tgkill_self(void)
{
	syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), SIGTERM);
}
static void do_kill_sigsys(void) { syscall(SYS_tkill, syscall(SYS_gettid), SIGSYS); }
static void do_mmap_exec(void)
{
	syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
/* Allowed calls really pass: write, an anonymous RW mapping, futex wake, clock. */
static void do_allowed(void)
{
	struct timespec ts;
	int word = 0;
	long m = syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == -1 || syscall(SYS_munmap, m, 4096) < 0)
		child_exit(3);
	if (syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0) < 0)
		child_exit(4);
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) < 0)
		child_exit(5);
	syscall(SYS_write, 2, "alive\n", 6);
}


/* Each role's own calls, on fds opened before entering (as vmm does). */
#define ALLOWED(call) do { if ((call) < 0 && errno != ENOTTY && errno != ENOTSOCK) child_exit(10 + __LINE__ % 100); } while (0)
static void do_blk_io(void)
{
	char buf[512] = "data";
	struct iovec iov = { buf, sizeof(buf) };

	ALLOWED(syscall(SYS_pwritev, io_fd, &iov, 1, 4096, 0));
	ALLOWED(syscall(SYS_preadv, io_fd, &iov, 1, 0, 0));
	ALLOWED(syscall(SYS_fallocate, io_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 512));
	ALLOWED(syscall(SYS_fdatasync, io_fd));
	ALLOWED(syscall(SYS_pwrite64, io_fd, buf, 512, 8192));
	ALLOWED(syscall(SYS_write, pipe_fd[1], "k", 1));   /* the completion eventfd */
}
static void do_blk_dev(void)
{
	char c;
	ALLOWED(syscall(SYS_ioctl, pipe_fd[0], KVM_SIGNAL_MSI, 0));
	ALLOWED(syscall(SYS_ioctl, pipe_fd[1], TCSETS, 0));
	ALLOWED(syscall(SYS_write, pipe_fd[1], "k", 1));
	ALLOWED(syscall(SYS_read, pipe_fd[0], &c, 1));
}
static void do_vsock_dev(void)
{
	ALLOWED(syscall(SYS_ioctl, io_fd, VHOST_VSOCK_SET_RUNNING, 0));
	ALLOWED(syscall(SYS_ioctl, pipe_fd[0], KVM_SIGNAL_MSI, 0));
	ALLOWED(syscall(SYS_ioctl, pipe_fd[1], TCSETS, 0));
}
/* vhost-user front-end: messages with fds on its socket (here a pipe: the filter lets them through, the kernel says ENOTSOCK). */
static void do_vu_dev(void)
{
	struct msghdr mh = { 0 };
	ALLOWED(syscall(SYS_sendmsg, pipe_fd[1], &mh, 0));
	ALLOWED(syscall(SYS_recvmsg, pipe_fd[0], &mh, MSG_DONTWAIT));
	ALLOWED(syscall(SYS_ioctl, pipe_fd[1], TCSETS, 0));
}
/* A block device process: messages, the in-flight record; no ioctl at all. */
static void do_blk_proc(void)
{
	struct msghdr mh = { 0 };
	ALLOWED(syscall(SYS_sendmsg, pipe_fd[1], &mh, 0));
	ALLOWED(syscall(SYS_recvmsg, pipe_fd[0], &mh, MSG_DONTWAIT));
	int fd = (int)syscall(SYS_memfd_create, "t", 0);
	ALLOWED(fd);
	ALLOWED(syscall(SYS_ftruncate, fd, 4096));
}
static void do_net_proc(void)
{
	char buf[8] = "frame";
	struct iovec iov = { buf, 5 };

	do_blk_proc();
	ALLOWED(syscall(SYS_ioctl, io_fd, 0x400454d0 /* TUNSETOFFLOAD */, 0));
	ALLOWED(syscall(SYS_writev, pipe_fd[1], &iov, 1));
	ALLOWED(syscall(SYS_readv, pipe_fd[0], &iov, 1));
}
/* A virtio-fs device process: as blk-proc, plus file calls relative to the fds it holds. */
static void do_fs_proc(void)
{
	char buf[64];
	struct stat st;
	struct statfs sf;
	struct iovec iov = { buf, 8 };

	do_blk_proc();
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	ALLOWED(fd);
	ALLOWED(syscall(SYS_newfstatat, fd, "", &st, AT_EMPTY_PATH));
	ALLOWED(syscall(SYS_fstatfs, fd, &sf));
	ALLOWED(syscall(SYS_preadv, io_fd, &iov, 1, 0, 0));
	ALLOWED(syscall(SYS_fsync, io_fd));
	ALLOWED(syscall(SYS_close, fd));
}
static void do_fs_proc_ioctl(void) { syscall(SYS_ioctl, io_fd, TCSETS, 0); }
static void do_net_io(void)
{
	char buf[8] = "frame";
	struct iovec iov = { buf, 5 };
	struct pollfd p = { pipe_fd[0], POLLIN, 0 };

	ALLOWED(syscall(SYS_ioctl, io_fd, 0x400454d0 /* TUNSETOFFLOAD */, 0));
	ALLOWED(syscall(SYS_ioctl, pipe_fd[0], KVM_SIGNAL_MSI, 0));

	ALLOWED(syscall(SYS_writev, pipe_fd[1], &iov, 1));
	ALLOWED(syscall(SYS_ppoll, &p, 1, NULL, NULL, 8));
	ALLOWED(syscall(SYS_readv, pipe_fd[0], &iov, 1));
}
static void do_vcpu_io(void)
{
	/* the filter lets these through; the kernel answers ENOTTY on a file or pipe */
	ALLOWED(syscall(SYS_ioctl, io_fd, KVM_RUN, 0));
	ALLOWED(syscall(SYS_ioctl, io_fd, KVM_GET_REGS, 0));
	ALLOWED(syscall(SYS_ioctl, pipe_fd[0], KVM_SIGNAL_MSI, 0));
	ALLOWED(syscall(SYS_ioctl, pipe_fd[1], TCSETS, 0));
	ALLOWED(syscall(SYS_tkill, syscall(SYS_gettid), 0));   /* signal 0: only checks */
	ALLOWED(syscall(SYS_write, pipe_fd[1], "c", 1));
}
static void do_main_io(void)
{
	char c;
	struct pollfd p = { pipe_fd[0], POLLIN, 0 };
	ALLOWED(syscall(SYS_ioctl, pipe_fd[1], TCSETS, &c));
	ALLOWED(syscall(SYS_ioctl, pipe_fd[0], KVM_SIGNAL_MSI, 0));
	ALLOWED(syscall(SYS_write, pipe_fd[1], "m", 1));
	ALLOWED(syscall(SYS_poll, &p, 1, 0));
	ALLOWED(syscall(SYS_read, pipe_fd[0], &c, 1));
}

static int seccomp_skip;

static void expect_trap(enum sb_role role, child_fn *fn, const char *msg)
{
	struct child_result res;
	run_child(role, fn, &res);
	if (exited_with(&res, EXIT_SKIP)) {
		seccomp_skip = 1;
		return;
	}
	CHECK(exited_with(&res, 1));
	CHECK(strstr(res.out, msg) != NULL);
	if (!strstr(res.out, msg))
		printf("  child said: %s\n", res.out);
}

static void test_real_forbidden(void)
{
	expect_trap(SB_ROLE_VCPU, do_openat,
		    "vmm: sandbox: vcpu thread made forbidden syscall openat (257)\n");
	if (seccomp_skip)
		return;
	expect_trap(SB_ROLE_BLK, do_execve, "blk thread made forbidden syscall execve (59)");
	expect_trap(SB_ROLE_NET, do_socket, "net thread made forbidden syscall socket (41)");
	expect_trap(SB_ROLE_MAIN, do_ptrace, "main thread made forbidden syscall ptrace (101)");
	expect_trap(SB_ROLE_MAIN, do_clone, "main thread made forbidden syscall clone (56)");
	expect_trap(SB_ROLE_VCPU, do_ioctl_tiocsti, "syscall ioctl (16), request 0x5412");
	expect_trap(SB_ROLE_MAIN, do_ioctl_kvm_run, "syscall ioctl (16), request 0xae80");
	expect_trap(SB_ROLE_BLK, do_mmap_exec, "syscall mmap (9), prot 0x5");
	expect_trap(SB_ROLE_BLK, do_kill_sigsys, "vmm: sandbox: unexpected SIGSYS\n");
	/* allowed requests on the wrong fd */
	char want[96];
	snprintf(want, sizeof(want), "vcpu thread made forbidden syscall ioctl (16), request 0xae80 on fd %d\n",
		 pipe_fd[0]);
	expect_trap(SB_ROLE_VCPU, do_kvm_run_on_vm_fd, want);
	snprintf(want, sizeof(want), "request 0x5402 on fd %d\n", io_fd);
	expect_trap(SB_ROLE_MAIN, do_tcsets_on_file, want);
	expect_trap(SB_ROLE_BLK_IO, do_tcsets_on_file, want);
	expect_trap(SB_ROLE_NET, do_offload_on_vm_fd, "net thread made forbidden syscall ioctl (16), request 0x400454d0");
	expect_trap(SB_ROLE_NET_PROC, do_offload_on_vm_fd,
		    "net-proc thread made forbidden syscall ioctl (16), request 0x400454d0");
	expect_trap(SB_ROLE_NET_PROC, do_ioctl_kvm_run, "net-proc thread made forbidden syscall ioctl (16), request 0xae80");
	expect_trap(SB_ROLE_BLK, do_ioctl_kvm_run, "request 0xae80 on fd -1\n");
	expect_trap(SB_ROLE_FS_PROC, do_fs_proc_ioctl, "fs-proc thread made forbidden syscall ioctl (16)");
	expect_trap(SB_ROLE_FS_PROC, do_execve, "fs-proc thread made forbidden syscall execve (59)");
	expect_trap(SB_ROLE_FS_PROC, do_socket, "fs-proc thread made forbidden syscall socket (41)");
	/* signals to another thread */
	expect_trap(SB_ROLE_VCPU, do_tkill_other, "vcpu thread made forbidden syscall tkill (200)");
	expect_trap(SB_ROLE_MAIN, do_tgkill_self, "main thread made forbidden syscall tgkill (234)");
}

static void test_real_allowed(void)
{
	struct child_result res;
	for (int r = 0; r < SB_ROLE_COUNT && !seccomp_skip; r++) {
		run_child(r, do_allowed, &res);
		CHECK(exited_with(&res, 0));
		CHECK(!strcmp(res.out, "alive\n"));
		if (strcmp(res.out, "alive\n"))
			printf("  child status 0x%x said: %s\n", res.status, res.out);
	}
}

static void test_real_role_io(void)
{
	static child_fn *const fn[SB_ROLE_COUNT] = {
		[SB_ROLE_MAIN] = do_main_io, [SB_ROLE_VCPU] = do_vcpu_io,
		[SB_ROLE_BLK] = do_blk_dev, [SB_ROLE_BLK_IO] = do_blk_io, [SB_ROLE_NET] = do_net_io,
		[SB_ROLE_VSOCK] = do_vsock_dev, [SB_ROLE_VHOST_USER] = do_vu_dev,
		[SB_ROLE_BLK_PROC] = do_blk_proc, [SB_ROLE_NET_PROC] = do_net_proc,
		[SB_ROLE_FS_PROC] = do_fs_proc,
	};
	struct child_result res;

	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		run_child(r, fn[r], &res);
		CHECK(exited_with(&res, 0));
		if (!exited_with(&res, 0))
			printf("  %s child status 0x%x said: %s\n", sandbox_role_name(r), res.status, res.out);
	}
}

static void hook(void)
{
	syscall(SYS_write, 2, "hook ran\n", 9);
}
static void do_hooked_openat(void)
{
	sandbox_set_fatal_hook(hook);
	do_openat();
}

static void test_real_fatal_hook(void)
{
	struct child_result res;
	run_child(SB_ROLE_NET, do_hooked_openat, &res);
	CHECK(exited_with(&res, 1));
	CHECK(strstr(res.out, "openat (257)\nhook ran\n") != NULL);
}

/* The filter binds the calling thread only: another thread still opens files. */
static int sync_pipe[2], park_pipe[2];
static void *sandboxed_thread(void *arg)
{
	char c = 0;
	if (sandbox_enter(SB_ROLE_NET, io_fd) < 0)
		child_exit(EXIT_SKIP);
	syscall(SYS_write, sync_pipe[1], "s", 1);
	syscall(SYS_read, park_pipe[0], &c, 1);   /* parked until exit_group */
	return arg;
}
static void test_real_per_thread(void)
{
	pid_t pid;
	int status = -1;

	if (pipe(sync_pipe) < 0 || pipe(park_pipe) < 0) {
		CHECK(0);
		return;
	}
	pid = fork();
	if (pid == 0) {
		pthread_t t;
		char c;
		if (pthread_create(&t, NULL, sandboxed_thread, NULL) != 0)
			child_exit(2);
		if (read(sync_pipe[0], &c, 1) != 1)
			child_exit(3);
		child_exit(syscall(SYS_openat, AT_FDCWD, a_file, O_RDONLY) >= 0 ? 0 : 4);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sync_pipe[0]); close(sync_pipe[1]);
	close(park_pipe[0]); close(park_pipe[1]);
}

/* ---- Landlock ---- */
static int landlock_skip;

/* Exit codes: 0 ok, 77 no Landlock, else which check failed. */
static void landlock_child(void)
{
	char c;
	const char *path = a_file;
	int before = open(path, O_RDONLY);
	int null = open("/dev/null", O_RDWR);
	int r;

	if (before < 0 || null < 0)
		child_exit(2);
	if (sandbox_no_new_privs() < 0)
		child_exit(3);
	r = sandbox_landlock_deny_all();
	if (r == -ENOSYS)
		child_exit(EXIT_SKIP);
	if (r < 0)
		child_exit(4);
	if (syscall(SYS_openat, AT_FDCWD, path, O_RDONLY) != -1 || errno != EACCES)
		child_exit(5);
	if (syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY) != -1 || errno != EACCES)
		child_exit(6);
	if (syscall(SYS_mkdirat, AT_FDCWD, "/tmp/vmm-landlock-test", 0700) != -1 || errno != EACCES)
		child_exit(7);
	/* files opened before keep working, device ioctls included */
	if (syscall(SYS_read, before, &c, 1) != 1 || syscall(SYS_write, null, "x", 1) != 1)
		child_exit(8);
	if (syscall(SYS_ioctl, null, TCGETS, &c) != -1 || errno != ENOTTY)
		child_exit(9);
	child_exit(0);
}

static void test_landlock_deny_all(void)
{
	int status = -1;
	pid_t pid = fork();
	if (pid == 0)
		landlock_child();
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIP) {
		landlock_skip = 1;
		return;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		printf("  landlock child status 0x%x\n", status);
}

#define RUN_SKIPPABLE(fn, flag, why) do { \
	unit_fail_count = 0; \
	fn(); \
	if (flag && !unit_fail_count) \
		printf("SKIP %s: %s\n", #fn, why); \
	else { \
		printf("%s %s\n", unit_fail_count ? "FAIL" : "PASS", #fn); \
		unit_total_failed += unit_fail_count != 0; \
	} \
} while (0)

int main(void)
{
	char path[] = "/tmp/vmm-sandbox-XXXXXX";

	if (access(a_file, R_OK) != 0)
		a_file = "/proc/self/exe";
	io_fd = mkstemp(path);
	if (io_fd < 0 || pipe(pipe_fd) < 0 || ftruncate(io_fd, 65536) < 0) {
		printf("FAIL test_sandbox: no temporary file or pipe\n");
		return 1;
	}
	unlink(path);
	sandbox_set_fds(pipe_fd[0], pipe_fd[1]);
	RUN(test_build);
	RUN(test_listed_allowed);
	RUN(test_unlisted_trapped);
	RUN(test_arch_and_x32_killed);
	RUN(test_ioctl_requests);
	RUN(test_ioctl_missing_fds);
	RUN(test_signals_self_only);
	RUN(test_no_exec_mappings);
	RUN(test_role_differences);
	RUN(test_names);
	RUN_SKIPPABLE(test_real_forbidden, seccomp_skip, "seccomp filters unavailable");
	RUN_SKIPPABLE(test_real_allowed, seccomp_skip, "seccomp filters unavailable");
	if (seccomp_skip) {
		printf("SKIP test_real_role_io: seccomp filters unavailable\n");
		printf("SKIP test_real_fatal_hook: seccomp filters unavailable\n");
		printf("SKIP test_real_per_thread: seccomp filters unavailable\n");
	} else {
		RUN(test_real_role_io);
		RUN(test_real_fatal_hook);
		RUN(test_real_per_thread);
	}
	RUN_SKIPPABLE(test_landlock_deny_all, landlock_skip, "Landlock absent or disabled");
	return UNIT_DONE();
}
