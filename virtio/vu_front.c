/* virtio/vu_front.c: the vhost-user front-end: a virtio-pci device in vmm whose rings a back-end (a device process, or an external program) serves; kicks and interrupts go between KVM and the back-end directly. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../sandbox/sandbox.h"
#include "../le.h"
#include "vhost_user.h"

#define VU_QUEUE_SIZE     256
#define VU_RESTARTS_MAX   5     /* per device per minute */
#define VU_DEVICE_BITS    0x00FFFFFFull

/* What the guest sees of each type: the config space comes from the back-end (GET_CONFIG). */
static const struct vu_type_info {
	const char *name;
	uint16_t device_id;
	uint32_t pci_class;
	unsigned config_len;
} vu_types[] = {
	[VU_TYPE_BLK] = { "virtio-blk", 2, 0x018000, 60 },   /* virtio_blk_config up to write_zeroes_may_unmap */
	[VU_TYPE_NET] = { "virtio-net", 1, 0x020000, 12 },   /* mac, status, max_virtqueue_pairs, mtu */
	[VU_TYPE_FS] = { "virtio-fs", 26, 0x018000, 40 },    /* tag[36], num_request_queues */
};

/*
 * Like vsock: the vCPU side (activate, reset) records what it wants and wakes
 * the device thread, which alone talks to the back-end; `busy` (device_status
 * reads non-zero) until it has.
 */
struct vu_front {
	struct virtio_dev *dev;
	struct virtio_ops ops;
	const char *label;
	const char *tag;             /* virtio-fs: the front-end gives the config space, with this tag */
	int sock, sock_watch;
	uint64_t features, protocol;
	uint8_t config[VU_CONFIG_MAX];
	int ctl_efd, err_efd;
	bool want_running, running;   /* device lock */
	bool started[VIRTIO_MAX_QUEUES];
	atomic_bool busy;
	int inflight_fd;
	void *inflight;
	uint64_t inflight_size;
	struct vu_respawn rs;
	atomic_uint restarts;
	struct timespec restart_at[VU_RESTARTS_MAX];
};

/* One request; with a reply (or REPLY_ACK) read into *m. 0, -errno, or -EPROTO (a refusal included). */
static int request(struct vu_front *f, struct vu_msg *m, const int *fds, int nfds, bool reply)
{
	uint32_t req = m->req;
	int rfds[VU_MAX_FDS], rn, r;
	bool ack = !reply && (f->protocol & VIRTIO_BIT(VU_PF_REPLY_ACK));

	m->flags = VU_VERSION | (ack ? VU_FLAG_NEED_REPLY : 0);
	if ((r = vu_send(f->sock, m, fds, nfds)) < 0)
		return r;
	if (!reply && !ack)
		return 0;
	r = vu_recv(f->sock, m, rfds, &rn);
	if (r <= 0)
		return r ? r : -ECONNRESET;
	if (m->req != req || !(m->flags & VU_FLAG_REPLY)) {
		for (int i = 0; i < rn; i++)
			close(rfds[i]);
		return -EPROTO;
	}
	if (rn && req == VU_GET_INFLIGHT_FD)
		f->inflight_fd = rfds[0];
	else
		for (int i = 0; i < rn; i++)
			close(rfds[i]);
	if (ack && (m->size != 8 || m->u.u64))
		return -EPROTO;
	return 0;
}

static int req_u64(struct vu_front *f, uint32_t req, uint64_t v, bool reply, uint64_t *out)
{
	struct vu_msg m = { .req = req, .size = reply ? 0 : 8, .u.u64 = v };
	int r = request(f, &m, NULL, 0, reply);

	if (r == 0 && reply) {
		if (m.size != 8)
			return -EPROTO;
		*out = m.u.u64;
	}
	return r;
}

static int req_state(struct vu_front *f, uint32_t req, unsigned i, unsigned num)
{
	struct vu_msg m = { .req = req, .size = sizeof(m.u.state), .u.state = { i, num } };
	return request(f, &m, NULL, 0, req == VU_GET_VRING_BASE);
}

/* SET_VRING_KICK/CALL/ERR: queue index in the low byte, the fd or VU_VRING_NOFD. */
static int req_fd(struct vu_front *f, uint32_t req, unsigned i, int fd)
{
	struct vu_msg m = { .req = req, .size = 8, .u.u64 = i | (fd < 0 ? VU_VRING_NOFD : 0) };
	return request(f, &m, &fd, fd >= 0, false);
}

