/* tests/unit/test_initramfs.c: the cpio "newc" writer (parsed back here and by the host's cpio), boot_kernel_release, kmod_resolve on a fake and the real module tree. */
#include <errno.h>
#include <glob.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "unit.h"
#include "boot/boot.h"
#include "le.h"

/* ---- a strict newc reader ---- */
struct entry { char name[256]; unsigned ino, mode, nlink, namesize; const uint8_t *data; size_t len; };

static bool hex8(const uint8_t *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 8; i++) {
		int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return false;
		*v = *v << 4 | (unsigned)d;
	}
	return true;
}

/* Parses entries until TRAILER!!!: their count, or -1 if anything is off (magic, hex, padding, bounds, no trailer). */
static int parse(const uint8_t *b, size_t len, struct entry *e, int max)
{
	size_t off = 0;
	int n = 0;

	while (off + 110 <= len) {
		unsigned f[13];
		struct entry x = { 0 };
		if (off % 4 || memcmp(b + off, "070701", 6))
			return -1;
		for (int i = 0; i < 13; i++)
			if (!hex8(b + off + 6 + 8 * i, &f[i]))
				return -1;
		x.ino = f[0]; x.mode = f[1]; x.nlink = f[4]; x.len = f[6]; x.namesize = f[11];
		if (f[2] || f[3] || f[13 - 1] || x.namesize == 0 || x.namesize > sizeof(x.name))
			return -1;
		if (off + 110 + x.namesize > len || b[off + 110 + x.namesize - 1])
			return -1;
		memcpy(x.name, b + off + 110, x.namesize);
		if (strlen(x.name) + 1 != x.namesize)
			return -1;
		off += 110 + x.namesize;
		for (; off % 4; off++)
			if (off >= len || b[off])
				return -1;
		if (off + x.len > len)
			return -1;
		x.data = b + off;
		off += x.len;
		for (; off % 4; off++)
			if (off >= len || b[off])
				return -1;
		if (!strcmp(x.name, "TRAILER!!!"))
			return off == len ? n : -1;
		if (n == max)
			return -1;
		e[n++] = x;
	}
	return -1;
}

static void test_cpio_roundtrip(void)
{
	struct cpio c = { 0 };
	struct entry e[16];
	static const char *names[] = { "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg" };
	const char data[] = "hello\n";

	CHECK(cpio_add(&c, "/dir", S_IFDIR | 0755, NULL, 0) == 0);
	CHECK(cpio_add(&c, "dir/file", S_IFREG | 0644, data, 6) == 0);
	CHECK(cpio_add(&c, "dir/link", S_IFLNK | 0777, "file", 4) == 0);
	for (unsigned i = 0; i < ARRAY_SIZE(names); i++)   /* every name length mod 4, file sizes 0..6 */
		CHECK(cpio_add(&c, names[i], S_IFREG | 0600, data, i) == 0);
	CHECK(cpio_finish(&c) == 0);
	CHECK(c.len % 4 == 0);
	int n = parse(c.buf, c.len, e, 16);
	CHECK(n == 3 + (int)ARRAY_SIZE(names));
	if (n == 3 + (int)ARRAY_SIZE(names)) {
		CHECK(!strcmp(e[0].name, "dir") && e[0].mode == (S_IFDIR | 0755) && e[0].len == 0 && e[0].nlink == 2);
		CHECK(!strcmp(e[1].name, "dir/file") && e[1].mode == (S_IFREG | 0644) && e[1].len == 6);
		CHECK(!memcmp(e[1].data, "hello\n", 6) && e[1].nlink == 1);
		CHECK(!strcmp(e[2].name, "dir/link") && e[2].mode == (S_IFLNK | 0777) && e[2].len == 4);
		CHECK(!memcmp(e[2].data, "file", 4));
		for (unsigned i = 0; i < ARRAY_SIZE(names); i++) {
			CHECK(!strcmp(e[3 + i].name, names[i]) && e[3 + i].len == i);
			CHECK(!memcmp(e[3 + i].data, data, i));
		}
		for (int i = 0; i < n; i++)   /* distinct inode numbers: the kernel would hard-link equal ones */
			for (int j = 0; j < i; j++)
				CHECK(e[i].ino != e[j].ino);
	}
	/* the trailer is last and names TRAILER!!! */
	CHECK(c.len > 124 && memmem(c.buf + c.len - 124, 124, "TRAILER!!!", 11) != NULL);
	cpio_free(&c);
	CHECK(c.buf == NULL && c.len == 0);
}

