/* tests/unit/test_fs.c: the virtio-fs FUSE server fed hand-built requests (fuse_serve), on a temporary directory tree; one request through the ring. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdint.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "unit.h"
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)   /* musl lacks them */
#define RENAME_EXCHANGE  (1 << 1)
#endif
#include "../../virtio/virtio.h"
#include "../../sandbox/sandbox.h"

static char root[64], ro_root[64];
static uint8_t *obuf, *ibuf;   /* the request and the reply */
static uint64_t next_unique = 1;
#define BUF (2u << 20)

#define OH ((struct fuse_out_header *)ibuf)
#define BODY(type) ((type *)(ibuf + sizeof(struct fuse_out_header)))

/*
 * One request: header + a[0..alen) + b[0..blen), split over three out
 * iovecs (header, a, b) so arguments cross segment boundaries; `room` bytes
 * of reply in two in iovecs. Returns the bytes written (the used length).
 */
static size_t req_room(struct fs *f, uint32_t op, uint64_t nodeid, const void *a, size_t alen,
		       const void *b, size_t blen, size_t room)
{
	struct fuse_in_header h = { .len = (uint32_t)(sizeof(h) + alen + blen), .opcode = op,
				    .unique = next_unique++, .nodeid = nodeid };
	struct iovec out[3], in[2];
	size_t half = room / 2;

	memcpy(obuf, &h, sizeof(h));
	if (alen)
		memcpy(obuf + sizeof(h), a, alen);
	if (blen)
		memcpy(obuf + sizeof(h) + alen, b, blen);
	out[0] = (struct iovec){ obuf, sizeof(h) };
	out[1] = (struct iovec){ obuf + sizeof(h), alen };
	out[2] = (struct iovec){ obuf + sizeof(h) + alen, blen };
	memset(ibuf, 0xEE, room + 64);
	in[0] = (struct iovec){ ibuf, half < 16 ? room : half };
	in[1] = (struct iovec){ ibuf + in[0].iov_len, room - in[0].iov_len };
	size_t n = fuse_serve(f, out, 3, in, 2);
	CHECK(n <= room);
	CHECK(ibuf[room] == 0xEE);   /* nothing past the room */
	if (n) {
		CHECK(OH->len == n);
		CHECK(OH->unique == h.unique);
	}
	return n;
}

static size_t req(struct fs *f, uint32_t op, uint64_t nodeid, const void *a, size_t alen, const void *b, size_t blen)
{
	return req_room(f, op, nodeid, a, alen, b, blen, 1u << 20);
}

/* The reply's error, or 0 with a body. */
static int err_of(size_t n)
{
	return n >= sizeof(struct fuse_out_header) ? OH->error : 1;
}

static int name_req(struct fs *f, uint32_t op, uint64_t parent, const void *arg, size_t alen, const char *name)
{
	return err_of(req(f, op, parent, arg, alen, name, strlen(name) + 1));
}

static void init(struct fs *f)
{
	struct fuse_init_in in = { .major = 7, .minor = 38, .max_readahead = 65536,
				   .flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS |
					    FUSE_MAX_PAGES | FUSE_WRITEBACK_CACHE | FUSE_POSIX_LOCKS };
	size_t n = req(f, FUSE_INIT, 0, &in, sizeof(in), NULL, 0);
	CHECK(n == sizeof(struct fuse_out_header) + sizeof(struct fuse_init_out) && OH->error == 0);
}

/* LOOKUP: the nodeid, or 0 with *e = the error. */
static uint64_t lookup(struct fs *f, uint64_t parent, const char *name, int *e)
{
	int r = name_req(f, FUSE_LOOKUP, parent, NULL, 0, name);
	if (e)
		*e = r;
	return r ? 0 : BODY(struct fuse_entry_out)->nodeid;
}

static uint64_t open_node(struct fs *f, uint64_t node, uint32_t flags, bool dir, int *e)
{
	struct fuse_open_in in = { .flags = flags };
	int r = err_of(req(f, dir ? FUSE_OPENDIR : FUSE_OPEN, node, &in, sizeof(in), NULL, 0));
	*e = r;
	return r ? 0 : BODY(struct fuse_open_out)->fh;
}

static size_t do_read(struct fs *f, uint32_t op, uint64_t fh, uint64_t off, uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };
	return req(f, op, 1, &in, sizeof(in), NULL, 0);
}

static int release(struct fs *f, uint32_t op, uint64_t fh)
{
	struct fuse_release_in in = { .fh = fh };
	return err_of(req(f, op, 1, &in, sizeof(in), NULL, 0));
}

static void put_file(const char *rel, const char *content, mode_t mode)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	close(fd);
}

static int host_stat(const char *rel, struct stat *st)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return lstat(p, st);
}

static struct fs *fs_rw, *fs_ro;
struct fs *fs_neg, *fs_ring, *fs_shm, *fs_r1, *fs_r2, *fs_r3;   /* never freed (nor in a device process): kept reachable, extern so the stores stay */

/* ---- tests ---- */


static void test_init_negotiation(void)
{
	char spec[128];
	snprintf(spec, sizeof(spec), "%s,tag=t", root);
	struct fs *f = fs_neg = virtio_fs_open(spec);
	int e;

	CHECK(!strcmp(virtio_fs_tag(f), "t") && !virtio_fs_ro(f) && !strcmp(virtio_fs_path(f), root));
	CHECK(virtio_fs_fd(f) >= 0);
	CHECK(err_of(req(f, FUSE_GETATTR, 1, &(struct fuse_getattr_in){ 0 }, sizeof(struct fuse_getattr_in), NULL, 0)) == -EIO);
	init(f);
	struct fuse_init_out *o = BODY(struct fuse_init_out);
	CHECK(o->major == 7 && o->minor == 38 && o->max_write == 1u << 20 && o->max_pages == 256);
	CHECK(o->flags & FUSE_DO_READDIRPLUS && o->flags & FUSE_BIG_WRITES && o->flags & FUSE_MAX_PAGES);
	CHECK(o->flags & FUSE_ASYNC_READ);
	CHECK(!(o->flags & (FUSE_WRITEBACK_CACHE | FUSE_POSIX_LOCKS)));
	/* an older kernel: its minor; a short INIT (16 bytes) is accepted */
	struct fuse_init_in old = { .major = 7, .minor = 31 };
	CHECK(err_of(req(f, FUSE_INIT, 0, &old, 16, NULL, 0)) == 0 && BODY(struct fuse_init_out)->minor == 31);
	CHECK(err_of(req(f, FUSE_INIT, 0, &(struct fuse_init_in){ .major = 6 }, sizeof(old), NULL, 0)) == -EPROTO);
	init(f);
	CHECK(lookup(f, 1, "hello", &e) != 0 && e == 0);
	CHECK(err_of(req(f, FUSE_DESTROY, 0, NULL, 0, NULL, 0)) == 0);
	CHECK(lookup(f, 1, "hello", &e) == 0 && e == -EIO);   /* not initialised any more */
}

