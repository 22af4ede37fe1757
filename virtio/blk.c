/* virtio/blk.c: virtio-blk (virtio 1.2 5.2) on a raw image file or block device, requests served by preadv/pwritev straight into guest memory. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../sandbox/sandbox.h"
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

struct blk {
	struct virtio_dev *dev;
	char *path;
	int fd;
	bool ro, direct, is_bdev;
	char serial[BLK_ID_BYTES];
	uint64_t sectors;
	uint32_t blk_size;          /* logical block size reported to the guest */
	struct virtq_req *req;
	struct iovec data[VIRTQ_MAX_SEGS];
	uint8_t *bounce;            /* O_DIRECT fallback for unaligned guest buffers */
};

struct blk_hdr { uint32_t type, reserved; uint64_t sector; };
struct blk_dz { uint64_t sector; uint32_t num_sectors, flags; };

/* ---- configuration ---- */

static void put_le(uint8_t *p, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void blk_config_read(struct virtio_dev *d, unsigned off, void *buf, unsigned len)
{
	struct blk *b = d->priv;
	uint8_t c[BLK_CONFIG_LEN] = { 0 };

	put_le(c + 0, 8, b->sectors);
	put_le(c + 8, 4, BLK_SIZE_MAX);
	put_le(c + 12, 4, BLK_SEG_MAX);
	put_le(c + 20, 4, b->blk_size);
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
static int rw_bounce(struct blk *b, bool wr, const struct iovec *iov, unsigned n, uint64_t off,
		     size_t len)
{
	for (size_t done = 0; done < len;) {
		size_t c = len - done < BLK_BOUNCE ? len - done : BLK_BOUNCE;
		struct iovec bi = { b->bounce, c };
		if (wr)
			iov_to_buf(iov, n, done, b->bounce, c);
		int r = rw_vec(b->fd, wr, &bi, 1, off + done);
		if (r < 0)
			return r;
		if (!wr)
			iov_from_buf(iov, n, done, b->bounce, c);
		done += c;
	}
	return 0;
}

static uint8_t blk_rw(struct blk *b, bool wr, uint64_t sector, struct iovec *iov, unsigned n,
		      size_t len)
{
	int r;

	if (len % SECTOR || sector > b->sectors || len / SECTOR > b->sectors - sector)
		return BLK_S_IOERR;
	if (wr && b->ro)
		return BLK_S_IOERR;
	if (b->direct && !iov_aligned(iov, n, sector * SECTOR, b->blk_size))
		r = rw_bounce(b, wr, iov, n, sector * SECTOR, len);
	else
		r = rw_vec(b->fd, wr, iov, n, sector * SECTOR);
	if (r == -EINVAL && b->direct)   /* stricter alignment than we assumed: nothing moved yet */
		r = rw_bounce(b, wr, iov, n, sector * SECTOR, len);
	if (r < 0) {
		guest_warn("%s (%s): %s at sector %llu: %s", b->dev->name, b->path, wr ? "write" : "read",
			   (unsigned long long)sector, strerror(-r));
		return BLK_S_IOERR;
	}
	atomic_fetch_add_explicit(&b->dev->stats.bytes, len, memory_order_relaxed);
	return BLK_S_OK;
}

/* Zero a range by writing zeros: the fallback when fallocate cannot. */
static int write_zeros(struct blk *b, uint64_t off, uint64_t len)
{
	static const uint8_t zero[64 * 1024] __attribute__((aligned(4096)));
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

/* Copy iov[0..n) into b->data, dropping `skip` leading and `trim` trailing bytes. */
static unsigned carve(struct blk *b, const struct iovec *iov, unsigned n, size_t skip, size_t trim,
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
		b->data[k++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, l };
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
 * Serve one request; *used is what goes in the used ring. A request without a
 * 16-byte header or a status byte is a broken driver: -EINVAL, device failed.
 */
static int blk_request(struct blk *b, struct virtq_req *r, uint32_t *used)
{
	const struct iovec *out = r->iov, *in = r->iov + r->nout;
	struct iovec *last;
	struct blk_hdr h;
	uint8_t st;
	size_t len;
	unsigned n;

	if (r->out_bytes < sizeof(h) || r->in_bytes < 1) {
		virtio_dev_fail(b->dev, r->out_bytes < sizeof(h) ? "blk request header too short"
								 : "blk request without a status byte");
		return -EINVAL;
	}
	iov_to_buf(out, r->nout, 0, &h, sizeof(h));
	last = &r->iov[r->nout + r->nin - 1];
	*used = 1;
	switch (h.type) {
	case BLK_T_IN:
		n = carve(b, in, r->nin, 0, 1, &len);
		st = blk_rw(b, false, h.sector, b->data, n, len);
		if (st == BLK_S_OK)
			*used += (uint32_t)len;
		break;
	case BLK_T_OUT:
		n = carve(b, out, r->nout, sizeof(h), 0, &len);
		st = blk_rw(b, true, h.sector, b->data, n, len);
		break;
	case BLK_T_FLUSH:
		st = b->ro || fdatasync(b->fd) == 0 ? BLK_S_OK : BLK_S_IOERR;
		break;
	case BLK_T_GET_ID:
		n = carve(b, in, r->nin, 0, 1, &len);
		st = blk_get_id(b, b->data, n, len, used);
		break;
	case BLK_T_DISCARD:
	case BLK_T_WRITE_ZEROES:
		n = carve(b, out, r->nout, sizeof(h), 0, &len);
		st = blk_discard_zero(b, h.type == BLK_T_WRITE_ZEROES, b->data, n, len);
		break;
	default:
		st = BLK_S_UNSUPP;
	}
	((uint8_t *)last->iov_base)[last->iov_len - 1] = st;
	return 0;
}

static void blk_process(struct virtio_dev *d, struct virtq *q)
{
	struct blk *b = d->priv;
	uint32_t used;
	int r;

	do {
		virtq_disable_notify(q);
		while ((r = virtq_pop(q, b->req)) > 0) {
			if (blk_request(b, b->req, &used) < 0)
				return;
			virtq_push(q, b->req->head, used);
			atomic_fetch_add_explicit(&d->stats.requests, 1, memory_order_relaxed);
		}
		if (r < 0)
			return;
		virtio_notify(d, q);
	} while (virtq_enable_notify(q));
}

#define BLK_OPS(extra) { \
	.name = "virtio-blk", \
	.device_id = 2, \
	.pci_class = 0x018000, \
	.features = VIRTIO_BIT(BLK_F_SIZE_MAX) | VIRTIO_BIT(BLK_F_SEG_MAX) | \
		    VIRTIO_BIT(BLK_F_BLK_SIZE) | VIRTIO_BIT(BLK_F_FLUSH) | (extra), \
	.nqueues = 1, \
	.queue_size = BLK_QUEUE_SIZE, \
	.config_len = BLK_CONFIG_LEN, \
	.sandbox_role = SB_ROLE_BLK, \
	.config_read = blk_config_read, \
	.process = blk_process, \
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

static void size_image(struct blk *b)
{
	struct stat st;
	uint64_t bytes;
	int lbs = 512;

	if (fstat(b->fd, &st) < 0)
		fatal_errno(EXIT_USAGE, "%s", b->path);
	if (S_ISBLK(st.st_mode)) {
		b->is_bdev = true;
		if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0 || ioctl(b->fd, BLKSSZGET, &lbs) < 0)
			fatal_errno(EXIT_USAGE, "%s: cannot get the device size", b->path);
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else {
		fatal(EXIT_USAGE, "%s: not a regular file or block device", b->path);
	}
	if (bytes < SECTOR)
		fatal(EXIT_USAGE, "%s: empty disk image (%llu bytes)", b->path, (unsigned long long)bytes);
	if (bytes % SECTOR)   /* documented: the partial last sector is not visible to the guest */
		fprintf(stderr, "vmm: warning: %s: size is not a multiple of 512; the last %llu bytes are ignored\n",
			b->path, (unsigned long long)(bytes % SECTOR));
	b->sectors = bytes / SECTOR;
	b->blk_size = lbs >= 512 && lbs <= 4096 && !(lbs & (lbs - 1)) ? (uint32_t)lbs : 512;
}

struct blk *virtio_blk_open(const char *spec)
{
	struct blk *b = calloc(1, sizeof(*b));

	if (!b || !(b->req = malloc(sizeof(*b->req))))
		fatal(EXIT_USAGE, "--disk %s: out of memory", spec);
	parse_spec(b, spec);
	open_image(b);
	size_image(b);
	if (b->direct && !(b->bounce = aligned_alloc(4096, BLK_BOUNCE)))
		fatal(EXIT_USAGE, "--disk %s: out of memory", spec);
	return b;
}

void virtio_blk_attach(struct vm *vm, struct blk *b)
{
	b->dev = virtio_dev_create(vm, b->ro ? &blk_ops_ro : &blk_ops_rw, b, b->path);
	vlog("%s: %s, %llu sectors%s%s", b->dev->name, b->path, (unsigned long long)b->sectors,
	     b->ro ? ", read-only" : "", b->direct ? ", O_DIRECT" : "");
}

void virtio_blk_create(struct vm *vm, const char *spec)
{
	virtio_blk_attach(vm, virtio_blk_open(spec));
}
