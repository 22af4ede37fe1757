/* virtio/fs.c: virtio-fs (virtio 1.2 5.11): a FUSE server exporting one host directory to a hostile guest, served synchronously on the device thread. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../sandbox/sandbox.h"
#include "../le.h"
#include "virtio.h"

/*
 * The guest is hostile. What it names is checked before use:
 * - nodeids and fhs are a table index plus the slot's random 32-bit tag
 *   (redrawn on every reuse): an unknown, stale or forged one is -ESTALE
 *   (nodes) or -EBADF (handles), and a handle is either a file or a directory;
 * - a name is one path component (not "", ".", "..", no '/'), resolved with
 *   *at() calls relative to its parent's O_PATH fd, O_NOFOLLOW: no guest
 *   string is ever resolved as a path, and no symlink in the share is followed;
 * - every table and buffer is bounded; a request shorter than its opcode's
 *   arguments, or whose reply does not fit, is refused before it does anything.
 */

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)   /* linux/fs.h; musl's stdio.h lacks them */
#define RENAME_EXCHANGE  (1 << 1)
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE  0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

#define FS_DEVICE_ID     26
#define FS_TAG_MAX       36
#define FS_CONFIG_LEN    40          /* tag[36] + le32 num_request_queues */
#define FS_QUEUE_SIZE    256
#define FS_MAX_NODES     (1u << 15)  /* inodes the guest may hold (each an O_PATH fd) */
#define FS_MAX_HANDLES   4096        /* open files and directories */
#define FS_HASH          (1u << 14)
#define FS_MAX_WRITE     (1u << 20)  /* max_write = max_pages * 4 KiB */
#define FS_MAX_PAGES     256
#define FS_ARG_MAX       (XATTR_SIZE_MAX_ + 2 * 4096 + 512)   /* largest request but WRITE */
#define XATTR_SIZE_MAX_  65536
#define FS_REPLY_MAX     (128u << 10)  /* largest reply built in a buffer (READDIR, xattrs) */
#define FS_DENTS         (64u << 10)
#define FS_TIMEOUT       1             /* entry and attr validity, seconds: the host may change files */
#define FS_NOREPLY       INT_MIN       /* an op's result: push the chain with len 0 */

enum { FH_FREE, FH_FILE, FH_DIR };

/*
 * One inode the guest knows. fd is O_PATH|O_NOFOLLOW (a symlink's fd is the
 * link itself); (dev, ino) dedupes lookups; nlookup counts the entries
 * returned (LOOKUP, CREATE, MKDIR, ..., READDIRPLUS) minus FORGETs.
 */
struct fs_node {
	int fd;                 /* -1: free slot; FD_REOPEN: in use, not yet opened by this process */
	uint32_t tag;           /* nodeid = tag << 32 | index; new random tag on every reuse */
	uint32_t hnext;         /* hash chain: index + 1, 0 ends */
	uint32_t free_next;
	mode_t type;            /* S_IFMT bits: a node's type never changes */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;
	uint32_t parent;        /* the directory node it was last found in, and under what name: */
	char name[NAME_MAX + 1];   /* how a new process reopens it */
};

struct fs_handle {
	int fd;                 /* FD_REOPEN: open, not yet reopened by this process */
	uint32_t tag;           /* fh = tag << 32 | index */
	uint8_t kind;           /* FH_* */
	uint32_t free_next;
	uint64_t next_off;      /* a directory: the offset its stream stands at (after the last entry sent) */
	uint32_t node;          /* what it opened, and how (a new process reopens it so) */
	int flags;
};

/*
 * The tables outlive the process that serves the export: a device process
 * gets them in memory its spawner keeps (virtio_fs_state_bytes), so that the
 * one that replaces it after a crash knows every nodeid and fh the guest
 * holds. fds do not survive: the new one marks them FD_REOPEN and reopens a
 * node from its parent's fd and name, and checks it is the same inode; a
 * handle from its node and flags. A slot's tag is written last when it is
 * taken and first when it is freed, so a process killed in between leaves a
 * slot either whole or free; the hash and the free lists are rebuilt.
 */
#define FD_REOPEN (-2)
#define FS_STATE_MAGIC 0x766d6d2d66730001ull   /* "vmm-fs", version 1 */
struct fs_state {
	uint64_t magic;
	bool initialized;       /* FUSE_INIT done */
	uint32_t minor;         /* negotiated minor version */
	uint32_t node_next;     /* node slots from here on were never used since the last forget-all */
	uint32_t fh_next;       /* the same for handles */
	struct fs_node nodes[FS_MAX_NODES];
	struct fs_handle fh[FS_MAX_HANDLES];
};

struct fs {
	char *path;
	char tag[FS_TAG_MAX + 1];
	bool ro;
	int root_fd;            /* O_PATH|O_DIRECTORY */
	int proc_fd;            /* /proc/self/fd, O_PATH, opened in the serving process; -1 until then */
	struct virtio_dev *dev;
	struct fs_state *st;    /* initialized, minor, the nodes and handles */
	bool own_st;            /* st is this process's own (not shared with the next one) */
	uint64_t rng;
	struct fs_node *nodes;
	uint32_t *hash;         /* FS_HASH heads: index + 1 */
	uint32_t node_free;     /* free list: index + 1 (this process's; rebuilt from the tables) */
	struct fs_handle *fh;
	uint32_t fh_free;
	struct virtq_req *req;
	/* request scratch (the device thread only) */
	uint8_t *arg;           /* FS_ARG_MAX + 1: the request's arguments, NUL after them */
	size_t arglen;
	uint8_t *reply;         /* FS_REPLY_MAX */
	uint8_t *dents;         /* FS_DENTS: getdents64 */
	struct iovec data[VIRTQ_MAX_SEGS];
};

/* What one request brings: the guest's iovecs and the header. */
struct fs_ctx {
	const struct iovec *out, *in;
	unsigned nout, nin;
	size_t out_bytes, in_bytes;
	struct fuse_in_header h;
	bool direct;            /* the reply body is already in in[] (READ) */
};

/* ---- tables: nodes and handles ---- */

static uint32_t fs_random(struct fs *f)
{
	uint32_t t;
	do {   /* xorshift64*, seeded with getrandom at setup */
		f->rng ^= f->rng >> 12;
		f->rng ^= f->rng << 25;
		f->rng ^= f->rng >> 27;
		t = (uint32_t)((f->rng * 0x2545F4914F6CDD1Dull) >> 32);
	} while (!t);
	return t;
}

static uint32_t hash_of(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)ino * 0xC2B2AE3D27D4EB4Full);
	return (uint32_t)(h >> 40) & (FS_HASH - 1);
}

static uint64_t nodeid_of(const struct fs *f, const struct fs_node *n)
{
	uint32_t i = (uint32_t)(n - f->nodes);
	return i == 0 ? FUSE_ROOT_ID : (uint64_t)n->tag << 32 | i;
}

/* A slot's tag: stored last when it is taken, first when it is freed (another process may read the table). */
static void set_tag(uint32_t *tag, uint32_t v)
{
	__atomic_store_n(tag, v, __ATOMIC_RELEASE);
}

static int node_fd(struct fs *f, struct fs_node *n, unsigned depth);

/*
 * The slot a guest nodeid names, or NULL (stale or forged). FUSE_ROOT_ID is
 * slot 0; every other nodeid carries its slot's random nonzero tag, so it
 * cannot name the root, a free slot, or a slot reused since.
 */
static struct fs_node *node_slot(struct fs *f, uint64_t nodeid)
{
	uint32_t i = (uint32_t)nodeid, tag = (uint32_t)(nodeid >> 32);

	if (nodeid == FUSE_ROOT_ID)
		return &f->nodes[0];
	if (i == 0 || i >= f->st->node_next || !tag || f->nodes[i].fd == -1 || f->nodes[i].tag != tag)
		return NULL;
	return &f->nodes[i];
}

/* The node a guest nodeid names, with its fd open in this process; NULL if stale, forged or gone. */
static struct fs_node *node_get(struct fs *f, uint64_t nodeid)
{
	struct fs_node *n = node_slot(f, nodeid);

	return n && node_fd(f, n, 0) >= 0 ? n : NULL;
}

