/* virtio/proc.c: device processes: a spawner, forked before KVM is opened, forks one sandboxed vhost-user back-end per disk, and a new one whenever vmm asks; and --serve-vhost-user. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../dev/dev.h"
#include "../sandbox/sandbox.h"
#include "proc.h"
#include "vhost_user.h"

#define MAX_FD_SCAN 4096

/* What the spawner answers: the new process and how the old one ended (-1: there was none). */
struct spawn_reply { int pid, old_pid, old_status; };

/* vmm's side: the channels, and a pipe only the spawner writes to, at EOF once it is gone. */
static int *vmm_chans;
static unsigned vmm_nchans;
static int done_fd = -1;
static atomic_bool ending;

/* no_new_privs, and Landlock: no path at all, or only the exports' trees (a spawner: all of them). */
static void lock_down(const struct devproc_dev *devs, unsigned n, bool no_sandbox)
{
	int dirs[VMM_MAX_DEVPROCS];
	bool ro[VMM_MAX_DEVPROCS];
	unsigned nd = 0;

	if (no_sandbox)
		return;
	if (sandbox_no_new_privs() < 0)
		fatal_errno(EXIT_RUNTIME, "sandbox: no_new_privs");
	for (unsigned i = 0; i < n && nd < VMM_MAX_DEVPROCS; i++)
		if (devs[i].type == VU_TYPE_FS) {
			dirs[nd] = virtio_fs_fd(devs[i].fs);
			ro[nd++] = virtio_fs_ro(devs[i].fs);
		}
	int lr = sandbox_landlock_beneath(dirs, ro, nd);
	if (lr < 0 && lr != -ENOSYS)
		fatal(EXIT_RUNTIME, "sandbox: Landlock: %s", strerror(-lr));
}

static int dev_fd(const struct devproc_dev *dv)
{
	switch (dv->type) {
	case VU_TYPE_NET: return virtio_net_fd(dv->net);
	case VU_TYPE_FS: return virtio_fs_fd(dv->fs);
	default: return virtio_blk_fd(dv->blk);
	}
}

struct devproc_dev devproc_open(enum vu_type type, const char *spec)
{
	switch (type) {
	case VU_TYPE_NET: return (struct devproc_dev){ .type = type, .net = virtio_net_open(spec) };
	case VU_TYPE_FS: return (struct devproc_dev){ .type = type, .fs = virtio_fs_open(spec) };
	default: return (struct devproc_dev){ .type = type, .blk = virtio_blk_open(spec) };
	}
}

/* What a device process serves, and the label vmm's messages give it. */
static struct virtio_dev *dev_backend(const struct devproc_dev *dv)
{
	switch (dv->type) {
	case VU_TYPE_NET: return virtio_net_backend(dv->net);
	case VU_TYPE_FS: return virtio_fs_backend(dv->fs);
	default: return virtio_blk_backend(dv->blk);
	}
}

const char *devproc_label(const struct devproc_dev *dv)
{
	switch (dv->type) {
	case VU_TYPE_NET: return virtio_net_ifname(dv->net);
	case VU_TYPE_FS: return virtio_fs_path(dv->fs);
	default: return virtio_blk_path(dv->blk);
	}
}

/* What a device process shares with those before and after it: counters, and an export's tables. */
struct devproc_mem {
	char *stats;                        /* a page per device */
	void *fs_state[VMM_MAX_DEVPROCS];   /* virtio_fs_state_bytes() per export, NULL for others */
};

/* A back-end's life: serve the device on sock until the front-end hangs up. The exit status. */
static int serve(const struct devproc_dev *dv, int sock, bool no_sandbox, struct virtio_stats *stats, void *fs_state)
{
	struct virtio_dev *d;

	if (fs_state)
		virtio_fs_use_state(dv->fs, fs_state);
	d = dev_backend(dv);

	d->no_sandbox = no_sandbox;
	if (stats)
		d->stats = stats;
	lock_down(dv, 1, no_sandbox);
	if (d->ops->start && d->ops->start(d) < 0)
		return EXIT_RUNTIME;
	return vu_serve(d, sock) < 0 ? EXIT_RUNTIME : 0;
}

/* Close every fd but 0-2 and those in keep[0..n). */
static void close_others(const int *keep, int n)
{
	for (int fd = 3; fd < MAX_FD_SCAN; fd++) {
		bool k = false;
		for (int i = 0; i < n && !k; i++)
			k = keep[i] == fd;
		if (!k)
			close(fd);
	}
}

