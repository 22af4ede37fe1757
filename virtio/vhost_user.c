/* virtio/vhost_user.c: vhost-user messages and the back-end: one of our devices served to a front-end (vmm's own, QEMU, ...) over a unix socket. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../mem.h"
#include "vhost_user.h"

/* ---- messages ---- */

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int vu_recv(int sock, struct vu_msg *m, int fds[VU_MAX_FDS], int *nfds)
{
	union { char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))]; struct cmsghdr align; } c;
	struct iovec iov = { m, VU_HDR };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			     .msg_controllen = sizeof(c.buf) };
	ssize_t n;

	*nfds = 0;
	for (int i = 0; i < VU_MAX_FDS; i++)
		fds[i] = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 ? 0 : -errno;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
			if (*nfds < VU_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (n != VU_HDR || (mh.msg_flags & MSG_CTRUNC) || m->size > sizeof(m->u) ||
	    (m->flags & 3) != VU_VERSION) {
		close_fds(fds, *nfds);
		*nfds = 0;
		return -EPROTO;
	}
	for (size_t got = 0; got < m->size;) {
		n = recv(sock, (char *)&m->u + got, m->size - got, MSG_WAITALL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close_fds(fds, *nfds);
			*nfds = 0;
			return n == 0 ? -EPROTO : -errno;
		}
		got += (size_t)n;
	}
	return 1;
}

int vu_send(int sock, const struct vu_msg *m, const int *fds, int nfds)
{
	union { char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))]; struct cmsghdr align; } c;
	struct iovec iov[2] = { { (void *)m, VU_HDR }, { (void *)&m->u, m->size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	if (nfds > 0) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(h), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == VU_HDR + m->size ? 0 : -EPROTO;
}

/* ---- the back-end ---- */

struct vu_queue {
	uint16_t base;          /* SET_VRING_BASE: where the avail ring continues */
	bool started, enabled;
};

struct vu_back {
	struct virtio_dev *d;
	int sock;
	uint64_t protocol;      /* protocol features the front-end accepted */
	bool proto_negotiated;  /* VU_F_PROTOCOL_FEATURES in SET_FEATURES: rings start disabled */
	struct guest_mem mem;
	void *map[GM_MAX_REGIONS];
	size_t map_len[GM_MAX_REGIONS];
	uint8_t *inflight;      /* the queues' records */
	size_t inflight_len;
	void *inflight_map;
	size_t inflight_map_len;
	struct vu_queue q[VIRTIO_MAX_QUEUES];
	int err;                /* the device thread fails with it */
};

static void unmap_mem(struct vu_back *b)
{
	for (unsigned i = 0; i < b->mem.nregions; i++)
		munmap(b->map[i], b->map_len[i]);
	b->mem.nregions = 0;
}

/* The ring addresses came as front-end addresses: find the guest address (0 if none). */
static bool ua_to_gpa(const struct guest_mem *m, uint64_t ua, gpa_t *gpa)
{
	for (unsigned i = 0; i < m->nregions; i++)
		if (ua >= m->r[i].ua && ua - m->r[i].ua < m->r[i].size) {
			*gpa = m->r[i].gpa + (ua - m->r[i].ua);
			return true;
		}
	return false;
}

static int set_mem_table(struct vu_back *b, const struct vu_msg *m, int *fds, int nfds)
{
	struct guest_mem nm = { 0 };
	void *map[GM_MAX_REGIONS];
	size_t len[GM_MAX_REGIONS];
	unsigned n = m->u.mem.n;

	if (n == 0 || n > GM_MAX_REGIONS || (int)n != nfds)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		const struct vu_region *r = &m->u.mem.r[i];
		/* the region alone, 2 MiB-aligned where its offset allows: 2 MiB pages of a huge tmpfs stay so */
		uint64_t skip = r->mmap_off & ~(uint64_t)((2u << 20) - 1);
		len[i] = r->size + (r->mmap_off - skip);
		errno = EINVAL;
		map[i] = len[i] < r->size ? NULL : mem_map_aligned(fds[i], len[i], skip);
		if (!map[i]) {
			int err = errno ? errno : EINVAL;
			while (i--)
				munmap(map[i], len[i]);
			return -err;
		}
		nm.r[i] = (struct gm_region){ r->gpa, r->size, (uint8_t *)map[i] + (r->mmap_off - skip), r->ua };
	}
	nm.nregions = n;
	unmap_mem(b);
	b->mem = nm;
	memcpy(b->map, map, sizeof(map));
	memcpy(b->map_len, len, sizeof(len));
	/* started rings follow the new mapping */
	for (unsigned i = 0; i < b->d->ops->nqueues; i++) {
		struct virtq *q = &b->d->vq[i];
		if (!b->q[i].started)
			continue;
		q->desc = gm_ptr(&b->mem, q->desc_gpa, 16ull * q->size);
		q->avail = gm_ptr(&b->mem, q->avail_gpa, 6 + 2ull * q->size);
		q->used = gm_ptr(&b->mem, q->used_gpa, 6 + 8ull * q->size);
		if (!q->desc || !q->avail || !q->used)
			q->ready = false, b->q[i].started = false;
	}
	return 0;
}

