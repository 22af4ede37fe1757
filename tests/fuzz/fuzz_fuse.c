/* tests/fuzz/fuzz_fuse.c: libFuzzer harness for the virtio-fs FUSE server: sequences of arbitrary requests, split over iovecs, against a read-only export and a writable scratch export. */
/*
 * Input: records of [flags u8][length le16][request bytes]. flags: bit 0 the
 * read-only export (else the scratch one); bits 1-2: the request split over
 * 1..4 out iovecs; bits 3-5: the reply room (0, 15, 16, 24, 160, 4096, 64 KiB,
 * 1 MiB + 16); bit 6: replace the nodeid (and the first 8 argument bytes, where
 * ops put fh) by ids the server returned earlier in this input, so the fuzzer
 * reaches past the random tags (nodeid 4k: the root, else the ((nodeid-1) % 16)th id
 * returned; the fh the one numbered by the first argument byte, for ops that take one); bit 7: fix the header's len to the bytes sent.
 * Each input starts with INIT on both exports (which forgets every node and
 * handle). Writes can reach only the scratch directory: the server never
 * resolves a guest path outside its share, which is what this checks, and
 * RLIMIT_FSIZE bounds what it can fill the disk with.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/virtio.h"

int sandbox_enter(int role, int own_fd);
int sandbox_enter(int role, int own_fd) { (void)role; (void)own_fd; return 0; }

static struct fs *fs_rw, *fs_ro;
static char rw_dir[64], ro_dir[64];
static uint64_t ids[16], fhs[16];
static unsigned nids, nfhs, runs;
static uint8_t *room_buf;
#define ROOM_MAX ((1u << 20) + 16)

static void put(const char *dir, const char *rel, const char *content)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, content, strlen(content)) < 0)
		abort();
	close(fd);
}

static void populate(const char *dir)
{
	char p[128];
	put(dir, "a", "contents of a\n");
	snprintf(p, sizeof(p), "%s/d", dir);
	mkdir(p, 0755);
	put(dir, "d/b", "b");
	snprintf(p, sizeof(p), "%s/l", dir);
	(void)!symlink("/etc/passwd", p);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

/* Empty the scratch directory now and then, so a long run does not pile up files. */
static void wipe_scratch(void)
{
	nftw(rw_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	populate(rw_dir);
}

static int rm_all(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

/* At exit (libFuzzer ends with exit()): remove both directories. */
static void cleanup(void)
{
	nftw(rw_dir, rm_all, 16, FTW_DEPTH | FTW_PHYS);
	nftw(ro_dir, rm_all, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_once(void)
{
	char spec[128];
	struct rlimit fsize = { 16u << 20, 16u << 20 };

	signal(SIGXFSZ, SIG_IGN);   /* a write past RLIMIT_FSIZE fails with EFBIG instead */
	if (setrlimit(RLIMIT_FSIZE, &fsize) < 0)
		abort();
	snprintf(rw_dir, sizeof(rw_dir), "/tmp/fuzz-fuse-rw-XXXXXX");
	snprintf(ro_dir, sizeof(ro_dir), "/tmp/fuzz-fuse-ro-XXXXXX");
	if (!mkdtemp(rw_dir) || !mkdtemp(ro_dir))
		abort();
	atexit(cleanup);
	populate(rw_dir);
	populate(ro_dir);
	snprintf(spec, sizeof(spec), "%s,tag=rw", rw_dir);
	fs_rw = virtio_fs_open(spec);
	snprintf(spec, sizeof(spec), "%s,tag=ro,ro", ro_dir);
	fs_ro = virtio_fs_open(spec);
	room_buf = malloc(ROOM_MAX);
}

static void init(struct fs *f)
{
	struct { struct fuse_in_header h; struct fuse_init_in i; } m = {
		{ .len = sizeof(m), .opcode = FUSE_INIT, .unique = 1 },
		{ .major = 7, .minor = 38, .flags = 0xffffffff } };
	struct iovec out = { &m, sizeof(m) }, in = { room_buf, 4096 };
	fuse_serve(f, &out, 1, &in, 1);
}

/* Remember nodeids and handles the server gave, for later records to use. */
static void harvest(uint32_t op, const uint8_t *reply, size_t n)
{
	const struct fuse_out_header *oh = (const void *)reply;
	const uint8_t *body = reply + sizeof(*oh);

	if (n < sizeof(*oh) || oh->error)
		return;
	if ((op == FUSE_LOOKUP || op == FUSE_MKDIR || op == FUSE_MKNOD || op == FUSE_SYMLINK ||
	     op == FUSE_LINK || op == FUSE_CREATE) && n >= sizeof(*oh) + sizeof(struct fuse_entry_out))
		memcpy(&ids[nids++ % 16], body, 8);
	if (op == FUSE_CREATE && n >= sizeof(*oh) + sizeof(struct fuse_entry_out) + 8)
		memcpy(&fhs[nfhs++ % 16], body + sizeof(struct fuse_entry_out), 8);
	if ((op == FUSE_OPEN || op == FUSE_OPENDIR) && n >= sizeof(*oh) + 8)
		memcpy(&fhs[nfhs++ % 16], body, 8);
}

/* Opcodes whose arguments start with a file handle. */
static bool takes_fh(uint32_t op)
{
	return op == FUSE_READ || op == FUSE_WRITE || op == FUSE_RELEASE || op == FUSE_RELEASEDIR ||
	       op == FUSE_FSYNC || op == FUSE_FSYNCDIR || op == FUSE_FLUSH || op == FUSE_READDIR ||
	       op == FUSE_READDIRPLUS || op == FUSE_FALLOCATE || op == FUSE_LSEEK;
}

static void one(uint8_t flags, const uint8_t *data, size_t len)
{
	static const size_t rooms[8] = { 0, 15, 16, 24, 160, 4096, 65536, ROOM_MAX };
	struct fs *f = flags & 1 ? fs_ro : fs_rw;
	unsigned nsplit = 1 + ((flags >> 1) & 3);
	size_t room = rooms[(flags >> 3) & 7];
	uint8_t *req = malloc(len ? len : 1);   /* exactly the bytes sent: ASan sees any overread */
	struct iovec out[4], in[2];
	struct fuse_in_header h;

	memcpy(req, data, len);
	if (len >= sizeof(h)) {
		memcpy(&h, req, sizeof(h));
		if (flags & 0x40) {   /* nodeid 4k: the root; else an earlier id; an fh from the first argument byte */
			h.nodeid = h.nodeid % 4 == 0 ? 1 : ids[(h.nodeid - 1) % 16];
			if (takes_fh(h.opcode) && len >= sizeof(h) + 8)
				memcpy(req + sizeof(h), &fhs[req[sizeof(h)] % 16], 8);
		}
		if (flags & 0x80)
			h.len = (uint32_t)len;
		memcpy(req, &h, sizeof(h));
	}
	for (unsigned i = 0; i < nsplit; i++) {
		size_t a = len * i / nsplit, b = len * (i + 1) / nsplit;
		out[i] = (struct iovec){ req + a, b - a };
	}
	in[0] = (struct iovec){ room_buf, room / 3 };
	in[1] = (struct iovec){ room_buf + room / 3, room - room / 3 };
	size_t n = fuse_serve(f, out, nsplit, in, 2);
	if (n > room)
		abort();
	if (len >= sizeof(h))
		harvest(h.opcode, room_buf, n);
	free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	if (!fs_rw)
		setup_once();
	if (++runs % 4096 == 0)
		wipe_scratch();
	init(fs_rw);
	init(fs_ro);
	nids = nfhs = 0;
	memset(ids, 0, sizeof(ids));
	memset(fhs, 0, sizeof(fhs));
	for (size_t off = 0; off + 3 <= n;) {
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		uint8_t flags = data[off];
		off += 3;
		if (len > n - off)
			len = n - off;
		one(flags, data + off, len);
		off += len;
	}
	return 0;
}
