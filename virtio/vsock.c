/* virtio/vsock.c: virtio-vsock (virtio 1.2 5.10) served by the host kernel's vhost-vsock: vmm only configures it; kicks and interrupts never reach userspace. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../sandbox/sandbox.h"
#include "virtio.h"

#define VSOCK_RX            0
#define VSOCK_TX            1
#define VSOCK_QUEUE_SIZE    256
#define VSOCK_DEVICE_BITS   0x00FFFFFFull   /* feature bits 0-23 are the device type's */
#define VSOCK_CID_MAX       0xFFFFFFFEull   /* 0xFFFFFFFF is VMADDR_CID_ANY */

/*
 * The vCPU side (activate, reset) only records what it wants and wakes the
 * device thread, which makes the vhost ioctls: only it holds the vhost fd in
 * its sandbox. `busy` stays set until it has done so.
 */
struct vsock {
	struct virtio_dev *dev;
	struct virtio_ops ops;        /* vsock_ops_base with vhost's device features */
	char *spec;
	uint64_t cid;
	int vhost_fd;
	int ctl_efd;
	uint64_t vhost_features;
	bool want_running, running;   /* device lock */
	atomic_bool busy;
};

static void vsock_config_read(struct virtio_dev *d, unsigned off, void *buf, unsigned len)
{
	struct vsock *v = d->priv;
	uint8_t c[8];

	for (unsigned i = 0; i < 8; i++)
		c[i] = (uint8_t)(v->cid >> (8 * i));
	memcpy(buf, c + off, len);
}

/* The event queue: vmm sends no events (no live migration), so its buffers just wait. */
static void vsock_process(struct virtio_dev *d, struct virtq *q)
{
}

static void wake(struct vsock *v, bool run)
{
	v->want_running = run;
	atomic_store(&v->busy, true);
	if (eventfd_write(v->ctl_efd, 1) < 0)
		guest_warn("%s: wake: %s", v->dev->name, strerror(errno));
}

static void vsock_activate(struct virtio_dev *d) { wake(d->priv, true); }
static void vsock_reset(struct virtio_dev *d) { wake(d->priv, false); }
static bool vsock_resetting(struct virtio_dev *d) { return atomic_load(&((struct vsock *)d->priv)->busy); }

static int vhost(struct vsock *v, unsigned long req, const void *arg, const char *name)
{
	if (ioctl(v->vhost_fd, req, arg) == 0)
		return 0;
	int err = errno;
	guest_warn("%s: %s: %s", v->dev->name, name, strerror(err));
	return -err;
}

static int set_mem_table(struct vsock *v)
{
	const struct guest_mem *m = &v->dev->vm->mem;
	struct { struct vhost_memory h; struct vhost_memory_region r[2]; } t = { 0 };
	struct gm_part p[2];

	t.h.nregions = gm_parts(m, p);
	for (unsigned i = 0; i < t.h.nregions; i++)
		t.r[i] = (struct vhost_memory_region){ p[i].gpa, p[i].size, (uintptr_t)p[i].host, 0 };
	return vhost(v, VHOST_SET_MEM_TABLE, &t, "VHOST_SET_MEM_TABLE");
}

/* Hand queue i to vhost: size, start index, ring addresses, the ioeventfd, the MSI-X vector's irqfd. */
static int set_vring(struct vsock *v, unsigned i)
{
	struct virtio_dev *d = v->dev;
	struct virtq *q = &d->vq[i];
	struct vhost_vring_state num = { i, q->size }, base = { i, 0 };
	struct vhost_vring_addr addr = { .index = i, .desc_user_addr = (uintptr_t)q->desc,
					 .avail_user_addr = (uintptr_t)q->avail,
					 .used_user_addr = (uintptr_t)q->used };
	struct vhost_vring_file kick = { i, q->kick_efd }, call = { i, -1 };
	uint16_t vec = __atomic_load_n(&q->msix_vector, __ATOMIC_RELAXED);
	int r;

	if (!q->ready)
		return -EINVAL;
	if (vec < d->msix.n)
		call.fd = d->msix.v[vec].efd;
	else
		guest_warn("%s: queue %u has no MSI-X vector: the guest gets no interrupts for it", d->name, i);
	if ((r = vhost(v, VHOST_SET_VRING_NUM, &num, "VHOST_SET_VRING_NUM")) < 0 ||
	    (r = vhost(v, VHOST_SET_VRING_BASE, &base, "VHOST_SET_VRING_BASE")) < 0 ||
	    (r = vhost(v, VHOST_SET_VRING_ADDR, &addr, "VHOST_SET_VRING_ADDR")) < 0 ||
	    (r = vhost(v, VHOST_SET_VRING_CALL, &call, "VHOST_SET_VRING_CALL")) < 0)
		return r;
	return vhost(v, VHOST_SET_VRING_KICK, &kick, "VHOST_SET_VRING_KICK");
}

static int start(struct vsock *v)
{
	uint64_t f = v->dev->driver_features & v->vhost_features;
	int run = 1, r;

	if ((r = vhost(v, VHOST_SET_FEATURES, &f, "VHOST_SET_FEATURES")) < 0 ||
	    (r = set_mem_table(v)) < 0 || (r = set_vring(v, VSOCK_RX)) < 0 ||
	    (r = set_vring(v, VSOCK_TX)) < 0)
		return r;
	return vhost(v, VHOST_VSOCK_SET_RUNNING, &run, "VHOST_VSOCK_SET_RUNNING");
}

