/* virtio/blk.c: virtio-blk (virtio 1.2 5.2) on a raw image file or block device, requests served by preadv/pwritev straight into guest memory by a small pool of worker threads. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../sandbox/sandbox.h"
#include "../le.h"
#include "virtio.h"

#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10   /* linux/falloc.h; musl's fcntl.h lacks it */
#endif

/* Feature bits (5.2.3). */
#define BLK_F_SIZE_MAX      1
#define BLK_F_SEG_MAX       2
#define BLK_F_RO            5
#define BLK_F_BLK_SIZE      6
#define BLK_F_FLUSH         9
#define BLK_F_TOPOLOGY      10
#define BLK_F_DISCARD       13
#define BLK_F_WRITE_ZEROES  14

/* Request types and status (5.2.6). */
#define BLK_T_IN            0
#define BLK_T_OUT           1
#define BLK_T_FLUSH         4
#define BLK_T_GET_ID        8
#define BLK_T_DISCARD       11
#define BLK_T_WRITE_ZEROES  13
#define BLK_S_OK            0
#define BLK_S_IOERR         1
#define BLK_S_UNSUPP        2

#define BLK_QUEUE_SIZE      256
#define BLK_SEG_MAX         (BLK_QUEUE_SIZE - 2)
#define BLK_SIZE_MAX        (1u << 20)
#define BLK_MAX_DZ_SECTORS  (1u << 22)   /* per discard / write-zeroes segment */
#define BLK_MAX_DZ_SEG      16
#define BLK_ID_BYTES        20
#define BLK_CONFIG_LEN      60
#define BLK_BOUNCE          (1u << 20)
#define SECTOR              512ull
#define BLK_WORKERS         4          /* threads doing I/O per disk */
#define BLK_INFLIGHT        32         /* requests popped and not yet used, per disk */

/* What serving one request needs besides the request: one per thread that serves. */
struct blk_ctx {
	struct iovec data[VIRTQ_MAX_SEGS];
	uint8_t *bounce;            /* O_DIRECT fallback for unaligned guest buffers */
};

/* A request between virtq_pop and virtq_push. */
struct blk_slot {
	struct virtq_req req;
	uint32_t used;              /* bytes for the used ring, set by the worker */
	unsigned gen;               /* pool generation it was popped in */
};

/*
 * The worker pool. The device thread pops requests into free slots and queues
 * them (todo); a worker serves one and moves it to done, writing done_efd when
 * done was empty; the device thread (a virtio_watch_fd callback) pushes what is
 * done, so only the device thread writes the used ring. A reset does not
 * wait: it bumps `gen`, so what workers still serve is dropped when done, and
 * the device reads as resetting until `running` drops to 0. free[] and gen
 * belong to the device thread and the reset (device lock).
 */
struct blk_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	unsigned todo[BLK_INFLIGHT], todo_head, ntodo;   /* FIFO of slot numbers */
	unsigned done[BLK_INFLIGHT], ndone;
	unsigned running;                                /* slots a worker is serving */
	unsigned free[BLK_INFLIGHT], nfree;
	unsigned gen;
	int done_efd;
	unsigned nworkers;                               /* 0: serve inline (unit tests) */
	struct blk_slot *slot;
	struct blk_ctx *ctx;                             /* one per worker */
};

struct blk {
	struct virtio_dev *dev;
	char *path;
	int fd;
	bool ro, direct, is_bdev;
	char serial[BLK_ID_BYTES];
	uint64_t sectors;
	uint32_t blk_size;          /* logical block size reported to the guest (,direct: the offset alignment) */
	uint32_t phys_size;         /* physical block size reported (topology) */
	uint32_t mem_align;         /* ,direct: guest buffers less aligned than this go through a bounce buffer */
	struct virtq_req *req;      /* the inline path's request and context */
	struct blk_ctx ctx;
	struct blk_pool pool;
};

struct blk_hdr { uint32_t type, reserved; uint64_t sector; };
struct blk_dz { uint64_t sector; uint32_t num_sectors, flags; };

/* ---- configuration ---- */

