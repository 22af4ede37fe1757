/* sandbox/policy.c: what each thread role may do: the seccomp allow-lists, ioctl lists and syscall names. */
#ifdef __linux__
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/vhost.h>
#include <sys/ioctl.h>
#include <string.h>
#include <sys/syscall.h>

#include "sandbox.h"
#include "syscall_names.h"

/* Calls x86-64 has and arm64 does not (musl makes the newer ones there: ppoll, epoll_pwait, clock_gettime). */
#ifdef SYS_poll
#define SB_POLL { SYS_poll, SB_ANY },
#define SB_EPOLL_WAIT { SYS_epoll_wait, SB_ANY },
#define SB_TIME { SYS_time, SB_ANY },
#else
#define SB_POLL
#define SB_EPOLL_WAIT
#define SB_TIME
#endif

/*
 * Every thread: libc internals (locks, malloc, thread exit, stdio on stderr),
 * the SIGSYS handler (write, exit_group) and exit paths that restore the
 * terminal (atexit or the fatal hook -> console_restore -> TCSETS on stdin)
 * from whichever thread exits; exit() flushes stdio, which may lseek a read
 * stream. Signals go only to the calling thread: musl's raise() and abort()
 * use tkill on their own tid and nothing calls tgkill.
 * Listed first in each role; hot calls of a role go before them.
 */
#define SB_COMMON \
	{ SYS_futex, SB_ANY }, { SYS_write, SB_ANY }, { SYS_writev, SB_ANY }, \
	{ SYS_close, SB_ANY }, { SYS_lseek, SB_ANY }, { SYS_clock_gettime, SB_ANY }, \
	{ SYS_gettimeofday, SB_ANY }, SB_TIME \
	{ SYS_clock_nanosleep, SB_ANY }, { SYS_nanosleep, SB_ANY }, \
	{ SYS_sched_yield, SB_ANY }, { SYS_getpid, SB_ANY }, { SYS_gettid, SB_ANY }, \
	{ SYS_tkill, SB_SELF }, \
	{ SYS_rt_sigprocmask, SB_ANY }, { SYS_rt_sigaction, SB_ANY }, \
	{ SYS_rt_sigreturn, SB_ANY }, { SYS_restart_syscall, SB_ANY }, \
	{ SYS_mmap, SB_NO_EXEC }, { SYS_mprotect, SB_NO_EXEC }, \
	{ SYS_munmap, SB_ANY }, { SYS_mremap, SB_ANY }, { SYS_madvise, SB_ANY }, \
	{ SYS_brk, SB_ANY }, { SYS_exit, SB_ANY }, { SYS_exit_group, SB_ANY }

/* Terminal restore (tcsetattr TCSANOW), on stdin only when vmm put it in raw mode. */
#define SB_TTY_IOCTLS { SB_FD_TTY, TCSETS, "TCSETS" }

/*
 * Main: one poll loop over the console, a signalfd, the --timeout timerfd and
 * the stop eventfd (all created before the sandbox), so read and poll are all
 * it waits with. Console input raises the UART's IOAPIC pin from this thread,
 * and the IOAPIC delivers with KVM_SIGNAL_MSI.
 */
static const struct sb_syscall main_sys[] = {
	{ SYS_read, SB_ANY }, SB_POLL { SYS_ppoll, SB_ANY },
	{ SYS_ioctl, SB_IOCTL },
	SB_COMMON,
};
static const struct sb_ioctl main_ioctl[] = {
	{ SB_FD_VM, IRQ_IOCTL, IRQ_IOCTL_NAME }, SB_TTY_IOCTLS,
};

/*
 * vCPU: KVM_RUN and register dumps on failure, on its own vCPU fd only; the
 * IOAPIC and PCI/MSI-X emulation run here, so MSI injection, GSI routes,
 * irqfds and ioeventfds on the VM fd. read/write: eventfds (stop_efd, device
 * kicks, MSI-X pending bits) and console output; poll: the UART waits
 * (bounded) for a slow console to drain.
 */