static void test_cpio_invalid(void)
{
	struct cpio c = { 0 };

	CHECK(cpio_add(&c, "", S_IFREG | 0644, NULL, 0) == -EINVAL);
	CHECK(cpio_add(&c, "/", S_IFDIR | 0755, NULL, 0) == -EINVAL);
	CHECK(cpio_add(&c, "dev", S_IFCHR | 0644, NULL, 0) == -EINVAL);
	CHECK(cpio_add(&c, "d", S_IFDIR | 0755, "x", 1) == -EINVAL);
	CHECK(cpio_add(&c, "l", S_IFLNK | 0777, NULL, 0) == -EINVAL);
	CHECK(cpio_add(&c, "TRAILER!!!", S_IFREG | 0644, NULL, 0) == -EINVAL);
	CHECK(cpio_add(&c, "f", S_IFREG | 0644, NULL, 5) == -EINVAL);
	CHECK(c.len == 0);
	cpio_free(&c);
}

/* The host's cpio lists what we wrote: types, names, sizes, the link target. */
static void test_cpio_host(void)
{
	struct cpio c = { 0 };
	char path[] = "/tmp/vmm-cpio-XXXXXX", cmd[256], out[4096] = "";
	FILE *p;
	size_t n;
	int fd, st;

	if (system("command -v cpio >/dev/null 2>&1"))
		SKIP("no cpio on the host");
	CHECK(cpio_add(&c, "etc", S_IFDIR | 0755, NULL, 0) == 0);
	CHECK(cpio_add(&c, "etc/hostname", S_IFREG | 0644, "abc\n", 4) == 0);
	CHECK(cpio_add(&c, "etc/sh", S_IFLNK | 0777, "/bin/busybox", 12) == 0);
	CHECK(cpio_finish(&c) == 0);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, c.buf, c.len) == (ssize_t)c.len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "cpio -itv --quiet < %s 2>&1", path);
	p = popen(cmd, "r");
	n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
	out[n] = 0;
	st = p ? pclose(p) : -1;
	CHECK(st == 0);
	CHECK(strstr(out, "drwxr-xr-x") && strstr(out, " etc\n"));
	CHECK(strstr(out, "-rw-r--r--") && strstr(out, " 4 ") && strstr(out, " etc/hostname\n"));
	CHECK(strstr(out, "lrwxrwxrwx") && strstr(out, " etc/sh -> /bin/busybox\n"));
	if (unit_fail_count)
		printf("  cpio said:\n%s", out);
	unlink(path);
	cpio_free(&c);
}

/* ---- boot_kernel_release ---- */
static void test_release_bzimage(void)
{
	uint8_t *b = calloc(1, 0x1000);
	char r[64];

	memcpy(b + 0x202, "HdrS", 4);
	put_le16(b + 0x206, 0x020f);
	put_le16(b + 0x20E, 0x300);   /* the string at 0x500 */
	strcpy((char *)b + 0x500, "6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP");
	CHECK(boot_kernel_release(b, 0x1000, r, sizeof(r)) == 0 && !strcmp(r, "6.1.0-57-cloud-amd64"));
	CHECK(boot_kernel_release(b, 0x1000, r, 10) == -EINVAL);    /* does not fit */
	put_le16(b + 0x20E, 0xF00);                                  /* past the end */
	CHECK(boot_kernel_release(b, 0x1000, r, sizeof(r)) == -EINVAL);
	put_le16(b + 0x20E, 0);                                      /* none */
	CHECK(boot_kernel_release(b, 0x1000, r, sizeof(r)) == -EINVAL);
	put_le16(b + 0x20E, 0x300);
	put_le16(b + 0x206, 0x0105);                                 /* protocol < 2.00: no field */
	CHECK(boot_kernel_release(b, 0x1000, r, sizeof(r)) == -EINVAL);
	free(b);
}