static void test_lookup_read(void)
{
	struct fs *f = fs_rw;
	struct stat st;
	int e;
	uint64_t n = lookup(f, 1, "hello", &e);

	CHECK(n && n != 1 && e == 0);
	CHECK(host_stat("hello", &st) == 0);
	struct fuse_entry_out *eo = BODY(struct fuse_entry_out);
	CHECK(eo->attr.size == 12 && S_ISREG(eo->attr.mode) && eo->attr.ino == st.st_ino && eo->entry_valid == 1);
	CHECK(lookup(f, 1, "hello", &e) == n);   /* the same inode: the same node */
	CHECK(err_of(req(f, FUSE_GETATTR, n, &(struct fuse_getattr_in){ 0 }, sizeof(struct fuse_getattr_in), NULL, 0)) == 0);
	CHECK(BODY(struct fuse_attr_out)->attr.size == 12 && BODY(struct fuse_attr_out)->attr_valid == 1);
	CHECK(lookup(f, 1, "absent", &e) == 0 && e == -ENOENT);
	uint64_t sub = lookup(f, 1, "sub", &e);
	CHECK(sub && lookup(f, sub, "inner", &e) && e == 0);
	CHECK(lookup(f, n, "x", &e) == 0 && e == -ENOTDIR);   /* a file as a parent */

	uint64_t fh = open_node(f, n, O_RDONLY, false, &e);
	CHECK(e == 0 && fh);
	size_t got = do_read(f, FUSE_READ, fh, 0, 100);
	CHECK(got == 16 + 12 && OH->error == 0 && !memcmp(ibuf + 16, "hello world\n", 12));
	got = do_read(f, FUSE_READ, fh, 6, 3);
	CHECK(got == 16 + 3 && !memcmp(ibuf + 16, "wor", 3));
	got = do_read(f, FUSE_READ, fh, 1000, 100);
	CHECK(got == 16 && OH->error == 0);   /* EOF */
	/* a reply bigger than the room: only what fits */
	got = req_room(f, FUSE_READ, 1, &(struct fuse_read_in){ .fh = fh, .size = 4096 }, sizeof(struct fuse_read_in),
		       NULL, 0, 16 + 5);
	CHECK(got == 21 && !memcmp(ibuf + 16, "hello", 5));
	CHECK(release(f, FUSE_RELEASE, fh) == 0);
	CHECK(release(f, FUSE_RELEASE, fh) == -EBADF);
	CHECK(err_of(do_read(f, FUSE_READ, fh, 0, 10)) == -EBADF);
	/* statfs, access */
	CHECK(err_of(req(f, FUSE_STATFS, 1, NULL, 0, NULL, 0)) == 0 && BODY(struct fuse_statfs_out)->st.bsize);
	CHECK(err_of(req(f, FUSE_ACCESS, n, &(struct fuse_access_in){ .mask = R_OK }, sizeof(struct fuse_access_in),
			 NULL, 0)) == 0);
}

static void test_create_write(void)
{
	struct fs *f = fs_rw;
	struct fuse_create_in ci = { .flags = O_WRONLY | O_CREAT | O_EXCL, .mode = S_IFREG | 0640 };
	static uint8_t data[5000], back[5000];
	struct stat st;
	int e;

	CHECK(name_req(f, FUSE_CREATE, 1, &ci, sizeof(ci), "new") == 0);
	struct fuse_entry_out *eo = BODY(struct fuse_entry_out);
	uint64_t node = eo->nodeid, fh = ((struct fuse_open_out *)(eo + 1))->fh;
	CHECK(node && fh && S_ISREG(eo->attr.mode));
	CHECK(name_req(f, FUSE_CREATE, 1, &ci, sizeof(ci), "new") == -EEXIST);
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	struct fuse_write_in wi = { .fh = fh, .offset = 0, .size = sizeof(data) };
	size_t got = req(f, FUSE_WRITE, node, &wi, sizeof(wi), data, sizeof(data));
	CHECK(got == 16 + sizeof(struct fuse_write_out) && OH->error == 0 &&
	      BODY(struct fuse_write_out)->size == sizeof(data));
	/* more data claimed than sent */
	wi.size = sizeof(data) + 1;
	CHECK(err_of(req(f, FUSE_WRITE, node, &wi, sizeof(wi), data, sizeof(data))) == -EINVAL);
	wi.size = (2u << 20);
	CHECK(err_of(req(f, FUSE_WRITE, node, &wi, sizeof(wi), data, sizeof(data))) == -EINVAL);
	/* a write handle cannot be read: the host says EBADF */
	CHECK(err_of(do_read(f, FUSE_READ, fh, 0, 10)) == -EBADF);
	CHECK(err_of(req(f, FUSE_FSYNC, node, &(struct fuse_fsync_in){ .fh = fh }, sizeof(struct fuse_fsync_in), NULL, 0)) == 0);
	CHECK(err_of(req(f, FUSE_FLUSH, node, &(struct fuse_flush_in){ .fh = fh }, sizeof(struct fuse_flush_in), NULL, 0)) == 0);
	CHECK(release(f, FUSE_RELEASE, fh) == 0);
	CHECK(host_stat("new", &st) == 0 && (st.st_mode & 07777) == 0640 && st.st_size == sizeof(data));
	char p[256];
	snprintf(p, sizeof(p), "%s/new", root);
	int fd = open(p, O_RDONLY);
	CHECK(fd >= 0 && read(fd, back, sizeof(back)) == sizeof(back) && !memcmp(data, back, sizeof(data)));
	close(fd);
	/* SETATTR: size by path, mode, times */
	struct fuse_setattr_in sa = { .valid = FATTR_SIZE | FATTR_MODE | FATTR_MTIME, .size = 100, .mode = 0604,
				      .mtime = 1000000000 };
	CHECK(err_of(req(f, FUSE_SETATTR, node, &sa, sizeof(sa), NULL, 0)) == 0);
	CHECK(BODY(struct fuse_attr_out)->attr.size == 100);
	CHECK(host_stat("new", &st) == 0 && st.st_size == 100 && (st.st_mode & 07777) == 0604 &&
	      st.st_mtim.tv_sec == 1000000000);
	sa = (struct fuse_setattr_in){ .valid = FATTR_ATIME | FATTR_MTIME_NOW, .atime = 12345 };
	CHECK(err_of(req(f, FUSE_SETATTR, node, &sa, sizeof(sa), NULL, 0)) == 0);
	CHECK(host_stat("new", &st) == 0 && st.st_atim.tv_sec == 12345 && st.st_mtim.tv_sec > 1000000000);
	/* OPEN with O_TRUNC; fallocate; lseek */
	fh = open_node(f, node, O_RDWR | O_TRUNC, false, &e);
	CHECK(e == 0 && host_stat("new", &st) == 0 && st.st_size == 0);
	struct fuse_fallocate_in fa = { .fh = fh, .offset = 0, .length = 8192 };
	CHECK(err_of(req(f, FUSE_FALLOCATE, node, &fa, sizeof(fa), NULL, 0)) == 0);
	CHECK(host_stat("new", &st) == 0 && st.st_size == 8192);
	struct fuse_lseek_in ls = { .fh = fh, .offset = 0, .whence = SEEK_END };
	CHECK(err_of(req(f, FUSE_LSEEK, node, &ls, sizeof(ls), NULL, 0)) == 0 && BODY(struct fuse_lseek_out)->offset == 8192);
	CHECK(release(f, FUSE_RELEASE, fh) == 0);
	/* MKNOD: a fifo yes, a device no */
	struct fuse_mknod_in mk = { .mode = S_IFIFO | 0600 };
	CHECK(name_req(f, FUSE_MKNOD, 1, &mk, sizeof(mk), "fifo") == 0);
	CHECK(host_stat("fifo", &st) == 0 && S_ISFIFO(st.st_mode));
	uint64_t fifo = BODY(struct fuse_entry_out)->nodeid;
	open_node(f, fifo, O_RDONLY, false, &e);
	CHECK(e == -EACCES);   /* never opened by the server: it could block it */
	mk = (struct fuse_mknod_in){ .mode = S_IFCHR | 0600, .rdev = 0x0103 };
	CHECK(name_req(f, FUSE_MKNOD, 1, &mk, sizeof(mk), "null") == -EPERM);
	/* LINK */
	CHECK(name_req(f, FUSE_LINK, 1, &(struct fuse_link_in){ .oldnodeid = node }, sizeof(struct fuse_link_in), "new2") == 0);
	CHECK(BODY(struct fuse_entry_out)->nodeid == node && BODY(struct fuse_entry_out)->attr.nlink == 2);
	CHECK(host_stat("new2", &st) == 0 && st.st_nlink == 2);
}