/* New connection: features, protocol features, owner. */
static int handshake(struct vu_front *f)
{
	uint64_t p = 0;
	int r;

	if ((r = req_u64(f, VU_GET_FEATURES, 0, true, &f->features)) < 0)
		return r;
	f->protocol = 0;
	if (f->features & VIRTIO_BIT(VU_F_PROTOCOL_FEATURES)) {
		if ((r = req_u64(f, VU_GET_PROTOCOL_FEATURES, 0, true, &p)) < 0)
			return r;
		p &= VIRTIO_BIT(VU_PF_MQ) | VIRTIO_BIT(VU_PF_REPLY_ACK) | VIRTIO_BIT(VU_PF_CONFIG) |
		     VIRTIO_BIT(VU_PF_INFLIGHT_SHMFD);
		if ((r = req_u64(f, VU_SET_PROTOCOL_FEATURES, p, false, NULL)) < 0)
			return r;
		f->protocol = p;
	}
	return req_u64(f, VU_SET_OWNER, 0, false, NULL);
}

static int set_mem_table(struct vu_front *f)
{
	const struct vm *vm = f->dev->vm;
	const struct guest_mem *gm = &vm->mem;
	struct vu_msg m = { .req = VU_SET_MEM_TABLE };
	int fds[2] = { vm->mem_fd, vm->mem_fd };
	struct gm_part p[2];

	m.u.mem.n = gm_parts(gm, p);
	for (unsigned i = 0; i < m.u.mem.n; i++)
		m.u.mem.r[i] = (struct vu_region){ p[i].gpa, p[i].size, (uintptr_t)p[i].host, p[i].offset };
	m.size = 8 + m.u.mem.n * sizeof(struct vu_region);
	return request(f, &m, fds, (int)m.u.mem.n, false);
}

/* The shared in-flight record: asked for once per device reset, handed to every new back-end. */
static int set_inflight(struct vu_front *f)
{
	struct vu_msg m = { .req = VU_GET_INFLIGHT_FD, .size = sizeof(m.u.inflight) };
	int r;

	if (!(f->protocol & VIRTIO_BIT(VU_PF_INFLIGHT_SHMFD)))
		return 0;
	if (f->inflight_fd < 0) {
		m.u.inflight.nqueues = (uint16_t)f->ops.nqueues;
		m.u.inflight.queue_size = VU_QUEUE_SIZE;
		if ((r = request(f, &m, NULL, 0, true)) < 0)
			return r;
		if (f->inflight_fd < 0 || m.size != sizeof(m.u.inflight) || !m.u.inflight.mmap_size)
			return -EPROTO;
		f->inflight_size = m.u.inflight.mmap_size + m.u.inflight.mmap_off;
		f->inflight = mmap(NULL, f->inflight_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				   f->inflight_fd, 0);
		if (f->inflight == MAP_FAILED) {
			f->inflight = NULL;
			return -errno;
		}
		m.req = VU_SET_INFLIGHT_FD;
	} else {
		m = (struct vu_msg){ .req = VU_SET_INFLIGHT_FD, .size = sizeof(m.u.inflight) };
		m.u.inflight.mmap_size = f->inflight_size;
		m.u.inflight.nqueues = (uint16_t)f->ops.nqueues;
		m.u.inflight.queue_size = VU_QUEUE_SIZE;
	}
	return request(f, &m, &f->inflight_fd, 1, false);
}

/* Hand queue i to the back-end: size, where to continue, ring addresses, kick, call, err. */
static int start_queue(struct vu_front *f, unsigned i)
{
	struct virtio_dev *d = f->dev;
	struct virtq *q = &d->vq[i];
	uint16_t vec = __atomic_load_n(&q->msix_vector, __ATOMIC_RELAXED);
	struct vu_msg m = { .req = VU_SET_VRING_ADDR, .size = sizeof(m.u.addr) };
	int r;

	m.u.addr.index = i;
	m.u.addr.desc = (uintptr_t)q->desc;
	m.u.addr.avail = (uintptr_t)q->avail;
	m.u.addr.used = (uintptr_t)q->used;
	if (vec >= d->msix.n)
		guest_warn("%s: queue %u has no MSI-X vector: the guest gets no interrupts for it", d->name, i);
	if ((r = req_state(f, VU_SET_VRING_NUM, i, q->size)) < 0 ||
	    (r = req_state(f, VU_SET_VRING_BASE, i, __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE))) < 0 ||
	    (r = request(f, &m, NULL, 0, false)) < 0 ||
	    (r = req_fd(f, VU_SET_VRING_CALL, i, vec < d->msix.n ? d->msix.v[vec].efd : -1)) < 0 ||
	    (r = req_fd(f, VU_SET_VRING_ERR, i, f->err_efd)) < 0 ||
	    (r = req_fd(f, VU_SET_VRING_KICK, i, q->kick_efd)) < 0)
		return r;
	f->started[i] = true;
	if (f->features & VIRTIO_BIT(VU_F_PROTOCOL_FEATURES))
		r = req_state(f, VU_SET_VRING_ENABLE, i, 1);
	return r;
}