static const struct sb_syscall vcpu_sys[] = {
	{ SYS_ioctl, SB_IOCTL }, { SYS_read, SB_ANY },
	SB_POLL { SYS_ppoll, SB_ANY },
	SB_COMMON,
};
static const struct sb_ioctl vcpu_ioctl[] = {
	{ SB_FD_VCPU, KVM_RUN, "KVM_RUN" }, VCPU_DUMP_IOCTLS,
	{ SB_FD_VM, IRQ_IOCTL, IRQ_IOCTL_NAME },
	{ SB_FD_VM, KVM_SET_GSI_ROUTING, "KVM_SET_GSI_ROUTING" }, { SB_FD_VM, KVM_IRQFD, "KVM_IRQFD" },
	{ SB_FD_VM, KVM_IOEVENTFD, "KVM_IOEVENTFD" }, SB_TTY_IOCTLS,
};

/*
 * Block device thread: waits on its queue's ioeventfd and the workers'
 * completion eventfd, walks the ring, hands requests to the workers; with
 * MSI-X off its INTx line goes through the IOAPIC (KVM_SIGNAL_MSI). No disk I/O.
 */
static const struct sb_syscall blk_sys[] = {
	{ SYS_epoll_pwait, SB_ANY }, SB_EPOLL_WAIT { SYS_read, SB_ANY },
	{ SYS_ioctl, SB_IOCTL },
	SB_COMMON,
};
static const struct sb_ioctl blk_ioctl[] = {
	{ SB_FD_VM, IRQ_IOCTL, IRQ_IOCTL_NAME }, SB_TTY_IOCTLS,
};

/* Block I/O workers: the image file (guest memory in, guest memory out), a completion eventfd. */
static const struct sb_syscall blk_io_sys[] = {
	{ SYS_preadv, SB_ANY }, { SYS_pwritev, SB_ANY },
	{ SYS_pread64, SB_ANY }, { SYS_pwrite64, SB_ANY },
	{ SYS_fdatasync, SB_ANY }, { SYS_fsync, SB_ANY }, { SYS_fallocate, SB_ANY },
	{ SYS_ioctl, SB_IOCTL },
	SB_COMMON,
};
static const struct sb_ioctl blk_io_ioctl[] = { SB_TTY_IOCTLS };

/* Network device thread: the tap (its offloads follow the guest's features), kick/interrupt eventfds. */
static const struct sb_syscall net_sys[] = {
	{ SYS_read, SB_ANY }, { SYS_readv, SB_ANY },
	SB_POLL { SYS_ppoll, SB_ANY },
	SB_EPOLL_WAIT { SYS_epoll_pwait, SB_ANY },
	{ SYS_ioctl, SB_IOCTL },
	SB_COMMON,
};
static const struct sb_ioctl net_ioctl[] = {
	{ SB_FD_TAP, TUNSETOFFLOAD, "TUNSETOFFLOAD" }, { SB_FD_VM, IRQ_IOCTL, IRQ_IOCTL_NAME },
	SB_TTY_IOCTLS,
};

/*
 * vsock device thread: the host kernel serves the rings (vhost-vsock); this
 * thread only hands it the rings on DRIVER_OK and takes them back on a reset,
 * on its own vhost fd. Its event queue gets no events.
 */
static const struct sb_syscall vsock_sys[] = {
	SB_EPOLL_WAIT { SYS_epoll_pwait, SB_ANY }, { SYS_read, SB_ANY },
	{ SYS_ioctl, SB_IOCTL },
	SB_COMMON,
};
static const struct sb_ioctl vsock_ioctl[] = {
	{ SB_FD_VHOST, VHOST_SET_FEATURES, "VHOST_SET_FEATURES" },
	{ SB_FD_VHOST, VHOST_SET_MEM_TABLE, "VHOST_SET_MEM_TABLE" },
	{ SB_FD_VHOST, VHOST_SET_VRING_NUM, "VHOST_SET_VRING_NUM" },
	{ SB_FD_VHOST, VHOST_SET_VRING_BASE, "VHOST_SET_VRING_BASE" },
	{ SB_FD_VHOST, VHOST_GET_VRING_BASE, "VHOST_GET_VRING_BASE" },
	{ SB_FD_VHOST, VHOST_SET_VRING_ADDR, "VHOST_SET_VRING_ADDR" },
	{ SB_FD_VHOST, VHOST_SET_VRING_KICK, "VHOST_SET_VRING_KICK" },
	{ SB_FD_VHOST, VHOST_SET_VRING_CALL, "VHOST_SET_VRING_CALL" },
	{ SB_FD_VHOST, VHOST_VSOCK_SET_RUNNING, "VHOST_VSOCK_SET_RUNNING" },
	{ SB_FD_VM, IRQ_IOCTL, IRQ_IOCTL_NAME }, SB_TTY_IOCTLS,
};