static void blk_config_read(struct virtio_dev *d, unsigned off, void *buf, unsigned len)
{
	struct blk *b = d->priv;
	uint8_t c[BLK_CONFIG_LEN] = { 0 };

	put_le(c + 0, 8, b->sectors);
	put_le(c + 8, 4, BLK_SIZE_MAX);
	put_le(c + 12, 4, BLK_SEG_MAX);
	put_le(c + 20, 4, b->blk_size);
	c[24] = (uint8_t)__builtin_ctz(b->phys_size / b->blk_size);   /* physical_block_exp */
	put_le(c + 26, 2, 1);                              /* min_io_size, in logical blocks */
	put_le(c + 34, 2, 1);                              /* num_queues */
	put_le(c + 36, 4, BLK_MAX_DZ_SECTORS);             /* max_discard_sectors */
	put_le(c + 40, 4, BLK_MAX_DZ_SEG);                 /* max_discard_seg */
	put_le(c + 44, 4, b->blk_size / SECTOR);           /* discard_sector_alignment */
	put_le(c + 48, 4, BLK_MAX_DZ_SECTORS);             /* max_write_zeroes_sectors */
	put_le(c + 52, 4, BLK_MAX_DZ_SEG);                 /* max_write_zeroes_seg */
	c[56] = 1;                                         /* write_zeroes_may_unmap */
	memcpy(buf, c + off, len);
}

/* ---- data transfer ---- */

static bool iov_aligned(const struct iovec *iov, unsigned n, uint64_t off, size_t align)
{
	if (off % align)
		return false;
	for (unsigned i = 0; i < n; i++)
		if ((uintptr_t)iov[i].iov_base % align || iov[i].iov_len % align)
			return false;
	return true;
}