/* The spawner's answer to "another back-end for device i". */
static void respawn(const struct devproc_dev *devs, unsigned n, int *chans, pid_t *pids, unsigned i,
		    bool no_sandbox, const struct devproc_mem *mem)
{
	struct spawn_reply rep = { -1, -1, -1 };
	int sp[2] = { -1, -1 }, st;
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } c = { 0 };
	struct iovec iov = { &rep, sizeof(rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (pids[i] > 0) {
		kill(pids[i], SIGKILL);   /* it may only have closed its socket */
		if (waitpid(pids[i], &st, 0) == pids[i])
			rep.old_status = st;
		rep.old_pid = pids[i];
		pids[i] = -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			int keep[2] = { dev_fd(&devs[i]), sp[1] };
			close_others(keep, 2);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			/* its own counters and tables only: not the other devices' */
			long pg = sysconf(_SC_PAGESIZE);
			if (i)
				munmap(mem->stats, i * pg);
			if (i + 1 < n)
				munmap(mem->stats + (i + 1) * pg, (n - i - 1) * pg);
			for (unsigned j = 0; j < n; j++)
				if (j != i && mem->fs_state[j])
					munmap(mem->fs_state[j], virtio_fs_state_bytes());
			sandbox_set_exit_status(128 + SIGSYS);
			_exit(serve(&devs[i], sp[1], no_sandbox, (struct virtio_stats *)(mem->stats + i * pg),
				    mem->fs_state[i]));
		}
		pids[i] = pid;
		rep.pid = pid;
		close(sp[1]);
	}
	if (rep.pid > 0) {
		mh.msg_control = c.buf;
		mh.msg_controllen = sizeof(c.buf);
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &sp[0], sizeof(int));
	}
	if (sendmsg(chans[i], &mh, MSG_NOSIGNAL) < 0)
		_exit(0);   /* vmm is gone */
	if (sp[0] >= 0)
		close(sp[0]);
}