static void test_release_banner(void)
{
	static const char img[] = "\x7f" "ELF junk\0Linux version %s\0more Linux version \0"
				  "Linux version 1.2.3-x (gcc 12) #1\0tail";
	char r[64];

	CHECK(boot_kernel_release(img, sizeof(img), r, sizeof(r)) == 0 && !strcmp(r, "1.2.3-x"));
	CHECK(boot_kernel_release(img, 30, r, sizeof(r)) == -EINVAL);
	/* at the very end of the buffer */
	CHECK(boot_kernel_release("Linux version 5.10.0", 20, r, sizeof(r)) == 0 && !strcmp(r, "5.10.0"));
	CHECK(boot_kernel_release("Linux version ", 14, r, sizeof(r)) == -EINVAL);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	struct stat st;

	if (f && !fstat(fileno(f), &st) && st.st_size > 0 && (buf = malloc(st.st_size)) &&
	    fread(buf, 1, st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	*len = buf ? (size_t)st.st_size : 0;
	return buf;
}

static void test_release_host(void)
{
	glob_t g;
	size_t found = 0;

	if (glob("/boot/vmlinuz-*", 0, NULL, &g) || g.gl_pathc == 0) {
		globfree(&g);
		SKIP("no /boot/vmlinuz-* on this host");
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		size_t len;
		uint8_t *k = slurp(g.gl_pathv[i], &len);
		char r[128];
		if (!k)
			continue;   /* unreadable (not root) */
		found++;
		CHECK(boot_kernel_release(k, len, r, sizeof(r)) == 0);
		CHECK(!strcmp(r, g.gl_pathv[i] + strlen("/boot/vmlinuz-")));
		if (unit_fail_count)
			printf("  %s: got \"%s\"\n", g.gl_pathv[i], r);
		free(k);
	}
	globfree(&g);
	if (!found)
		SKIP("no readable /boot/vmlinuz-*");
}

/* ---- kmod_resolve ---- */
static char tmpdir[64];

static void put(const char *name, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_kmod_fake(void)
{
	static char paths[16][PATH_MAX];
	char err[256], want_path[PATH_MAX];
	int n;

	strcpy(tmpdir, "/tmp/vmm-kmod-XXXXXX");
	CHECK(mkdtemp(tmpdir) != NULL);
	put("modules.dep",
	    "kernel/fs/fuse/fuse.ko.xz:\n"
	    "kernel/fs/fuse/virtiofs.ko.xz: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko kernel/fs/fuse/fuse.ko.xz\n"
	    "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
	    "kernel/drivers/virtio/virtio_ring.ko:\n"
	    "kernel/drivers/virtio/virtio-pci.ko.zst:\tkernel/drivers/virtio/virtio.ko  kernel/drivers/virtio/virtio_ring.ko\n"
	    "/abs/other.ko:\n");
	put("modules.builtin", "kernel/fs/overlayfs/overlay.ko\nkernel/drivers/virtio/virtio_mmio.ko\n");

	/* '_' finds virtio-pci; virtiofs then adds only fuse and itself; overlay is built in */
	const char *want[] = { "virtio_pci", "virtiofs", "overlay", "other" };
	n = kmod_resolve(tmpdir, want, NULL, 4, paths, 16, err, sizeof(err));
	CHECK(n == 6);
	static const char *expect[] = { "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko",
					"kernel/drivers/virtio/virtio-pci.ko.zst", "kernel/fs/fuse/fuse.ko.xz",
					"kernel/fs/fuse/virtiofs.ko.xz" };
	for (int i = 0; i < 5 && i < n; i++) {
		snprintf(want_path, sizeof(want_path), "%s/%s", tmpdir, expect[i]);
		CHECK(!strcmp(paths[i], want_path));
		if (strcmp(paths[i], want_path))
			printf("  paths[%d] = %s, want %s\n", i, paths[i], want_path);
	}
	CHECK(n < 6 || !strcmp(paths[5], "/abs/other.ko"));

	/* '-' finds virtio_ring; built-in alone: 0 */
	const char *w2[] = { "virtio-ring" }, *w3[] = { "virtio-mmio" };
	CHECK(kmod_resolve(tmpdir, w2, NULL, 1, paths, 16, err, sizeof(err)) == 1);
	CHECK(kmod_resolve(tmpdir, w3, NULL, 1, paths, 16, err, sizeof(err)) == 0);

	/* missing: optional skipped, required -ENOENT naming it */
	const char *w4[] = { "virtio_ring", "nosuch", "virtiofs" };
	bool opt[] = { false, true, false };
	CHECK(kmod_resolve(tmpdir, w4, opt, 3, paths, 16, err, sizeof(err)) == 4);
	opt[1] = false;
	CHECK(kmod_resolve(tmpdir, w4, opt, 3, paths, 16, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "nosuch") != NULL);

	/* a prefix is not the module: "virtio" must not match virtio_ring */
	const char *w5[] = { "fus" };
	CHECK(kmod_resolve(tmpdir, w5, NULL, 1, paths, 16, err, sizeof(err)) == -ENOENT);

	/* too many */
	CHECK(kmod_resolve(tmpdir, want, NULL, 4, paths, 3, err, sizeof(err)) == -E2BIG);

	/* no modules.builtin is fine; no modules.dep is an error naming it */
	char p[256];
	snprintf(p, sizeof(p), "%s/modules.builtin", tmpdir);
	unlink(p);
	CHECK(kmod_resolve(tmpdir, w2, NULL, 1, paths, 16, err, sizeof(err)) == 1);
	CHECK(kmod_resolve(tmpdir, w3, NULL, 1, paths, 16, err, sizeof(err)) == -ENOENT);
	snprintf(p, sizeof(p), "%s/modules.dep", tmpdir);
	unlink(p);
	CHECK(kmod_resolve(tmpdir, w2, NULL, 1, paths, 16, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "modules.dep") != NULL);
	rmdir(tmpdir);
}

/* Debian's cloud kernel: virtiofs needs virtio_ring, virtio and fuse first. */
static void test_kmod_host(void)
{
	static char paths[32][PATH_MAX];
	const char *dirs[] = { "/lib/modules/6.1.0-57-cloud-amd64", NULL };
	const char *want[] = { "virtio_pci", "virtiofs", "overlay" };
	bool opt[] = { false, false, true };
	struct utsname u;
	char other[300], err[256];
	const char *dir = NULL;

	if (!uname(&u)) {
		snprintf(other, sizeof(other), "/lib/modules/%s", u.release);
		dirs[1] = other;
	}
	for (int i = 0; i < 2 && !dir; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/modules.dep", dirs[i] ? dirs[i] : "");
		if (dirs[i] && !access(p, R_OK))
			dir = dirs[i];
	}
	if (!dir)
		SKIP("no /lib/modules/6.1.0-57-cloud-amd64 or /lib/modules/$(uname -r) with modules.dep");
	int n = kmod_resolve(dir, want, opt, 3, paths, 32, err, sizeof(err));
	if (n == -ENOENT && strstr(err, "virtio"))
		SKIP("this kernel's modules.dep has no virtio_pci/virtiofs");
	CHECK(n > 0);
	int ring = -1, virtio = -1, fuse = -1, vfs = -1, pci = -1;
	for (int i = 0; i < n; i++) {
		char *b = strrchr(paths[i], '/') + 1;
		CHECK(paths[i][0] == '/' && !access(paths[i], R_OK));
		if (!strncmp(b, "virtio_ring.ko", 14)) ring = i;
		if (!strncmp(b, "virtio.ko", 9)) virtio = i;
		if (!strncmp(b, "fuse.ko", 7)) fuse = i;
		if (!strncmp(b, "virtiofs.ko", 11)) vfs = i;
		if (!strncmp(b, "virtio_pci.ko", 13)) pci = i;
	}
	/* each present one after what it needs (built-in ones are absent: -1) */
	CHECK(vfs < 0 || (fuse < vfs && virtio < vfs && ring < vfs));
	CHECK(pci < 0 || (virtio < pci && ring < pci));
	CHECK(virtio < 0 || ring < virtio);
	if (unit_fail_count)
		for (int i = 0; i < n; i++)
			printf("  %d %s\n", i, paths[i]);
}

int main(void)
{
	RUN(test_cpio_roundtrip);
	RUN(test_cpio_invalid);
	RUN(test_cpio_host);
	RUN(test_release_bzimage);
	RUN(test_release_banner);
	RUN(test_release_host);
	RUN(test_kmod_fake);
	RUN(test_kmod_host);
	return UNIT_DONE();
}