static int start(struct vu_front *f)
{
	uint64_t feat = f->dev->driver_features | (f->features & VIRTIO_BIT(VU_F_PROTOCOL_FEATURES));
	int r;

	if ((r = req_u64(f, VU_SET_FEATURES, feat, false, NULL)) < 0 || (r = set_mem_table(f)) < 0 ||
	    (r = set_inflight(f)) < 0)
		return r;
	for (unsigned i = 0; i < f->ops.nqueues; i++)
		if (f->dev->vq[i].ready && (r = start_queue(f, i)) < 0)
			return r;
	return 0;
}

/* Take the rings back (a device reset): after this the back-end touches no guest memory. */
static int stop(struct vu_front *f)
{
	int r = 0;

	for (unsigned i = 0; i < f->ops.nqueues; i++) {
		if (f->started[i] && r == 0)
			r = req_state(f, VU_GET_VRING_BASE, i, 0);
		f->started[i] = false;
	}
	if (r == 0 && f->inflight)
		memset(f->inflight, 0, f->inflight_size);   /* a reset device has nothing in flight */
	return r;
}

static const char *sig_name(int sig)
{
	switch (sig) {
	case SIGKILL: return "SIGKILL";
	case SIGSEGV: return "SIGSEGV";
	case SIGABRT: return "SIGABRT";
	case SIGBUS: return "SIGBUS";
	case SIGSYS: return "SIGSYS";
	case SIGTERM: return "SIGTERM";
	case SIGILL: return "SIGILL";
	case SIGFPE: return "SIGFPE";
	}
	return "?";
}

void vu_describe_status(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status), sig_name(WTERMSIG(status)));
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGSYS)
		snprintf(buf, len, "was stopped by its sandbox (a forbidden system call)");
	else if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(buf, len, "ended");
}

/* At most VU_RESTARTS_MAX restarts in any minute. */
static bool restart_allowed(struct vu_front *f)
{
	struct timespec now;
	unsigned n = atomic_load(&f->restarts), slot = n % VU_RESTARTS_MAX;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (n >= VU_RESTARTS_MAX && now.tv_sec - f->restart_at[slot].tv_sec < 60)
		return false;
	f->restart_at[slot] = now;
	return true;
}

/*
 * Our device process is gone: true with a new one in f->sock, or false after
 * the line that says why the VM stops (or silently while vmm is ending).
 * `name` is what the line calls the device.
 */
static bool new_backend(struct vu_front *f, const char *name)
{
	char why[96] = "";
	const char *stop;

	close(f->sock);
	f->sock = f->rs.respawn(f->rs.arg, why, sizeof(why));
	if (f->sock == -ESHUTDOWN)
		return false;   /* vmm is ending */
	stop = f->rs.exit_on_crash ? "stopping the VM (--on-device-crash exit)" :
	       f->sock < 0 ? "cannot start a new one; stopping the VM" :
	       !restart_allowed(f) ? "restarted 5 times within a minute already; stopping the VM" : NULL;
	fprintf(stderr, "vmm: %s (%s): device process %s; %s\n", name, f->label, why, stop ? stop : "restarted it");
	if (stop)
		return false;
	atomic_fetch_add(&f->restarts, 1);
	return true;
}

/*
 * The back-end is gone (its socket hung up or a request failed): get a new
 * one and give it everything the old one had, so the guest sees nothing;
 * or stop the VM if that is not allowed or possible.
 */