/* vmm has ended: no device process (and no fd of a disk, so no lock on it) outlives the spawner. */
static noreturn void spawner_exit(const struct devproc_dev *devs, unsigned n, const pid_t *pids)
{
	for (unsigned i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	for (unsigned i = 0; i < n; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	for (unsigned i = 0; i < n; i++)
		close(dev_fd(&devs[i]));
	_exit(0);   /* and the done pipe's EOF tells vmm */
}

static noreturn void spawner(const struct devproc_dev *devs, unsigned n, int *chans, bool no_sandbox,
			     char *stats, int done)
{
	struct devproc_mem mem = { .stats = stats };
	struct pollfd pfd[VMM_MAX_DEVPROCS];
	pid_t pids[VMM_MAX_DEVPROCS];
	int keep[2 * VMM_MAX_DEVPROCS + 1], nk = 0, null;

	setpgid(0, 0);   /* the terminal's Ctrl-C is for the guest, not for us */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "vmm-spawner");
	console_forget();
	sandbox_set_fatal_hook(NULL);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
	}
	for (unsigned i = 0; i < n; i++) {
		keep[nk++] = chans[i];
		keep[nk++] = dev_fd(&devs[i]);
		pids[i] = -1;
		pfd[i] = (struct pollfd){ .fd = chans[i], .events = POLLIN };
	}
	keep[nk++] = done;
	close_others(keep, nk);
	lock_down(devs, n, no_sandbox);
	/* an export's tables outlive its device process: here, untouched by the spawner itself */
	for (unsigned i = 0; i < n; i++) {
		if (devs[i].type != VU_TYPE_FS)
			continue;
		mem.fs_state[i] = mmap(NULL, virtio_fs_state_bytes(), PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (mem.fs_state[i] == MAP_FAILED)
			mem.fs_state[i] = NULL;   /* then a new process starts with empty tables */
	}
	for (;;) {
		if (poll(pfd, n, -1) < 0 && errno != EINTR)
			_exit(EXIT_RUNTIME);
		for (unsigned i = 0; i < n; i++) {
			char cmd;
			if (!pfd[i].revents)
				continue;
			if (recv(chans[i], &cmd, 1, 0) != 1)
				spawner_exit(devs, n, pids);   /* vmm is gone or ending */
			respawn(devs, n, chans, pids, i, no_sandbox, &mem);
		}
	}
}

/* exit() (a fatal error) in the main thread: the device processes go first, as on a normal end. */
static void stop_at_exit(void)
{
	if (syscall(SYS_gettid) == getpid())   /* a device thread's sandbox has no poll */
		devproc_stop();
}

int devproc_start(const struct devproc_dev *devs, unsigned n, bool no_sandbox, int *chans,
		  struct virtio_stats **stats)
{
	int sp[VMM_MAX_DEVPROCS][2], done[2];
	long pg = sysconf(_SC_PAGESIZE);
	char *sh;
	pid_t pid;

	if (n == 0 || n > VMM_MAX_DEVPROCS || sizeof(struct virtio_stats) > (size_t)pg)
		return -EINVAL;
	sh = mmap(NULL, n * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return -errno;
	for (unsigned i = 0; i < n; i++)
		stats[i] = (struct virtio_stats *)(sh + i * pg);
	for (unsigned i = 0; i < n; i++)
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp[i]) < 0)
			return -errno;
	if (pipe2(done, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int mine[VMM_MAX_DEVPROCS];
		for (unsigned i = 0; i < n; i++) {
			close(sp[i][0]);
			mine[i] = sp[i][1];
		}
		close(done[0]);
		spawner(devs, n, mine, no_sandbox, sh, done[1]);
	}
	close(done[1]);
	done_fd = done[0];
	vmm_chans = chans;
	vmm_nchans = n;
	atexit(stop_at_exit);
	for (unsigned i = 0; i < n; i++) {
		close(sp[i][1]);
		chans[i] = sp[i][0];
		close(dev_fd(&devs[i]));   /* only the device process holds the disk or tap */
	}
	return 0;
}

void devproc_stop(void)
{
	struct pollfd p = { .fd = done_fd, .events = POLLIN };
	char c;

	if (done_fd < 0)
		return;
	atomic_store(&ending, true);
	for (unsigned i = 0; i < vmm_nchans; i++)
		close(vmm_chans[i]);
	/* a disk's lock goes with its last fd: wait (a little) until no process holds one */
	while (poll(&p, 1, 5000) == 1 && read(done_fd, &c, 1) > 0)
		;
	close(done_fd);
	done_fd = -1;
}

int devproc_spawn(int chan, char *why, size_t whylen, pid_t *pid)
{
	struct spawn_reply rep;
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } c;
	struct iovec iov = { &rep, sizeof(rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			     .msg_controllen = sizeof(c.buf) };
	int fd = -1;
	char cmd = 's';

	if (why && whylen)
		snprintf(why, whylen, "ended");
	if (atomic_load(&ending))
		return -ESHUTDOWN;   /* vmm is ending: its device processes with it */
	struct iovec ciov = { &cmd, 1 };
	struct msghdr cmh = { .msg_iov = &ciov, .msg_iovlen = 1 };

	if (sendmsg(chan, &cmh, MSG_NOSIGNAL) != 1 || recvmsg(chan, &mh, MSG_CMSG_CLOEXEC) != sizeof(rep)) {
		if (why && whylen)
			snprintf(why, whylen, "ended, and so did vmm's spawner of device processes");
		return -EPIPE;
	}
	struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
	if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(h), sizeof(int));
	if (why && whylen && rep.old_status != -1) {
		char how[80];
		vu_describe_status(rep.old_status, how, sizeof(how));
		snprintf(why, whylen, "%d %s", rep.old_pid, how);
	}
	if (pid)
		*pid = rep.pid;
	return rep.pid > 0 && fd >= 0 ? fd : -ECHILD;
}

int devproc_serve(const char *path, enum vu_type type, const char *spec, bool no_sandbox)
{
	static const char *const names[] = { [VU_TYPE_BLK] = "blk", [VU_TYPE_NET] = "net", [VU_TYPE_FS] = "fs" };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct devproc_dev dv = devproc_open(type, spec);
	struct stat st;
	int l, s;

	if (strlen(path) >= sizeof(a.sun_path))
		fatal(EXIT_USAGE, "--serve-vhost-user %s: socket path too long", path);
	strcpy(a.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatal(EXIT_USAGE, "--serve-vhost-user %s: exists and is not a socket", path);
		unlink(path);   /* a stale socket from an earlier run */
	}
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
		fatal_errno(EXIT_USAGE, "--serve-vhost-user %s", path);
	vlog("serving %s as vhost-user-%s on %s", devproc_label(&dv), names[type], path);
	do
		s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	while (s < 0 && errno == EINTR);
	if (s < 0)
		fatal_errno(EXIT_RUNTIME, "--serve-vhost-user %s: accept", path);
	close(l);
	unlink(path);
	return serve(&dv, s, no_sandbox, NULL, NULL);
}
