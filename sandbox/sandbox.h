/* sandbox/sandbox.h: per-thread sandbox roles: seccomp-BPF allow-lists bound to the thread's fds, and Landlock. */
#ifndef SANDBOX_H
#define SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../vmm.h"

/*
 * How vmm uses it (the order matters):
 *   1. open every file, create the VM, devices and vCPUs (setup may do anything);
 *   2. sandbox_no_new_privs(); sandbox_landlock_deny_all() (warn if it fails):
 *      both are per thread but inherited, so call them on the main thread
 *      BEFORE creating any thread; sandbox_set_fds(the VM fd, the terminal);
 *   3. create every thread; each thread calls sandbox_enter(its role, its own
 *      fd) first thing, before it touches guest memory or a device;
 *   4. the main thread calls sandbox_enter(SB_ROLE_MAIN, -1) last.
 * No role may call clone/fork/execve, so every thread (device threads
 * included) must exist before step 4 and no thread may be created later; a
 * device that starts work on DRIVER_OK wakes a thread that is already waiting.
 * Filters are per thread (no TSYNC), so each role keeps its own list, and
 * each thread's filter is built for it: every ioctl rule compares the fd with
 * the exact number it is bound to (its vCPU fd, the VM fd, its tap, stdin),
 * and tkill only reaches the thread itself.
 *
 * A forbidden syscall (or a listed one with forbidden arguments) raises
 * SIGSYS; the handler prints
 *   "vmm: sandbox: <role> thread made forbidden syscall <name> (<nr>)"
 * runs the fatal hook, and exits the whole process with EXIT_RUNTIME (1).
 * A foreign architecture or the x32 ABI kills the process outright.
 */
enum sb_role {
	SB_ROLE_MAIN,   /* console, signals, timeout, waits for the VM */
	SB_ROLE_VCPU,   /* KVM_RUN loop, port/MMIO emulation, console output */
	SB_ROLE_BLK,    /* block device thread: the ring, hands requests to the workers */
	SB_ROLE_BLK_IO, /* block I/O workers: preadv/pwritev/fdatasync on the image */
	SB_ROLE_NET,    /* network device thread: the ring and the tap */
	SB_ROLE_VSOCK,  /* vsock device thread: configures vhost-vsock, which serves the rings */
	SB_ROLE_VHOST_USER, /* vhost-user front-end device thread: hands the rings to a back-end */
	SB_ROLE_BLK_PROC,   /* a block device process: vhost-user back-end, the ring, no disk I/O */
	SB_ROLE_NET_PROC,   /* a network device process: vhost-user back-end, the ring and the tap */
	SB_ROLE_FS_PROC,    /* a virtio-fs device process: vhost-user back-end, the ring, files under its share */
	SB_ROLE_COUNT
};

/* Set PR_SET_NO_NEW_PRIVS (needed by seccomp and Landlock). 0 or -errno. */
int sandbox_no_new_privs(void) MUST_CHECK;

/*
 * Landlock: handle every filesystem access right (and TCP bind/connect and
 * IPC scopes) the running kernel's ABI knows, add no rule, restrict the
 * calling thread: afterwards no path can be opened, created or removed.
 * Files opened before keep working. Needs no_new_privs (or CAP_SYS_ADMIN).
 * 0 on success; -ENOSYS where Landlock is absent or disabled (the caller
 * warns and goes on); other -errno on failure.
 */
int sandbox_landlock_deny_all(void) MUST_CHECK;
/*
 * Landlock for virtio-fs exports: every path denied except the trees beneath
 * dirfds[0..n) (O_PATH fds are enough), where files may be read and
 * directories listed, and unless ro[i] also written, created, renamed and
 * removed (never executed, no device nodes). 0, -ENOSYS without Landlock, or -errno.
 */
int sandbox_landlock_beneath(const int *dirfds, const bool *ro, unsigned n) MUST_CHECK;

/*
 * The fds every thread's ioctl rules may be bound to: the KVM VM fd, and the
 * terminal vmm put in raw mode (STDIN_FILENO) or -1 for none. Process-wide;
 * call on the main thread before any thread enters a role.
 */
void sandbox_set_fds(int vm_fd, int tty_fd);

