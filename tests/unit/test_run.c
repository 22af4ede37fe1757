/* tests/unit/test_run.c: the `vmm run` plan (write, parse back, malformed plans) and the initramfs run_initramfs builds (listed and unpacked by the host's cpio). */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "run.h"

static const struct run_share shares[] = {
	{ "root", "/", true }, { "rw0", "/home/u/a,b dir", false }, { "rw1", "/srv", true },
};

static void test_plan_roundtrip(void)
{
	char *argv[] = { "sh", "-c", "echo a  b\nprintf '%s' x=y,z", "", "--opt=a=b", NULL };
	char *envp[] = { "PATH=/usr/bin:/bin", "X=a=b,c\nd", "EMPTY=", NULL };
	const char *mods[] = { "/modules/00-virtio_ring.ko", "/modules/01-virtiofs.ko.xz" };
	struct run_plan p = { .cwd = "/home/u/my dir", .tty = true, .argv = argv, .argc = 5, .envp = envp,
			      .shares = shares, .nshares = 3 };
	struct run_guest g;
	char *plan, err[256];
	size_t len;

	CHECK(run_plan_write(&p, mods, 2, &plan, &len) == 0);
	CHECK(len > 0 && plan[len - 1] == 0);
	if (run_plan_parse(plan, len, &g, err, sizeof(err))) {
		CHECK(!"the plan parses");
		printf("  %s\n", err);
		run_guest_free(&g);
		free(plan);
		return;
	}
	CHECK(g.p.cwd && !strcmp(g.p.cwd, "/home/u/my dir"));
	CHECK(g.p.tty);
	CHECK(g.p.argc == 5 && g.p.argv == g.argv && g.argv[5] == NULL);
	for (int i = 0; i < 5 && i < g.p.argc; i++)
		CHECK(!strcmp(g.argv[i], argv[i]));
	for (int i = 0; i < 3; i++)
		CHECK(g.envp[i] && !strcmp(g.envp[i], envp[i]));
	CHECK(g.envp[3] == NULL && g.p.envp == g.envp);
	CHECK(g.nmods == 2 && !strcmp(g.mods[0], mods[0]) && !strcmp(g.mods[1], mods[1]));
	CHECK(g.p.nshares == 3 && g.p.shares == g.shares);
	for (int i = 0; i < 3 && i < (int)g.p.nshares; i++) {
		CHECK(!strcmp(g.shares[i].tag, shares[i].tag));
		CHECK(!strcmp(g.shares[i].guest_path, shares[i].guest_path));
		CHECK(g.shares[i].ro == shares[i].ro);
	}
	/* the records, as the header documents them */
	CHECK(!memcmp(plan, "cwd=/home/u/my dir\0tty=1\0mod=/modules/00-virtio_ring.ko\0", 56));
#define REC "\0share=root,/,ro\0share=rw0,/home/u/a,b dir,rw\0share=rw1,/srv,ro\0env=PATH="
	CHECK(memmem(plan, len, REC, sizeof(REC) - 1) != NULL);
#define LAST "\0arg=--opt=a=b\0"
	CHECK(memmem(plan, len, LAST, sizeof(LAST) - 1) == plan + len - (sizeof(LAST) - 1));
	run_guest_free(&g);
	free(plan);

	/* tty=0, no modules, no environment, one share */
	char *argv1[] = { "true", NULL }, *envp0[] = { NULL };
	struct run_plan q = { .cwd = "/", .argv = argv1, .argc = 1, .envp = envp0, .shares = shares, .nshares = 1 };
	CHECK(run_plan_write(&q, NULL, 0, &plan, &len) == 0);
	CHECK(run_plan_parse(plan, len, &g, err, sizeof(err)) == 0);
	CHECK(!g.p.tty && g.nmods == 0 && g.envp && g.envp[0] == NULL && g.p.argc == 1 && g.p.nshares == 1);
	run_guest_free(&g);
	free(plan);
}

/* Each bad plan is refused with a reason. */
static void expect_bad(const char *plan, size_t len, const char *why)
{
	struct run_guest g;
	char err[256] = "";
	int r = run_plan_parse(plan, len, &g, err, sizeof(err));

	CHECK(r == -EINVAL);
	CHECK(strstr(err, why) != NULL);
	if (r != -EINVAL || !strstr(err, why))
		printf("  plan %.*s: %d \"%s\", want \"%s\"\n", (int)len, plan, r, err, why);
	run_guest_free(&g);
}
#define BAD(lit, why) expect_bad(lit, sizeof(lit) - 1, why)
#define OK_PREFIX "cwd=/\0share=r,/,ro\0"