/*
 * vhost-user front-end device thread (vmm): messages to its back-end over its
 * socket (the guest RAM fd, the queues' ioeventfds and irqfd eventfds go
 * along as SCM_RIGHTS), the shared in-flight record (mmap of an fd it got),
 * and, when a device process died, the request for a new one to the
 * spawner. No ioctl but the terminal restore.
 */
static const struct sb_syscall vhost_user_sys[] = {
	SB_EPOLL_WAIT { SYS_epoll_pwait, SB_ANY }, { SYS_epoll_ctl, SB_ANY },
	{ SYS_read, SB_ANY }, { SYS_recvmsg, SB_ANY }, { SYS_sendmsg, SB_ANY },
	{ SYS_recvfrom, SB_ANY }, { SYS_ioctl, SB_IOCTL },
	SB_COMMON,
};
static const struct sb_ioctl vhost_user_ioctl[] = { SB_TTY_IOCTLS };

/*
 * A block device process's vhost-user thread: messages from vmm (mapping the
 * guest RAM and in-flight fds it is sent, creating the in-flight record),
 * the ring, kicks in and interrupts out through eventfds. Its workers are
 * blk-io threads. No ioctl at all: it holds no KVM fd and no terminal.
 */
static const struct sb_syscall blk_proc_sys[] = {
	SB_EPOLL_WAIT { SYS_epoll_pwait, SB_ANY }, { SYS_epoll_ctl, SB_ANY },
	{ SYS_read, SB_ANY }, { SYS_recvmsg, SB_ANY }, { SYS_sendmsg, SB_ANY },
	{ SYS_recvfrom, SB_ANY }, { SYS_memfd_create, SB_ANY }, { SYS_ftruncate, SB_ANY },
	SB_COMMON,
};

/*
 * A network device process's thread: messages from vmm (as blk-proc), the
 * ring, the tap (read, readv, writev; its offloads follow what the guest
 * acked: TUNSETOFFLOAD on the tap and no other ioctl).
 */
static const struct sb_syscall net_proc_sys[] = {
	SB_EPOLL_WAIT { SYS_epoll_pwait, SB_ANY }, { SYS_epoll_ctl, SB_ANY },
	{ SYS_read, SB_ANY }, { SYS_readv, SB_ANY }, { SYS_recvmsg, SB_ANY }, { SYS_sendmsg, SB_ANY },
	{ SYS_recvfrom, SB_ANY }, { SYS_memfd_create, SB_ANY }, { SYS_ftruncate, SB_ANY },
	{ SYS_ioctl, SB_IOCTL },
	SB_COMMON,
};
static const struct sb_ioctl net_proc_ioctl[] = { { SB_FD_TAP, TUNSETOFFLOAD, "TUNSETOFFLOAD" } };

/*
 * A virtio-fs device process: messages from vmm (as blk-proc), the ring, and
 * the FUSE server's file calls, all relative to fds under its share (the
 * export root and the O_PATH fds of the inodes the guest looked up) or its
 * /proc/self/fd directory (to reopen an O_PATH fd for I/O). openat is the one
 * path call a role allows; what it may reach is Landlock's to bound (the share
 * only). No ioctl at all.
 */
static const struct sb_syscall fs_proc_sys[] = {
	SB_EPOLL_WAIT { SYS_epoll_pwait, SB_ANY }, { SYS_epoll_ctl, SB_ANY },
	{ SYS_read, SB_ANY }, { SYS_recvmsg, SB_ANY }, { SYS_sendmsg, SB_ANY },
	{ SYS_recvfrom, SB_ANY }, { SYS_memfd_create, SB_ANY }, { SYS_ftruncate, SB_ANY },
	{ SYS_openat, SB_ANY }, { SYS_fstat, SB_ANY }, { SYS_newfstatat, SB_ANY },
	{ SYS_getdents64, SB_ANY }, { SYS_preadv, SB_ANY }, { SYS_pwritev, SB_ANY },
	{ SYS_linkat, SB_ANY }, { SYS_renameat2, SB_ANY }, { SYS_unlinkat, SB_ANY },
	{ SYS_mkdirat, SB_ANY }, { SYS_symlinkat, SB_ANY }, { SYS_mknodat, SB_ANY },
	{ SYS_readlinkat, SB_ANY }, { SYS_fchownat, SB_ANY }, { SYS_fchmod, SB_ANY },
	{ SYS_fchmodat, SB_ANY }, { SYS_utimensat, SB_ANY }, { SYS_fallocate, SB_ANY },
	{ SYS_fsync, SB_ANY }, { SYS_fdatasync, SB_ANY }, { SYS_fstatfs, SB_ANY },
	{ SYS_faccessat2, SB_ANY }, { SYS_getxattr, SB_ANY }, { SYS_setxattr, SB_ANY },
	{ SYS_listxattr, SB_ANY }, { SYS_removexattr, SB_ANY },
	SB_COMMON,
};