/* preadv/pwritev until done; the iov array is consumed. */
static int rw_vec(int fd, bool wr, struct iovec *iov, unsigned n, uint64_t off)
{
	while (n) {
		ssize_t r = wr ? pwritev(fd, iov, (int)n, (off_t)off) : preadv(fd, iov, (int)n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		off += (uint64_t)r;
		while (n && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++, n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* O_DIRECT with guest buffers that are not aligned: go through an aligned buffer. */
static int rw_bounce(struct blk *b, uint8_t *bounce, bool wr, const struct iovec *iov, unsigned n,
		     uint64_t off, size_t len)
{
	for (size_t done = 0; done < len;) {
		size_t c = len - done < BLK_BOUNCE ? len - done : BLK_BOUNCE;
		struct iovec bi = { bounce, c };
		if (wr)
			iov_to_buf(iov, n, done, bounce, c);
		int r = rw_vec(b->fd, wr, &bi, 1, off + done);
		if (r < 0)
			return r;
		if (!wr)
			iov_from_buf(iov, n, done, bounce, c);
		done += c;
	}
	return 0;
}

static uint8_t blk_rw(struct blk *b, struct blk_ctx *c, bool wr, uint64_t sector, unsigned n,
		      size_t len)
{
	struct iovec *iov = c->data;
	int r;

	if (len % SECTOR || sector > b->sectors || len / SECTOR > b->sectors - sector)
		return BLK_S_IOERR;
	if (wr && b->ro)
		return BLK_S_IOERR;
	if (b->direct && !iov_aligned(iov, n, sector * SECTOR, b->mem_align))
		r = rw_bounce(b, c->bounce, wr, iov, n, sector * SECTOR, len);
	else
		r = rw_vec(b->fd, wr, iov, n, sector * SECTOR);
	if (r == -EINVAL && b->direct)   /* stricter alignment than we assumed: nothing moved yet */
		r = rw_bounce(b, c->bounce, wr, iov, n, sector * SECTOR, len);
	if (r < 0) {
		guest_warn("%s (%s): %s at sector %llu: %s", b->dev->name, b->path, wr ? "write" : "read",
			   (unsigned long long)sector, strerror(-r));
		return BLK_S_IOERR;
	}
	atomic_fetch_add_explicit(&b->dev->stats->bytes, len, memory_order_relaxed);
	return BLK_S_OK;
}

/* Zero a range by writing zeros: the fallback when fallocate cannot. */
static int write_zeros(struct blk *b, uint64_t off, uint64_t len)
{
	static uint8_t zero[64 * 1024] __attribute__((aligned(4096)));   /* never written; in .bss, not the binary */
	while (len) {
		size_t c = len < sizeof(zero) ? (size_t)len : sizeof(zero);
		struct iovec v = { (void *)zero, c };
		int r = rw_vec(b->fd, true, &v, 1, off);
		if (r < 0)
			return r;
		off += c;
		len -= c;
	}
	return 0;
}

static uint8_t blk_dz_one(struct blk *b, bool zero, const struct blk_dz *s)
{
	uint64_t off = s->sector * SECTOR, len = (uint64_t)s->num_sectors * SECTOR;
	bool unmap = s->flags & 1;

	if (s->flags & ~1u || (!zero && unmap))
		return BLK_S_UNSUPP;
	if (s->num_sectors > BLK_MAX_DZ_SECTORS || s->sector > b->sectors ||
	    s->num_sectors > b->sectors - s->sector)
		return BLK_S_IOERR;
	if (len == 0)
		return BLK_S_OK;
	if (!zero) {   /* discard is a hint: a backend that cannot punch holes keeps the data */
		(void)!fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
		return BLK_S_OK;
	}
	int mode = (unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE;
	if (fallocate(b->fd, mode, (off_t)off, (off_t)len) == 0 || write_zeros(b, off, len) == 0)
		return BLK_S_OK;
	return BLK_S_IOERR;
}

/* DISCARD / WRITE_ZEROES: an array of 16-byte segments in the out data. */
static uint8_t blk_discard_zero(struct blk *b, bool zero, const struct iovec *iov, unsigned n,
				size_t len)
{
	struct blk_dz s;

	if (b->ro)
		return BLK_S_IOERR;
	if (len == 0 || len % sizeof(s) || len / sizeof(s) > BLK_MAX_DZ_SEG)
		return BLK_S_UNSUPP;
	for (size_t off = 0; off < len; off += sizeof(s)) {
		iov_to_buf(iov, n, off, &s, sizeof(s));
		uint8_t st = blk_dz_one(b, zero, &s);
		if (st != BLK_S_OK)
			return st;
	}
	return BLK_S_OK;
}

/* ---- request parsing ---- */

/* Copy iov[0..n) into c->data, dropping `skip` leading and `trim` trailing bytes. */
static unsigned carve(struct blk_ctx *c, const struct iovec *iov, unsigned n, size_t skip, size_t trim,
		      size_t *len)
{
	unsigned k = 0;
	size_t total = 0;

	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	total = total > skip + trim ? total - skip - trim : 0;
	*len = total;
	for (unsigned i = 0; i < n && total; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > total)
			l = total;
		c->data[k++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, l };
		total -= l;
		skip = 0;
	}
	return k;
}

static uint8_t blk_get_id(struct blk *b, const struct iovec *iov, unsigned n, size_t len,
			  uint32_t *written)
{
	size_t c = len < BLK_ID_BYTES ? len : BLK_ID_BYTES;
	*written += (uint32_t)iov_from_buf(iov, n, 0, b->serial, c);
	return BLK_S_OK;
}

/*
 * Device thread: a request without a 16-byte header or a status byte is a
 * broken driver: -EINVAL, device failed. Checked before a worker sees it.
 */
static int blk_check(struct blk *b, const struct virtq_req *r)
{
	if (r->out_bytes >= sizeof(struct blk_hdr) && r->in_bytes >= 1)
		return 0;
	virtio_dev_fail(b->dev, r->out_bytes < sizeof(struct blk_hdr) ? "blk request header too short"
								    : "blk request without a status byte");
	return -EINVAL;
}

/* Serve one checked request with context c (any thread); returns what goes in the used ring. */
static uint32_t blk_serve(struct blk *b, struct blk_ctx *c, const struct virtq_req *r)
{
	const struct iovec *out = r->iov, *in = r->iov + r->nout;
	const struct iovec *last = &r->iov[r->nout + r->nin - 1];
	uint32_t used = 1;
	struct blk_hdr h;
	uint8_t st;
	size_t len;
	unsigned n;

	iov_to_buf(out, r->nout, 0, &h, sizeof(h));
	switch (h.type) {
	case BLK_T_IN:
		n = carve(c, in, r->nin, 0, 1, &len);
		st = blk_rw(b, c, false, h.sector, n, len);
		if (st == BLK_S_OK)
			used += (uint32_t)len;
		break;
	case BLK_T_OUT:
		n = carve(c, out, r->nout, sizeof(h), 0, &len);
		st = blk_rw(b, c, true, h.sector, n, len);
		break;
	case BLK_T_FLUSH:
		st = b->ro || fdatasync(b->fd) == 0 ? BLK_S_OK : BLK_S_IOERR;
		break;
	case BLK_T_GET_ID:
		n = carve(c, in, r->nin, 0, 1, &len);
		st = blk_get_id(b, c->data, n, len, &used);
		break;
	case BLK_T_DISCARD:
	case BLK_T_WRITE_ZEROES:
		n = carve(c, out, r->nout, sizeof(h), 0, &len);
		st = blk_discard_zero(b, h.type == BLK_T_WRITE_ZEROES, c->data, n, len);
		break;
	default:
		st = BLK_S_UNSUPP;
	}
	((uint8_t *)last->iov_base)[last->iov_len - 1] = st;
	return used;
}

static void blk_complete(struct virtio_dev *d, struct virtq *q, uint16_t head, uint32_t used)
{
	virtq_push(q, head, used);
	atomic_fetch_add_explicit(&d->stats->requests, 1, memory_order_relaxed);
}

/* No workers (before virtio_start, as in the unit tests): serve on the device thread. */
static void blk_process_inline(struct virtio_dev *d, struct virtq *q)
{
	struct blk *b = d->priv;
	int r;

	do {
		virtq_disable_notify(q);
		while ((r = virtq_pop(q, b->req)) > 0) {
			if (blk_check(b, b->req) < 0)
				return;
			blk_complete(d, q, b->req->head, blk_serve(b, &b->ctx, b->req));
		}
		if (r < 0)
			return;
		virtio_notify(d, q);
	} while (virtq_enable_notify(q));
}

/* ---- the worker pool ---- */

/* Device thread: pop into free slots and queue them; false if the queue broke. */
static bool pool_feed(struct blk *b, struct virtq *q)
{
	struct blk_pool *p = &b->pool;

	while (p->nfree) {
		unsigned s = p->free[p->nfree - 1];
		int r = virtq_pop(q, &p->slot[s].req);
		if (r == 0)
			break;
		if (r < 0 || blk_check(b, &p->slot[s].req) < 0)
			return false;
		p->nfree--;
		p->slot[s].gen = p->gen;
		pthread_mutex_lock(&p->lock);
		p->todo[(p->todo_head + p->ntodo++) % BLK_INFLIGHT] = s;
		pthread_cond_signal(&p->work);
		pthread_mutex_unlock(&p->lock);
	}
	return true;
}

/*
 * With workers: hand out what the ring holds while slots are free. When they
 * run out, kicks stay off; the completion path calls this again.
 */
static void blk_process(struct virtio_dev *d, struct virtq *q)
{
	struct blk *b = d->priv;

	if (!b->pool.nworkers) {
		blk_process_inline(d, q);
		return;
	}
	do {
		virtq_disable_notify(q);
		if (!pool_feed(b, q) || !b->pool.nfree)
			return;
	} while (virtq_enable_notify(q));
}

/* Device thread (watch on done_efd): push what the workers finished, then refill. */
static void blk_done(struct virtio_dev *d, void *arg)
{
	struct blk *b = arg;
	struct blk_pool *p = &b->pool;
	struct virtq *q = &d->vq[0];
	unsigned done[BLK_INFLIGHT], n;
	eventfd_t v;

	(void)!eventfd_read(p->done_efd, &v);   /* before taking the list: a later append writes again */
	pthread_mutex_lock(&p->lock);
	n = p->ndone;
	memcpy(done, p->done, n * sizeof(done[0]));
	p->ndone = 0;
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < n; i++) {
		if (p->slot[done[i]].gen == p->gen && q->ready && !q->broken)
			blk_complete(d, q, p->slot[done[i]].req.head, p->slot[done[i]].used);
		p->free[p->nfree++] = done[i];
	}
	if (n && q->ready && !q->broken)
		virtio_notify(d, q);
	if (virtio_dev_running(d) && q->ready && !q->broken)
		blk_process(d, q);
}

/* Worker: take a queued slot, serve it, hand it back through done. */
static void pool_work(struct blk *b, struct blk_ctx *c)
{
	struct blk_pool *p = &b->pool;
	bool wake;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->ntodo)
			pthread_cond_wait(&p->work, &p->lock);
		unsigned s = p->todo[p->todo_head];
		p->todo_head = (p->todo_head + 1) % BLK_INFLIGHT;
		p->ntodo--;
		p->running++;
		pthread_mutex_unlock(&p->lock);
		p->slot[s].used = blk_serve(b, c, &p->slot[s].req);
		pthread_mutex_lock(&p->lock);
		p->running--;
		wake = p->ndone == 0;
		p->done[p->ndone++] = s;
		if (wake && eventfd_write(p->done_efd, 1) < 0)
			guest_warn("%s: completion: %s", b->dev->name, strerror(errno));
	}
}

struct blk_worker_arg { struct blk *b; unsigned i; };

static void *blk_worker(void *arg)
{
	struct blk_worker_arg a = *(struct blk_worker_arg *)arg;

	free(arg);
	prctl(PR_SET_NAME, "vio-blk-io");   /* before the sandbox, which forbids prctl */
	if (!a.b->dev->no_sandbox) {
		int r = sandbox_enter(SB_ROLE_BLK_IO, -1);
		if (r < 0) {
			fprintf(stderr, "vmm: %s: sandbox: %s\n", a.b->dev->name, strerror(-r));
			a.b->dev->stop(a.b->dev, EXIT_RUNTIME);
			return NULL;
		}
	}
	pool_work(a.b, &a.b->pool.ctx[a.i]);
	return NULL;
}

/* virtio_start (main thread, signals blocked): create the workers. */
static int blk_start(struct virtio_dev *d)
{
	struct blk *b = d->priv;
	struct blk_pool *p = &b->pool;

	for (unsigned i = p->nworkers; i < BLK_WORKERS; i++) {
		struct blk_worker_arg *a = malloc(sizeof(*a));
		pthread_t t;
		int r = a ? 0 : ENOMEM;
		if (a)
			*a = (struct blk_worker_arg){ b, i };
		if (!r && (r = pthread_create(&t, NULL, blk_worker, a)) == 0)
			r = pthread_detach(t);
		if (r) {
			free(a);
			fprintf(stderr, "vmm: %s: worker thread: %s\n", d->name, strerror(r));
			return -r;
		}
		p->nworkers++;
	}
	return 0;
}

/*
 * (vCPU, device lock held) Reset without waiting (a hung disk must not stall
 * the vCPU): queued and finished requests are forgotten now, those being
 * served are dropped when their worker is done (blk_done sees an old gen).
 */
static void blk_reset(struct virtio_dev *d)
{
	struct blk_pool *p = &((struct blk *)d->priv)->pool;

	pthread_mutex_lock(&p->lock);
	p->gen++;
	for (; p->ntodo; p->ntodo--, p->todo_head = (p->todo_head + 1) % BLK_INFLIGHT)
		p->free[p->nfree++] = p->todo[p->todo_head];
	while (p->ndone)
		p->free[p->nfree++] = p->done[--p->ndone];
	pthread_mutex_unlock(&p->lock);
}

/* (vCPU) Whether a worker still serves a request, so guest memory may still be written. */
static bool blk_resetting(struct virtio_dev *d)
{
	struct blk_pool *p = &((struct blk *)d->priv)->pool;

	pthread_mutex_lock(&p->lock);
	bool busy = p->running != 0;
	pthread_mutex_unlock(&p->lock);
	return busy;
}

#define BLK_OPS(extra) { \
	.name = "virtio-blk", \
	.device_id = 2, \
	.pci_class = 0x018000, \
	.features = VIRTIO_BIT(BLK_F_SIZE_MAX) | VIRTIO_BIT(BLK_F_SEG_MAX) | \
		    VIRTIO_BIT(BLK_F_BLK_SIZE) | VIRTIO_BIT(BLK_F_FLUSH) | VIRTIO_BIT(BLK_F_TOPOLOGY) | (extra), \
	.nqueues = 1, \
	.queue_size = BLK_QUEUE_SIZE, \
	.config_len = BLK_CONFIG_LEN, \
	.sandbox_role = SB_ROLE_BLK, \
	.config_read = blk_config_read, \
	.process = blk_process, \
	.reset = blk_reset, \
	.resetting = blk_resetting, \
	.start = blk_start, \
}
/* Read-only disks offer RO and neither DISCARD nor WRITE_ZEROES. */
static const struct virtio_ops blk_ops_rw = BLK_OPS(VIRTIO_BIT(BLK_F_DISCARD) | VIRTIO_BIT(BLK_F_WRITE_ZEROES));
static const struct virtio_ops blk_ops_ro = BLK_OPS(VIRTIO_BIT(BLK_F_RO));