static void replace_backend(struct vu_front *f, int err)
{
	struct virtio_dev *d = f->dev;

	for (;;) {
		if (!f->rs.respawn) {
			fprintf(stderr, "vmm: %s (%s): the vhost-user back-end went away (%s); stopping the VM\n",
				d->name, f->label, err ? strerror(-err) : "connection closed");
			d->stop(d, EXIT_RUNTIME);
			return;
		}
		if (!new_backend(f, d->name)) {
			if (f->sock != -ESHUTDOWN)
				d->stop(d, EXIT_RUNTIME);
			return;
		}
		if (virtio_watch_replace(d, f->sock_watch, f->sock) == 0 && (err = handshake(f)) == 0 &&
		    (!f->running || (err = start(f)) == 0))
			break;
	}
	/* buffers made available while no back-end was there */
	for (unsigned i = 0; i < f->ops.nqueues; i++)
		if (f->started[i] && eventfd_write(d->vq[i].kick_efd, 1) < 0)
			guest_warn("%s: kick: %s", d->name, strerror(errno));
}

/* Device thread (ctl_efd): bring the back-end to the state the vCPU asked for. */
static void on_ctl(struct virtio_dev *d, void *arg)
{
	struct vu_front *f = arg;
	eventfd_t n;
	int r = 0;

	(void)!eventfd_read(f->ctl_efd, &n);
	if (f->running) {
		f->running = false;
		if ((r = stop(f)) < 0)
			replace_backend(f, r);
	}
	if (f->want_running) {
		f->running = true;
		if ((r = start(f)) < 0)
			replace_backend(f, r);   /* which starts the new one */
	}
	atomic_store(&f->busy, false);
}

/* Device thread: the back-end found a broken ring. */
static void on_err(struct virtio_dev *d, void *arg)
{
	struct vu_front *f = arg;
	eventfd_t n;

	if (eventfd_read(f->err_efd, &n) == 0)
		virtio_dev_fail(d, "the back-end found a broken ring");
}

/* Device thread: the socket is readable only when the back-end hung up (it sends nothing unasked). */
static void on_sock(struct virtio_dev *d, void *arg)
{
	struct vu_front *f = arg;
	struct vu_msg m;
	int fds[VU_MAX_FDS], n;
	int r = vu_recv(f->sock, &m, fds, &n);

	for (int i = 0; i < n; i++)
		close(fds[i]);
	if (r <= 0)
		replace_backend(f, r);
}

static void wake(struct vu_front *f, bool run)
{
	f->want_running = run;
	atomic_store(&f->busy, true);
	if (eventfd_write(f->ctl_efd, 1) < 0)
		guest_warn("%s: wake: %s", f->dev->name, strerror(errno));
}

static void vf_activate(struct virtio_dev *d) { wake(d->priv, true); }
static void vf_reset(struct virtio_dev *d) { wake(d->priv, false); }
static bool vf_resetting(struct virtio_dev *d) { return atomic_load(&((struct vu_front *)d->priv)->busy); }
static void vf_process(struct virtio_dev *d, struct virtq *q) { }

static void vf_config_read(struct virtio_dev *d, unsigned off, void *buf, unsigned len)
{
	memcpy(buf, ((struct vu_front *)d->priv)->config + off, len);
}

static void vf_stats(struct virtio_dev *d, FILE *out)
{
	struct vu_front *f = d->priv;

	if (f->rs.respawn)
		fprintf(out, ", restarts %u", vu_restarts(d));
	else
		fprintf(out, " (an external back-end: only it counts requests, bytes, interrupts and notifications)");
}

unsigned vu_restarts(const struct virtio_dev *d)
{
	return atomic_load(&((struct vu_front *)d->priv)->restarts);
}

/*
 * A new back-end: features, protocol features, queue count (*nq), config
 * space. 0, or -errno if it stopped answering (*step names where); what it
 * answers but cannot be used is fatal: a usage error for an external
 * back-end, a runtime one for our own device process.
 */