#define POLICY(n, s, i) { n, s, ARRAY_SIZE(s), i, ARRAY_SIZE(i) }
static const struct sb_policy policies[SB_ROLE_COUNT] = {
	[SB_ROLE_MAIN] = POLICY("main", main_sys, main_ioctl),
	[SB_ROLE_VCPU] = POLICY("vcpu", vcpu_sys, vcpu_ioctl),
	[SB_ROLE_BLK] = POLICY("blk", blk_sys, blk_ioctl),
	[SB_ROLE_BLK_IO] = POLICY("blk-io", blk_io_sys, blk_io_ioctl),
	[SB_ROLE_NET] = POLICY("net", net_sys, net_ioctl),
	[SB_ROLE_VSOCK] = POLICY("vsock", vsock_sys, vsock_ioctl),
	[SB_ROLE_VHOST_USER] = POLICY("vhost-user", vhost_user_sys, vhost_user_ioctl),
	[SB_ROLE_BLK_PROC] = { "blk-proc", blk_proc_sys, ARRAY_SIZE(blk_proc_sys), NULL, 0 },
	[SB_ROLE_NET_PROC] = POLICY("net-proc", net_proc_sys, net_proc_ioctl),
	[SB_ROLE_FS_PROC] = { "fs-proc", fs_proc_sys, ARRAY_SIZE(fs_proc_sys), NULL, 0 },
};

const struct sb_policy *sandbox_policy(enum sb_role role)
{
	if ((unsigned)role >= SB_ROLE_COUNT)
		return NULL;
	return &policies[role];
}

const char *sandbox_role_name(enum sb_role role)
{
	const struct sb_policy *p = sandbox_policy(role);
	return p ? p->name : "?";
}

const char *sandbox_syscall_name(long nr)
{
	const char *p = sb_syscall_names, *end = p + sizeof(sb_syscall_names) - 1;

	for (long i = 0; i < nr && p < end; i++)
		p += strlen(p) + 1;
	return nr >= 0 && p < end && *p ? p : "?";
}

static const char *const fd_names[SB_FD_COUNT] = {
	[SB_FD_VM] = "vm-fd", [SB_FD_VCPU] = "vcpu-fd", [SB_FD_TAP] = "tap-fd",
	[SB_FD_VHOST] = "vhost-fd", [SB_FD_TTY] = "stdin",
};

const char *sandbox_fd_name(enum sb_fd fd)
{
	return (unsigned)fd < SB_FD_COUNT ? fd_names[fd] : "?";
}

static void print_ioctls(FILE *out, const struct sb_policy *p)
{
	fputs("(", out);
	for (size_t i = 0; i < p->nioctl; i++)
		fprintf(out, "%s%s on %s", i ? ", " : "", p->ioctl[i].name,
			sandbox_fd_name(p->ioctl[i].fd));
	fputs(")", out);
}

void sandbox_print(FILE *out)
{
	for (int r = 0; r < SB_ROLE_COUNT; r++) {
		const struct sb_policy *p = &policies[r];
		fprintf(out, "%s (%zu syscalls, %zu ioctl request%s):", p->name, p->nsys, p->nioctl,
			p->nioctl == 1 ? "" : "s");
		for (size_t i = 0; i < p->nsys; i++) {
			fprintf(out, " %s", sandbox_syscall_name(p->sys[i].nr));
			if (p->sys[i].check == SB_IOCTL)
				print_ioctls(out, p);
			else if (p->sys[i].check == SB_NO_EXEC)
				fputs("(no PROT_EXEC)", out);
			else if (p->sys[i].check == SB_SELF)
				fputs("(own thread)", out);
		}
		fputc('\n', out);
	}
}
#endif