static void test_plan_malformed(void)
{
	struct run_guest g;
	char err[256];

	/* the minimal good one, so the failures below are each for their one defect */
	CHECK(run_plan_parse(OK_PREFIX "arg=x", sizeof(OK_PREFIX "arg=x"), &g, err, sizeof(err)) == 0);
	run_guest_free(&g);
	BAD(OK_PREFIX "arg=x", "not NUL-terminated");               /* the last NUL missing */
	BAD(OK_PREFIX "arg=x\0foo=1\0", "unknown key \"foo\"");
	BAD(OK_PREFIX "arg=x\0args=1\0", "unknown key");
	BAD(OK_PREFIX "arg=x\0\0", "has no '='");                     /* an empty record */
	BAD(OK_PREFIX "arg=x\0noequals\0", "has no '='");
	BAD(OK_PREFIX "arg=x\0tty=yes\0", "tty=yes");
	BAD(OK_PREFIX "arg=x\0tty=1\0tty=0\0", "a second tty");
	BAD(OK_PREFIX "arg=x\0cwd=/a\0", "a second cwd");
	BAD(OK_PREFIX "arg=x\0env=NOVALUE\0", "has no '='");
	BAD(OK_PREFIX, "no arg");
	BAD("share=r,/,ro\0arg=x\0", "no cwd");
	BAD("cwd=/\0arg=x\0", "root");
	BAD("cwd=/\0share=r,/usr,ro\0arg=x\0", "root");
	BAD(OK_PREFIX "arg=x\0share=r,/a\0", "is not TAG");
	BAD(OK_PREFIX "arg=x\0share=,/a,ro\0", "is not TAG");
	BAD(OK_PREFIX "arg=x\0share=t,rel,ro\0", "is not TAG");
	BAD(OK_PREFIX "arg=x\0share=t,/a,rx\0", "is not TAG");

	/* the writer refuses what the parser could not read back */
	char *argv[] = { "x", NULL }, *envp[] = { "NOEQ", NULL }, *plan;
	size_t len;
	struct run_share bad_tag[] = { { "a,b", "/", true } }, not_root[] = { { "r", "/usr", true } };
	struct run_plan p = { .cwd = "/", .argv = argv, .argc = 1, .envp = envp + 1, .shares = shares, .nshares = 1 };
	CHECK(run_plan_write(&p, NULL, 0, &plan, &len) == 0);
	free(plan);
	p.envp = envp;
	CHECK(run_plan_write(&p, NULL, 0, &plan, &len) == -EINVAL);
	p.envp = envp + 1;
	p.shares = bad_tag;
	CHECK(run_plan_write(&p, NULL, 0, &plan, &len) == -EINVAL);
	p.shares = not_root;
	CHECK(run_plan_write(&p, NULL, 0, &plan, &len) == -EINVAL);
	p.shares = shares;
	p.argc = 0;
	CHECK(run_plan_write(&p, NULL, 0, &plan, &len) == -EINVAL);
}

/* ---- run_initramfs ---- */
static char dir[64];

static void put(const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Run a shell command, its output in out. */
static int sh(const char *cmd, char *out, size_t outlen)
{
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, outlen - 1, p) : 0;
	out[n] = 0;
	return p ? pclose(p) : -1;
}

