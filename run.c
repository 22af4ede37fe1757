/* run.c: `vmm run`: on the host, the shares, command line and initramfs (this binary as /init, the plan, the modules); the plan format; in the guest, PID 1 that executes the plan. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "options.h"
#include "run.h"
#include "arch.h"

#define MODULE_INIT_COMPRESSED_FILE 4   /* <linux/module.h>, kernel 5.17+ */

extern char **environ;

/* ================= the plan ================= */

struct sbuf { char *b; size_t len, cap; bool oom; };

static void sb_rec(struct sbuf *s, const char *key, const char *v1, const char *v2, const char *v3)
{
	const char *parts[] = { key, "=", v1, v2, v3 };
	size_t need = 1;

	for (unsigned i = 0; i < ARRAY_SIZE(parts); i++)
		need += parts[i] ? strlen(parts[i]) : 0;
	if (s->oom)
		return;
	if (s->cap - s->len < need) {
		size_t cap = (s->cap + need) * 2;
		char *b = realloc(s->b, cap);
		if (!b) {
			s->oom = true;
			return;
		}
		s->b = b;
		s->cap = cap;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(parts); i++) {
		size_t n = parts[i] ? strlen(parts[i]) : 0;
		memcpy(s->b + s->len, parts[i] ? parts[i] : "", n);
		s->len += n;
	}
	s->b[s->len++] = 0;
}

int run_plan_write(const struct run_plan *p, const char *const *mods, unsigned nmods,
		   char **out, size_t *outlen)
{
	struct sbuf s = { 0 };

	if (p->argc < 1 || !p->argv || p->nshares < 1 || p->nshares > RUN_MAX_SHARES ||
	    nmods > RUN_MAX_MODS || !p->cwd || strcmp(p->shares[0].guest_path, "/"))
		return -EINVAL;
	for (unsigned i = 0; i < p->nshares; i++)
		if (!*p->shares[i].tag || strchr(p->shares[i].tag, ',') || p->shares[i].guest_path[0] != '/')
			return -EINVAL;
	for (char *const *e = p->envp; e && *e; e++)
		if (!strchr(*e, '='))
			return -EINVAL;
	sb_rec(&s, "cwd", p->cwd, NULL, NULL);
	sb_rec(&s, "tty", p->tty ? "1" : "0", NULL, NULL);
	for (unsigned i = 0; i < nmods; i++)
		sb_rec(&s, "mod", mods[i], NULL, NULL);
	for (unsigned i = 0; i < p->nshares; i++) {
		const struct run_share *sh = &p->shares[i];
		char tag[256];
		snprintf(tag, sizeof(tag), "%s,", sh->tag);
		sb_rec(&s, "share", tag, sh->guest_path, sh->ro ? ",ro" : ",rw");
	}
	for (char *const *e = p->envp; e && *e; e++)
		sb_rec(&s, "env", *e, NULL, NULL);
	for (int i = 0; i < p->argc; i++)
		sb_rec(&s, "arg", p->argv[i], NULL, NULL);
	if (s.oom) {
		free(s.b);
		return -ENOMEM;
	}
	*out = s.b;
	*outlen = s.len;
	return 0;
}