static int probe(struct vu_front *f, const struct vu_type_info *t, uint64_t *nq, const char **step)
{
	struct vu_msg m = { .req = VU_GET_CONFIG, .size = 12 + t->config_len };
	int code = f->rs.respawn ? EXIT_RUNTIME : EXIT_USAGE, r;

	*step = f->rs.respawn ? "its device process did not answer" : "no vhost-user back-end answers there";
	if ((r = handshake(f)) < 0)
		return r;
	if (!(f->features & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		fatal(code, "%s: the back-end is not a virtio 1.x device", f->label);
	if (!(f->protocol & VIRTIO_BIT(VU_PF_CONFIG)) && !f->tag)
		fatal(code, "%s: the back-end does not give its config space (VHOST_USER_PROTOCOL_F_CONFIG)%s",
		      f->label, t->device_id == 26 ? ": give the tag with ,tag=NAME" : "");
	*nq = t->device_id == 26 ? 2 : 1;   /* virtio-fs: hiprio and one request queue at least */
	*step = "VHOST_USER_GET_QUEUE_NUM";
	if ((f->protocol & VIRTIO_BIT(VU_PF_MQ)) && (r = req_u64(f, VU_GET_QUEUE_NUM, 0, true, nq)) < 0)
		return r;
	if (*nq == 0)
		fatal(code, "%s: the back-end has no queues", f->label);
	if (*nq > VIRTIO_MAX_QUEUES)
		*nq = VIRTIO_MAX_QUEUES;
	if (f->tag) {   /* virtio-fs: tag[36], num_request_queues (virtio 1.2 5.11.4) */
		memset(f->config, 0, t->config_len);
		memcpy(f->config, f->tag, strnlen(f->tag, 36));
		put_le32(f->config + 36, (uint32_t)*nq - 1);
		return 0;
	}
	*step = "VHOST_USER_GET_CONFIG";
	m.u.config.size = t->config_len;
	if ((r = request(f, &m, NULL, 0, true)) < 0)
		return r;
	if (m.size != 12 + t->config_len)
		fatal(code, "%s: VHOST_USER_GET_CONFIG: refused", f->label);
	memcpy(f->config, m.u.config.data, t->config_len);
	return 0;
}

struct virtio_dev *vu_attach(struct vm *vm, int sock, enum vu_type type, const char *label,
			     const struct vu_respawn *rs, const char *fs_tag)
{
	struct vu_front *f = calloc(1, sizeof(*f));
	const char *step;
	uint64_t nq;
	int r;

	if (!f)
		fatal(EXIT_RUNTIME, "%s: out of memory", label);
	if (type >= ARRAY_SIZE(vu_types) || !vu_types[type].name)
		fatal(EXIT_USAGE, "%s: only type=blk, net and fs are supported by vmm's vhost-user front-end so far",
		      label);
	const struct vu_type_info *t = &vu_types[type];
	f->label = label;
	f->tag = type == VU_TYPE_FS ? fs_tag : NULL;
	f->sock = sock;
	f->inflight_fd = -1;
	if (rs)
		f->rs = *rs;
	/* our own device process dying at start-up is replaced, as later on */
	while ((r = probe(f, t, &nq, &step)) < 0) {
		if (!rs)
			fatal(EXIT_USAGE, "%s: %s: %s", label, step, strerror(-r));
		if (!new_backend(f, t->name))
			exit(EXIT_RUNTIME);
	}

	f->ops = (struct virtio_ops){
		.name = t->name, .device_id = t->device_id, .pci_class = t->pci_class,
		.features = f->features & VU_DEVICE_BITS,
		.nqueues = (unsigned)nq, .kernel_queues = (1u << nq) - 1, .queue_size = VU_QUEUE_SIZE,
		.config_len = t->config_len, .sandbox_role = SB_ROLE_VHOST_USER,
		.config_read = vf_config_read, .process = vf_process, .reset = vf_reset,
		.resetting = vf_resetting, .activate = vf_activate, .stats = vf_stats,
	};
	f->ctl_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	f->err_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (f->ctl_efd < 0 || f->err_efd < 0)
		fatal_errno(EXIT_RUNTIME, "%s: eventfd", label);
	f->dev = virtio_dev_create(vm, &f->ops, f, label);
	if (rs && rs->stats)
		f->dev->stats = rs->stats;
	/* offer the guest only what the back-end serves, and only split rings */
	f->dev->offered &= f->features | ~(VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	if (virtio_watch_fd(f->dev, f->ctl_efd, 0, on_ctl, f) < 0 ||
	    virtio_watch_fd(f->dev, f->err_efd, 0, on_err, f) < 0 ||
	    (f->sock_watch = virtio_watch_fd(f->dev, f->sock, EPOLLRDHUP, on_sock, f)) < 0)
		fatal(EXIT_RUNTIME, "%s: cannot watch its eventfds", f->dev->name);
	vlog("%s (%s): vhost-user back-end, features %#llx, protocol features %#llx, %llu queue(s)",
	     f->dev->name, label, (unsigned long long)f->features, (unsigned long long)f->protocol,
	     (unsigned long long)nq);
	return f->dev;
}