static void test_run_initramfs(void)
{
	char *argv[] = { "ls", "-l", "a b", NULL }, *envp[] = { "HOME=/root", NULL };
	struct run_plan p = { .cwd = "/tmp", .argv = argv, .argc = 3, .envp = envp, .shares = shares, .nshares = 2 };
	struct cpio c = { 0 };
	char err[512] = "", cmd[512], out[8192], arc[128];
	FILE *f;

	if (system("command -v cpio >/dev/null 2>&1"))
		SKIP("no cpio on the host");
	strcpy(dir, "/tmp/vmm-run-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	mkdir(strcat(strcpy(cmd, dir), "/kernel"), 0755);
	put("modules.dep", "kernel/virtio_ring.ko:\n"
			   "kernel/virtio.ko: kernel/virtio_ring.ko\n"
			   "kernel/fuse.ko.xz:\n"
			   "kernel/virtio-pci.ko: kernel/virtio.ko kernel/virtio_ring.ko\n"
			   "kernel/virtiofs.ko: kernel/virtio.ko kernel/virtio_ring.ko kernel/fuse.ko.xz\n");
	put("modules.builtin", "kernel/overlay.ko\n");
	put("kernel/virtio_ring.ko", "RING");
	put("kernel/virtio.ko", "VIRTIO");
	put("kernel/fuse.ko.xz", "FUSE-XZ");
	put("kernel/virtio-pci.ko", "PCI");
	put("kernel/virtiofs.ko", "VIRTIOFS");
	p.moddir = dir;

	CHECK(run_initramfs(&p, &c, err, sizeof(err)) == 0);
	if (*err)
		printf("  %s\n", err);
	snprintf(arc, sizeof(arc), "%s/initrd.cpio", dir);
	f = fopen(arc, "w");
	CHECK(f && fwrite(c.buf, 1, c.len, f) == c.len);
	if (f)
		fclose(f);
	CHECK(c.len % 4 == 0);

	/* the host's cpio lists it all, in order */
	snprintf(cmd, sizeof(cmd), "cpio -it --quiet < %s 2>&1", arc);
	CHECK(sh(cmd, out, sizeof(out)) == 0);
	CHECK(!strcmp(out, "dev\nproc\nsys\nnewroot\nlower\novl\nmodules\ninit\n"
			   "modules/00-virtio_ring.ko\nmodules/01-virtio.ko\nmodules/02-virtio-pci.ko\n"
			   "modules/03-fuse.ko.xz\nmodules/04-virtiofs.ko\nvmm-run\n"));
	if (unit_fail_count)
		printf("  cpio -it:\n%s", out);

	/* /init is this binary, a module is its file, the plan parses with the modules in order */
	snprintf(cmd, sizeof(cmd), "cd %s && cpio -id --quiet init vmm-run modules/03-fuse.ko.xz < %s 2>&1", dir, arc);
	CHECK(sh(cmd, out, sizeof(out)) == 0);
	snprintf(cmd, sizeof(cmd), "cmp /proc/%d/exe %s/init && test -x %s/init && cat %s/modules/03-fuse.ko.xz",
		 (int)getpid(), dir, dir, dir);
	CHECK(sh(cmd, out, sizeof(out)) == 0 && !strcmp(out, "FUSE-XZ"));

	snprintf(cmd, sizeof(cmd), "%s/vmm-run", dir);
	f = fopen(cmd, "rb");
	size_t n = f ? fread(out, 1, sizeof(out), f) : 0;
	if (f)
		fclose(f);
	struct run_guest g;
	CHECK(run_plan_parse(out, n, &g, err, sizeof(err)) == 0);
	CHECK(g.nmods == 5 && g.p.argc == 3);
	if (g.nmods == 5) {
		CHECK(!strcmp(g.mods[0], "/modules/00-virtio_ring.ko"));
		CHECK(!strcmp(g.mods[3], "/modules/03-fuse.ko.xz"));
		CHECK(!strcmp(g.mods[4], "/modules/04-virtiofs.ko"));
	}
	if (g.p.argc == 3 && g.p.nshares == 2) {
		CHECK(!strcmp(g.argv[2], "a b") && !strcmp(g.p.cwd, "/tmp"));
		CHECK(!strcmp(g.shares[1].guest_path, "/home/u/a,b dir") && !g.shares[1].ro);
	}
	run_guest_free(&g);
	cpio_free(&c);

	/* no moddir: no modules */
	p.moddir = NULL;
	CHECK(run_initramfs(&p, &c, err, sizeof(err)) == 0);
	f = fopen(arc, "w");
	CHECK(f && fwrite(c.buf, 1, c.len, f) == c.len);
	if (f)
		fclose(f);
	snprintf(cmd, sizeof(cmd), "cpio -it --quiet < %s 2>&1", arc);
	CHECK(sh(cmd, out, sizeof(out)) == 0);
	CHECK(!strcmp(out, "dev\nproc\nsys\nnewroot\nlower\novl\nmodules\ninit\nvmm-run\n"));
	cpio_free(&c);

	/* virtiofs required: missing -> -ENOENT naming it, nothing left allocated */
	put("modules.dep", "kernel/virtio_ring.ko:\n");
	p.moddir = dir;
	CHECK(run_initramfs(&p, &c, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "virtio_pci") != NULL);
	CHECK(c.buf == NULL && c.len == 0);
	/* a module that modules.dep names but is not there */
	put("modules.dep", "kernel/virtio-pci.ko:\nkernel/virtiofs.ko: kernel/gone.ko\n");
	CHECK(run_initramfs(&p, &c, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "gone.ko") != NULL);
	CHECK(c.buf == NULL);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	RUN(test_plan_roundtrip);
	RUN(test_plan_malformed);
	RUN(test_run_initramfs);
	return UNIT_DONE();
}