static struct fs_node *node_find(struct fs *f, dev_t dev, ino_t ino)
{
	for (uint32_t i = f->hash[hash_of(dev, ino)]; i; i = f->nodes[i - 1].hnext)
		if (f->nodes[i - 1].dev == dev && f->nodes[i - 1].ino == ino)
			return &f->nodes[i - 1];
	return NULL;
}

static void node_hash(struct fs *f, struct fs_node *n)
{
	uint32_t h = hash_of(n->dev, n->ino);
	n->hnext = f->hash[h];
	f->hash[h] = (uint32_t)(n - f->nodes) + 1;
}

static void node_unhash(struct fs *f, struct fs_node *n)
{
	uint32_t me = (uint32_t)(n - f->nodes) + 1;
	for (uint32_t *p = &f->hash[hash_of(n->dev, n->ino)]; *p; p = &f->nodes[*p - 1].hnext)
		if (*p == me) {
			*p = n->hnext;
			return;
		}
}

/* Where n was last found: directory slot `parent`, entry `name` (one checked component). */
static void node_origin(struct fs_node *n, uint32_t parent, const char *name)
{
	n->parent = parent;
	snprintf(n->name, sizeof(n->name), "%s", name);
}

static void node_put(struct fs *f, struct fs_node *n, uint64_t count)
{
	if (n == &f->nodes[0])
		return;   /* the root lives as long as the export */
	n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
	if (n->nlookup)
		return;
	node_unhash(f, n);
	set_tag(&n->tag, 0);
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	n->free_next = f->node_free;
	f->node_free = (uint32_t)(n - f->nodes) + 1;
}

/*
 * Take fd (O_PATH|O_NOFOLLOW, type and identity in *st), found as `name` in
 * directory slot `parent`, as a node with one more lookup: an existing node of
 * the same inode keeps its own fd (or takes this one, if it has none yet).
 * -ENFILE when the table is full (fd closed either way on error).
 */
static int node_take(struct fs *f, int fd, const struct stat *st, uint32_t parent, const char *name,
		     struct fs_node **out)
{
	struct fs_node *n = node_find(f, st->st_dev, st->st_ino);

	if (n) {
		if (n->fd < 0)
			n->fd = fd;
		else
			close(fd);
		n->nlookup++;
		if (n != &f->nodes[0])
			node_origin(n, parent, name);
		*out = n;
		return 0;
	}
	if (f->node_free) {
		n = &f->nodes[f->node_free - 1];
		f->node_free = n->free_next;
	} else if (f->st->node_next < FS_MAX_NODES) {
		n = &f->nodes[f->st->node_next++];
	} else {
		close(fd);
		return -ENFILE;
	}
	*n = (struct fs_node){ .fd = fd, .type = st->st_mode & S_IFMT, .dev = st->st_dev, .ino = st->st_ino,
			       .nlookup = 1 };
	node_origin(n, parent, name);
	node_hash(f, n);
	set_tag(&n->tag, fs_random(f));
	*out = n;
	return 0;
}

static int handle_new(struct fs *f, int fd, uint8_t kind, const struct fs_node *n, int flags, uint64_t *fh)
{
	uint32_t i;
	if (f->fh_free) {
		i = f->fh_free - 1;
		f->fh_free = f->fh[i].free_next;
	} else if (f->st->fh_next < FS_MAX_HANDLES) {
		i = f->st->fh_next++;
	} else {
		close(fd);
		return -ENFILE;
	}
	struct fs_handle *h = &f->fh[i];
	/* reopened with the access mode and O_APPEND only (O_TRUNC, O_CREAT, O_EXCL were for the first open) */
	*h = (struct fs_handle){ .fd = fd, .kind = kind, .node = (uint32_t)(n - f->nodes),
				 .flags = flags & (O_ACCMODE | O_APPEND) };
	set_tag(&h->tag, fs_random(f));
	*fh = (uint64_t)h->tag << 32 | i;
	return 0;
}

static int node_open(struct fs *f, struct fs_node *n, int flags);

/*
 * The handle fh names if it is of `kind`, or NULL (stale, forged, a directory
 * used as a file, or one the previous process had that cannot be reopened).
 */
static struct fs_handle *handle_get(struct fs *f, uint64_t fh, uint8_t kind)
{
	uint32_t i = (uint32_t)fh, tag = (uint32_t)(fh >> 32);
	struct fs_handle *h;

	if (i >= f->st->fh_next || !tag || f->fh[i].kind != kind || f->fh[i].tag != tag)
		return NULL;
	h = &f->fh[i];
	if (h->fd == FD_REOPEN) {
		struct fs_node *n = h->node < f->st->node_next ? &f->nodes[h->node] : NULL;
		int fd = n && n->fd != -1 && node_fd(f, n, 0) >= 0 ? node_open(f, n, h->flags) : -1;
		if (fd < 0)
			return NULL;
		h->fd = fd;
		h->next_off = 0;   /* a directory's new stream: the next READDIR seeks */
	}
	return h;
}

static void handle_free(struct fs *f, struct fs_handle *h)
{
	set_tag(&h->tag, 0);
	if (h->fd >= 0)
		close(h->fd);
	*h = (struct fs_handle){ .fd = -1, .kind = FH_FREE, .free_next = f->fh_free };
	f->fh_free = (uint32_t)(h - f->fh) + 1;
}

/* Forget everything the guest held (DESTROY, device reset): only the root remains. */
static void fs_forget_all(struct fs *f)
{
	for (uint32_t i = 1; i < f->st->node_next; i++) {
		set_tag(&f->nodes[i].tag, 0);
		if (f->nodes[i].fd >= 0)
			close(f->nodes[i].fd);
		f->nodes[i] = (struct fs_node){ .fd = -1 };
	}
	for (uint32_t i = 0; i < f->st->fh_next; i++) {
		set_tag(&f->fh[i].tag, 0);
		if (f->fh[i].kind != FH_FREE && f->fh[i].fd >= 0)
			close(f->fh[i].fd);
		f->fh[i] = (struct fs_handle){ .fd = -1 };
	}
	memset(f->hash, 0, FS_HASH * sizeof(*f->hash));
	node_hash(f, &f->nodes[0]);
	f->node_free = f->fh_free = 0;
	f->st->node_next = 1;
	f->st->fh_next = 0;
	f->st->initialized = false;
}

/*
 * A new process takes over the tables of the one before: the slots in use
 * keep their nodeids and fhs, their fds are to be reopened; the hash and
 * the free lists are rebuilt; a slot caught half taken or half freed is free.
 */
static void fs_adopt(struct fs *f)
{
	memset(f->hash, 0, FS_HASH * sizeof(*f->hash));
	f->node_free = f->fh_free = 0;
	if (f->st->node_next > FS_MAX_NODES)
		f->st->node_next = FS_MAX_NODES;
	if (f->st->fh_next > FS_MAX_HANDLES)
		f->st->fh_next = FS_MAX_HANDLES;
	for (uint32_t i = f->st->node_next; i-- > 1;) {
		struct fs_node *n = &f->nodes[i];
		if (n->tag && n->nlookup && n->fd != -1) {
			n->fd = FD_REOPEN;
			n->name[NAME_MAX] = '\0';
			node_hash(f, n);
		} else {
			*n = (struct fs_node){ .fd = -1, .free_next = f->node_free };
			f->node_free = i + 1;
		}
	}
	for (uint32_t i = f->st->fh_next; i-- > 0;) {
		struct fs_handle *h = &f->fh[i];
		if (h->tag && h->kind != FH_FREE && h->fd != -1) {
			h->fd = FD_REOPEN;
		} else {
			*h = (struct fs_handle){ .fd = -1, .kind = FH_FREE, .free_next = f->fh_free };
			f->fh_free = i + 1;
		}
	}
	f->nodes[0].fd = f->root_fd;
	node_hash(f, &f->nodes[0]);
}

/* ---- host file helpers ---- */

