/* boot/initramfs.c: an in-memory cpio "newc" archive, the kernel release of an image, kernel module resolution from modules.dep, and input files read or mapped whole. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot.h"

/* ---- cpio newc ---- */

#define CPIO_HDR 110   /* "070701" and 13 fields of 8 hex digits */

static size_t pad4(size_t n) { return (4 - (n & 3)) & 3; }

static int cpio_reserve(struct cpio *c, size_t more)
{
	size_t cap;
	uint8_t *b;

	if (more > SIZE_MAX - c->len)
		return -ENOMEM;
	if (c->len + more <= c->cap)
		return 0;
	cap = c->cap ? c->cap : 4096;
	while (cap < c->len + more) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	b = realloc(c->buf, cap);
	if (!b)
		return -ENOMEM;
	c->buf = b;
	c->cap = cap;
	return 0;
}

static void cpio_put(struct cpio *c, const void *p, size_t n)
{
	if (n)
		memcpy(c->buf + c->len, p, n);
	c->len += n;
}

static void cpio_zero(struct cpio *c, size_t n)
{
	memset(c->buf + c->len, 0, n);
	c->len += n;
}

static int cpio_entry(struct cpio *c, const char *name, unsigned mode, unsigned ino,
		      const void *data, size_t len)
{
	size_t namesize = strlen(name) + 1;
	char hdr[CPIO_HDR + 1];
	unsigned nlink = S_ISDIR(mode) ? 2 : 1;
	int r;

	if (namesize > 4096 || len > UINT32_MAX || (len && !data))
		return -EINVAL;
	r = cpio_reserve(c, CPIO_HDR + namesize + 3 + len + 3);
	if (r)
		return r;
	/* magic ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check */
	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 ino, mode, 0u, 0u, nlink, 0u, (unsigned)len, 0u, 0u, 0u, 0u, (unsigned)namesize, 0u);
	cpio_put(c, hdr, CPIO_HDR);
	cpio_put(c, name, namesize);
	cpio_zero(c, pad4(CPIO_HDR + namesize));
	cpio_put(c, data, len);
	cpio_zero(c, pad4(len));
	return 0;
}

int cpio_add(struct cpio *c, const char *name, unsigned mode, const void *data, size_t len)
{
	unsigned type = mode & S_IFMT;

	if (!name || !*name || !strcmp(name, "TRAILER!!!"))
		return -EINVAL;
	if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK)
		return -EINVAL;
	if ((type == S_IFDIR && len) || (type == S_IFLNK && !len))
		return -EINVAL;
	while (*name == '/')   /* the kernel takes names relative to the root */
		name++;
	if (!*name)
		return -EINVAL;
	return cpio_entry(c, name, mode, ++c->ino, data, len);
}

int cpio_finish(struct cpio *c)
{
	return cpio_entry(c, "TRAILER!!!", 0, 0, NULL, 0);
}

void cpio_free(struct cpio *c)
{
	free(c->buf);
	*c = (struct cpio){ 0 };
}

/* ---- kernel release ---- */

static bool release_char(uint8_t ch) { return ch > ' ' && ch < 0x7f && ch != '('; }

/* The release at p: starts with a digit, ends at a space, NUL or '('. */
static int copy_release(const uint8_t *p, size_t avail, char *out, size_t outlen)
{
	size_t n = 0;

	if (!avail || p[0] < '0' || p[0] > '9')
		return -EINVAL;
	while (n < avail && release_char(p[n]))
		n++;
	if (n >= outlen)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = 0;
	return 0;
}

int boot_kernel_release(const void *k, size_t len, char *out, size_t outlen)
{
	static const char banner[] = "Linux version ";
	const uint8_t *b = k, *p = b, *end = b + len;

	if (!k || !out || !outlen)
		return -EINVAL;
	/* bzImage: "HdrS", protocol >= 2.00, kernel_version (u16 at 0x20E) points at 0x200 + it */
	if (len >= 0x210 && !memcmp(b + 0x202, "HdrS", 4) && (b[0x206] | b[0x207] << 8) >= 0x200) {
		size_t off = (size_t)(b[0x20E] | b[0x20F] << 8);
		if (off && off + 0x200 < len && !copy_release(b + off + 0x200, len - off - 0x200, out, outlen))
			return 0;
	}
	/* anything else (ELF vmlinux, an uncompressed image): the banner "Linux version RELEASE (" */
	while (p < end) {
		const uint8_t *m = memmem(p, end - p, banner, sizeof(banner) - 1);
		if (!m)
			break;
		m += sizeof(banner) - 1;
		if (!copy_release(m, end - m, out, outlen))
			return 0;
		p = m;
	}
	return -EINVAL;
}

/* ---- kernel modules ---- */

