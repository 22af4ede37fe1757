/* virtio/dev.c: what every virtio device has whatever carries it (the PCI transport in vmm, or a vhost-user connection in a device process): status, interrupts, failure, the device thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../sandbox/sandbox.h"
#include "virtio.h"

bool virtio_dev_running(const struct virtio_dev *d)
{
	uint8_t s = __atomic_load_n(&d->status, __ATOMIC_ACQUIRE);
	return (s & VIRTIO_S_DRIVER_OK) && !(s & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED));
}

static void signal_config(struct virtio_dev *d)
{
	if (d->raise(d, NULL))
		atomic_fetch_add_explicit(&d->stats->config_irqs, 1, memory_order_relaxed);
}

void virtio_config_changed(struct virtio_dev *d)
{
	__atomic_add_fetch(&d->config_gen, 1, __ATOMIC_RELEASE);
	signal_config(d);
}

void virtio_dev_fail(struct virtio_dev *d, const char *why)
{
	uint8_t old = __atomic_fetch_or(&d->status, VIRTIO_S_NEEDS_RESET, __ATOMIC_ACQ_REL);
	if (old & VIRTIO_S_NEEDS_RESET)
		return;
	guest_warn("%s (%s): %s; device needs reset", d->name, d->label, why);
	signal_config(d);
}

void virtio_notify(struct virtio_dev *d, struct virtq *q)
{
	if (!virtq_should_notify(q))
		return;
	if (d->raise(d, q))
		atomic_fetch_add_explicit(&d->stats->irqs, 1, memory_order_relaxed);
}

void virtio_process_queue(struct virtio_dev *d, unsigned qi)
{
	struct virtq *q;

	if (qi >= d->ops->nqueues)
		return;
	q = &d->vq[qi];
	pthread_mutex_lock(&d->lock);
	if (virtio_dev_running(d) && q->ready && !q->broken)
		d->ops->process(d, q);
	pthread_mutex_unlock(&d->lock);
}

static bool ops_valid(const struct virtio_ops *o)
{
	return o->nqueues >= 1 && o->nqueues <= VIRTIO_MAX_QUEUES && o->queue_size &&
	       !(o->queue_size & (o->queue_size - 1)) && o->queue_size <= VIRTQ_MAX_SIZE &&
	       o->config_len <= VIRTIO_CONFIG_MAX && o->process;
}

struct virtio_dev *virtio_dev_new(const struct virtio_ops *ops, void *priv, const char *label)
{
	struct virtio_dev *d;
	struct epoll_event ev = { .events = EPOLLIN };

	if (!ops_valid(ops) || !(d = calloc(1, sizeof(*d))))
		return NULL;
	d->ops = ops;
	d->priv = priv;
	d->label = label;
	d->sandbox_fd = -1;
	d->stats = &d->own_stats;
	d->offered = ops->features | VIRTIO_BIT(VIRTIO_F_VERSION_1) |
		     VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	d->config_vector = VIRTIO_MSI_NO_VECTOR;
	pthread_mutex_init(&d->lock, NULL);
	snprintf(d->name, sizeof(d->name), "%s", ops->name);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		goto fail;
	for (unsigned i = 0; i < ops->nqueues; i++) {
		struct virtq *q = &d->vq[i];
		q->dev = d;
		q->index = i;
		q->max_size = ops->queue_size;
		q->call_efd = q->err_efd = -1;
		virtq_reset(q);
		q->kick_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ev.data.u32 = i;
		if (q->kick_efd < 0)
			goto fail;
		if (!(ops->kernel_queues & 1u << i) && epoll_ctl(d->epfd, EPOLL_CTL_ADD, q->kick_efd, &ev) < 0)
			goto fail;
	}
	return d;
fail:
	free(d);   /* only at set-up, which then exits: the fds go with the process */
	return NULL;
}

int virtio_set_kick(struct virtio_dev *d, unsigned qi, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = qi };
	struct virtq *q = &d->vq[qi];

	if (q->kick_efd >= 0) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, q->kick_efd, NULL);
		close(q->kick_efd);
	}
	q->kick_efd = fd;
	if (fd >= 0 && epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int virtio_watch_fd(struct virtio_dev *d, int fd, uint32_t events, virtio_watch_fn *fn, void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN | events };

	if (d->nwatch == VIRTIO_MAX_WATCH)
		return -ENOSPC;
	ev.data.u32 = VIRTIO_MAX_QUEUES + (uint32_t)d->nwatch;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	d->watch[d->nwatch].fd = fd;
	d->watch[d->nwatch].fn = fn;
	d->watch[d->nwatch].arg = arg;
	d->watch[d->nwatch].events = ev.events;
	return d->nwatch++;
}

int virtio_watch_replace(struct virtio_dev *d, int idx, int fd)
{
	struct epoll_event ev = { .events = d->watch[idx].events,
				  .data.u32 = VIRTIO_MAX_QUEUES + (uint32_t)idx };

	epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->watch[idx].fd, NULL);   /* gone already if it was closed */
	d->watch[idx].fd = fd;
	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void handle_event(struct virtio_dev *d, uint32_t tag)
{
	eventfd_t n;

	if (tag < VIRTIO_MAX_QUEUES) {
		if (d->vq[tag].kick_efd < 0 || eventfd_read(d->vq[tag].kick_efd, &n) < 0)
			return;   /* EAGAIN: already drained */
		atomic_fetch_add_explicit(&d->stats->kicks, n, memory_order_relaxed);
		virtio_process_queue(d, tag);
		return;
	}
	tag -= VIRTIO_MAX_QUEUES;
	if (tag < (uint32_t)d->nwatch) {
		pthread_mutex_lock(&d->lock);
		d->watch[tag].fn(d, d->watch[tag].arg);
		pthread_mutex_unlock(&d->lock);
	}
}

int virtio_dev_run(struct virtio_dev *d)
{
	struct epoll_event ev[16];
	char comm[16];

	/* a device process is named vmm-blk, a device thread in vmm vio-blk */
	snprintf(comm, sizeof(comm), "%s-%s", d->backend ? "vmm" : "vio",
		 d->ops->name + (strncmp(d->ops->name, "virtio-", 7) ? 0 : 7));
	prctl(PR_SET_NAME, comm);   /* before the sandbox, which forbids prctl */
	if (!d->no_sandbox) {
		int r = sandbox_enter((enum sb_role)d->ops->sandbox_role, d->sandbox_fd);
		if (r < 0) {
			fprintf(stderr, "vmm: %s: sandbox: %s\n", d->name, strerror(-r));
			return r;
		}
	}
	while (!d->quit) {
		int n = epoll_wait(d->epfd, ev, (int)ARRAY_SIZE(ev), -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			fprintf(stderr, "vmm: %s: epoll_wait: %s\n", d->name, strerror(err));
			return -err;
		}
		for (int i = 0; i < n && !d->quit; i++)
			handle_event(d, ev[i].data.u32);
	}
	return 0;
}