static int map_inflight(struct vu_back *b, int fd, uint64_t size, uint64_t off)
{
	void *p;

	if (size == 0 || size > (1u << 24) || off + size < size)
		return -EINVAL;
	p = mmap(NULL, size + off, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (b->inflight_map)
		munmap(b->inflight_map, b->inflight_map_len);
	b->inflight_map = p;
	b->inflight_map_len = size + off;
	b->inflight = (uint8_t *)p + off;
	b->inflight_len = size;
	return 0;
}

/* GET_INFLIGHT_FD: a zeroed shared buffer with one region per queue; its fd goes back to the front-end. */
static int get_inflight(struct vu_back *b, struct vu_msg *m, int *out_fd)
{
	unsigned nq = m->u.inflight.nqueues, qs = m->u.inflight.queue_size;
	uint64_t size = nq * VQ_INFLIGHT_BYTES(qs);
	int fd, r;

	if (nq == 0 || nq > VIRTIO_MAX_QUEUES || qs == 0 || qs > VIRTQ_MAX_SIZE)
		return -EINVAL;
	fd = memfd_create("vmm-inflight", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = ftruncate(fd, (off_t)size) < 0 ? -errno : map_inflight(b, fd, size, 0);
	if (r < 0) {
		close(fd);
		return r;
	}
	m->u.inflight.mmap_size = size;
	m->u.inflight.mmap_off = 0;
	*out_fd = fd;
	return 0;
}

/* A ring starts when its kick fd arrives: map it, continue where the record says. */
static void start_queue(struct vu_back *b, unsigned i)
{
	struct virtio_dev *d = b->d;
	struct virtq *q = &d->vq[i];
	struct vu_queue *s = &b->q[i];
	uint64_t qbytes = VQ_INFLIGHT_BYTES(q->size);

	if (virtq_setup(q, &b->mem, d->driver_features) < 0) {
		guest_warn("%s: queue %u: bad size or ring address from the front-end", d->name, i);
		q->ready = false;
		return;
	}
	q->last_avail = s->base;
	q->inflight = NULL;
	if (b->inflight && (i + 1) * qbytes <= b->inflight_len) {
		struct vq_inflight *in = (struct vq_inflight *)(b->inflight + i * qbytes);
		if (!in->version) {
			memset(in, 0, qbytes);
			in->desc_num = q->size;
			in->version = 1;
		}
		if (in->desc_num == q->size)
			q->inflight = in;
	}
	if (q->inflight && virtq_recover(q) < 0)
		q->inflight = NULL;
	if (!q->inflight)
		q->used_idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	else if (q->nresubmit)
		vlog("%s: queue %u: %u requests in flight are done again", d->name, i, q->nresubmit);
	s->started = true;
	q->ready = s->enabled || !b->proto_negotiated;
	if (q->ready && q->kick_efd >= 0 && eventfd_write(q->kick_efd, 1) < 0)
		guest_warn("%s: kick: %s", d->name, strerror(errno));
}

static void stop_queue(struct vu_back *b, unsigned i)
{
	struct virtq *q = &b->d->vq[i];
	uint16_t size = q->size;

	virtq_reset(q);   /* forgets the ring and the inflight pointer; the record stays */
	q->size = size;
	b->q[i].started = false;
	(void)!virtio_set_kick(b->d, i, -1);
}

static uint64_t handle(struct vu_back *b, struct vu_msg *m, int *fds, int nfds, bool *reply,
		       int *out_fd)
{
	struct virtio_dev *d = b->d;
	unsigned nq = d->ops->nqueues, qi = m->u.state.index;
	int fd = nfds ? fds[0] : -1;

	switch (m->req) {
	case VU_GET_FEATURES:
		*reply = true;
		m->size = 8;
		return d->offered | VIRTIO_BIT(VU_F_PROTOCOL_FEATURES);
	case VU_SET_FEATURES:
		if (m->u.u64 & ~(d->offered | VIRTIO_BIT(VU_F_PROTOCOL_FEATURES)))
			return 1;
		b->proto_negotiated = m->u.u64 & VIRTIO_BIT(VU_F_PROTOCOL_FEATURES);
		d->driver_features = m->u.u64 & ~VIRTIO_BIT(VU_F_PROTOCOL_FEATURES);
		/* a fresh start after a failure: process again */
		__atomic_store_n(&d->status, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK |
				 VIRTIO_S_DRIVER_OK, __ATOMIC_RELEASE);
		if (d->ops->activate)   /* what the features decide (net: header, rx buffer sizes) */
			d->ops->activate(d);
		return 0;
	case VU_GET_PROTOCOL_FEATURES:
		*reply = true;
		m->size = 8;
		return VIRTIO_BIT(VU_PF_MQ) | VIRTIO_BIT(VU_PF_REPLY_ACK) | VIRTIO_BIT(VU_PF_CONFIG) |
		       VIRTIO_BIT(VU_PF_INFLIGHT_SHMFD);
	case VU_SET_PROTOCOL_FEATURES:
		b->protocol = m->u.u64;
		return 0;
	case VU_SET_OWNER:
	case VU_RESET_OWNER:
		return 0;
	case VU_GET_QUEUE_NUM:
		*reply = true;
		m->size = 8;
		return nq;
	case VU_SET_MEM_TABLE:
		return set_mem_table(b, m, fds, nfds) < 0;
	case VU_GET_CONFIG: {
		uint32_t off = m->u.config.offset, len = m->u.config.size;
		*reply = true;
		if (m->size < 12 || len > VU_CONFIG_MAX || off > d->ops->config_len ||
		    len > d->ops->config_len - off || !d->ops->config_read) {
			m->size = 0;   /* the error answer */
			return 0;
		}
		memset(m->u.config.data, 0, len);
		d->ops->config_read(d, off, m->u.config.data, len);
		m->size = 12 + len;
		return 0;
	}
	case VU_SET_CONFIG: {
		uint32_t off = m->u.config.offset, len = m->u.config.size;
		if (len > VU_CONFIG_MAX || m->size < 12 + len || off > d->ops->config_len ||
		    len > d->ops->config_len - off)
			return 1;
		if (d->ops->config_write)
			d->ops->config_write(d, off, m->u.config.data, len);
		return 0;
	}
	case VU_GET_INFLIGHT_FD:
		*reply = true;
		if (get_inflight(b, m, out_fd) < 0)
			memset(&m->u.inflight, 0, sizeof(m->u.inflight));
		m->size = sizeof(m->u.inflight);
		return 0;
	case VU_SET_INFLIGHT_FD:
		return fd < 0 || map_inflight(b, fd, m->u.inflight.mmap_size, m->u.inflight.mmap_off) < 0;
	}
	/* the ring messages */
	if (m->req == VU_SET_VRING_KICK || m->req == VU_SET_VRING_CALL || m->req == VU_SET_VRING_ERR)
		qi = (unsigned)(m->u.u64 & 0xFF);
	if (qi >= nq)
		return 1;
	struct virtq *q = &d->vq[qi];
	switch (m->req) {
	case VU_SET_VRING_NUM:
		if (b->q[qi].started || !m->u.state.num || m->u.state.num > q->max_size ||
		    (m->u.state.num & (m->u.state.num - 1)))
			return 1;
		q->size = (uint16_t)m->u.state.num;
		return 0;
	case VU_SET_VRING_BASE:
		b->q[qi].base = (uint16_t)m->u.state.num;
		return 0;
	case VU_SET_VRING_ADDR:
		if (!ua_to_gpa(&b->mem, m->u.addr.desc, &q->desc_gpa) ||
		    !ua_to_gpa(&b->mem, m->u.addr.avail, &q->avail_gpa) ||
		    !ua_to_gpa(&b->mem, m->u.addr.used, &q->used_gpa))
			return 1;
		return 0;
	case VU_GET_VRING_BASE:
		/*
		 * Stopping: requests in flight are dropped (the inflight record
		 * keeps them), and the answer waits until no worker can still
		 * write guest memory.
		 */
		if (d->ops->reset)
			d->ops->reset(d);
		while (d->ops->resetting && d->ops->resetting(d))
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		m->u.state.num = q->last_avail - (uint16_t)(q->nresubmit - q->resubmit_pos);
		stop_queue(b, qi);
		*reply = true;
		m->size = sizeof(m->u.state);
		return 0;
	case VU_SET_VRING_KICK:
		if (fd >= 0)
			fds[0] = -1;   /* taken */
		if (virtio_set_kick(d, qi, fd) < 0)
			return 1;
		if (fd >= 0)
			start_queue(b, qi);
		return 0;
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR: {
		int *slot = m->req == VU_SET_VRING_CALL ? &q->call_efd : &q->err_efd;
		if (*slot >= 0)
			close(*slot);
		*slot = fd;
		if (fd >= 0)
			fds[0] = -1;
		return 0;
	}
	case VU_SET_VRING_ENABLE:
		b->q[qi].enabled = m->u.state.num != 0;
		if (b->q[qi].started) {
			q->ready = b->q[qi].enabled;
			if (q->ready && eventfd_write(q->kick_efd, 1) < 0)
				guest_warn("%s: kick: %s", d->name, strerror(errno));
		}
		return 0;
	}
	return 1;   /* unknown or unsupported */
}

/* Watch callback (device lock held): one message from the front-end. */
static void on_message(struct virtio_dev *d, void *arg)
{
	struct vu_back *b = arg;
	struct vu_msg m;
	int fds[VU_MAX_FDS], nfds, out_fd = -1, r;
	bool reply = false;
	uint64_t v;

	r = vu_recv(b->sock, &m, fds, &nfds);
	if (r <= 0) {
		if (r < 0)
			fprintf(stderr, "vmm: %s: vhost-user: %s\n", d->name, strerror(-r));
		b->err = r;
		d->quit = true;   /* the front-end is gone (or broke the protocol) */
		return;
	}
	v = handle(b, &m, fds, nfds, &reply, &out_fd);
	close_fds(fds, nfds);
	if (!reply && !(m.flags & VU_FLAG_NEED_REPLY && b->protocol & VIRTIO_BIT(VU_PF_REPLY_ACK))) {
		if (v)
			vlog("%s: vhost-user request %u refused", d->name, m.req);
		return;
	}
	if (!reply) {
		m.size = 8;
		m.u.u64 = v;
	} else if (m.size == 8 && (m.req == VU_GET_FEATURES || m.req == VU_GET_PROTOCOL_FEATURES ||
				   m.req == VU_GET_QUEUE_NUM)) {
		m.u.u64 = v;
	}
	m.flags = VU_VERSION | VU_FLAG_REPLY;
	r = vu_send(b->sock, &m, &out_fd, out_fd >= 0);
	if (out_fd >= 0)
		close(out_fd);
	if (r < 0) {
		b->err = r;
		d->quit = true;
	}
}

/* Back-end interrupts: a queue's call eventfd; a failure (the only config interrupt here) on every err eventfd. */
static bool vu_raise(struct virtio_dev *d, struct virtq *q)
{
	bool any = false;

	if (q)
		return q->call_efd >= 0 && eventfd_write(q->call_efd, 1) == 0;
	if (!(__atomic_load_n(&d->status, __ATOMIC_ACQUIRE) & VIRTIO_S_NEEDS_RESET))
		return false;
	for (unsigned i = 0; i < d->ops->nqueues; i++)
		if (d->vq[i].err_efd >= 0)
			any |= eventfd_write(d->vq[i].err_efd, 1) == 0;
	return any;
}

static void vu_stop(struct virtio_dev *d, int code)
{
	_exit(code);
}

int vu_serve(struct virtio_dev *d, int sock)
{
	struct vu_back *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	b->d = d;
	b->sock = sock;
	d->backend = true;
	d->raise = vu_raise;
	d->stop = vu_stop;
	if ((r = virtio_watch_fd(d, sock, EPOLLRDHUP, on_message, b)) < 0)
		return r;
	r = virtio_dev_run(d);
	r = r < 0 ? r : b->err < 0 ? b->err : 0;
	unmap_mem(b);
	if (b->inflight_map)
		munmap(b->inflight_map, b->inflight_map_len);
	free(b);
	return r;
}