int boot_read_file(const char *path, char **out, size_t *outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int r = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;
		if (cap - len < 2) {
			char *nb;
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	buf[len] = 0;
	*out = buf;
	if (outlen)
		*outlen = len;
	return 0;
}

/* A module's name from its path or its name: basename, no .ko[.xz|.zst|.gz], '-' -> '_'. */
static void mod_name(const char *path, size_t plen, char *out, size_t outlen)
{
	const char *base = path, *ko;
	size_t n;

	for (size_t i = 0; i < plen; i++)
		if (path[i] == '/')
			base = path + i + 1;
	n = plen - (size_t)(base - path);
	ko = memmem(base, n, ".ko", 3);
	if (ko)
		n = (size_t)(ko - base);
	if (n >= outlen)
		n = outlen - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = base[i] == '-' ? '_' : base[i];
	out[n] = 0;
}

/* The line of modules.dep (NUL-terminated, in place) whose module is named `name`, or NULL. */
static char *dep_find(char *dep, const char *name)
{
	char *line = dep;

	while (*line) {
		char *nl = strchr(line, '\n'), *colon = strchr(line, ':');
		char nm[NAME_MAX + 1];

		if (colon && (!nl || colon < nl)) {
			mod_name(line, (size_t)(colon - line), nm, sizeof(nm));
			if (!strcmp(nm, name))
				return line;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return NULL;
}

static bool builtin_has(const char *builtin, const char *name)
{
	const char *line = builtin;

	while (builtin && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char nm[NAME_MAX + 1];

		mod_name(line, n, nm, sizeof(nm));
		if (n && !strcmp(nm, name))
			return true;
		if (!nl)
			break;
		line = nl + 1;
	}
	return false;
}

/* Append moddir/rel (rel as is if absolute) unless already there. 0, -E2BIG or -ENAMETOOLONG. */
static int add_path(const char *moddir, const char *rel, size_t rlen, char (*paths)[PATH_MAX],
		    unsigned *n, unsigned max)
{
	char p[PATH_MAX];
	int w = rel[0] == '/' ? snprintf(p, sizeof(p), "%.*s", (int)rlen, rel)
			      : snprintf(p, sizeof(p), "%s/%.*s", moddir, (int)rlen, rel);

	if (w < 0 || (size_t)w >= sizeof(p))
		return -ENAMETOOLONG;
	for (unsigned i = 0; i < *n; i++)
		if (!strcmp(paths[i], p))
			return 0;
	if (*n >= max)
		return -E2BIG;
	memcpy(paths[(*n)++], p, (size_t)w + 1);
	return 0;
}

/* Add the deps of one modules.dep line in reverse order, then the module itself. */
static int add_line(const char *moddir, const char *line, char (*paths)[PATH_MAX], unsigned *n, unsigned max)
{
	const char *colon = strchr(line, ':'), *eol = strchr(line, '\n');
	const char *words[256];
	size_t lens[256];
	unsigned nw = 0;
	int r;

	if (!eol)
		eol = line + strlen(line);
	for (const char *p = colon + 1; p < eol;) {
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		const char *s = p;
		while (p < eol && *p != ' ' && *p != '\t')
			p++;
		if (p == s)
			continue;
		if (nw == ARRAY_SIZE(words))
			return -E2BIG;
		words[nw] = s;
		lens[nw++] = (size_t)(p - s);
	}
	while (nw--) {
		r = add_path(moddir, words[nw], lens[nw], paths, n, max);
		if (r)
			return r;
	}
	return add_path(moddir, line, (size_t)(colon - line), paths, n, max);
}

int kmod_resolve(const char *moddir, const char *const *want, const bool *optional, unsigned nwant,
		 char (*paths)[PATH_MAX], unsigned max, char *err, size_t errlen)
{
	char file[PATH_MAX], *dep = NULL, *builtin = NULL;
	unsigned n = 0;
	int r;

	if (err && errlen)
		err[0] = 0;
	snprintf(file, sizeof(file), "%s/modules.dep", moddir);
	r = boot_read_file(file, &dep, NULL);
	if (r) {
		if (err)
			snprintf(err, errlen, "%s: %s", file, strerror(-r));
		return r;
	}
	snprintf(file, sizeof(file), "%s/modules.builtin", moddir);
	r = boot_read_file(file, &builtin, NULL);
	if (r && r != -ENOENT) {
		if (err)
			snprintf(err, errlen, "%s: %s", file, strerror(-r));
		goto out;
	}
	r = 0;
	for (unsigned i = 0; i < nwant && !r; i++) {
		char name[NAME_MAX + 1];
		const char *line;

		mod_name(want[i], strlen(want[i]), name, sizeof(name));
		line = dep_find(dep, name);
		if (line)
			r = add_line(moddir, line, paths, &n, max);
		else if (builtin_has(builtin, name) || (optional && optional[i]))
			continue;
		else
			r = -ENOENT;
		if (r && err)
			snprintf(err, errlen, r == -ENOENT ? "%s: no such module in %s" : "%s: %s",
				 want[i], r == -ENOENT ? moddir : strerror(-r));
	}
out:
	free(dep);
	free(builtin);
	return r ? r : (int)n;
}

struct mapped_file boot_map_file(const char *path, const char *what)
{
	struct mapped_file f = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		fatal_errno(EXIT_USAGE, "%s %s", what, path);
	if (fstat(fd, &st) < 0)
		fatal_errno(EXIT_USAGE, "%s %s", what, path);
	if (!S_ISREG(st.st_mode))
		fatal(EXIT_USAGE, "%s %s: not a regular file", what, path);
	if (st.st_size == 0)
		fatal(EXIT_USAGE, "%s %s: file is empty", what, path);
	f.len = (size_t)st.st_size;
	f.data = mmap(NULL, f.len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f.data == MAP_FAILED)
		fatal_errno(EXIT_USAGE, "%s %s", what, path);
	close(fd);
	return f;
}