static int proc_dir(struct fs *f)
{
	if (f->proc_fd < 0)
		f->proc_fd = openat(AT_FDCWD, "/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return f->proc_fd;
}

/*
 * Open node n for I/O. An O_PATH fd cannot be read or written, and there is
 * no reopen call, so open its /proc/self/fd/N magic link (our own path, not
 * the guest's), as virtiofsd does: the link resolves to the inode itself, not
 * to any name, so nothing the guest controls is resolved. It cannot be
 * O_NOFOLLOW (the magic link itself is a symlink), so a symlink node is
 * refused here (-ELOOP; the kernel would also refuse to open a symlink
 * inode), and only regular files and directories are opened at all (the
 * guest kernel handles fifos and devices itself). The fd is checked to be
 * the node's inode.
 */
static int node_open(struct fs *f, struct fs_node *n, int flags)
{
	char name[16];
	struct stat st;
	int fd, pd;

	if (n->type == S_IFLNK)
		return -ELOOP;
	if (n->type == S_IFDIR) {
		fd = openat(n->fd, ".", (flags & ~(O_TRUNC | O_APPEND)) | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	} else if (n->type == S_IFREG) {
		if ((pd = proc_dir(f)) < 0)
			return -EACCES;
		snprintf(name, sizeof(name), "%d", n->fd);
		fd = openat(pd, name, flags | O_CLOEXEC | O_NOCTTY);
	} else {
		return -EACCES;
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_dev != n->dev || st.st_ino != n->ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* "N" for node n's fd in the /proc/self/fd directory (for calls that do not take an O_PATH fd). */
static int node_proc(struct fs *f, const struct fs_node *n, char name[16])
{
	if (n->type == S_IFLNK)
		return -EOPNOTSUPP;
	if (proc_dir(f) < 0)
		return -EACCES;
	snprintf(name, 16, "%d", n->fd);
	return 0;
}

static int stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/*
 * Node n's fd in this process. One the process before had is reopened from
 * its parent's fd and its name (one component, no symlink followed) and must
 * be the same inode; else -ESTALE, as for a node whose file is gone.
 */
static int node_fd(struct fs *f, struct fs_node *n, unsigned depth)
{
	struct stat st;
	int pfd, fd;

	if (n->fd != FD_REOPEN)
		return n->fd;
	if (depth > 4096 || n->parent >= f->st->node_next || strchr(n->name, '/') || !n->name[0] ||
	    (pfd = node_fd(f, &f->nodes[n->parent], depth + 1)) < 0)
		return -ESTALE;
	fd = openat(pfd, n->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -ESTALE;
	if (stat_fd(fd, &st) < 0 || st.st_dev != n->dev || st.st_ino != n->ino) {
		close(fd);
		return -ESTALE;
	}
	return n->fd = fd;
}

static void fill_attr(struct fuse_attr *a, const struct stat *st)
{
	*a = (struct fuse_attr){
		.ino = st->st_ino, .size = (uint64_t)st->st_size, .blocks = (uint64_t)st->st_blocks,
		.atime = (uint64_t)st->st_atim.tv_sec, .mtime = (uint64_t)st->st_mtim.tv_sec,
		.ctime = (uint64_t)st->st_ctim.tv_sec, .atimensec = (uint32_t)st->st_atim.tv_nsec,
		.mtimensec = (uint32_t)st->st_mtim.tv_nsec, .ctimensec = (uint32_t)st->st_ctim.tv_nsec,
		.mode = st->st_mode, .nlink = (uint32_t)st->st_nlink, .uid = st->st_uid,
		.gid = st->st_gid, .rdev = (uint32_t)st->st_rdev, .blksize = (uint32_t)st->st_blksize,
	};
}

/* Look `name` (one checked component) up in directory p: a node with one more lookup, and its entry. */
static int lookup_at(struct fs *f, struct fs_node *p, const char *name, struct fuse_entry_out *e)
{
	int dirfd = node_fd(f, p, 0);
	struct fs_node *n;
	struct stat st;
	int fd = dirfd < 0 ? -1 : openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (dirfd < 0)
		return -ESTALE;
	if (fd < 0)
		return -errno;
	if ((r = stat_fd(fd, &st)) < 0) {
		close(fd);
		return r;
	}
	if ((r = node_take(f, fd, &st, (uint32_t)(p - f->nodes), name, &n)) < 0)
		return r;
	*e = (struct fuse_entry_out){ .nodeid = nodeid_of(f, n), .entry_valid = FS_TIMEOUT,
				      .attr_valid = FS_TIMEOUT };
	fill_attr(&e->attr, &st);
	return 0;
}

/* ---- request parsing ---- */

/* The NUL-terminated string at arg[*pos..arglen), advancing *pos past it; NULL if it has no NUL. */
static const char *take_str(struct fs *f, size_t *pos)
{
	const char *s = (const char *)f->arg + *pos;
	const char *nul = *pos < f->arglen ? memchr(s, 0, f->arglen - *pos) : NULL;

	if (!nul)
		return NULL;
	*pos += (size_t)(nul - s) + 1;
	return s;
}

/* A guest-given name must be exactly one path component: not "", ".", "..", no '/'. */
static int take_name(struct fs *f, size_t *pos, const char **name)
{
	const char *s = take_str(f, pos);

	if (!s || !*s || !strcmp(s, ".") || !strcmp(s, "..") || strchr(s, '/'))
		return -EINVAL;
	if (strlen(s) > NAME_MAX)
		return -ENAMETOOLONG;
	*name = s;
	return 0;
}

#define ARG(type) ((const type *)f->arg)

static struct fs_node *req_node(struct fs *f, const struct fs_ctx *c)
{
	return node_get(f, c->h.nodeid);
}

/* ---- operations: each returns the reply body's length in f->reply, or -errno ---- */

#define REPLY(type) ((type *)f->reply)

static int op_init(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_init_in *in = ARG(struct fuse_init_in);
	struct fuse_init_out *o = REPLY(struct fuse_init_out);
	/* ASYNC_READ: readahead may queue several READs at once, which the ring then holds for us */
	const uint32_t ours = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_ATOMIC_O_TRUNC | FUSE_DO_READDIRPLUS |
			      FUSE_READDIRPLUS_AUTO | FUSE_MAX_PAGES | FUSE_PARALLEL_DIROPS |
			      FUSE_AUTO_INVAL_DATA;

	if (in->major < 7)
		return -EPROTO;
	fs_forget_all(f);
	*o = (struct fuse_init_out){ .major = FUSE_KERNEL_VERSION };
	if (in->major > 7) {   /* the kernel retries with our major */
		f->st->initialized = false;
		return (int)sizeof(*o);
	}
	f->st->minor = in->minor < FUSE_KERNEL_MINOR_VERSION ? in->minor : FUSE_KERNEL_MINOR_VERSION;
	o->minor = f->st->minor;
	o->max_readahead = in->max_readahead;
	o->flags = in->flags & ours;
	o->max_write = FS_MAX_WRITE;
	o->time_gran = 1;
	o->max_pages = FS_MAX_PAGES;
	f->st->initialized = true;
	return (int)sizeof(*o);
}

static int op_lookup(struct fs *f, struct fs_ctx *c)
{
	struct fs_node *p = req_node(f, c);
	const char *name;
	size_t pos = 0;
	int r;

	if (!p)
		return -ESTALE;
	if ((r = take_name(f, &pos, &name)) < 0)
		return r;
	if (p->type != S_IFDIR)
		return -ENOTDIR;
	r = lookup_at(f, p, name, REPLY(struct fuse_entry_out));
	return r < 0 ? r : (int)sizeof(struct fuse_entry_out);
}

static int op_forget(struct fs *f, struct fs_ctx *c)
{
	struct fs_node *n = node_slot(f, c->h.nodeid);   /* its file may be gone: the slot goes all the same */

	if (n)
		node_put(f, n, ARG(struct fuse_forget_in)->nlookup);
	return FS_NOREPLY;
}

/* The entries are read from the chain one at a time: a batch may be larger than the argument buffer. */
static int op_batch_forget(struct fs *f, struct fs_ctx *c)
{
	uint32_t count = ARG(struct fuse_batch_forget_in)->count;
	size_t off = sizeof(struct fuse_in_header) + sizeof(struct fuse_batch_forget_in);
	struct fuse_forget_one one;

	for (uint32_t i = 0; i < count && off + sizeof(one) <= c->h.len; i++, off += sizeof(one)) {
		if (iov_to_buf(c->out, c->nout, off, &one, sizeof(one)) != sizeof(one))
			break;
		struct fs_node *n = node_slot(f, one.nodeid);
		if (n)
			node_put(f, n, one.nlookup);
	}
	return FS_NOREPLY;
}

static int reply_attr(struct fs *f, int fd)
{
	struct fuse_attr_out *o = REPLY(struct fuse_attr_out);
	struct stat st;
	int r = stat_fd(fd, &st);

	if (r < 0)
		return r;
	*o = (struct fuse_attr_out){ .attr_valid = FS_TIMEOUT };
	fill_attr(&o->attr, &st);
	return (int)sizeof(*o);
}

static int op_getattr(struct fs *f, struct fs_ctx *c)
{
	struct fs_node *n = req_node(f, c);
	return n ? reply_attr(f, n->fd) : -ESTALE;
}

static int set_size(struct fs *f, struct fs_node *n, const struct fuse_setattr_in *in)
{
	struct fs_handle *h = in->valid & FATTR_FH ? handle_get(f, in->fh, FH_FILE) : NULL;
	int fd, r = 0;

	if (in->size > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (h)
		return ftruncate(h->fd, (off_t)in->size) < 0 ? -errno : 0;
	if (n->type != S_IFREG)
		return n->type == S_IFDIR ? -EISDIR : -EINVAL;
	if ((fd = node_open(f, n, O_WRONLY)) < 0)
		return fd;
	if (ftruncate(fd, (off_t)in->size) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int set_times(struct fs *f, struct fs_node *n, const struct fuse_setattr_in *in)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	char name[16];
	int r;

	if (in->valid & FATTR_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	else if (in->valid & FATTR_ATIME)
		ts[0] = (struct timespec){ (time_t)in->atime, in->atimensec % 1000000000u };
	if (in->valid & FATTR_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	else if (in->valid & FATTR_MTIME)
		ts[1] = (struct timespec){ (time_t)in->mtime, in->mtimensec % 1000000000u };
	/* utimensat takes AT_EMPTY_PATH on an O_PATH fd (Linux 5.8+), symlinks included; else the magic link */
	if (utimensat(n->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOENT && errno != EBADF)
		return -errno;
	if ((r = node_proc(f, n, name)) < 0)
		return r;
	return utimensat(f->proc_fd, name, ts, 0) < 0 ? -errno : 0;
}

static int op_setattr(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_setattr_in *in = ARG(struct fuse_setattr_in);
	struct fs_node *n = req_node(f, c);
	char name[16];
	int r;

	if (!n)
		return -ESTALE;
	if (f->ro)
		return -EROFS;
	if (in->valid & FATTR_MODE) {
		struct fs_handle *h = in->valid & FATTR_FH ? handle_get(f, in->fh, FH_FILE) : NULL;
		if (h)
			r = fchmod(h->fd, in->mode & 07777) < 0 ? -errno : 0;
		else if ((r = node_proc(f, n, name)) == 0)
			r = fchmodat(f->proc_fd, name, in->mode & 07777, 0) < 0 ? -errno : 0;
		if (r < 0)
			return r;
	}
	if (in->valid & (FATTR_UID | FATTR_GID)) {
		uid_t u = in->valid & FATTR_UID ? in->uid : (uid_t)-1;
		gid_t g = in->valid & FATTR_GID ? in->gid : (gid_t)-1;
		if (fchownat(n->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if ((in->valid & FATTR_SIZE) && (r = set_size(f, n, in)) < 0)
		return r;
	if ((in->valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)) &&
	    (r = set_times(f, n, in)) < 0)
		return r;
	return reply_attr(f, n->fd);
}

static int op_readlink(struct fs *f, struct fs_ctx *c)
{
	struct fs_node *n = req_node(f, c);
	size_t room = c->in_bytes - sizeof(struct fuse_out_header);
	ssize_t len;

	if (!n)
		return -ESTALE;
	if (n->type != S_IFLNK)
		return -EINVAL;
	len = readlinkat(n->fd, "", (char *)f->reply, room < PATH_MAX ? room : PATH_MAX);
	return len < 0 ? -errno : (int)len;
}

/* After a create-like op made `name` in p: its entry (a lookup), or -errno. */
static int reply_entry(struct fs *f, struct fs_node *p, const char *name)
{
	int r = lookup_at(f, p, name, REPLY(struct fuse_entry_out));
	return r < 0 ? r : (int)sizeof(struct fuse_entry_out);
}

/* The parent directory and the checked name of a create-like request whose name is at arg[pos]. */
static int dir_and_name(struct fs *f, struct fs_ctx *c, size_t pos, struct fs_node **p, const char **name)
{
	int r;

	if (!(*p = req_node(f, c)))
		return -ESTALE;
	if ((r = take_name(f, &pos, name)) < 0)
		return r;
	if ((*p)->type != S_IFDIR)
		return -ENOTDIR;
	return f->ro ? -EROFS : 0;
}

static int op_symlink(struct fs *f, struct fs_ctx *c)
{
	struct fs_node *p;
	const char *name, *target;
	size_t pos = 0;
	int r;

	if ((r = dir_and_name(f, c, 0, &p, &name)) < 0)
		return r;
	take_str(f, &pos);
	if (!(target = take_str(f, &pos)) || !*target)
		return -EINVAL;
	if (strlen(target) >= PATH_MAX)
		return -ENAMETOOLONG;
	if (symlinkat(target, p->fd, name) < 0)   /* stored verbatim, never followed by us */
		return -errno;
	return reply_entry(f, p, name);
}

static int op_mknod(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_mknod_in *in = ARG(struct fuse_mknod_in);
	mode_t type = in->mode & S_IFMT;
	struct fs_node *p;
	const char *name;
	int r;

	if ((r = dir_and_name(f, c, sizeof(*in), &p, &name)) < 0)
		return r;
	if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK)
		return -EPERM;   /* no device nodes on the host */
	if (mknodat(p->fd, name, type | (in->mode & 07777), 0) < 0)
		return -errno;
	return reply_entry(f, p, name);
}

static int op_mkdir(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_mkdir_in *in = ARG(struct fuse_mkdir_in);
	struct fs_node *p;
	const char *name;
	int r;

	if ((r = dir_and_name(f, c, sizeof(*in), &p, &name)) < 0)
		return r;
	if (mkdirat(p->fd, name, in->mode & 07777) < 0)
		return -errno;
	return reply_entry(f, p, name);
}

static int op_unlink(struct fs *f, struct fs_ctx *c, int flags)
{
	struct fs_node *p;
	const char *name;
	int r;

	if ((r = dir_and_name(f, c, 0, &p, &name)) < 0)
		return r;
	return unlinkat(p->fd, name, flags) < 0 ? -errno : 0;
}

/* The inode now at `name` in dir, if the guest holds it, was found there last (a new process reopens it there). */
static void renamed(struct fs *f, struct fs_node *dir, const char *name)
{
	struct fs_node *n;
	struct stat st;

	if (fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (n = node_find(f, st.st_dev, st.st_ino)) &&
	    n != &f->nodes[0])
		node_origin(n, (uint32_t)(dir - f->nodes), name);
}

static int do_rename(struct fs *f, struct fs_ctx *c, uint64_t newdir, uint32_t flags, size_t pos)
{
	struct fs_node *p, *np = node_get(f, newdir);
	const char *name, *newname;
	size_t npos;
	int r;

	if ((r = dir_and_name(f, c, pos, &p, &name)) < 0)
		return r;
	npos = pos;
	take_str(f, &npos);
	if ((r = take_name(f, &npos, &newname)) < 0)
		return r;
	if (!np)
		return -ESTALE;
	if (np->type != S_IFDIR)
		return -ENOTDIR;
	if (flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (syscall(SYS_renameat2, p->fd, name, np->fd, newname, flags) < 0)
		return -errno;
	renamed(f, np, newname);
	if (flags & RENAME_EXCHANGE)
		renamed(f, p, name);
	return 0;
}

static int op_link(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_link_in *in = ARG(struct fuse_link_in);
	struct fs_node *p, *n = node_get(f, in->oldnodeid);
	const char *name;
	char proc[16];
	int r;

	if ((r = dir_and_name(f, c, sizeof(*in), &p, &name)) < 0)
		return r;
	if (!n)
		return -ESTALE;
	if (n->type == S_IFDIR)
		return -EPERM;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the magic link (followed once, to the inode) does not */
	if (linkat(n->fd, "", p->fd, name, AT_EMPTY_PATH) < 0) {
		if (errno != ENOENT && errno != EPERM)
			return -errno;
		if (proc_dir(f) < 0)
			return -EACCES;
		snprintf(proc, sizeof(proc), "%d", n->fd);
		if (linkat(f->proc_fd, proc, p->fd, name, AT_SYMLINK_FOLLOW) < 0)
			return -errno;
	}
	return reply_entry(f, p, name);
}

/* The guest's open flags, reduced to what may pass: access mode, append, truncate. */
static int open_flags(struct fs *f, uint32_t g, int *flags)
{
	int acc = (int)g & O_ACCMODE;

	if (acc == O_ACCMODE)
		return -EINVAL;
	if (f->ro && (acc != O_RDONLY || (g & O_TRUNC)))
		return -EROFS;
	*flags = acc | ((int)g & (O_APPEND | O_TRUNC));
	return 0;
}

static int op_open(struct fs *f, struct fs_ctx *c, bool dir)
{
	const struct fuse_open_in *in = ARG(struct fuse_open_in);
	struct fuse_open_out *o = REPLY(struct fuse_open_out);
	struct fs_node *n = req_node(f, c);
	int flags, fd, r;

	if (!n)
		return -ESTALE;
	if (dir) {
		if (n->type != S_IFDIR)
			return -ENOTDIR;
		flags = O_RDONLY;
	} else {
		if (n->type == S_IFDIR)
			return -EISDIR;
		if ((r = open_flags(f, in->flags, &flags)) < 0)
			return r;
	}
	if ((fd = node_open(f, n, flags)) < 0)
		return fd;
	*o = (struct fuse_open_out){ 0 };
	if ((r = handle_new(f, fd, dir ? FH_DIR : FH_FILE, n, flags, &o->fh)) < 0)
		return r;
	return (int)sizeof(*o);
}

static int op_create(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_create_in *in = ARG(struct fuse_create_in);
	struct fuse_entry_out *e = REPLY(struct fuse_entry_out);
	struct fuse_open_out *o = (struct fuse_open_out *)(e + 1);
	struct fs_node *p, *n;
	const char *name;
	int flags, fd, r;

	if ((r = dir_and_name(f, c, sizeof(*in), &p, &name)) < 0)
		return r;
	if ((r = open_flags(f, in->flags, &flags)) < 0)
		return r;
	flags |= ((int)in->flags & O_EXCL) | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
	if ((fd = openat(p->fd, name, flags, in->mode & 07777)) < 0)
		return -errno;
	if ((r = lookup_at(f, p, name, e)) < 0) {
		close(fd);
		return r;
	}
	n = node_get(f, e->nodeid);
	if (n->type != S_IFREG) {   /* replaced under us */
		node_put(f, n, 1);
		close(fd);
		return -ESTALE;
	}
	*o = (struct fuse_open_out){ 0 };
	if ((r = handle_new(f, fd, FH_FILE, n, flags, &o->fh)) < 0) {
		node_put(f, n, 1);
		return r;
	}
	return (int)(sizeof(*e) + sizeof(*o));
}

/* --stats: payload bytes moved (no device when a test calls fuse_serve directly). */
static void count_bytes(struct fs *f, size_t n)
{
	if (f->dev)
		atomic_fetch_add_explicit(&f->dev->stats->bytes, n, memory_order_relaxed);
}

/* Point f->data at iov[0..n) from byte `skip` on, at most `len` bytes; the count, total in *got. */
static unsigned carve(struct fs *f, const struct iovec *iov, unsigned n, size_t skip, size_t len, size_t *got)
{
	unsigned k = 0;

	*got = 0;
	for (unsigned i = 0; i < n && len && k < VIRTQ_MAX_SEGS; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		f->data[k++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, l };
		len -= l;
		*got += l;
		skip = 0;
	}
	return k;
}

/*
 * preadv/pwritev between fd at `off` and f->data[0..n) until done, EOF or an
 * error: the bytes moved (counted for --stats), or -errno if nothing moved.
 */
static ssize_t transfer(struct fs *f, int fd, unsigned n, uint64_t off, bool write)
{
	struct iovec *v = f->data;
	size_t done = 0;

	while (n) {
		ssize_t r = write ? pwritev(fd, v, (int)n, (off_t)(off + done)) : preadv(fd, v, (int)n, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && !done)
			return -errno;
		if (r <= 0)
			break;
		done += (size_t)r;
		while (n && (size_t)r >= v->iov_len) {
			r -= (ssize_t)v->iov_len;
			v++, n--;
		}
		if (n) {
			v->iov_base = (uint8_t *)v->iov_base + r;
			v->iov_len -= (size_t)r;
		}
	}
	count_bytes(f, done);
	return (ssize_t)done;
}

static int op_read(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_read_in *in = ARG(struct fuse_read_in);
	struct fs_handle *h = handle_get(f, in->fh, FH_FILE);
	size_t want = in->size < FS_MAX_WRITE ? in->size : FS_MAX_WRITE, got;
	unsigned n;
	ssize_t r;

	if (!h)
		return -EBADF;
	if (in->offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	n = carve(f, c->in, c->nin, sizeof(struct fuse_out_header), want, &got);
	r = transfer(f, h->fd, n, in->offset, false);
	if (r < 0)
		return (int)r;
	c->direct = true;
	return (int)r;
}

static int op_write(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_write_in *in = ARG(struct fuse_write_in);
	struct fs_handle *h = handle_get(f, in->fh, FH_FILE);
	size_t skip = sizeof(struct fuse_in_header) + sizeof(*in), got;
	struct fuse_write_out *o = REPLY(struct fuse_write_out);
	unsigned n;
	ssize_t r;

	if (f->ro)
		return -EROFS;
	if (!h)
		return -EBADF;
	if (in->size > FS_MAX_WRITE || in->size > c->h.len - skip || in->offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	n = carve(f, c->out, c->nout, skip, in->size, &got);
	if (got != in->size)
		return -EINVAL;
	r = transfer(f, h->fd, n, in->offset, true);
	if (r < 0)
		return (int)r;
	*o = (struct fuse_write_out){ .size = (uint32_t)r };
	return (int)sizeof(*o);
}

static int op_statfs(struct fs *f, struct fs_ctx *c)
{
	struct fuse_statfs_out *o = REPLY(struct fuse_statfs_out);
	struct fs_node *n = req_node(f, c);
	struct statfs s;

	if (!n)
		return -ESTALE;
	if (fstatfs(n->fd, &s) < 0)
		return -errno;
	*o = (struct fuse_statfs_out){ .st = {
		.blocks = s.f_blocks, .bfree = s.f_bfree, .bavail = s.f_bavail, .files = s.f_files,
		.ffree = s.f_ffree, .bsize = (uint32_t)s.f_bsize, .namelen = (uint32_t)s.f_namelen,
		.frsize = (uint32_t)s.f_frsize } };
	return (int)sizeof(*o);
}

static int op_release(struct fs *f, struct fs_ctx *c, uint8_t kind)
{
	struct fs_handle *h = handle_get(f, ARG(struct fuse_release_in)->fh, kind);

	if (!h)
		return -EBADF;
	handle_free(f, h);
	return 0;
}

static int op_fsync(struct fs *f, struct fs_ctx *c, uint8_t kind)
{
	const struct fuse_fsync_in *in = ARG(struct fuse_fsync_in);
	struct fs_handle *h = handle_get(f, in->fh, kind);
	int r;

	if (!h)
		return -EBADF;
	r = in->fsync_flags & FUSE_FSYNC_FDATASYNC ? fdatasync(h->fd) : fsync(h->fd);
	return r < 0 ? -errno : 0;
}

static int op_flush(struct fs *f, struct fs_ctx *c)
{
	return handle_get(f, ARG(struct fuse_flush_in)->fh, FH_FILE) ? 0 : -EBADF;
}

static int op_access(struct fs *f, struct fs_ctx *c)
{
	struct fs_node *n = req_node(f, c);
	uint32_t mask = ARG(struct fuse_access_in)->mask;

	if (!n)
		return -ESTALE;
	if (mask & ~7u)
		return -EINVAL;
	if ((mask & W_OK) && f->ro)
		return -EROFS;
	/* as the server's own user: it is the one that will do the access */
	return syscall(SYS_faccessat2, n->fd, "", (int)mask, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int op_fallocate(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_fallocate_in *in = ARG(struct fuse_fallocate_in);
	struct fs_handle *h = handle_get(f, in->fh, FH_FILE);

	if (f->ro)
		return -EROFS;
	if (!h)
		return -EBADF;
	if (in->mode & ~(uint32_t)(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) ||
	    in->offset > (uint64_t)INT64_MAX || in->length > (uint64_t)INT64_MAX)
		return -EOPNOTSUPP;
	return fallocate(h->fd, (int)in->mode, (off_t)in->offset, (off_t)in->length) < 0 ? -errno : 0;
}

static int op_lseek(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_lseek_in *in = ARG(struct fuse_lseek_in);
	struct fs_handle *h = handle_get(f, in->fh, FH_FILE);
	off_t r;

	if (!h)
		return -EBADF;
	if (in->whence != SEEK_SET && in->whence != SEEK_CUR && in->whence != SEEK_END &&
	    in->whence != SEEK_DATA && in->whence != SEEK_HOLE)
		return -EINVAL;
	if ((r = lseek(h->fd, (off_t)in->offset, (int)in->whence)) < 0)
		return -errno;
	*REPLY(struct fuse_lseek_out) = (struct fuse_lseek_out){ .offset = (uint64_t)r };
	return (int)sizeof(struct fuse_lseek_out);
}

/* ---- directories ---- */

struct fs_dirent64 { uint64_t d_ino; int64_t d_off; uint16_t d_reclen; uint8_t d_type; char d_name[]; };
#define DENT_NAME offsetof(struct fs_dirent64, d_name)   /* 19: sizeof has padding after the name's start */

/*
 * READDIR / READDIRPLUS from the entry after offset `in->offset` (a cookie
 * getdents64 gave: seekable), whole entries only, up to the size asked and
 * the room. READDIRPLUS looks each entry up (one more lookup for it) only
 * once it is sure to be sent; "." and ".." go with nodeid 0, which the
 * kernel takes as "no entry to link" (fs/fuse/readdir.c), so they take none.
 * The stream is left just after the last entry sent, and a request that goes
 * on from there is not seeked: on file systems whose cookies are positions
 * (tmpfs), a seek after the guest removed entries it had read ("rm -rf")
 * would skip as many entries as it removed.
 */
static int op_readdir(struct fs *f, struct fs_ctx *c, bool plus)
{
	const struct fuse_read_in *in = ARG(struct fuse_read_in);
	struct fs_handle *h = handle_get(f, in->fh, FH_DIR);
	size_t room = c->in_bytes - sizeof(struct fuse_out_header), used = 0;
	size_t hdr = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	uint64_t last = in->offset;   /* the cookie after the last entry sent */
	bool full = false;

	if (!h)
		return -EBADF;
	if (room > in->size)
		room = in->size;
	if (room > FS_REPLY_MAX)
		room = FS_REPLY_MAX;
	if (in->offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (in->offset != h->next_off && lseek(h->fd, (off_t)in->offset, SEEK_SET) < 0)
		return -errno;
	h->next_off = UINT64_MAX;   /* unknown until the stream is put back below */
	while (!full) {
		long got = syscall(SYS_getdents64, h->fd, f->dents, FS_DENTS);
		if (got < 0 && !used)
			return -errno;
		if (got <= 0)
			break;
		for (long pos = 0; pos < got;) {
			struct fs_dirent64 *de = (struct fs_dirent64 *)(f->dents + pos);
			if (de->d_reclen <= DENT_NAME || de->d_reclen > got - pos)
				return used ? (int)used : -EIO;
			size_t nl = strnlen(de->d_name, de->d_reclen - DENT_NAME);
			size_t rec = FUSE_DIRENT_ALIGN(hdr + nl);
			pos += de->d_reclen;
			if (used + rec > room) {
				full = true;
				break;
			}
			uint8_t *p = f->reply + used;
			struct fuse_dirent *fd = (struct fuse_dirent *)(p + hdr - FUSE_NAME_OFFSET);
			memset(p, 0, rec);
			if (plus && strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
			    lookup_at(f, &f->nodes[h->node], de->d_name, (struct fuse_entry_out *)p) < 0)
				memset(p, 0, sizeof(struct fuse_entry_out));   /* vanished: no entry to link */
			fd->ino = de->d_ino;
			fd->off = (uint64_t)de->d_off;
			fd->namelen = (uint32_t)nl;
			fd->type = de->d_type;
			memcpy(fd->name, de->d_name, nl);
			used += rec;
			last = (uint64_t)de->d_off;
		}
	}
	/* entries read but not sent: back to just after the last one sent, while the cookies still hold */
	if (!full || lseek(h->fd, (off_t)last, SEEK_SET) >= 0)
		h->next_off = last;
	return (int)used;
}

/* ---- extended attributes (by the magic link: no xattr call takes an O_PATH fd) ---- */

static int xattr_node(struct fs *f, struct fs_ctx *c, char path[32])
{
	struct fs_node *n = req_node(f, c);
	char name[16];
	int r;

	if (!n)
		return -ESTALE;
	if ((r = node_proc(f, n, name)) < 0)
		return r;
	snprintf(path, 32, "/proc/self/fd/%s", name);
	return 0;
}

/* The guest may set and remove only user.* attributes: no security.capability or trusted.* on host files. */
static bool xattr_settable(const char *name)
{
	return !strncmp(name, "user.", 5);
}

static int op_setxattr(struct fs *f, struct fs_ctx *c)
{
	const struct fuse_setxattr_in *in = ARG(struct fuse_setxattr_in);
	size_t pos = FUSE_COMPAT_SETXATTR_IN_SIZE;
	const char *name = take_str(f, &pos);
	char path[32];
	int r;

	if (!name || in->size > XATTR_SIZE_MAX_ || in->size > f->arglen - pos)
		return -EINVAL;
	if (f->ro)
		return -EROFS;
	if (!xattr_settable(name))
		return -EPERM;
	if ((r = xattr_node(f, c, path)) < 0)
		return r;
	return setxattr(path, name, f->arg + pos, in->size, (int)in->flags) < 0 ? -errno : 0;
}

static int reply_xattr(struct fs *f, struct fs_ctx *c, uint32_t size, ssize_t len)
{
	if (len < 0)
		return -errno;
	if (size == 0) {
		*REPLY(struct fuse_getxattr_out) = (struct fuse_getxattr_out){ .size = (uint32_t)len };
		return (int)sizeof(struct fuse_getxattr_out);
	}
	return (int)len;
}

static size_t xattr_room(struct fs_ctx *c, uint32_t size)
{
	size_t room = c->in_bytes - sizeof(struct fuse_out_header);
	if (room > size)
		room = size;
	return room > XATTR_SIZE_MAX_ ? XATTR_SIZE_MAX_ : room;
}

static int op_getxattr(struct fs *f, struct fs_ctx *c)
{
	uint32_t size = ARG(struct fuse_getxattr_in)->size;
	size_t pos = sizeof(struct fuse_getxattr_in);
	const char *name = take_str(f, &pos);
	char path[32];
	int r;

	if (!name)
		return -EINVAL;
	if ((r = xattr_node(f, c, path)) < 0)
		return r;
	return reply_xattr(f, c, size, getxattr(path, name, size ? f->reply : NULL, size ? xattr_room(c, size) : 0));
}

static int op_listxattr(struct fs *f, struct fs_ctx *c)
{
	uint32_t size = ARG(struct fuse_getxattr_in)->size;
	char path[32];
	int r;

	if ((r = xattr_node(f, c, path)) < 0)
		return r;
	return reply_xattr(f, c, size, listxattr(path, size ? (char *)f->reply : NULL, size ? xattr_room(c, size) : 0));
}

static int op_removexattr(struct fs *f, struct fs_ctx *c)
{
	size_t pos = 0;
	const char *name = take_str(f, &pos);
	char path[32];
	int r;

	if (!name)
		return -EINVAL;
	if (f->ro)
		return -EROFS;
	if (!xattr_settable(name))
		return -EPERM;
	if ((r = xattr_node(f, c, path)) < 0)
		return r;
	return removexattr(path, name) < 0 ? -errno : 0;
}

/* ---- dispatch ---- */

/* Per opcode: the fixed argument bytes, the fixed reply bytes (the room needed before serving). */
struct fs_opinfo { uint16_t arg, reply; bool noreply; };
static const struct fs_opinfo opinfo[] = {
	[FUSE_INIT] = { 16, sizeof(struct fuse_init_out) },   /* old kernels send 16 bytes */
	[FUSE_DESTROY] = { 0, 0 },
	[FUSE_LOOKUP] = { 0, sizeof(struct fuse_entry_out) },
	[FUSE_FORGET] = { sizeof(struct fuse_forget_in), 0, true },
	[FUSE_BATCH_FORGET] = { sizeof(struct fuse_batch_forget_in), 0, true },
	[FUSE_INTERRUPT] = { 0, 0, true },
	[FUSE_NOTIFY_REPLY] = { 0, 0, true },
	[FUSE_GETATTR] = { sizeof(struct fuse_getattr_in), sizeof(struct fuse_attr_out) },
	[FUSE_SETATTR] = { sizeof(struct fuse_setattr_in), sizeof(struct fuse_attr_out) },
	[FUSE_READLINK] = { 0, 0 },
	[FUSE_SYMLINK] = { 0, sizeof(struct fuse_entry_out) },
	[FUSE_MKNOD] = { sizeof(struct fuse_mknod_in), sizeof(struct fuse_entry_out) },
	[FUSE_MKDIR] = { sizeof(struct fuse_mkdir_in), sizeof(struct fuse_entry_out) },
	[FUSE_UNLINK] = { 0, 0 },
	[FUSE_RMDIR] = { 0, 0 },
	[FUSE_RENAME] = { sizeof(struct fuse_rename_in), 0 },
	[FUSE_RENAME2] = { sizeof(struct fuse_rename2_in), 0 },
	[FUSE_LINK] = { sizeof(struct fuse_link_in), sizeof(struct fuse_entry_out) },
	[FUSE_OPEN] = { sizeof(struct fuse_open_in), sizeof(struct fuse_open_out) },
	[FUSE_OPENDIR] = { sizeof(struct fuse_open_in), sizeof(struct fuse_open_out) },
	[FUSE_READ] = { sizeof(struct fuse_read_in), 0 },
	[FUSE_READDIR] = { sizeof(struct fuse_read_in), 0 },
	[FUSE_READDIRPLUS] = { sizeof(struct fuse_read_in), 0 },
	[FUSE_WRITE] = { sizeof(struct fuse_write_in), sizeof(struct fuse_write_out) },
	[FUSE_STATFS] = { 0, sizeof(struct fuse_statfs_out) },
	[FUSE_RELEASE] = { sizeof(struct fuse_release_in), 0 },
	[FUSE_RELEASEDIR] = { sizeof(struct fuse_release_in), 0 },
	[FUSE_FSYNC] = { sizeof(struct fuse_fsync_in), 0 },
	[FUSE_FSYNCDIR] = { sizeof(struct fuse_fsync_in), 0 },
	[FUSE_FLUSH] = { sizeof(struct fuse_flush_in), 0 },
	[FUSE_ACCESS] = { sizeof(struct fuse_access_in), 0 },
	[FUSE_CREATE] = { sizeof(struct fuse_create_in), sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out) },
	[FUSE_FALLOCATE] = { sizeof(struct fuse_fallocate_in), 0 },
	[FUSE_LSEEK] = { sizeof(struct fuse_lseek_in), sizeof(struct fuse_lseek_out) },
	[FUSE_SETXATTR] = { FUSE_COMPAT_SETXATTR_IN_SIZE, 0 },
	[FUSE_GETXATTR] = { sizeof(struct fuse_getxattr_in), 0 },
	[FUSE_LISTXATTR] = { sizeof(struct fuse_getxattr_in), 0 },
	[FUSE_REMOVEXATTR] = { 0, 0 },
};

static bool op_known(uint32_t op)
{
	return op < ARRAY_SIZE(opinfo) && (op == FUSE_DESTROY || opinfo[op].arg || opinfo[op].reply ||
					   opinfo[op].noreply || op == FUSE_LOOKUP || op == FUSE_READLINK ||
					   op == FUSE_SYMLINK || op == FUSE_UNLINK || op == FUSE_RMDIR ||
					   op == FUSE_STATFS || op == FUSE_REMOVEXATTR);
}

static int dispatch(struct fs *f, struct fs_ctx *c)
{
	uint32_t op = c->h.opcode;

	if (op == FUSE_INIT)
		return op_init(f, c);
	if (!f->st->initialized)
		return -EIO;
	switch (op) {
	case FUSE_DESTROY: fs_forget_all(f); return 0;
	case FUSE_LOOKUP: return op_lookup(f, c);
	case FUSE_FORGET: return op_forget(f, c);
	case FUSE_BATCH_FORGET: return op_batch_forget(f, c);
	case FUSE_GETATTR: return op_getattr(f, c);
	case FUSE_SETATTR: return op_setattr(f, c);
	case FUSE_READLINK: return op_readlink(f, c);
	case FUSE_SYMLINK: return op_symlink(f, c);
	case FUSE_MKNOD: return op_mknod(f, c);
	case FUSE_MKDIR: return op_mkdir(f, c);
	case FUSE_UNLINK: return op_unlink(f, c, 0);
	case FUSE_RMDIR: return op_unlink(f, c, AT_REMOVEDIR);
	case FUSE_RENAME: return do_rename(f, c, ARG(struct fuse_rename_in)->newdir, 0, sizeof(struct fuse_rename_in));
	case FUSE_RENAME2:
		return do_rename(f, c, ARG(struct fuse_rename2_in)->newdir, ARG(struct fuse_rename2_in)->flags,
				 sizeof(struct fuse_rename2_in));
	case FUSE_LINK: return op_link(f, c);
	case FUSE_OPEN: return op_open(f, c, false);
	case FUSE_OPENDIR: return op_open(f, c, true);
	case FUSE_READ: return op_read(f, c);
	case FUSE_WRITE: return op_write(f, c);
	case FUSE_STATFS: return op_statfs(f, c);
	case FUSE_RELEASE: return op_release(f, c, FH_FILE);
	case FUSE_RELEASEDIR: return op_release(f, c, FH_DIR);
	case FUSE_FSYNC: return op_fsync(f, c, FH_FILE);
	case FUSE_FSYNCDIR: return op_fsync(f, c, FH_DIR);
	case FUSE_FLUSH: return op_flush(f, c);
	case FUSE_ACCESS: return op_access(f, c);
	case FUSE_CREATE: return op_create(f, c);
	case FUSE_FALLOCATE: return op_fallocate(f, c);
	case FUSE_LSEEK: return op_lseek(f, c);
	case FUSE_READDIR: return op_readdir(f, c, false);
	case FUSE_READDIRPLUS: return op_readdir(f, c, true);
	case FUSE_SETXATTR: return op_setxattr(f, c);
	case FUSE_GETXATTR: return op_getxattr(f, c);
	case FUSE_LISTXATTR: return op_listxattr(f, c);
	case FUSE_REMOVEXATTR: return op_removexattr(f, c);
	case FUSE_INTERRUPT:   /* served synchronously: nothing is pending to interrupt */
	case FUSE_NOTIFY_REPLY:
		return FS_NOREPLY;
	default:
		return -ENOSYS;
	}
}

static size_t iov_total(const struct iovec *iov, unsigned n)
{
	size_t t = 0;
	for (unsigned i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* The reply: the header (len = everything written) and, unless already in place, the body. */
static size_t reply(struct fs *f, const struct fs_ctx *c, int r)
{
	struct fuse_out_header oh = { .unique = c->h.unique };

	if (r == FS_NOREPLY || c->in_bytes < sizeof(oh))
		return 0;
	if (r < 0 || (size_t)r > c->in_bytes - sizeof(oh)) {   /* the latter cannot happen: each op checks its room */
		oh.error = r < 0 ? r : -EIO;
		r = 0;
	} else if (!c->direct) {
		iov_from_buf(c->in, c->nin, sizeof(oh), f->reply, (size_t)r);
	}
	oh.len = (uint32_t)(sizeof(oh) + (size_t)r);
	iov_from_buf(c->in, c->nin, 0, &oh, sizeof(oh));
	return oh.len;
}

size_t fuse_serve(struct fs *f, const struct iovec *out, unsigned nout, const struct iovec *in, unsigned nin)
{
	struct fs_ctx c = { .out = out, .in = in,
			    .nout = nout < VIRTQ_MAX_SEGS ? nout : VIRTQ_MAX_SEGS,
			    .nin = nin < VIRTQ_MAX_SEGS ? nin : VIRTQ_MAX_SEGS };
	size_t got, payload;
	const struct fs_opinfo *oi;

	c.out_bytes = iov_total(out, c.nout);
	c.in_bytes = iov_total(in, c.nin);
	got = iov_to_buf(out, c.nout, 0, &c.h, sizeof(c.h));
	if (got < sizeof(c.h)) {
		c.h = (struct fuse_in_header){ 0 };
		return reply(f, &c, -EINVAL);
	}
	oi = op_known(c.h.opcode) ? &opinfo[c.h.opcode] : NULL;
	if (c.h.len < sizeof(c.h) || c.h.len > c.out_bytes)   /* the header's length lies */
		return oi && oi->noreply ? 0 : reply(f, &c, -EINVAL);
	if (!oi)
		return reply(f, &c, -ENOSYS);
	payload = c.h.len - sizeof(c.h);
	if (payload < oi->arg)
		return oi->noreply ? 0 : reply(f, &c, -EINVAL);
	if (!oi->noreply && c.in_bytes < sizeof(struct fuse_out_header) + oi->reply)
		return reply(f, &c, -EINVAL);   /* no room for the reply: do nothing */
	/* WRITE's data and BATCH_FORGET's list are read from the chain; the rest is copied once */
	if (c.h.opcode == FUSE_WRITE || c.h.opcode == FUSE_BATCH_FORGET)
		payload = oi->arg;
	else if (payload > FS_ARG_MAX)
		return oi->noreply ? 0 : reply(f, &c, -EINVAL);
	memset(f->arg, 0, sizeof(struct fuse_init_in));   /* INIT may come short: zeros for the rest */
	f->arglen = iov_to_buf(out, c.nout, sizeof(c.h), f->arg, payload);
	f->arg[f->arglen] = 0;
	return reply(f, &c, dispatch(f, &c));
}

/* ---- the device ---- */

static void fs_config_read(struct virtio_dev *d, unsigned off, void *buf, unsigned len)
{
	struct fs *f = d->priv;
	uint8_t cfg[FS_CONFIG_LEN] = { 0 };

	memcpy(cfg, f->tag, strlen(f->tag));
	put_le32(cfg + FS_TAG_MAX, 1);   /* num_request_queues */
	memcpy(buf, cfg + off, len);
}

/* Queue 0 (hiprio: FORGETs) and queue 1 (requests) are served alike, one request at a time. */
static void fs_process(struct virtio_dev *d, struct virtq *q)
{
	struct fs *f = d->priv;
	struct virtq_req *req = f->req;
	int r;

	do {
		virtq_disable_notify(q);
		while ((r = virtq_pop(q, req)) > 0) {
			size_t len = fuse_serve(f, req->iov, req->nout, req->iov + req->nout, req->nin);
			virtq_push(q, req->head, (uint32_t)len);
			atomic_fetch_add_explicit(&d->stats->requests, 1, memory_order_relaxed);
		}
		if (r < 0)
			return;
		virtio_notify(d, q);
	} while (virtq_enable_notify(q));
}

/* (device lock held) A reset forgets every node and handle: the driver starts over with INIT. */
static void fs_reset(struct virtio_dev *d)
{
	fs_forget_all(d->priv);
}

static const struct virtio_ops fs_ops = {
	.name = "virtio-fs",
	.device_id = FS_DEVICE_ID,
	.pci_class = 0x018000,
	.features = 0,
	.nqueues = 2,
	.queue_size = FS_QUEUE_SIZE,
	.config_len = FS_CONFIG_LEN,
	.sandbox_role = SB_ROLE_FS_PROC,
	.config_read = fs_config_read,
	.process = fs_process,
	.reset = fs_reset,
};

/* ---- setup (fatal errors name --share) ---- */

static void parse_spec(struct fs *f, const char *spec)
{
	char *s = strdup(spec), *opt, *save = NULL;

	if (!s)
		fatal(EXIT_USAGE, "out of memory");
	f->path = strtok_r(s, ",", &save);
	if (!f->path || spec[0] == ',')
		fatal(EXIT_USAGE, "--share %s: no host directory", spec);
	while ((opt = strtok_r(NULL, ",", &save))) {
		if (!strcmp(opt, "ro"))
			f->ro = true;
		else if (!strncmp(opt, "tag=", 4) && strlen(opt + 4) >= 1 && strlen(opt + 4) <= FS_TAG_MAX)
			strcpy(f->tag, opt + 4);
		else if (!strncmp(opt, "tag=", 4))
			fatal(EXIT_USAGE, "--share %s: the tag must be 1 to %d bytes", spec, FS_TAG_MAX);
		else
			fatal(EXIT_USAGE, "--share %s: unknown option '%s' (tag=NAME, ro)", spec, opt);
	}
	if (!f->tag[0])
		fatal(EXIT_USAGE, "--share %s: no tag=NAME (the guest mounts the share by it)", spec);
}

static void alloc_tables(struct fs *f, const char *spec)
{
	f->hash = calloc(FS_HASH, sizeof(*f->hash));
	f->arg = malloc(FS_ARG_MAX + 1);
	f->reply = malloc(FS_REPLY_MAX);
	f->dents = malloc(FS_DENTS);
	f->req = malloc(sizeof(*f->req));
	if (!f->hash || !f->arg || !f->reply || !f->dents || !f->req)
		fatal(EXIT_USAGE, "--share %s: out of memory", spec);
}

/* Tables in st (zeroed, or from an export of another directory): the root only. */
static void fs_tables_init(struct fs *f, struct fs_state *st)
{
	struct stat rs;

	f->st = st;
	f->nodes = st->nodes;
	f->fh = st->fh;
	st->magic = 0;
	if (fstat(f->root_fd, &rs) < 0)
		fatal_errno(EXIT_RUNTIME, "--share %s", f->path);
	f->nodes[0] = (struct fs_node){ .fd = f->root_fd, .type = S_IFDIR, .dev = rs.st_dev,
					.ino = rs.st_ino, .nlookup = 1 };
	fs_forget_all(f);
	st->magic = FS_STATE_MAGIC;
}

struct fs *virtio_fs_open(const char *spec)
{
	struct fs *f = calloc(1, sizeof(*f));
	struct fs_state *st = calloc(1, sizeof(*st));   /* untouched pages cost nothing */

	if (!f || !st)
		fatal(EXIT_USAGE, "--share %s: out of memory", spec);
	parse_spec(f, spec);
	f->proc_fd = -1;
	f->root_fd = open(f->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (f->root_fd < 0)
		fatal_errno(EXIT_USAGE, "--share %s: %s", spec, f->path);
	alloc_tables(f, spec);
	if (getrandom(&f->rng, sizeof(f->rng), 0) != sizeof(f->rng))
		f->rng = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	f->rng |= 1;
	fs_tables_init(f, st);
	f->own_st = true;
	return f;
}

size_t virtio_fs_state_bytes(void)
{
	return sizeof(struct fs_state);
}

void virtio_fs_use_state(struct fs *f, void *mem)
{
	struct fs_state *st = mem;

	if (f->own_st)
		free(f->st);
	f->own_st = false;
	if (st->magic != FS_STATE_MAGIC) {
		fs_tables_init(f, st);
		return;
	}
	f->st = st;
	f->nodes = st->nodes;
	f->fh = st->fh;
	fs_adopt(f);
}

struct virtio_dev *virtio_fs_backend(struct fs *f)
{
	struct rlimit rl;

	f->dev = virtio_dev_new(&fs_ops, f, f->path);
	if (!f->dev)
		fatal(EXIT_RUNTIME, "--share %s: cannot create the device", f->path);
	/* in the serving process, before its sandbox: its own /proc/self/fd, its own umask, fds for the nodes */
	if (proc_dir(f) < 0)
		fatal_errno(EXIT_RUNTIME, "--share %s: /proc/self/fd", f->path);
	umask(0);   /* the guest kernel applied the guest's umask to the modes it sends */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)!setrlimit(RLIMIT_NOFILE, &rl);
	}
	vlog("%s: %s, tag %s%s", f->dev->name, f->path, f->tag, f->ro ? ", read-only" : "");
	return f->dev;
}

int virtio_fs_fd(const struct fs *f)
{
	return f->root_fd;
}

const char *virtio_fs_tag(const struct fs *f)
{
	return f->tag;
}

bool virtio_fs_ro(const struct fs *f)
{
	return f->ro;
}

const char *virtio_fs_path(const struct fs *f)
{
	return f->path;
}