static int plan_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int plan_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Append v to a NULL-terminated array of *n entries. */
static int push(char ***arr, unsigned *n, char *v)
{
	char **a = realloc(*arr, (*n + 2) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	a[(*n)++] = v;
	a[*n] = NULL;
	*arr = a;
	return 0;
}

/* "TAG,GUESTPATH,ro|rw", split in place. */
static bool parse_share(char *v, struct run_share *sh)
{
	char *c1 = strchr(v, ','), *c2 = strrchr(v, ',');

	if (!c1 || c1 == c2 || c1 == v || c1[1] != '/')
		return false;
	if (strcmp(c2, ",ro") && strcmp(c2, ",rw"))
		return false;
	sh->ro = c2[2] == 'o';
	*c1 = *c2 = 0;
	sh->tag = v;
	sh->guest_path = c1 + 1;
	return true;
}

static int parse_record(struct run_guest *g, char *key, char *v, unsigned *nargs, unsigned *nenv,
			unsigned idx, char *err, size_t errlen)
{
	if (!strcmp(key, "cwd")) {
		if (g->p.cwd)
			return plan_err(err, errlen, "record %u: a second cwd", idx);
		g->p.cwd = v;
	} else if (!strcmp(key, "tty")) {
		if (strcmp(v, "0") && strcmp(v, "1"))
			return plan_err(err, errlen, "record %u: tty=%s is not 0 or 1", idx, v);
		g->p.tty = v[0] == '1';
	} else if (!strcmp(key, "mod")) {
		if (g->nmods == RUN_MAX_MODS)
			return plan_err(err, errlen, "record %u: more than %d modules", idx, RUN_MAX_MODS);
		g->mods[g->nmods++] = v;
	} else if (!strcmp(key, "share")) {
		if (g->p.nshares == RUN_MAX_SHARES)
			return plan_err(err, errlen, "record %u: more than %d shares", idx, RUN_MAX_SHARES);
		if (!parse_share(v, &g->shares[g->p.nshares]))
			return plan_err(err, errlen, "record %u: share=%s is not TAG,/PATH,ro|rw", idx, v);
		g->p.nshares++;
	} else if (!strcmp(key, "env")) {
		if (!strchr(v, '='))
			return plan_err(err, errlen, "record %u: env=%s has no '='", idx, v);
		return push(&g->envp, nenv, v);
	} else if (!strcmp(key, "arg")) {
		return push(&g->argv, nargs, v);
	} else {
		return plan_err(err, errlen, "record %u: unknown key \"%s\"", idx, key);
	}
	return 0;
}

int run_plan_parse(const void *plan, size_t len, struct run_guest *g, char *err, size_t errlen)
{
	unsigned nargs = 0, nenv = 0, idx = 0;
	bool tty_seen = false;
	size_t off = 0;
	int r;

	memset(g, 0, sizeof(*g));
	if (err && errlen)
		err[0] = 0;
	g->buf = malloc(len + 1);
	g->envp = calloc(1, sizeof(*g->envp));   /* an empty environment is NULL-terminated too */
	if (!g->buf || !g->envp)
		return -ENOMEM;
	memcpy(g->buf, plan, len);
	while (off < len) {
		char *rec = g->buf + off, *nul = memchr(rec, 0, len - off), *eq;
		idx++;
		if (!nul)
			return plan_err(err, errlen, "record %u is not NUL-terminated", idx);
		eq = strchr(rec, '=');
		if (!eq)
			return plan_err(err, errlen, "record %u has no '='", idx);
		*eq = 0;
		if (!strcmp(rec, "tty")) {
			if (tty_seen)
				return plan_err(err, errlen, "record %u: a second tty", idx);
			tty_seen = true;
		}
		r = parse_record(g, rec, eq + 1, &nargs, &nenv, idx, err, errlen);
		if (r)
			return r;
		off = (size_t)(nul - g->buf) + 1;
	}
	if (!g->p.cwd)
		return plan_err(err, errlen, "no cwd");
	if (!nargs)
		return plan_err(err, errlen, "no arg");
	if (!g->p.nshares || strcmp(g->shares[0].guest_path, "/"))
		return plan_err(err, errlen, "the first share is not the root (\"/\")");
	g->p.argv = g->argv;
	g->p.argc = (int)nargs;
	g->p.envp = g->envp;
	g->p.shares = g->shares;
	return 0;
}

void run_guest_free(struct run_guest *g)
{
	free(g->argv);
	free(g->envp);
	free(g->buf);
	memset(g, 0, sizeof(*g));
}

/* ================= host: the initramfs ================= */

static int add_file(struct cpio *c, const char *name, unsigned mode, const char *host, char *err, size_t errlen)
{
	char *data;
	size_t len;
	int r = boot_read_file(host, &data, &len);

	if (r) {
		snprintf(err, errlen, "cannot read %s: %s", host, strerror(-r));
		return r;
	}
	r = cpio_add(c, name, mode, data, len);
	if (r)
		snprintf(err, errlen, "cannot add %s to the initramfs: %s", host, strerror(-r));
	free(data);
	return r;
}

/* Resolve and copy the modules; gpaths[i] = their guest paths. Returns the count or -errno. */
static int add_modules(const char *moddir, struct cpio *c, char (*gpaths)[PATH_MAX], char *err, size_t errlen)
{
	/* pvpanic-mmio: a guest kernel panic ends vmm with 3 (Debian builds it as a module) */
	static const char *const want[] = { "virtio_pci", "virtiofs", "overlay", "pvpanic_mmio" };
	static const bool optional[] = { false, false, true, true };
	char (*paths)[PATH_MAX] = calloc(RUN_MAX_MODS, PATH_MAX);
	int n, r = 0;

	if (!paths)
		return -ENOMEM;
	n = kmod_resolve(moddir, want, optional, ARRAY_SIZE(want), paths, RUN_MAX_MODS, err, errlen);
	for (int i = 0; i < n && !r; i++) {
		const char *base = strrchr(paths[i], '/');
		base = base ? base + 1 : paths[i];
		if (snprintf(gpaths[i], PATH_MAX, "/modules/%02d-%s", i, base) >= PATH_MAX)
			r = -ENAMETOOLONG;
		else
			r = add_file(c, gpaths[i], S_IFREG | 0644, paths[i], err, errlen);
	}
	free(paths);
	return r ? r : n;
}

int run_initramfs(const struct run_plan *p, struct cpio *out, char *err, size_t errlen)
{
	static const char *const dirs[] = { "dev", "proc", "sys", "newroot", "lower", "ovl", "modules" };
	char (*gpaths)[PATH_MAX] = calloc(RUN_MAX_MODS, PATH_MAX);
	const char *mods[RUN_MAX_MODS];
	char *plan = NULL;
	size_t plen;
	int n = 0, r = 0;

	if (!gpaths)
		return -ENOMEM;
	for (unsigned i = 0; i < ARRAY_SIZE(dirs) && !r; i++)
		r = cpio_add(out, dirs[i], S_IFDIR | 0755, NULL, 0);
	if (!r)
		r = add_file(out, "init", S_IFREG | 0755, p->init ? p->init : "/proc/self/exe", err, errlen);
	else
		snprintf(err, errlen, "initramfs: %s", strerror(-r));
	if (!r && p->moddir) {
		n = add_modules(p->moddir, out, gpaths, err, errlen);
		r = n < 0 ? n : 0;
	}
	for (int i = 0; i < n; i++)
		mods[i] = gpaths[i];
	if (!r) {
		r = run_plan_write(p, mods, (unsigned)n, &plan, &plen);
		if (r)
			snprintf(err, errlen, "cannot write the run plan: %s", strerror(-r));
	}
	if (!r && ((r = cpio_add(out, RUN_PLAN_PATH, S_IFREG | 0644, plan, plen)) || (r = cpio_finish(out))))
		snprintf(err, errlen, "initramfs: %s", strerror(-r));
	free(plan);
	free(gpaths);
	if (r)
		cpio_free(out);
	return r;
}

/* ================= guest: PID 1 ================= */

/* ---- the host's side: options to shares, command line and initramfs ---- */

/* A host path as the guest sees it, with root (a real path) as its "/"; NULL if outside. */
static const char *guest_path(const char *root, const char *host)
{
	size_t n = strlen(root);

	if (strcmp(root, "/") == 0)
		return host;
	if (strncmp(host, root, n) || (host[n] != '/' && host[n] != '\0'))
		return NULL;
	return host[n] ? host + n : "/";
}

/* Export host directory dir (a real path under root) as one more --share, mounted at its guest path. */
static void run_share(struct options *o, struct run_host *rh, const char *root, const char *dir, bool ro)
{
	unsigned i = rh->nshares++;
	const char *gp = guest_path(root, dir);
	char tag[16], *spec;

	if (!gp)
		fatal(EXIT_USAGE, "vmm run: --rw %s is not under the root %s", dir, root);
	if (strchr(dir, ','))
		fatal(EXIT_USAGE, "vmm run: %s: a directory with a comma in its path cannot be shared", dir);
	snprintf(tag, sizeof(tag), i ? "vmm-rw%u" : "vmm-root", i);
	if (asprintf(&spec, "%s,tag=%s%s", dir, tag, ro ? ",ro" : "") < 0)
		fatal(EXIT_RUNTIME, "out of memory");
	snprintf(rh->dirs[i], PATH_MAX, "%s", gp);
	rh->shares[i] = (struct run_share){ strdup(tag), rh->dirs[i], ro };
	o->shares[o->nshares++] = spec;
}

void run_prepare(struct options *o, struct run_host *rh)
{
	char root[PATH_MAX], dir[PATH_MAX], *append;
	struct utsname u;

	if (!o->kernel) {
		if (uname(&u) < 0)
			fatal_errno(EXIT_RUNTIME, "uname");
		snprintf(rh->kernel, sizeof(rh->kernel), "/boot/vmlinuz-%s", u.release);
		o->kernel = rh->kernel;
	}
	struct stat st;

	if (!realpath(o->root ? o->root : "/", root) || stat(root, &st) < 0)
		fatal_errno(EXIT_USAGE, "--root %s", o->root ? o->root : "/");
	if (!S_ISDIR(st.st_mode))
		fatal(EXIT_USAGE, "--root %s: not a directory", o->root);
	if (!getcwd(dir, sizeof(dir)) || !guest_path(root, dir))
		fatal(EXIT_USAGE, "vmm run: the working directory is not under the root %s", root);
	snprintf(rh->cwd, sizeof(rh->cwd), "%s", guest_path(root, dir));
	run_share(o, rh, root, root, true);
	for (int i = 0; i < o->nrw; i++) {
		if (!realpath(o->rw[i], dir) || stat(dir, &st) < 0)
			fatal_errno(EXIT_USAGE, "--rw %s", o->rw[i]);
		if (!S_ISDIR(st.st_mode))
			fatal(EXIT_USAGE, "--rw %s: not a directory", o->rw[i]);
		run_share(o, rh, root, dir, false);
	}
	if (asprintf(&append, "%s%s%s", RUN_APPEND, o->append ? " " : "", o->append ? o->append : "") < 0)
		fatal(EXIT_RUNTIME, "out of memory");
	o->append = append;
	rh->tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
}

struct cpio run_initrd(const struct options *o, const struct run_host *rh, const void *kernel, size_t klen)
{
	extern char **environ;
	struct run_plan plan = { .cwd = rh->cwd, .tty = rh->tty, .argv = o->cmd, .argc = o->ncmd,
				 .envp = environ, .shares = rh->shares, .nshares = rh->nshares };
	char rel[128], moddir[PATH_MAX], err[256];
	struct cpio c = { 0 };
	struct stat st;

	if (boot_kernel_release(kernel, klen, rel, sizeof(rel)) < 0)
		fatal(EXIT_USAGE, "vmm run: --kernel %s: cannot tell its release, so not its modules", o->kernel);
	snprintf(moddir, sizeof(moddir), "/lib/modules/%s", rel);
	if (stat(moddir, &st) == 0)
		plan.moddir = moddir;
	else
		vlog("vmm run: no %s: the kernel must have virtio-pci and virtiofs built in", moddir);
	if (run_initramfs(&plan, &c, err, sizeof(err)) < 0)
		fatal(EXIT_USAGE, "vmm run: %s", err);
	return c;
}

static int out_fd = -1, err_fd = -1;   /* /dev/ttyS0 (stdout) and /dev/ttyS1 (stderr, messages) */

/* One line "vmm run: ..." on ttyS1. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "vmm run: ");

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	if (err_fd < 0)
		err_fd = open("/dev/ttyS1", O_RDWR | O_NOCTTY | O_CLOEXEC);
	(void)!write(err_fd >= 0 ? err_fd : 2, line, strlen(line));
}

/* Drain the UARTs, report status through the debug-exit device, power off. */
static noreturn void report(int status)
{
	if (out_fd >= 0)
		tcdrain(out_fd);
	if (err_fd >= 0)
		tcdrain(err_fd);
	sync();
	arch_guest_status((uint8_t)status);
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

#define fail(...) do { say(__VA_ARGS__); report(RUN_EXIT_SETUP); } while (0)

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
	if (mount(src, dst, type, flags, data))
		fail("cannot mount %s on %s: %s", type ? type : src, dst, strerror(errno));
}

/* mkdir -p: 0, or the errno of the last directory it could not make (EEXIST is fine). */
static int mkdir_p(const char *path)
{
	char p[PATH_MAX];
	int e = 0;

	snprintf(p, sizeof(p), "%s/", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			e = mkdir(p, 0755) && errno != EEXIST ? errno : 0;
			*s = '/';
		}
	return e;
}

/* /dev, /proc, /sys; fds 0-2 on /dev/null (the kernel found no /dev/console to give us). */
static void early_mounts(void)
{
	int fd;

	if (mount("devtmpfs", "/dev", "devtmpfs", 0, "mode=0755") && errno != EBUSY)
		report(RUN_EXIT_SETUP);   /* nowhere to say it */
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd < 3)
		;
	if (fd > 2)
		close(fd);
	out_fd = open("/dev/ttyS0", O_RDWR | O_NOCTTY | O_CLOEXEC);
	err_fd = open("/dev/ttyS1", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (out_fd < 0 || err_fd < 0)
		fail("cannot open /dev/ttyS0 and /dev/ttyS1: %s", strerror(errno));
	must_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	must_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static void read_plan(struct run_guest *g)
{
	char err[256];
	char *buf;
	size_t len;
	int r = boot_read_file(RUN_PLAN_PATH, &buf, &len);

	if (r)
		fail("cannot read %s: %s", RUN_PLAN_PATH, strerror(-r));
	r = run_plan_parse(buf, len, g, err, sizeof(err));
	free(buf);
	if (r)
		fail("%s: %s", RUN_PLAN_PATH, r == -EINVAL ? err : strerror(-r));
}

static bool compressed(const char *name)
{
	static const char *const sfx[] = { ".xz", ".zst", ".gz" };
	size_t n = strlen(name);

	for (unsigned i = 0; i < ARRAY_SIZE(sfx); i++)
		if (n > strlen(sfx[i]) && !strcmp(name + n - strlen(sfx[i]), sfx[i]))
			return true;
	return false;
}

/* finit_module each; a failure is said and skipped (the mount that needs it fails next). */
static void load_modules(const struct run_guest *g)
{
	for (unsigned i = 0; i < g->nmods; i++) {
		int fd = open(g->mods[i], O_RDONLY | O_CLOEXEC);
		int flags = compressed(g->mods[i]) ? MODULE_INIT_COMPRESSED_FILE : 0;
		if (fd < 0 || (syscall(SYS_finit_module, fd, "", flags) && errno != EEXIST))
			say("cannot load %s: %s", g->mods[i], strerror(errno));
		if (fd >= 0)
			close(fd);
	}
}

/* A virtiofs share; retried for about 1 s while its device may still be probing. */
static int mount_share(const char *tag, const char *dst, bool ro)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	for (int i = 0;; i++) {
		if (!mount(tag, dst, "virtiofs", ro ? MS_RDONLY : 0, NULL))
			return 0;
		/* ENODEV: virtiofs not registered yet; no such tag yet: EINVAL (6.1) or ENOENT (later kernels) */
		if ((errno != ENOENT && errno != ENODEV && errno != EINVAL) || i == 20)
			return -1;
		nanosleep(&ts, NULL);
	}
}

/* /newroot: overlay of the read-only root share and a tmpfs; or the share itself, read-only. */
static void mount_root(const struct run_guest *g)
{
	const struct run_share *root = &g->shares[0];

	if (mount_share(root->tag, "/lower", true))
		fail("cannot mount the root share (virtiofs tag %s): %s", root->tag, strerror(errno));
	must_mount("tmpfs", "/ovl", "tmpfs", 0, "mode=0755");
	mkdir("/ovl/upper", 0755);
	mkdir("/ovl/work", 0755);
	if (mount("overlay", "/newroot", "overlay", 0, "lowerdir=/lower,upperdir=/ovl/upper,workdir=/ovl/work"))
		must_mount("/lower", "/newroot", NULL, MS_BIND | MS_REC, NULL);   /* /tmp gets a tmpfs below */
}

/* The API filesystems and the other shares inside /newroot. */
static void mount_inside(const struct run_guest *g)
{
	static const struct { const char *src, *dst, *type, *data; unsigned long flags; bool optional; } m[] = {
		{ "proc", "/newroot/proc", "proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC, false },
		{ "sysfs", "/newroot/sys", "sysfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC, false },
		{ "devtmpfs", "/newroot/dev", "devtmpfs", "mode=0755", MS_NOSUID, false },
		{ "devpts", "/newroot/dev/pts", "devpts", "mode=0620,ptmxmode=0666", MS_NOSUID | MS_NOEXEC, true },
		{ "tmpfs", "/newroot/dev/shm", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV, true },
		{ "tmpfs", "/newroot/tmp", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV, false },
		{ "tmpfs", "/newroot/run", "tmpfs", "mode=0755", MS_NOSUID | MS_NODEV, true },
	};
	char dst[PATH_MAX];

	for (unsigned i = 0; i < ARRAY_SIZE(m); i++) {
		int e = mkdir_p(m[i].dst);
		if (mount(m[i].src, m[i].dst, m[i].type, m[i].flags, m[i].data) && !m[i].optional)
			fail("cannot mount %s on %s: %s", m[i].type, m[i].dst + 8, strerror(e ? e : errno));
	}
	for (unsigned i = 1; i < g->p.nshares; i++) {
		const struct run_share *s = &g->shares[i];
		snprintf(dst, sizeof(dst), "/newroot%s", s->guest_path);
		int e = mkdir_p(dst);
		if (e)   /* a read-only root (no overlay) cannot get a new mountpoint */
			fail("cannot create %s for share %s: %s", s->guest_path, s->tag, strerror(e));
		if (mount_share(s->tag, dst, s->ro))
			fail("cannot mount share %s on %s: %s", s->tag, s->guest_path, strerror(errno));
	}
}

static void switch_root(void)
{
	if (chdir("/newroot") || mount(".", "/", NULL, MS_MOVE, NULL) || chroot(".") || chdir("/"))
		fail("cannot switch to the new root: %s", strerror(errno));
}

/* Cooked for a terminal (the host's is raw); raw otherwise, so output is byte-exact. */
static void set_ttys(bool tty)
{
	int fds[] = { out_fd, err_fd };
	struct termios t;

	if (tty)
		return;
	for (unsigned i = 0; i < ARRAY_SIZE(fds); i++)
		if (!tcgetattr(fds[i], &t)) {
			cfmakeraw(&t);
			tcsetattr(fds[i], TCSANOW, &t);
		}
}

/* In the child: stdio, session, cwd, exec. */
static noreturn void exec_command(const struct run_guest *g)
{
	int in = g->p.tty ? out_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);

	setsid();
	if (in < 0 || dup2(in, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(RUN_EXIT_SETUP);
	if (g->p.tty)
		ioctl(0, TIOCSCTTY, 0);
	if (chdir(g->p.cwd)) {
		dprintf(2, "vmm run: cannot change to %s: %s\n", g->p.cwd, strerror(errno));
		_exit(1);
	}
	environ = g->envp;   /* execvpe searches the PATH of environ */
	execvpe(g->argv[0], g->argv, g->envp);
	dprintf(2, "vmm run: %s: %s\n", g->argv[0], strerror(errno));
	_exit(errno == ENOENT ? RUN_EXIT_NOTFOUND : RUN_EXIT_NOEXEC);
}

/* As init, reap every child until pid ends: its status, or 128 + the signal that killed it. */
static int reap_until(pid_t pid)
{
	for (;;) {
		int st;
		pid_t r = waitpid(-1, &st, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("waiting for the command: %s", strerror(errno));
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
}

noreturn void run_init(void)
{
	struct run_guest g;
	pid_t pid;

	early_mounts();
	read_plan(&g);
	load_modules(&g);
	mount_root(&g);
	mount_inside(&g);
	switch_root();
	set_ttys(g.p.tty);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0)
		exec_command(&g);
	report(reap_until(pid));
}