static void test_dirs(void)
{
	struct fs *f = fs_rw;
	struct stat st;
	struct fuse_mkdir_in mi = { .mode = 0750 };
	char two[32];
	int e;

	CHECK(name_req(f, FUSE_MKDIR, 1, &mi, sizeof(mi), "d") == 0);
	CHECK(S_ISDIR(BODY(struct fuse_entry_out)->attr.mode));
	uint64_t d = BODY(struct fuse_entry_out)->nodeid;
	CHECK(host_stat("d", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750);
	CHECK(name_req(f, FUSE_MKDIR, 1, &mi, sizeof(mi), "d") == -EEXIST);
	CHECK(name_req(f, FUSE_MKDIR, d, &mi, sizeof(mi), "dd") == 0);
	/* RENAME d -> e (old\0new\0) */
	memcpy(two, "d\0e", 4);
	CHECK(err_of(req(f, FUSE_RENAME, 1, &(struct fuse_rename_in){ .newdir = 1 }, sizeof(struct fuse_rename_in), two, 4)) == 0);
	CHECK(host_stat("d", &st) < 0 && host_stat("e/dd", &st) == 0);
	/* the node follows the inode */
	CHECK(lookup(f, d, "dd", &e) && e == 0);
	/* RENAME2 NOREPLACE onto an existing name; EXCHANGE swaps */
	memcpy(two, "e\0hello", 8);
	struct fuse_rename2_in r2 = { .newdir = 1, .flags = RENAME_NOREPLACE };
	CHECK(err_of(req(f, FUSE_RENAME2, 1, &r2, sizeof(r2), two, 8)) == -EEXIST);
	r2.flags = 4;   /* RENAME_WHITEOUT */
	CHECK(err_of(req(f, FUSE_RENAME2, 1, &r2, sizeof(r2), two, 8)) == -EINVAL);
	r2.flags = RENAME_EXCHANGE;
	CHECK(err_of(req(f, FUSE_RENAME2, 1, &r2, sizeof(r2), two, 8)) == 0);
	CHECK(host_stat("hello", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(err_of(req(f, FUSE_RENAME2, 1, &r2, sizeof(r2), two, 8)) == 0);
	CHECK(host_stat("hello", &st) == 0 && S_ISREG(st.st_mode));
	/* rename into another directory, to a name with a slash: refused */
	memcpy(two, "e\0../x", 7);
	CHECK(err_of(req(f, FUSE_RENAME, 1, &(struct fuse_rename_in){ .newdir = 1 }, sizeof(struct fuse_rename_in), two, 7)) == -EINVAL);
	memcpy(two, "..\0x", 5);
	CHECK(err_of(req(f, FUSE_RENAME, d, &(struct fuse_rename_in){ .newdir = 1 }, sizeof(struct fuse_rename_in), two, 5)) == -EINVAL);
	/* UNLINK, RMDIR */
	CHECK(name_req(f, FUSE_RMDIR, 1, NULL, 0, "e") == -ENOTEMPTY);
	CHECK(name_req(f, FUSE_RMDIR, d, NULL, 0, "dd") == 0);
	CHECK(name_req(f, FUSE_RMDIR, 1, NULL, 0, "e") == 0);
	CHECK(host_stat("e", &st) < 0);
	CHECK(name_req(f, FUSE_UNLINK, 1, NULL, 0, "new2") == 0);
	CHECK(host_stat("new2", &st) < 0);
	CHECK(name_req(f, FUSE_UNLINK, 1, NULL, 0, "new2") == -ENOENT);
}

static void test_symlinks(void)
{
	struct fs *f = fs_rw;
	char args[64];
	int e;

	memcpy(args, "ln\0/etc/passwd", 15);
	CHECK(err_of(req(f, FUSE_SYMLINK, 1, NULL, 0, args, 15)) == 0);
	uint64_t ln = BODY(struct fuse_entry_out)->nodeid;
	CHECK(S_ISLNK(BODY(struct fuse_entry_out)->attr.mode));
	size_t got = req(f, FUSE_READLINK, ln, NULL, 0, NULL, 0);
	CHECK(got == 16 + 11 && !memcmp(ibuf + 16, "/etc/passwd", 11));
	CHECK(err_of(req(f, FUSE_READLINK, 1, NULL, 0, NULL, 0)) == -EINVAL);
	/* never followed: not opened, not a directory to look up in */
	open_node(f, ln, O_RDONLY, false, &e);
	CHECK(e == -ELOOP);
	open_node(f, ln, O_RDONLY, true, &e);
	CHECK(e == -ENOTDIR);
	CHECK(lookup(f, ln, "x", &e) == 0 && e == -ENOTDIR);
	/* a symlink to a directory outside, made by the host */
	uint64_t esc = lookup(f, 1, "esc", &e);
	CHECK(esc && e == 0);
	CHECK(lookup(f, esc, "passwd", &e) == 0 && e == -ENOTDIR);
	open_node(f, esc, O_RDONLY, true, &e);
	CHECK(e == -ENOTDIR);
	/* CREATE over the symlink does not follow it */
	struct fuse_create_in ci = { .flags = O_WRONLY, .mode = 0644 };
	CHECK(name_req(f, FUSE_CREATE, 1, &ci, sizeof(ci), "ln") == -ELOOP);
	/* SETATTR of its mode: not on a symlink (it would follow) */
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = 0777 };
	CHECK(err_of(req(f, FUSE_SETATTR, ln, &sa, sizeof(sa), NULL, 0)) == -EOPNOTSUPP);
	/* truncate through a symlink refused */
	sa = (struct fuse_setattr_in){ .valid = FATTR_SIZE, .size = 0 };
	CHECK(err_of(req(f, FUSE_SETATTR, ln, &sa, sizeof(sa), NULL, 0)) == -EINVAL);
	/* xattrs: through the magic link, not on symlinks; only user.* may be set */
	uint64_t hello = lookup(f, 1, "hello", &e);
	char xa[64];
	memcpy(xa, "user.k\0value", 12);
	int r = err_of(req(f, FUSE_SETXATTR, hello, &(struct fuse_setxattr_in){ .size = 5 }, 8, xa, 12));
	CHECK(r == 0 || r == -EOPNOTSUPP);
	if (r == 0) {
		CHECK(err_of(req(f, FUSE_GETXATTR, hello, &(struct fuse_getxattr_in){ .size = 64 },
				 sizeof(struct fuse_getxattr_in), "user.k", 7)) == 0);
		CHECK(OH->len == 16 + 5 && !memcmp(ibuf + 16, "value", 5));
		CHECK(err_of(req(f, FUSE_GETXATTR, hello, &(struct fuse_getxattr_in){ .size = 0 },
				 sizeof(struct fuse_getxattr_in), "user.k", 7)) == 0);
		CHECK(BODY(struct fuse_getxattr_out)->size == 5);
		CHECK(err_of(req(f, FUSE_LISTXATTR, hello, &(struct fuse_getxattr_in){ .size = 0 },
				 sizeof(struct fuse_getxattr_in), NULL, 0)) == 0);
		CHECK(err_of(req(f, FUSE_REMOVEXATTR, hello, NULL, 0, "user.k", 7)) == 0);
	}
	memcpy(xa, "trusted.k\0v", 11);
	CHECK(err_of(req(f, FUSE_SETXATTR, hello, &(struct fuse_setxattr_in){ .size = 1 }, 8, xa, 11)) == -EPERM);
	memcpy(xa, "user.k\0v", 8);
	CHECK(err_of(req(f, FUSE_SETXATTR, hello, &(struct fuse_setxattr_in){ .size = 100 }, 8, xa, 8)) == -EINVAL);
	CHECK(err_of(req(f, FUSE_SETXATTR, ln, &(struct fuse_setxattr_in){ .size = 1 }, 8, xa, 8)) == -EOPNOTSUPP);
}

/* Walk a READDIR(PLUS) reply: calls fn for each entry; returns the count, *last the last offset. */
static int walk_dirents(bool plus, size_t n, uint64_t *last, char names[][32], uint64_t *nodeids)
{
	size_t pos = 16, hdr = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	int k = 0;

	while (pos + hdr <= n) {
		struct fuse_dirent *de = (struct fuse_dirent *)(ibuf + pos + hdr - FUSE_NAME_OFFSET);
		size_t rec = FUSE_DIRENT_ALIGN(hdr + de->namelen);
		CHECK(de->namelen > 0 && de->namelen < 32 && pos + rec <= n);
		if (de->namelen >= 32 || pos + rec > n)
			break;
		memcpy(names[k], de->name, de->namelen);
		names[k][de->namelen] = 0;
		if (nodeids)
			nodeids[k] = ((struct fuse_entry_out *)(ibuf + pos))->nodeid;
		*last = de->off;
		k++;
		pos += rec;
	}
	CHECK(pos == n);
	return k;
}

static int find(char names[][32], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

static void test_readdir(void)
{
	struct fs *f = fs_rw;
	static char names[64][32], all[64][32];
	uint64_t ids[64], last = 0;
	int e, k, total = 0;

	uint64_t fh = open_node(f, 1, O_RDONLY, true, &e);
	CHECK(e == 0);
	size_t n = do_read(f, FUSE_READDIRPLUS, fh, 0, 4096);
	CHECK(OH->error == 0);
	k = walk_dirents(true, n, &last, names, ids);
	CHECK(k >= 5);
	int dot = find(names, k, "."), hello = find(names, k, "hello"), sub = find(names, k, "sub");
	CHECK(dot >= 0 && find(names, k, "..") >= 0 && hello >= 0 && sub >= 0);
	CHECK(dot < 0 || ids[dot] == 0);   /* no lookup taken for . and .. */
	CHECK(hello < 0 || ids[hello] == lookup(f, 1, "hello", &e));
	/* READDIR with room for about one entry at a time lists each entry exactly once */
	last = 0;
	for (int round = 0; round < 64; round++) {
		n = do_read(f, FUSE_READDIR, fh, last, 40);
		CHECK(OH->error == 0);
		if (n == 16)
			break;
		int got = walk_dirents(false, n, &last, all + total, NULL);
		CHECK(got == 1);
		total += got;
	}
	CHECK(total == k);
	for (int i = 0; i < k; i++)
		CHECK(find(all, total, names[i]) >= 0);
	/* a directory handle is not a file handle, and the reverse */
	CHECK(err_of(do_read(f, FUSE_READ, fh, 0, 10)) == -EBADF);
	CHECK(release(f, FUSE_RELEASE, fh) == -EBADF);
	uint64_t hn = lookup(f, 1, "hello", &e);
	uint64_t ffh = open_node(f, hn, O_RDONLY, false, &e);
	CHECK(err_of(do_read(f, FUSE_READDIR, ffh, 0, 4096)) == -EBADF);
	CHECK(release(f, FUSE_RELEASE, ffh) == 0);
	CHECK(err_of(req(f, FUSE_FSYNCDIR, 1, &(struct fuse_fsync_in){ .fh = fh }, sizeof(struct fuse_fsync_in), NULL, 0)) == 0);
	CHECK(release(f, FUSE_RELEASEDIR, fh) == 0);
	CHECK(err_of(do_read(f, FUSE_READDIR, fh, 0, 4096)) == -EBADF);
	open_node(f, hn, O_RDONLY, true, &e);
	CHECK(e == -ENOTDIR);
}

/*
 * "rm -rf" as the Linux driver does it: list a few entries, unlink them, go on
 * from the last cookie. On tmpfs before Linux 6.6, whose cookies are positions,
 * a server that seeks to that cookie after the unlinks skips entries, and
 * rmdir then fails (newer tmpfs has stable cookies: there it passes either way;
 * nested-run-stress checks the same on 6.1).
 */
static void test_readdir_unlink(void)
{
	static char names[8][32];
	char dir[64], spec[96];
	struct statfs sf;
	uint64_t last = 0;
	int e, removed = 0;

	snprintf(dir, sizeof(dir), "/dev/shm/vmm-test-fs-XXXXXX");
	if (statfs("/dev/shm", &sf) < 0 || sf.f_type != TMPFS_MAGIC || !mkdtemp(dir))
		SKIP("no tmpfs at /dev/shm");
	snprintf(spec, sizeof(spec), "%s/d", dir);
	CHECK(mkdir(spec, 0755) == 0);
	for (int i = 0; i < 100; i++) {
		char p[96];
		snprintf(p, sizeof(p), "%s/d/file-%03d", dir, i);
		close(open(p, O_CREAT | O_WRONLY, 0644));
	}
	snprintf(spec, sizeof(spec), "%s,tag=shm", dir);
	struct fs *f = fs_shm = virtio_fs_open(spec);
	init(f);
	uint64_t d = lookup(f, 1, "d", &e);
	uint64_t fh = open_node(f, d, O_RDONLY, true, &e);
	CHECK(e == 0);
	for (int round = 0; round < 200; round++) {
		size_t n = do_read(f, FUSE_READDIR, fh, last, 128);   /* about 3 entries */
		CHECK(OH->error == 0);
		if (n == sizeof(struct fuse_out_header))
			break;
		int k = walk_dirents(false, n, &last, names, NULL);
		for (int i = 0; i < k; i++)
			if (strcmp(names[i], ".") && strcmp(names[i], ".."))
				removed += name_req(f, FUSE_UNLINK, d, NULL, 0, names[i]) == 0;
	}
	CHECK(removed == 100);
	CHECK(release(f, FUSE_RELEASEDIR, fh) == 0);
	CHECK(name_req(f, FUSE_RMDIR, 1, NULL, 0, "d") == 0);
	CHECK(rmdir(dir) == 0);
}

static uint32_t getattr_size(struct fs *f, uint64_t node, int *e)
{
	*e = err_of(req(f, FUSE_GETATTR, node, &(struct fuse_getattr_in){ 0 }, sizeof(struct fuse_getattr_in), NULL, 0));
	return *e ? 0 : (uint32_t)BODY(struct fuse_attr_out)->attr.size;
}

/*
 * A device process killed and replaced: the new one takes the tables over
 * from the shared state and serves the guest's nodeids and fhs as they were,
 * without a new FUSE_INIT; a node renamed before is found under its new name,
 * one whose file was removed meanwhile is stale; forged ids stay refused.
 */
static void test_restart(void)
{
	char spec[128], p[256];
	static char names[64][32];
	uint64_t last = 0;
	int e;
	void *mem = mmap(NULL, virtio_fs_state_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);

	CHECK(mem != MAP_FAILED);
	snprintf(spec, sizeof(spec), "%s,tag=rs", root);
	struct fs *f1 = fs_r1 = virtio_fs_open(spec);
	virtio_fs_use_state(f1, mem);
	init(f1);
	put_file("sub/keep", "kept content", 0644);
	put_file("sub/gone", "x", 0644);
	put_file("sub/moving", "moves", 0644);
	uint64_t sub = lookup(f1, 1, "sub", &e), keep = lookup(f1, sub, "keep", &e);
	uint64_t gone = lookup(f1, sub, "gone", &e), moving = lookup(f1, sub, "moving", &e);
	CHECK(sub && keep && gone && moving);
	uint64_t fh = open_node(f1, keep, O_RDONLY, false, &e), dfh = open_node(f1, sub, O_RDONLY, true, &e);
	CHECK(fh && dfh);
	CHECK(err_of(req(f1, FUSE_RENAME, sub, &(struct fuse_rename_in){ .newdir = 1 }, sizeof(struct fuse_rename_in),
			 "moving\0moved", 13)) == 0);
	snprintf(p, sizeof(p), "%s/sub/gone", root);
	CHECK(unlink(p) == 0);

	/* the process dies (its fds with it, as far as the next one knows); another takes over */
	struct fs *f2 = fs_r2 = virtio_fs_open(spec);
	virtio_fs_use_state(f2, mem);
	CHECK(getattr_size(f2, keep, &e) == 12 && e == 0);
	size_t got = do_read(f2, FUSE_READ, fh, 0, 100);
	CHECK(got == 16 + 12 && OH->error == 0 && !memcmp(ibuf + 16, "kept content", 12));
	CHECK(getattr_size(f2, moving, &e) == 5 && e == 0);   /* reopened as /moved */
	getattr_size(f2, gone, &e);
	CHECK(e == -ESTALE);
	CHECK(lookup(f2, sub, "keep", &e) == keep);   /* the same node, the same id */
	got = do_read(f2, FUSE_READDIR, dfh, 0, 4096);
	CHECK(OH->error == 0 && find(names, walk_dirents(false, got, &last, names, NULL), "keep") >= 0);
	CHECK(getattr_size(f2, (keep & 0xffffffffu) | (uint64_t)((uint32_t)(keep >> 32) ^ 1) << 32, &e) == 0 &&
	      e == -ESTALE);
	struct fuse_forget_in fg = { .nlookup = 1 };
	CHECK(req(f2, FUSE_FORGET, gone, &fg, sizeof(fg), NULL, 0) == 0);   /* a stale node's slot is freed all the same */
	CHECK(release(f2, FUSE_RELEASE, fh) == 0 && release(f2, FUSE_RELEASEDIR, dfh) == 0);
	/* a third process: what the second released is gone, the rest stays */
	struct fs *f3 = fs_r3 = virtio_fs_open(spec);
	virtio_fs_use_state(f3, mem);
	CHECK(err_of(do_read(f3, FUSE_READ, fh, 0, 10)) == -EBADF);
	CHECK(getattr_size(f3, keep, &e) == 12 && e == 0);
	getattr_size(f3, gone, &e);
	CHECK(e == -ESTALE);
}

static void test_escapes(void)
{
	struct fs *f = fs_rw;
	struct fuse_mkdir_in mi = { .mode = 0755 };
	int e;

	CHECK(lookup(f, 1, "..", &e) == 0 && e == -EINVAL);
	CHECK(lookup(f, 1, ".", &e) == 0 && e == -EINVAL);
	CHECK(lookup(f, 1, "", &e) == 0 && e == -EINVAL);
	CHECK(lookup(f, 1, "sub/inner", &e) == 0 && e == -EINVAL);
	CHECK(lookup(f, 1, "/etc", &e) == 0 && e == -EINVAL);
	uint64_t sub = lookup(f, 1, "sub", &e);
	CHECK(lookup(f, sub, "..", &e) == 0 && e == -EINVAL);
	/* a name without its NUL */
	CHECK(err_of(req(f, FUSE_LOOKUP, 1, "hello", 5, NULL, 0)) == -EINVAL);
	CHECK(err_of(req(f, FUSE_LOOKUP, 1, NULL, 0, NULL, 0)) == -EINVAL);
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[299] = 0;
	CHECK(lookup(f, 1, longname, &e) == 0 && e == -ENAMETOOLONG);
	CHECK(name_req(f, FUSE_MKDIR, 1, &mi, sizeof(mi), "..") == -EINVAL);
	CHECK(name_req(f, FUSE_MKDIR, 1, &mi, sizeof(mi), "a/b") == -EINVAL);
	CHECK(name_req(f, FUSE_UNLINK, sub, NULL, 0, "../hello") == -EINVAL);
	CHECK(name_req(f, FUSE_RMDIR, sub, NULL, 0, "..") == -EINVAL);
	char args[32];
	memcpy(args, "../x\0target", 12);
	CHECK(err_of(req(f, FUSE_SYMLINK, 1, NULL, 0, args, 12)) == -EINVAL);
	memcpy(args, "x\0", 3);   /* an empty target */
	CHECK(err_of(req(f, FUSE_SYMLINK, 1, NULL, 0, args, 3)) == -EINVAL);
	struct stat st;
	CHECK(host_stat("../x", &st) < 0);
}

static void test_stale_forged(void)
{
	struct fs *f = fs_rw;
	struct fuse_getattr_in gi = { 0 };
	int e;

	uint64_t n = lookup(f, 1, "sub", &e);
	CHECK(n);
	CHECK(err_of(req(f, FUSE_GETATTR, n ^ (1ull << 32), &gi, sizeof(gi), NULL, 0)) == -ESTALE);
	CHECK(err_of(req(f, FUSE_GETATTR, n & 0xffffffffull, &gi, sizeof(gi), NULL, 0)) == -ESTALE);
	CHECK(err_of(req(f, FUSE_GETATTR, 0, &gi, sizeof(gi), NULL, 0)) == -ESTALE);
	CHECK(err_of(req(f, FUSE_GETATTR, 2, &gi, sizeof(gi), NULL, 0)) == -ESTALE);
	CHECK(err_of(req(f, FUSE_GETATTR, ~0ull, &gi, sizeof(gi), NULL, 0)) == -ESTALE);
	CHECK(err_of(req(f, FUSE_GETATTR, (1ull << 32) | 0x7fff, &gi, sizeof(gi), NULL, 0)) == -ESTALE);
	CHECK(lookup(f, n ^ (1ull << 33), "inner", &e) == 0 && e == -ESTALE);
	/* every lookup so far forgotten: stale afterwards, even if the slot is reused */
	CHECK(err_of(req(f, FUSE_GETATTR, n, &gi, sizeof(gi), NULL, 0)) == 0);
	CHECK(req(f, FUSE_FORGET, n, &(struct fuse_forget_in){ .nlookup = 1000000 }, sizeof(struct fuse_forget_in), NULL, 0) == 0);
	CHECK(err_of(req(f, FUSE_GETATTR, n, &gi, sizeof(gi), NULL, 0)) == -ESTALE);
	uint64_t n2 = lookup(f, 1, "sub", &e);
	CHECK(n2 && n2 != n);
	CHECK(err_of(req(f, FUSE_GETATTR, n, &gi, sizeof(gi), NULL, 0)) == -ESTALE);
	/* BATCH_FORGET: the root is never forgotten; unknown ids ignored */
	struct { struct fuse_batch_forget_in b; struct fuse_forget_one o[3]; } bf = {
		{ .count = 3 }, { { 1, 100 }, { n2, 1 }, { 12345, 1 } } };
	CHECK(req(f, FUSE_BATCH_FORGET, 0, &bf, sizeof(bf), NULL, 0) == 0);
	CHECK(err_of(req(f, FUSE_GETATTR, n2, &gi, sizeof(gi), NULL, 0)) == -ESTALE);
	CHECK(err_of(req(f, FUSE_GETATTR, 1, &gi, sizeof(gi), NULL, 0)) == 0);
	/* forged file handles */
	struct fuse_read_in ri = { .fh = 0, .size = 10 };
	CHECK(err_of(req(f, FUSE_READ, 1, &ri, sizeof(ri), NULL, 0)) == -EBADF);
	ri.fh = ~0ull;
	CHECK(err_of(req(f, FUSE_READ, 1, &ri, sizeof(ri), NULL, 0)) == -EBADF);
	uint64_t hn = lookup(f, 1, "hello", &e);
	uint64_t fh = open_node(f, hn, O_RDONLY, false, &e);
	ri.fh = fh ^ (1ull << 40);
	CHECK(err_of(req(f, FUSE_READ, 1, &ri, sizeof(ri), NULL, 0)) == -EBADF);
	ri.fh = fh + 1;
	CHECK(err_of(req(f, FUSE_READ, 1, &ri, sizeof(ri), NULL, 0)) == -EBADF);
	CHECK(release(f, FUSE_RELEASE, fh) == 0);
	ri.fh = fh;
	CHECK(err_of(req(f, FUSE_READ, 1, &ri, sizeof(ri), NULL, 0)) == -EBADF);
	/* a stale parent for a create */
	struct fuse_mkdir_in mi = { .mode = 0755 };
	CHECK(name_req(f, FUSE_MKDIR, n, &mi, sizeof(mi), "zz") == -ESTALE);
}

static void test_readonly(void)
{
	struct fs *f = fs_ro;
	struct fuse_create_in ci = { .flags = O_WRONLY, .mode = 0644 };
	struct fuse_mkdir_in mi = { .mode = 0755 };
	struct stat st;
	int e;

	CHECK(virtio_fs_ro(f));
	init(f);
	uint64_t n = lookup(f, 1, "file", &e);
	CHECK(n && e == 0);
	CHECK(name_req(f, FUSE_CREATE, 1, &ci, sizeof(ci), "c") == -EROFS);
	ci.flags = O_RDONLY;
	CHECK(name_req(f, FUSE_CREATE, 1, &ci, sizeof(ci), "c") == -EROFS);
	CHECK(name_req(f, FUSE_MKDIR, 1, &mi, sizeof(mi), "m") == -EROFS);
	CHECK(name_req(f, FUSE_UNLINK, 1, NULL, 0, "file") == -EROFS);
	CHECK(name_req(f, FUSE_MKNOD, 1, &(struct fuse_mknod_in){ .mode = S_IFREG | 0600 }, sizeof(struct fuse_mknod_in), "m") == -EROFS);
	open_node(f, n, O_RDWR, false, &e);
	CHECK(e == -EROFS);
	open_node(f, n, O_WRONLY, false, &e);
	CHECK(e == -EROFS);
	open_node(f, n, O_RDONLY | O_TRUNC, false, &e);
	CHECK(e == -EROFS);
	uint64_t fh = open_node(f, n, O_RDONLY, false, &e);
	CHECK(e == 0);
	struct fuse_write_in wi = { .fh = fh, .size = 3 };
	CHECK(err_of(req(f, FUSE_WRITE, n, &wi, sizeof(wi), "abc", 3)) == -EROFS);
	struct fuse_setattr_in sa = { .valid = FATTR_SIZE, .size = 0 };
	CHECK(err_of(req(f, FUSE_SETATTR, n, &sa, sizeof(sa), NULL, 0)) == -EROFS);
	CHECK(err_of(req(f, FUSE_FALLOCATE, n, &(struct fuse_fallocate_in){ .fh = fh, .length = 10 },
			 sizeof(struct fuse_fallocate_in), NULL, 0)) == -EROFS);
	CHECK(do_read(f, FUSE_READ, fh, 0, 100) == 16 + 4 && !memcmp(ibuf + 16, "data", 4));
	CHECK(release(f, FUSE_RELEASE, fh) == 0);
	char p[256];
	snprintf(p, sizeof(p), "%s/file", ro_root);
	CHECK(stat(p, &st) == 0 && st.st_size == 4);
	snprintf(p, sizeof(p), "%s/c", ro_root);
	CHECK(stat(p, &st) < 0);
}

static void test_malformed(void)
{
	struct fs *f = fs_rw;
	struct fuse_in_header h = { .len = sizeof(h), .opcode = FUSE_GETATTR, .unique = 77, .nodeid = 1 };
	struct iovec out = { obuf, 10 }, in = { ibuf, 4096 };
	int e;

	/* a truncated header: -EINVAL with unique 0 */
	memcpy(obuf, &h, sizeof(h));
	CHECK(fuse_serve(f, &out, 1, &in, 1) == 16 && OH->error == -EINVAL && OH->unique == 0);
	CHECK(fuse_serve(f, &out, 0, &in, 1) == 16 && OH->error == -EINVAL);
	CHECK(fuse_serve(f, NULL, 0, NULL, 0) == 0);
	/* no room for a header: nothing written */
	out.iov_len = sizeof(h) + sizeof(struct fuse_getattr_in);
	in.iov_len = 15;
	memset(ibuf, 0xEE, 16);
	CHECK(fuse_serve(f, &out, 1, &in, 1) == 0 && ibuf[0] == 0xEE);
	/* the header's len longer than what came, or shorter than a header */
	in.iov_len = 4096;
	h.len = 1000;
	memcpy(obuf, &h, sizeof(h));
	CHECK(fuse_serve(f, &out, 1, &in, 1) == 16 && OH->error == -EINVAL && OH->unique == 77);
	h.len = 8;
	memcpy(obuf, &h, sizeof(h));
	CHECK(fuse_serve(f, &out, 1, &in, 1) == 16 && OH->error == -EINVAL);
	/* arguments shorter than the opcode's */
	CHECK(err_of(req(f, FUSE_GETATTR, 1, "x", 1, NULL, 0)) == -EINVAL);
	CHECK(err_of(req(f, FUSE_READ, 1, "x", 1, NULL, 0)) == -EINVAL);
	CHECK(err_of(req(f, FUSE_SETATTR, 1, NULL, 0, NULL, 0)) == -EINVAL);
	CHECK(req(f, FUSE_FORGET, 1, "x", 1, NULL, 0) == 0);
	CHECK(req(f, FUSE_INTERRUPT, 1, NULL, 0, NULL, 0) == 0);
	/* room for the header but not the entry: refused before anything is done */
	CHECK(req_room(f, FUSE_MKDIR, 1, &(struct fuse_mkdir_in){ .mode = 0755 }, sizeof(struct fuse_mkdir_in),
		       "roomless", 9, 16) == 16 && OH->error == -EINVAL);
	struct stat st;
	CHECK(host_stat("roomless", &st) < 0);
	CHECK(req_room(f, FUSE_LOOKUP, 1, NULL, 0, "hello", 6, 40) == 16 && OH->error == -EINVAL);
	/* huge sizes */
	uint64_t hn = lookup(f, 1, "hello", &e);
	uint64_t fh = open_node(f, hn, O_RDONLY, false, &e);
	struct fuse_read_in ri = { .fh = fh, .offset = ~0ull, .size = ~0u };
	CHECK(err_of(req(f, FUSE_READ, 1, &ri, sizeof(ri), NULL, 0)) == -EINVAL);
	ri.offset = 0;
	CHECK(req_room(f, FUSE_READ, 1, &ri, sizeof(ri), NULL, 0, 20) == 20);
	CHECK(release(f, FUSE_RELEASE, fh) == 0);
	struct { struct fuse_batch_forget_in b; struct fuse_forget_one o; } bf = { { .count = ~0u }, { 5, 5 } };
	CHECK(req(f, FUSE_BATCH_FORGET, 0, &bf, sizeof(bf), NULL, 0) == 0);
	CHECK(err_of(req(f, 9999, 1, NULL, 0, NULL, 0)) == -ENOSYS);
	CHECK(err_of(req(f, FUSE_IOCTL, 1, NULL, 0, NULL, 0)) == -ENOSYS);
	CHECK(err_of(req(f, FUSE_GETLK, 1, NULL, 0, NULL, 0)) == -ENOSYS);
	/* a request bigger than any argument buffer */
	static uint8_t big[200000];
	memset(big, 'a', sizeof(big));
	CHECK(err_of(req(f, FUSE_LOOKUP, 1, big, sizeof(big), NULL, 0)) == -EINVAL);
	/* READDIR asking for more than the room */
	uint64_t dfh = open_node(f, 1, O_RDONLY, true, &e);
	CHECK(req_room(f, FUSE_READDIRPLUS, 1, &(struct fuse_read_in){ .fh = dfh, .size = ~0u }, sizeof(struct fuse_read_in),
		       NULL, 0, 200) <= 200);
	CHECK(release(f, FUSE_RELEASEDIR, dfh) == 0);
}

/* Tables are bounded: running out of handles is an error reply, and a release frees one. */
static void test_exhaustion(void)
{
	struct fs *f = fs_rw;
	static uint64_t fhs[5000];
	unsigned n = 0;
	int e = 0;

	for (; n < 5000; n++) {
		fhs[n] = open_node(f, 1, O_RDONLY, true, &e);
		if (e)
			break;
	}
	CHECK(e == -ENFILE || e == -EMFILE);
	CHECK(n >= 1000);
	for (unsigned i = 0; i < n; i++)
		CHECK(release(f, FUSE_RELEASEDIR, fhs[i]) == 0);
	open_node(f, 1, O_RDONLY, true, &e);
	CHECK(e == 0);
}

/* ---- the server under its own seccomp role ---- */

struct fs *fs_sb;
static uid_t my_uid;   /* getuid is not the server's to call */
/* In the sandboxed child: a step that failed exits with its number (a forbidden call: exit 1 with the message). */
#define STEP(k, cond) do { if (!(cond)) syscall(SYS_exit_group, 10 + (k)); } while (0)

static void sandboxed_ops(void)
{
	struct fs *f = fs_sb;
	struct fuse_create_in ci = { .flags = O_RDWR, .mode = 0600 };
	struct fuse_mkdir_in mi = { .mode = 0700 };
	char two[16];
	int e;

	init(f);
	uint64_t n = lookup(f, 1, "hello", &e);
	STEP(0, n);
	uint64_t fh = open_node(f, n, O_RDONLY, false, &e);
	STEP(1, e == 0);
	STEP(2, do_read(f, FUSE_READ, fh, 0, 100) == 16 + 12);
	STEP(3, release(f, FUSE_RELEASE, fh) == 0);
	STEP(4, name_req(f, FUSE_CREATE, 1, &ci, sizeof(ci), "sb") == 0);
	uint64_t cn = BODY(struct fuse_entry_out)->nodeid;
	fh = ((struct fuse_open_out *)(BODY(struct fuse_entry_out) + 1))->fh;
	struct fuse_write_in wi = { .fh = fh, .size = 3 };
	STEP(5, err_of(req(f, FUSE_WRITE, cn, &wi, sizeof(wi), "abc", 3)) == 0);
	STEP(6, err_of(req(f, FUSE_FSYNC, cn, &(struct fuse_fsync_in){ .fh = fh, .fsync_flags = 1 }, sizeof(struct fuse_fsync_in), NULL, 0)) == 0);
	STEP(7, err_of(req(f, FUSE_FALLOCATE, cn, &(struct fuse_fallocate_in){ .fh = fh, .length = 4096 }, sizeof(struct fuse_fallocate_in), NULL, 0)) == 0);
	STEP(8, err_of(req(f, FUSE_LSEEK, cn, &(struct fuse_lseek_in){ .fh = fh, .whence = SEEK_END }, sizeof(struct fuse_lseek_in), NULL, 0)) == 0);
	STEP(9, release(f, FUSE_RELEASE, fh) == 0);
	struct fuse_setattr_in sa = { .valid = FATTR_MODE | FATTR_SIZE | FATTR_ATIME_NOW | FATTR_MTIME | FATTR_UID,
				      .mode = 0640, .size = 1, .mtime = 5, .uid = my_uid };
	STEP(10, err_of(req(f, FUSE_SETATTR, cn, &sa, sizeof(sa), NULL, 0)) == 0);
	STEP(11, name_req(f, FUSE_MKDIR, 1, &mi, sizeof(mi), "sbd") == 0);
	STEP(12, name_req(f, FUSE_LINK, 1, &(struct fuse_link_in){ .oldnodeid = cn }, sizeof(struct fuse_link_in), "sb2") == 0);
	memcpy(two, "sbl\0target", 11);
	STEP(13, err_of(req(f, FUSE_SYMLINK, 1, NULL, 0, two, 11)) == 0);
	STEP(14, err_of(req(f, FUSE_READLINK, BODY(struct fuse_entry_out)->nodeid, NULL, 0, NULL, 0)) == 0);
	STEP(15, name_req(f, FUSE_MKNOD, 1, &(struct fuse_mknod_in){ .mode = S_IFIFO | 0600 }, sizeof(struct fuse_mknod_in), "sbf") == 0);
	memcpy(two, "sb2\0sb3", 8);
	STEP(16, err_of(req(f, FUSE_RENAME2, 1, &(struct fuse_rename2_in){ .newdir = 1, .flags = RENAME_NOREPLACE }, sizeof(struct fuse_rename2_in), two, 8)) == 0);
	fh = open_node(f, 1, O_RDONLY, true, &e);
	STEP(17, e == 0 && err_of(do_read(f, FUSE_READDIRPLUS, fh, 0, 4096)) == 0);
	STEP(18, release(f, FUSE_RELEASEDIR, fh) == 0);
	STEP(19, err_of(req(f, FUSE_STATFS, 1, NULL, 0, NULL, 0)) == 0);
	STEP(20, err_of(req(f, FUSE_ACCESS, cn, &(struct fuse_access_in){ .mask = R_OK }, sizeof(struct fuse_access_in), NULL, 0)) == 0);
	int r = err_of(req(f, FUSE_SETXATTR, cn, &(struct fuse_setxattr_in){ .size = 1 }, 8, "user.a\0v", 9));
	STEP(21, r == 0 || r == -EOPNOTSUPP);
	r = err_of(req(f, FUSE_GETXATTR, cn, &(struct fuse_getxattr_in){ .size = 0 }, sizeof(struct fuse_getxattr_in), "user.a", 7));
	STEP(22, r == 0 || r == -EOPNOTSUPP || r == -ENODATA);
	r = err_of(req(f, FUSE_LISTXATTR, cn, &(struct fuse_getxattr_in){ .size = 0 }, sizeof(struct fuse_getxattr_in), NULL, 0));
	STEP(23, r == 0 || r == -EOPNOTSUPP);
	r = err_of(req(f, FUSE_REMOVEXATTR, cn, NULL, 0, "user.a", 7));
	STEP(24, r == 0 || r == -EOPNOTSUPP || r == -ENODATA);
	STEP(25, name_req(f, FUSE_UNLINK, 1, NULL, 0, "sb3") == 0 && name_req(f, FUSE_UNLINK, 1, NULL, 0, "sb") == 0);
	STEP(26, name_req(f, FUSE_UNLINK, 1, NULL, 0, "sbl") == 0 && name_req(f, FUSE_UNLINK, 1, NULL, 0, "sbf") == 0);
	STEP(27, name_req(f, FUSE_RMDIR, 1, NULL, 0, "sbd") == 0);
	STEP(28, err_of(req(f, FUSE_DESTROY, 0, NULL, 0, NULL, 0)) == 0);
}

/* Every call the server makes is in fs-proc's allow-list: a child in that role serves each kind of request. */
static void test_sandboxed(void)
{
	char spec[128];
	int p[2], status;
	char msg[256] = "";

	snprintf(spec, sizeof(spec), "%s,tag=sb", root);
	fs_sb = virtio_fs_open(spec);
	my_uid = getuid();
	CHECK(pipe(p) == 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		if (sandbox_enter(SB_ROLE_FS_PROC, -1) < 0)
			syscall(SYS_exit_group, 99);
		sandboxed_ops();
		syscall(SYS_exit_group, 0);
	}
	close(p[1]);
	ssize_t n = read(p[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = 0;
	close(p[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 99)
		SKIP("no seccomp here");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		printf("  child status 0x%x said: %s\n", status, msg);
}

/* ---- one request through a ring ---- */

#define RAM_SIZE (1u << 20)
#define DESC 0x1000u
#define AVAIL 0x2000u
#define USED 0x3000u
#define REQ 0x10000u
#define RESP 0x20000u

static bool raised;
static bool fake_raise(struct virtio_dev *d, struct virtq *q) { (void)d; (void)q; raised = true; return true; }

static void test_ring(void)
{
	char spec[128];
	snprintf(spec, sizeof(spec), "%s,tag=ringtag", root);
	struct fs *f = fs_ring = virtio_fs_open(spec);
	struct virtio_dev *d = virtio_fs_backend(f);
	uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct guest_mem m = { .host = ram, .low_size = RAM_SIZE };
	uint8_t cfg[40];

	CHECK(d && d->ops->device_id == 26 && d->ops->nqueues == 2);
	d->ops->config_read(d, 0, cfg, sizeof(cfg));
	CHECK(!memcmp(cfg, "ringtag\0", 8) && cfg[35] == 0 && cfg[36] == 1 && cfg[37] == 0);
	d->raise = fake_raise;
	struct virtq *q = &d->vq[1];
	q->size = 8;
	q->desc_gpa = DESC;
	q->avail_gpa = AVAIL;
	q->used_gpa = USED;
	CHECK(virtq_setup(q, &m, VIRTIO_BIT(VIRTIO_F_VERSION_1)) == 0);
	__atomic_store_n(&d->status, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK,
			 __ATOMIC_RELEASE);
	/* INIT, then LOOKUP "hello" */
	struct fuse_init_in ii = { .major = 7, .minor = 38 };
	struct fuse_in_header h = { .len = sizeof(h) + sizeof(ii), .opcode = FUSE_INIT, .unique = 5 };
	memcpy(ram + REQ, &h, sizeof(h));
	memcpy(ram + REQ + sizeof(h), &ii, sizeof(ii));
	h = (struct fuse_in_header){ .len = sizeof(h) + 6, .opcode = FUSE_LOOKUP, .unique = 6, .nodeid = 1 };
	memcpy(ram + REQ + 0x1000, &h, sizeof(h));
	memcpy(ram + REQ + 0x1000 + sizeof(h), "hello", 6);
	struct virtq_desc *desc = (struct virtq_desc *)(ram + DESC);
	desc[0] = (struct virtq_desc){ REQ, sizeof(h) + sizeof(ii), VIRTQ_DESC_F_NEXT, 1 };
	desc[1] = (struct virtq_desc){ RESP, 4096, VIRTQ_DESC_F_WRITE, 0 };
	desc[2] = (struct virtq_desc){ REQ + 0x1000, sizeof(h), VIRTQ_DESC_F_NEXT, 3 };
	desc[3] = (struct virtq_desc){ REQ + 0x1000 + sizeof(h), 6, VIRTQ_DESC_F_NEXT, 4 };
	desc[4] = (struct virtq_desc){ RESP + 0x1000, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 5 };
	desc[5] = (struct virtq_desc){ RESP + 0x1010, 4096, VIRTQ_DESC_F_WRITE, 0 };
	struct virtq_avail *av = (struct virtq_avail *)(ram + AVAIL);
	av->ring[0] = 0;
	av->ring[1] = 2;
	av->idx = 2;
	virtio_process_queue(d, 1);
	struct virtq_used *u = (struct virtq_used *)(ram + USED);
	CHECK(u->idx == 2 && raised);
	CHECK(u->ring[0].id == 0 && u->ring[0].len == 16 + sizeof(struct fuse_init_out));
	CHECK(u->ring[1].id == 2 && u->ring[1].len == 16 + sizeof(struct fuse_entry_out));
	struct fuse_out_header *oh = (struct fuse_out_header *)(ram + RESP + 0x1000);
	struct fuse_entry_out *eo = (struct fuse_entry_out *)(ram + RESP + 0x1010);
	CHECK(oh->unique == 6 && oh->error == 0 && eo->attr.size == 12);
	/* hiprio: a FORGET is consumed with len 0 */
	q = &d->vq[0];
	q->size = 8;
	q->desc_gpa = DESC + 0x800;
	q->avail_gpa = AVAIL + 0x800;
	q->used_gpa = USED + 0x800;
	CHECK(virtq_setup(q, &m, VIRTIO_BIT(VIRTIO_F_VERSION_1)) == 0);
	struct { struct fuse_in_header h; struct fuse_forget_in fi; } fg = {
		{ .len = sizeof(fg), .opcode = FUSE_FORGET, .unique = 7, .nodeid = eo->nodeid }, { .nlookup = 1 } };
	memcpy(ram + REQ + 0x2000, &fg, sizeof(fg));
	desc = (struct virtq_desc *)(ram + DESC + 0x800);
	desc[0] = (struct virtq_desc){ REQ + 0x2000, sizeof(fg), 0, 0 };
	av = (struct virtq_avail *)(ram + AVAIL + 0x800);
	av->ring[0] = 0;
	av->idx = 1;
	virtio_process_queue(d, 0);
	u = (struct virtq_used *)(ram + USED + 0x800);
	CHECK(u->idx == 1 && u->ring[0].len == 0);
	CHECK(d->stats->requests == 3);
	/* a reset forgets the nodes */
	d->ops->reset(d);
	struct fuse_getattr_in gi = { 0 };
	CHECK(err_of(req(f, FUSE_GETATTR, 1, &gi, sizeof(gi), NULL, 0)) == -EIO);
	munmap(ram, RAM_SIZE);
}

/* ---- setup ---- */

static void make_tree(void)
{
	char p[256];
	snprintf(root, sizeof(root), "/tmp/vmm-test-fs-XXXXXX");
	snprintf(ro_root, sizeof(ro_root), "/tmp/vmm-test-fs-ro-XXXXXX");
	CHECK(mkdtemp(root) && mkdtemp(ro_root));
	put_file("hello", "hello world\n", 0644);
	snprintf(p, sizeof(p), "%s/sub", root);
	CHECK(mkdir(p, 0755) == 0);
	put_file("sub/inner", "x", 0600);
	snprintf(p, sizeof(p), "%s/esc", root);
	CHECK(symlink("/etc", p) == 0);
	snprintf(p, sizeof(p), "%s/file", ro_root);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0 && write(fd, "data", 4) == 4);
	close(fd);
}

int main(void)
{
	char spec[128], cmd[300];

	obuf = malloc(BUF);
	ibuf = malloc(BUF + 4096);
	make_tree();
	snprintf(spec, sizeof(spec), "%s,tag=rw", root);
	fs_rw = virtio_fs_open(spec);
	snprintf(spec, sizeof(spec), "%s,tag=ro,ro", ro_root);
	fs_ro = virtio_fs_open(spec);
	RUN(test_init_negotiation);
	init(fs_rw);
	RUN(test_lookup_read);
	RUN(test_create_write);
	RUN(test_dirs);
	RUN(test_symlinks);
	RUN(test_readdir);
	RUN(test_readdir_unlink);
	RUN(test_restart);
	RUN(test_escapes);
	RUN(test_stale_forged);
	RUN(test_readonly);
	RUN(test_malformed);
	RUN(test_exhaustion);
	RUN(test_ring);
	RUN(test_sandboxed);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", root, ro_root);
	if (system(cmd) != 0)
		printf("note: could not remove %s\n", root);
	return UNIT_DONE();
}