/*
 * Install `role`'s seccomp filter on the calling thread only (also sets
 * no_new_privs and the SIGSYS handler), built for this thread: own_fd is its
 * vCPU fd (vcpu role) or its tap (net role), -1 for the other roles; the fds
 * from sandbox_set_fds; its own tid. 0, -EINVAL for a bad role, or -errno from
 * the kernel (e.g. -ENOSYS without seccomp).
 */
int sandbox_enter(enum sb_role role, int own_fd) MUST_CHECK;

/*
 * Test-only hook (vmm --sandbox-selftest ROLE:CALL): the first thread that
 * enters ROLE then makes CALL (open, execve, socket, ptrace, ioctl = an
 * unlisted KVM ioctl, ioctl-fd = a request the role allows but on an fd it is
 * not bound to, tkill = another thread, write-file), which the sandbox must
 * stop with its message.
 * -EINVAL for an unknown ROLE or CALL. Call before threads exist.
 */
int sandbox_selftest_arm(const char *spec) MUST_CHECK;
struct sb_ids;
/* Called by sandbox_enter once the filter (built for `ids`) is on. */
void sandbox_selftest_fire(enum sb_role role, const struct sb_ids *ids);

/* Called once by the SIGSYS handler before it exits (e.g. console_restore).
 * Must be async-signal-safe and use only syscalls every role allows. */
void sandbox_set_fatal_hook(void (*hook)(void));

/*
 * The SIGSYS handler exits with `status` instead of EXIT_RUNTIME (a device
 * process uses 128 + SIGSYS, so vmm can say its sandbox stopped it).
 */
void sandbox_set_exit_status(int status);

/* "main", "vcpu", "blk", "blk-io", "net", "vsock", "vhost-user", "blk-proc", "net-proc", "fs-proc"; "?" for anything else. */
const char *sandbox_role_name(enum sb_role role);

/* The name of syscall `nr` of this architecture ("openat"), or "?" if unknown. */
const char *sandbox_syscall_name(long nr);

/* Print every role's allow-list, one role per line (vmm --print-sandbox). */
void sandbox_print(FILE *out);

/* ---- the policy tables, for sandbox_print and the unit tests ---- */
enum sb_check {
	SB_ANY,         /* any arguments */
	SB_IOCTL,       /* (fd, request) (args 0 and 1, low 32 bits) in the role's ioctl list */
	SB_NO_EXEC,     /* prot (arg 2) without PROT_EXEC: mmap, mprotect */
	SB_SELF,        /* tkill: tid (arg 0) is the calling thread's */
};
/* What an ioctl rule is bound to; the numbers are known only when a thread enters its role. */
enum sb_fd {
	SB_FD_VM,       /* "vm-fd": the KVM VM fd */
	SB_FD_VCPU,     /* "vcpu-fd": the thread's own vCPU fd */
	SB_FD_TAP,      /* "tap-fd": the thread's own tap */
	SB_FD_VHOST,    /* "vhost-fd": the thread's own /dev/vhost-vsock */
	SB_FD_TTY,      /* "stdin": the terminal vmm put in raw mode */
	SB_FD_COUNT
};
/* What one thread's filter is built for: fd numbers (-1: none, its rules are left out), its tid. */
struct sb_ids { int fd[SB_FD_COUNT]; pid_t tid; };
struct sb_syscall { int nr; enum sb_check check; };
struct sb_ioctl { enum sb_fd fd; uint32_t req; const char *name; };
struct sb_policy {
	const char *name;
	const struct sb_syscall *sys;
	size_t nsys;
	const struct sb_ioctl *ioctl;
	size_t nioctl;
};
/* The policy of `role`, or NULL for a bad role. */
const struct sb_policy *sandbox_policy(enum sb_role role);
/* "vm-fd", "vcpu-fd", "tap-fd", "vhost-fd", "stdin"; "?" for anything else. */
const char *sandbox_fd_name(enum sb_fd fd);

#ifdef __linux__
struct sock_filter;
#define SB_FILTER_MAX 512
/*
 * Build `role`'s seccomp-BPF program for `ids` into prog[0..max). Returns its
 * length, -EINVAL for a bad role, -ENOSPC if max is too small.
 */
int sandbox_build_filter(enum sb_role role, const struct sb_ids *ids, struct sock_filter *prog,
			 size_t max) MUST_CHECK;
#endif

#endif