/* ---- setup (fatal errors name the disk) ---- */

static void parse_spec(struct blk *b, const char *spec)
{
	char *s = strdup(spec), *opt, *save = NULL;

	if (!s)
		fatal(EXIT_USAGE, "out of memory");
	b->path = strtok_r(s, ",", &save);
	if (!b->path || spec[0] == ',')
		fatal(EXIT_USAGE, "--disk %s: no image path", spec);
	while ((opt = strtok_r(NULL, ",", &save))) {
		if (!strcmp(opt, "ro"))
			b->ro = true;
		else if (!strcmp(opt, "direct"))
			b->direct = true;
		else if (!strncmp(opt, "serial=", 7) && strlen(opt + 7) <= BLK_ID_BYTES)
			memcpy(b->serial, opt + 7, strlen(opt + 7));
		else if (!strncmp(opt, "serial=", 7))
			fatal(EXIT_USAGE, "--disk %s: serial is longer than %d bytes", spec, BLK_ID_BYTES);
		else
			fatal(EXIT_USAGE, "--disk %s: unknown option '%s' (ro, direct, serial=ID)", spec, opt);
	}
}

static void open_image(struct blk *b)
{
	int flags = (b->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | (b->direct ? O_DIRECT : 0);
	struct stat st;

	/* a writable block device must not be mounted or claimed: O_EXCL says EBUSY then */
	if (!b->ro && stat(b->path, &st) == 0 && S_ISBLK(st.st_mode))
		flags |= O_EXCL;
	b->fd = open(b->path, flags);
	if (b->fd < 0 && errno == EBUSY)
		fatal(EXIT_USAGE, "%s is in use (mounted, or opened exclusively by another process)", b->path);
	if (b->fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM) && !b->ro)
		fatal(EXIT_USAGE, "%s: cannot open for writing (%s); add ,ro to attach it read-only",
		      b->path, strerror(errno));
	if (b->fd < 0 && errno == EINVAL && b->direct)
		fatal(EXIT_USAGE, "%s: its file system does not support direct I/O (,direct)", b->path);
	if (b->fd < 0)
		fatal_errno(EXIT_USAGE, "%s", b->path);
	if (flock(b->fd, (b->ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			fatal(EXIT_USAGE, "%s is in use by another process", b->path);
		fatal_errno(EXIT_USAGE, "%s: flock", b->path);
	}
}

static bool pow2_in(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v >= lo && v <= hi && !(v & (v - 1));
}

/*
 * ,direct on a file: the offset/length and memory alignment O_DIRECT needs
 * (statx STATX_DIOALIGN, Linux 6.1+; else the smallest read at offset 0 that
 * works). Advertised as the logical block size, so a valid guest request
 * never fails for alignment (a 4 KiB-sector disk under the file system).
 */
static void file_dio_align(struct blk *b, uint32_t *off_align, uint32_t *mem_align)
{
	struct statx sx = { 0 };
	static uint8_t probe[4096] __attribute__((aligned(4096)));

	if (syscall(SYS_statx, b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
		*off_align = sx.stx_dio_offset_align;
		*mem_align = sx.stx_dio_mem_align;
		return;
	}
	for (*off_align = 512; *off_align < 4096; *off_align *= 2)
		if (pread(b->fd, probe, *off_align, 0) >= 0 || errno != EINVAL)
			break;
	*mem_align = *off_align;
}

static void size_image(struct blk *b)
{
	struct stat st;
	uint64_t bytes;
	int lbs = 512;
	unsigned pbs = 0;
	uint32_t off_align = 512, mem_align = 512;

	if (fstat(b->fd, &st) < 0)
		fatal_errno(EXIT_USAGE, "%s", b->path);
	if (S_ISBLK(st.st_mode)) {
		b->is_bdev = true;
		if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0 || ioctl(b->fd, BLKSSZGET, &lbs) < 0)
			fatal_errno(EXIT_USAGE, "%s: cannot get the device size", b->path);
		if (ioctl(b->fd, BLKPBSZGET, &pbs) < 0)
			pbs = 0;
		off_align = mem_align = (uint32_t)lbs;
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
		pbs = (unsigned)st.st_blksize;
		if (b->direct)
			file_dio_align(b, &off_align, &mem_align);
	} else {
		fatal(EXIT_USAGE, "%s: not a regular file or block device", b->path);
	}
	if (!pow2_in(off_align, 512, 4096))
		fatal(EXIT_USAGE, "%s: direct I/O needs %u-byte alignment here; use it without ,direct",
		      b->path, off_align);
	b->blk_size = off_align;
	b->mem_align = pow2_in(mem_align, 1, 4096) ? mem_align : 4096;
	b->phys_size = pow2_in(pbs, b->blk_size, 65536) ? pbs : b->blk_size;
	if (bytes < b->blk_size)
		fatal(EXIT_USAGE, "%s: empty disk image (%llu bytes)", b->path, (unsigned long long)bytes);
	if (bytes % b->blk_size)   /* documented: a partial last block is not visible to the guest */
		fprintf(stderr, "vmm: warning: %s: size is not a multiple of %u; the last %llu bytes are ignored\n",
			b->path, b->blk_size, (unsigned long long)(bytes % b->blk_size));
	b->sectors = bytes / b->blk_size * (b->blk_size / SECTOR);
}

/* The inline context and the pool's slots and worker contexts; false if out of memory. */
static bool alloc_pool(struct blk *b)
{
	struct blk_pool *p = &b->pool;

	b->req = malloc(sizeof(*b->req));
	p->slot = calloc(BLK_INFLIGHT, sizeof(*p->slot));
	p->ctx = calloc(BLK_WORKERS, sizeof(*p->ctx));
	if (!b->req || !p->slot || !p->ctx)
		return false;
	for (unsigned i = 0; i <= BLK_WORKERS && b->direct; i++) {
		uint8_t **bounce = i < BLK_WORKERS ? &p->ctx[i].bounce : &b->ctx.bounce;
		if (!(*bounce = aligned_alloc(4096, BLK_BOUNCE)))
			return false;
	}
	for (unsigned i = 0; i < BLK_INFLIGHT; i++)
		p->free[i] = i;
	p->nfree = BLK_INFLIGHT;
	return true;
}

struct blk *virtio_blk_open(const char *spec)
{
	struct blk *b = calloc(1, sizeof(*b));

	if (!b)
		fatal(EXIT_USAGE, "--disk %s: out of memory", spec);
	parse_spec(b, spec);
	open_image(b);
	size_image(b);
	if (!alloc_pool(b))
		fatal(EXIT_USAGE, "--disk %s: out of memory", spec);
	return b;
}

/* The pool's completion path on device d. */
static void blk_bind(struct blk *b, struct virtio_dev *d)
{
	struct blk_pool *p = &b->pool;

	b->dev = d;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	p->done_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->done_efd < 0 || virtio_watch_fd(d, p->done_efd, 0, blk_done, b) < 0)
		fatal(EXIT_RUNTIME, "%s (%s): cannot set up the I/O workers", d->name, b->path);
	vlog("%s: %s, %llu sectors%s%s", d->name, b->path, (unsigned long long)b->sectors,
	     b->ro ? ", read-only" : "", b->direct ? ", O_DIRECT" : "");
}

void virtio_blk_attach(struct vm *vm, struct blk *b)
{
	blk_bind(b, virtio_dev_create(vm, b->ro ? &blk_ops_ro : &blk_ops_rw, b, b->path));
}

struct virtio_dev *virtio_blk_backend(struct blk *b)
{
	static struct virtio_ops ops;   /* one disk per back-end process */
	struct virtio_dev *d;

	ops = b->ro ? blk_ops_ro : blk_ops_rw;
	ops.sandbox_role = SB_ROLE_BLK_PROC;
	d = virtio_dev_new(&ops, b, b->path);
	if (!d)
		fatal(EXIT_RUNTIME, "--disk %s: cannot create the device", b->path);
	blk_bind(b, d);
	return d;
}

int virtio_blk_fd(const struct blk *b)
{
	return b->fd;
}

const char *virtio_blk_path(const struct blk *b)
{
	return b->path;
}

void virtio_blk_create(struct vm *vm, const char *spec)
{
	virtio_blk_attach(vm, virtio_blk_open(spec));
}