/* Stop vhost using the rings: after this it touches no guest memory. */
static void stop(struct vsock *v)
{
	int run = 0;

	(void)!vhost(v, VHOST_VSOCK_SET_RUNNING, &run, "VHOST_VSOCK_SET_RUNNING");
	for (unsigned i = VSOCK_RX; i <= VSOCK_TX; i++) {
		struct vhost_vring_state s = { i, 0 };
		struct vhost_vring_file kick = { i, -1 }, call = { i, -1 };
		(void)!vhost(v, VHOST_GET_VRING_BASE, &s, "VHOST_GET_VRING_BASE");
		(void)!vhost(v, VHOST_SET_VRING_KICK, &kick, "VHOST_SET_VRING_KICK");
		(void)!vhost(v, VHOST_SET_VRING_CALL, &call, "VHOST_SET_VRING_CALL");
	}
}

/* Device thread (watch on ctl_efd, device lock held): bring vhost to the state the vCPU asked for. */
static void vsock_ctl(struct virtio_dev *d, void *arg)
{
	struct vsock *v = arg;
	eventfd_t n;

	(void)!eventfd_read(v->ctl_efd, &n);
	if (v->running) {
		stop(v);
		v->running = false;
	}
	if (v->want_running) {
		if (start(v) == 0)
			v->running = true;
		else
			virtio_dev_fail(d, "vhost-vsock refused the rings");
	}
	atomic_store(&v->busy, false);
}

static const struct virtio_ops vsock_ops_base = {
	.name = "virtio-vsock",
	.device_id = 19,
	.pci_class = 0x078000,
	.nqueues = 3,
	.kernel_queues = 1u << VSOCK_RX | 1u << VSOCK_TX,
	.queue_size = VSOCK_QUEUE_SIZE,
	.config_len = 8,
	.sandbox_role = SB_ROLE_VSOCK,
	.config_read = vsock_config_read,
	.process = vsock_process,
	.reset = vsock_reset,
	.resetting = vsock_resetting,
	.activate = vsock_activate,
};

static uint64_t parse_cid(const char *spec)
{
	char *end;

	if (strncmp(spec, "cid=", 4) != 0)
		fatal(EXIT_USAGE, "--vsock %s: expected cid=N", spec);
	errno = 0;
	unsigned long long cid = strtoull(spec + 4, &end, 0);
	if (errno || end == spec + 4 || *end || spec[4] == '-' || cid < 3 || cid > VSOCK_CID_MAX)
		fatal(EXIT_USAGE, "--vsock %s: the CID must be a number from 3 to %llu (0-2 are reserved)",
		      spec, VSOCK_CID_MAX);
	return cid;
}

struct vsock *virtio_vsock_open(const char *spec)
{
	struct vsock *v = calloc(1, sizeof(*v));

	if (!v)
		fatal(EXIT_USAGE, "--vsock %s: out of memory", spec);
	v->spec = (char *)spec;
	v->cid = parse_cid(spec);
	v->vhost_fd = open("/dev/vhost-vsock", O_RDWR | O_CLOEXEC);
	if (v->vhost_fd < 0)
		fatal(EXIT_USAGE, "--vsock %s: /dev/vhost-vsock: %s%s", spec, strerror(errno),
		      errno == ENOENT ? " (load the vhost_vsock module)" : "");
	if (ioctl(v->vhost_fd, VHOST_SET_OWNER) < 0 ||
	    ioctl(v->vhost_fd, VHOST_GET_FEATURES, &v->vhost_features) < 0)
		fatal_errno(EXIT_USAGE, "--vsock %s: /dev/vhost-vsock", spec);
	if (ioctl(v->vhost_fd, VHOST_VSOCK_SET_GUEST_CID, &v->cid) < 0) {
		if (errno == EADDRINUSE)
			fatal(EXIT_USAGE, "--vsock %s: CID %llu is in use by another VM on this host", spec,
			      (unsigned long long)v->cid);
		fatal_errno(EXIT_USAGE, "--vsock %s: cannot take CID %llu", spec, (unsigned long long)v->cid);
	}
	v->ctl_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (v->ctl_efd < 0)
		fatal_errno(EXIT_RUNTIME, "--vsock %s: eventfd", spec);
	return v;
}

void virtio_vsock_attach(struct vm *vm, struct vsock *v)
{
	v->ops = vsock_ops_base;
	v->ops.features = v->vhost_features & VSOCK_DEVICE_BITS;
	v->dev = virtio_dev_create(vm, &v->ops, v, v->spec);
	v->dev->sandbox_fd = v->vhost_fd;
	if (virtio_watch_fd(v->dev, v->ctl_efd, 0, vsock_ctl, v) < 0)
		fatal(EXIT_RUNTIME, "%s: cannot watch its control eventfd", v->dev->name);
	vlog("%s: CID %llu, vhost features %#llx", v->dev->name, (unsigned long long)v->cid,
	     (unsigned long long)v->vhost_features);
}
