/* tests/unit/test_boot.c: kernel loaders (bzImage, vmlinux via PVH, plain ELF64, ELF32 PVH, multiboot) against a sparse fake guest memory. */
#include <elf.h>
#include <glob.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "boot/boot.h"
#include "vm.h"
#include "le.h"

/* loaders do not raise interrupts, but libvmm.a objects may reference these */
void vm_set_irq(struct vm *vm, unsigned pin, int level) { (void)vm; (void)pin; (void)level; }
void vm_request_exit(struct vm *vm, int code) { (void)vm; (void)code; }

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static const char *skip_why;
#define RUN_OPT(fn) do { \
	skip_why = NULL; \
	unit_fail_count = 0; \
	fn(); \
	if (skip_why && !unit_fail_count) { \
		printf("SKIP %s: %s\n", #fn, skip_why); \
	} else { \
		printf("%s %s\n", unit_fail_count ? "FAIL" : "PASS", #fn); \
		unit_total_failed += unit_fail_count != 0; \
	} \
} while (0)

/* ---- fake guest memory: sparse anonymous mapping, low part capped at the MMIO hole ---- */
static struct guest_mem mem_new(uint64_t total)
{
	struct guest_mem m = { 0 };
	void *p = mmap(NULL, total, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return m;
	m.host = p;
	m.low_size = total < MMIO_HOLE_START ? total : MMIO_HOLE_START;
	m.high_size = total - m.low_size;
	return m;
}

static void mem_free(struct guest_mem *m)
{
	if (m->host)
		munmap(m->host, m->low_size + m->high_size);
	m->host = NULL;
}

static uint64_t g64(const struct guest_mem *m, gpa_t a)
{
	uint64_t v = 0;
	if (gm_read(m, &v, a, 8))
		return 0xdeadbeefdeadbeefull;
	return v;
}
static uint32_t g32(const struct guest_mem *m, gpa_t a) { return (uint32_t)g64(m, a); }
static uint16_t g16(const struct guest_mem *m, gpa_t a) { return (uint16_t)g64(m, a); }
static uint8_t g8(const struct guest_mem *m, gpa_t a) { return (uint8_t)g64(m, a); }

/* ---- files ---- */
static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) || st.st_size <= 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc(st.st_size);
	if (buf && fread(buf, 1, st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = st.st_size;
	return buf;
}

static char *debian_bzimage(void)
{
	glob_t g;
	char *path = NULL;

	if (glob("/boot/vmlinuz-*-cloud-amd64", 0, NULL, &g) == 0 && g.gl_pathc > 0)
		path = strdup(g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	return path;
}

static uint8_t *load_debian(size_t *len)
{
	char *p = debian_bzimage();
	uint8_t *buf = p ? read_file(p, len) : NULL;
	free(p);
	return buf;
}

/* ---- synthetic images ---- */
#define SYN_SETUP_SECTS 4
#define SYN_SETUP (5 * 512)
#define SYN_PM 8192

/* A minimal bzImage: setup header of protocol 2.15 and 8 KiB of "protected-mode kernel". */
static uint8_t *make_bzimage(size_t *len)
{
	uint8_t *b = calloc(1, SYN_SETUP + SYN_PM);
	b[0x1f1] = SYN_SETUP_SECTS;
	put_le32(b + 0x1f4, SYN_PM / 16);
	put_le16(b + 0x1fe, 0xAA55);
	b[0x200] = 0xeb;
	b[0x201] = 0x6a;
	memcpy(b + 0x202, "HdrS", 4);
	put_le16(b + 0x206, 0x020f);
	b[0x211] = 0x01;
	put_le32(b + 0x22c, 0x7fffffff);
	put_le32(b + 0x230, 0x200000);
	b[0x234] = 1;
	put_le16(b + 0x236, 0x7f);
	put_le32(b + 0x238, 255);
	put_le64(b + 0x258, 0x1000000);
	put_le32(b + 0x260, 0x400000);
	for (int i = 0; i < SYN_PM; i++)
		b[SYN_SETUP + i] = (uint8_t)(i * 7 + 1);
	*len = SYN_SETUP + SYN_PM;
	return b;
}

struct elf_opt {
	int cls, machine, type;
	uint64_t paddr, memsz, filesz, offset, entry;
	bool pvh_note;
	uint64_t pvh_entry;
	uint64_t paddr2;   /* nonzero: a second PT_LOAD of 0x100 bytes there */
};

static struct elf_opt elf_default(void)
{
	return (struct elf_opt){ ELFCLASS64, EM_X86_64, ET_EXEC, 0x100000, 0x3000, 0x200, 0x1000,
				 0x100010, false, 0, 0 };
}

#define ELF_FILE 0x2000
/* ELF64 with one PT_LOAD (content at o->offset) and optionally a PT_NOTE with the PVH entry. */
static uint8_t *make_elf(const struct elf_opt *o, size_t *len)
{
	uint8_t *b = calloc(1, ELF_FILE);
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph[3] = { { 0 } };
	uint32_t note[3] = { 4, 4, 18 };

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = (uint8_t)o->cls;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = (uint16_t)o->type;
	eh.e_machine = (uint16_t)o->machine;
	eh.e_version = EV_CURRENT;
	eh.e_entry = o->entry;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 1 + o->pvh_note + (o->paddr2 != 0);
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = o->offset,
			      .p_vaddr = o->paddr, .p_paddr = o->paddr, .p_filesz = o->filesz,
			      .p_memsz = o->memsz, .p_align = 0x1000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 40, .p_align = 4 };
	ph[o->pvh_note ? 2 : 1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1800,
			      .p_paddr = o->paddr2, .p_filesz = 0x100, .p_memsz = 0x100 };
	memcpy(b, &eh, sizeof(eh));
	memcpy(b + sizeof(eh), ph, sizeof(ph));
	/* a foreign note first, then the Xen PHYS32 entry note */
	memcpy(b + 0x800, (uint32_t[3]){ 4, 4, 1 }, 12);
	memcpy(b + 0x80c, "GNU\0\1\0\0\0", 8);
	memcpy(b + 0x814, note, 12);
	memcpy(b + 0x820, "Xen\0", 4);
	put_le32(b + 0x824, (uint32_t)o->pvh_entry);
	for (int i = 0x1000; i < ELF_FILE; i++)
		b[i] = (uint8_t)(i * 13 + 5);
	*len = ELF_FILE;
	return b;
}

static int load(const struct guest_mem *m, const uint8_t *k, size_t klen, const uint8_t *rd,
		size_t rdlen, const char *cmdline, struct boot_entry *out, char *err)
{
	struct boot_input in = { .kernel = k, .kernel_len = klen, .initrd = rd, .initrd_len = rdlen,
				 .cmdline = cmdline, .rsdp = 0xE0000 };
	err[0] = 0;
	return boot_load(m, &in, out, err, 256);
}

/* Expect a clean failure with a message; print it so the wording can be reviewed. */
static void expect_fail(const struct guest_mem *m, const uint8_t *k, size_t klen, const uint8_t *rd,
			size_t rdlen, const char *cmdline, const char *want, const char *what)
{
	struct boot_entry out;
	char err[256];
	int r = load(m, k, klen, rd, rdlen, cmdline, &out, err);

	CHECK(r == -1);
	CHECK(err[0] != 0);
	CHECK(strchr(err, '\n') == NULL);
	if (want && !strstr(err, want)) {
		printf("  %s: message \"%s\" lacks \"%s\"\n", what, err, want);
		unit_fail_count++;
	}
	if (getenv("VERBOSE"))
		printf("  %-24s -> %s\n", what, err);
}

/* expect_fail with a whole boot_input (modules, initrd name). */
static void expect_fail_in(const struct guest_mem *m, const struct boot_input *in, const char *want,
			   const char *what)
{
	struct boot_entry out;
	char err[256] = "";
	int r = boot_load(m, in, &out, err, sizeof(err));

	CHECK(r == -1);
	CHECK(err[0] != 0 && strchr(err, '\n') == NULL);
	if (want && !strstr(err, want)) {
		printf("  %s: message \"%s\" lacks \"%s\"\n", what, err, want);
		unit_fail_count++;
	}
	if (getenv("VERBOSE"))
		printf("  %-24s -> %s\n", what, err);
}

static void check_e820(const struct guest_mem *m, int n, gpa_t table, unsigned stride)
{
	struct { uint64_t a, s; uint32_t t; } want[5] = {
		{ 0, EBDA_START, 1 }, { EBDA_START, MiB - EBDA_START, 2 },
		{ MiB, m->low_size - MiB, 1 }, { PCI_ECAM_START, PCI_ECAM_SIZE, 2 },
		{ HIGH_RAM_START, m->high_size, 1 },
	};
	int nwant = m->high_size ? 5 : 4;

	CHECK(n == nwant);
	for (int i = 0; i < n && i < nwant; i++) {
		CHECK(g64(m, table + i * stride) == want[i].a);
		CHECK(g64(m, table + i * stride + 8) == want[i].s);
		CHECK(g32(m, table + i * stride + 16) == want[i].t);
	}
}

static void check_zero_page_common(const struct guest_mem *m, const char *cmdline, uint64_t rd,
				   size_t rdlen)
{
	const gpa_t zp = BOOT_ZERO_PAGE;
	char buf[64] = { 0 };

	CHECK(g16(m, zp + 0x1fe) == 0xAA55);
	CHECK(g32(m, zp + 0x202) == 0x53726448);   /* "HdrS" */
	CHECK(g16(m, zp + 0x206) >= 0x020c);
	CHECK(g8(m, zp + 0x210) == 0xff);
	CHECK((g8(m, zp + 0x211) & 0x81) == 0x81);
	CHECK(g16(m, zp + 0x224) == 0xfe00);
	CHECK(g32(m, zp + 0x228) == BOOT_CMDLINE_ADDR);
	CHECK(g32(m, zp + 0x0c8) == 0);
	CHECK(g32(m, zp + 0x218) == rd);
	CHECK(g32(m, zp + 0x21c) == rdlen);
	CHECK(g64(m, zp + 0x070) == 0xE0000);
	CHECK(g8(m, zp + 0x1ef) == 0);   /* sentinel */
	CHECK(gm_read(m, buf, BOOT_CMDLINE_ADDR, strlen(cmdline) + 1) == 0);
	CHECK(strcmp(buf, cmdline) == 0);
	check_e820(m, g8(m, zp + 0x1e8), zp + 0x2d0, 20);
}

static void check_initrd(const struct guest_mem *m, uint64_t rd, const uint8_t *data, size_t len,
			 uint64_t lo, uint64_t hi)
{
	const uint8_t *p = gm_ptr(m, rd, len);

	CHECK(rd % 4096 == 0);
	CHECK(rd >= lo);
	CHECK(rd + len <= hi);
	CHECK(hi - (rd + len) < 4096);   /* as high as possible */
	CHECK(p && memcmp(p, data, len) == 0);
}

static uint8_t *make_initrd(size_t len)
{
	uint8_t *b = malloc(len);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 31 + 3);
	return b;
}

/* ---- tests ---- */
static void test_cpu_tables(void)
{
	struct guest_mem m = mem_new(64 * MiB);
	struct elf_opt o = elf_default();
	struct boot_entry out;
	char err[256];
	size_t len;
	uint8_t *k = make_elf(&o, &len);

	CHECK(load(&m, k, len, NULL, 0, "", &out, err) == 0);
	CHECK(out.cr3 == BOOT_PML4_ADDR && out.gdt == BOOT_GDT_ADDR);
	CHECK(g64(&m, 0x1000) == 0x2003);
	CHECK(g64(&m, 0x1008) == 0);
	for (int i = 0; i < 4; i++)
		CHECK(g64(&m, 0x2000 + 8 * i) == 0x3003 + 0x1000ull * i);
	CHECK(g64(&m, 0x2020) == 0);
	for (uint64_t a = 0; a < 4 * GiB; a += 2 * MiB) {
		uint64_t e = g64(&m, 0x3000 + (a >> 21) * 8);
		if (e != (a | 0x83)) {
			CHECK(e == (a | 0x83));
			break;
		}
	}
	CHECK(g64(&m, 0x500) == 0);
	CHECK(g64(&m, 0x508) == 0x00cf9b000000ffffull);   /* 0x08 code32 */
	CHECK(g64(&m, 0x510) == 0x00af9b000000ffffull);   /* 0x10 code64: L=1, D=0 */
	CHECK(g64(&m, 0x518) == 0x00cf93000000ffffull);   /* 0x18 data */
	CHECK(g64(&m, 0x500 + BOOT_TSS_SEL) == 0x00008b0000000067ull);   /* 0x20 TSS */
	free(k);
	mem_free(&m);
}

static void test_bzimage_synthetic(void)
{
	struct guest_mem m = mem_new(128 * MiB);
	struct boot_entry out;
	char err[256];
	size_t len, rdlen = 3 * MiB + 123;
	uint8_t *k = make_bzimage(&len), *rd = make_initrd(rdlen);
	const char *cl = "console=ttyS0 panic=-1";

	CHECK(load(&m, k, len, rd, rdlen, cl, &out, err) == 0);
	CHECK(!out.pvh && out.rip == 0x100200 && out.rsi == BOOT_ZERO_PAGE && out.rbx == 0);
	CHECK(memcmp(gm_ptr(&m, 0x100000, SYN_PM), k + SYN_SETUP, SYN_PM) == 0);
	check_zero_page_common(&m, cl, g32(&m, BOOT_ZERO_PAGE + 0x218), rdlen);
	CHECK(g32(&m, BOOT_ZERO_PAGE + 0x260) == 0x400000);   /* header copied */
	CHECK(g8(&m, BOOT_ZERO_PAGE + 0x1f1) == SYN_SETUP_SECTS);
	check_initrd(&m, g32(&m, BOOT_ZERO_PAGE + 0x218), rd, rdlen, 0x1400000, 128 * MiB);
	free(k);
	free(rd);
	mem_free(&m);
}

static void test_bzimage_debian(void)
{
	struct guest_mem m = mem_new(256 * MiB);
	struct boot_entry out;
	char err[256];
	size_t len, rdlen = 5 * MiB;
	uint8_t *k = load_debian(&len), *rd;
	const char *cl = "console=ttyS0 quiet";

	if (!k) {
		skip_why = "no /boot/vmlinuz-*-cloud-amd64";
		mem_free(&m);
		return;
	}
	rd = make_initrd(rdlen);
	uint64_t setup = (k[0x1f1] + 1ull) * 512;
	uint64_t kend = get_le64(k + 0x258) + get_le32(k + 0x260);
	CHECK(load(&m, k, len, rd, rdlen, cl, &out, err) == 0);
	if (err[0])
		printf("  %s\n", err);
	CHECK(!out.pvh && out.rip == 0x100200 && out.rsi == BOOT_ZERO_PAGE);
	CHECK(out.cr3 == BOOT_PML4_ADDR && out.gdt == BOOT_GDT_ADDR);
	CHECK(memcmp(gm_ptr(&m, 0x100000, len - setup), k + setup, len - setup) == 0);
	check_zero_page_common(&m, cl, g32(&m, BOOT_ZERO_PAGE + 0x218), rdlen);
	CHECK(memcmp(gm_ptr(&m, BOOT_ZERO_PAGE + 0x1f1, 0x60), k + 0x1f1, 0x1f) == 0);
	CHECK(g16(&m, BOOT_ZERO_PAGE + 0x206) == get_le16(k + 0x206));
	CHECK(g32(&m, BOOT_ZERO_PAGE + 0x260) == get_le32(k + 0x260));
	check_initrd(&m, g32(&m, BOOT_ZERO_PAGE + 0x218), rd, rdlen, kend, 256 * MiB);

	/* cut points: every truncation fails cleanly; the exact declared size still loads */
	size_t cuts[] = { 1, 0x100, 0x1f5, 0x203, 0x210, 0x263, 0x300, setup - 1, setup, setup + 1,
			  setup + 4096, len / 2, setup + get_le32(k + 0x1f4) * 16ull - 1 };
	for (size_t i = 0; i < ARRAY_SIZE(cuts); i++)
		expect_fail(&m, k, cuts[i], NULL, 0, "", NULL, "truncated bzImage");
	CHECK(load(&m, k, setup + get_le32(k + 0x1f4) * 16ull, NULL, 0, "", &out, err) == 0);

	/* tiny RAM: below pref_address + init_size */
	struct guest_mem small = mem_new(kend - 4096);
	expect_fail(&small, k, len, NULL, 0, "", "RAM too small", "RAM < pref+init_size");
	mem_free(&small);

	/* initrd that does not fit above init_size */
	size_t big = 256 * MiB - kend + 4096;
	uint8_t *bigrd = malloc(big);
	memset(bigrd, 0x5a, big);
	expect_fail(&m, k, len, bigrd, big, "", "initrd", "initrd too large");
	free(bigrd);

	/* command line: cmdline_size (2047) fits, one more does not */
	size_t cmax = get_le32(k + 0x238);
	char *longcl = malloc(cmax + 2);
	memset(longcl, 'a', cmax + 1);
	longcl[cmax + 1] = 0;
	expect_fail(&m, k, len, NULL, 0, longcl, "command line", "cmdline too long");
	longcl[cmax] = 0;
	CHECK(load(&m, k, len, NULL, 0, longcl, &out, err) == 0);
	free(longcl);
	free(rd);
	free(k);
	mem_free(&m);
}

static void test_bzimage_malformed(void)
{
	struct guest_mem m = mem_new(64 * MiB);
	size_t len;
	uint8_t *k = make_bzimage(&len), *c = malloc(len);
	uint8_t empty = 0;

	expect_fail(&m, &empty, 0, NULL, 0, "", "empty", "empty file");
	expect_fail(&m, NULL, 0, NULL, 0, "", "empty", "NULL kernel");
#define MUTATE(stmt, want, what) do { memcpy(c, k, len); stmt; \
		expect_fail(&m, c, len, NULL, 0, "", want, what); } while (0)
	MUTATE(put_le16(c + 0x1fe, 0x55AA), "boot_flag", "bad boot_flag");
	MUTATE(memcpy(c + 0x202, "HdrX", 4), "bzImage", "bad HdrS");
	MUTATE(put_le16(c + 0x206, 0x020b), "2.11", "protocol 2.11");
	MUTATE(put_le16(c + 0x206, 0x0100), "too old", "protocol 1.0");
	MUTATE(put_le16(c + 0x236, 0x7e), "XLF_KERNEL_64", "no 64-bit entry");
	MUTATE(put_le32(c + 0x1f4, 0xffffffff), "truncated", "huge syssize");
	MUTATE(c[0x1f1] = 0xff, "truncated", "huge setup_sects");
	MUTATE(c[0x201] = 0x10, "header", "short header");
	MUTATE(put_le64(c + 0x258, 0xfffffffffffff000ull), "RAM too small", "pref_address overflow");
	MUTATE(put_le32(c + 0x260, 0xffffffff), "RAM too small", "huge init_size");
	memcpy(c, k, len);
	put_le32(c + 0x22c, 0x1fffff);   /* initrd must go below 2 MiB: inside the kernel area */
	uint8_t rd[8192] = { 1 };
	expect_fail(&m, c, len, rd, sizeof(rd), "", "initrd", "initrd_addr_max too low");
	struct guest_mem tiny = mem_new(512 * 1024);
	expect_fail(&tiny, k, len, NULL, 0, "", "RAM", "512 KiB RAM");
	mem_free(&tiny);
	struct boot_entry out;
	char err[256];
	memcpy(c, k, len);
	put_le32(c + 0x22c, 0);
	CHECK(load(&m, c, len, NULL, 0, "", &out, err) == 0);
	free(c);
	free(k);
	mem_free(&m);
}

static void test_elf_64bit(void)
{
	struct guest_mem m = mem_new(64 * MiB);
	struct elf_opt o = elf_default();
	struct boot_entry out;
	char err[256];
	size_t len, rdlen = 100000;
	uint8_t *k = make_elf(&o, &len), *rd = make_initrd(rdlen);
	const char *cl = "root=/dev/vda";

	memset(m.host + o.paddr, 0xaa, o.memsz);
	CHECK(load(&m, k, len, rd, rdlen, cl, &out, err) == 0);
	CHECK(!out.pvh && out.rip == 0x100010 && out.rsi == BOOT_ZERO_PAGE && out.rbx == 0);
	CHECK(memcmp(gm_ptr(&m, o.paddr, o.filesz), k + o.offset, o.filesz) == 0);
	uint8_t *bss = gm_ptr(&m, o.paddr + o.filesz, o.memsz - o.filesz);
	bool zero = true;
	for (uint64_t i = 0; bss && i < o.memsz - o.filesz; i++)
		zero &= bss[i] == 0;
	CHECK(bss && zero);
	check_zero_page_common(&m, cl, g32(&m, BOOT_ZERO_PAGE + 0x218), rdlen);
	CHECK(g16(&m, BOOT_ZERO_PAGE + 0x236) & 1);
	check_initrd(&m, g32(&m, BOOT_ZERO_PAGE + 0x218), rd, rdlen, o.paddr + o.memsz, 64 * MiB);
	free(rd);
	free(k);
	mem_free(&m);
}

static void check_start_info(const struct guest_mem *m, const char *cl, uint64_t rdlen,
			     const uint8_t *rd, uint64_t kend)
{
	const gpa_t si = BOOT_START_INFO;
	char buf[64] = { 0 };

	CHECK(g32(m, si) == 0x336ec578);
	CHECK(g32(m, si + 4) == 1);
	CHECK(g64(m, si + 0x18) == BOOT_CMDLINE_ADDR);
	CHECK(g64(m, si + 0x20) == 0xE0000);
	CHECK(gm_read(m, buf, BOOT_CMDLINE_ADDR, strlen(cl) + 1) == 0 && strcmp(buf, cl) == 0);
	if (rd) {
		gpa_t ml = g64(m, si + 0x10);
		CHECK(g32(m, si + 0x0c) == 1);
		CHECK(ml > si && ml < si + 0x1000);
		CHECK(g64(m, ml + 8) == rdlen);
		CHECK(g64(m, ml + 16) == 0);
		check_initrd(m, g64(m, ml), rd, rdlen, kend, m->low_size);
	} else {
		CHECK(g32(m, si + 0x0c) == 0);
	}
	gpa_t mm = g64(m, si + 0x28);
	CHECK(mm > si && mm < si + 0x1000);
	check_e820(m, g32(m, si + 0x30), mm, 24);
}

static void test_elf_pvh_synthetic(void)
{
	struct guest_mem m = mem_new(32 * MiB);
	struct elf_opt o = elf_default();
	struct boot_entry out;
	char err[256];
	size_t len, rdlen = 4096 * 3;
	uint8_t *k, *rd = make_initrd(rdlen);

	o.pvh_note = true;
	o.pvh_entry = 0x100040;
	k = make_elf(&o, &len);
	CHECK(load(&m, k, len, rd, rdlen, "pvh", &out, err) == 0);
	CHECK(out.pvh && out.rip == 0x100040 && out.rbx == BOOT_START_INFO);
	CHECK(out.cr3 == BOOT_PML4_ADDR && out.gdt == BOOT_GDT_ADDR);
	check_start_info(&m, "pvh", rdlen, rd, o.paddr + o.memsz);
	CHECK(load(&m, k, len, NULL, 0, "", &out, err) == 0);
	check_start_info(&m, "", 0, NULL, 0);
	free(k);
	o.pvh_entry = 0x90000;   /* in RAM but in no segment */
	k = make_elf(&o, &len);
	expect_fail(&m, k, len, NULL, 0, "", "loaded segment", "PVH entry outside segments");
	free(k);
	o.pvh_entry = o.paddr + o.memsz - 1;   /* last byte of the segment (its bss) */
	k = make_elf(&o, &len);
	CHECK(load(&m, k, len, NULL, 0, "", &out, err) == 0);
	free(k);
	o.pvh_entry = 0x40000000;   /* outside RAM */
	k = make_elf(&o, &len);
	expect_fail(&m, k, len, NULL, 0, "", "PVH entry", "PVH entry outside RAM");
	/* malformed notes */
	put_le32(k + 0x814, 0xfffffff0);
	expect_fail(&m, k, len, NULL, 0, "", "note", "note namesz huge");
	put_le32(k + 0x814, 4);
	put_le32(k + 0x818, 5);
	expect_fail(&m, k, len, NULL, 0, "", "note", "note descsz 5 past end");
	put_le32(k + 0x818, 4);
	Elf64_Phdr ph;
	memcpy(&ph, k + 64 + 56, sizeof(ph));
	ph.p_filesz = ~0ull;
	memcpy(k + 64 + 56, &ph, sizeof(ph));
	expect_fail(&m, k, len, NULL, 0, "", "note", "note segment beyond file");
	free(k);
	free(rd);
	mem_free(&m);
}

static bool have_cmd(const char *cmd)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "command -v %s >/dev/null 2>&1", cmd);
	return system(buf) == 0;
}

/* Cut the LZ4 payload out of the bzImage and decompress it into build/unit/vmlinux. */
static uint8_t *extract_vmlinux(const uint8_t *k, size_t klen, size_t *len)
{
	uint64_t setup = (k[0x1f1] + 1ull) * 512, off = setup + get_le32(k + 0x248), plen = get_le32(k + 0x24c);
	char dir[200], lz[256], out[256], cmd[600];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	FILE *f;

	/* next to this test binary (build/unit/), whatever the working directory */
	if (n <= 0)
		return NULL;
	dir[n] = 0;
	*strrchr(dir, '/') = 0;
	snprintf(lz, sizeof(lz), "%s/vmlinux.lz4", dir);
	snprintf(out, sizeof(out), "%s/vmlinux", dir);
	if (off > klen || plen > klen - off || get_le32(k + 0x248 + 0) == 0)
		return NULL;
	if (memcmp(k + off, "\x02\x21\x4c\x18", 4) != 0)   /* legacy LZ4 frame */
		return NULL;
	f = fopen(lz, "wb");
	if (!f)
		return NULL;
	fwrite(k + off, 1, plen, f);
	fclose(f);
	/* lz4 exits 1 on the size word the kernel appends after the frame; the output is whole */
	snprintf(cmd, sizeof(cmd), "lz4 -dc %s > %s 2>/dev/null", lz, out);
	if (system(cmd) < 0)
		return NULL;
	remove(lz);
	return read_file(out, len);
}

/* Independent of the loader: find the Xen PHYS32_ENTRY note by its header bytes. */
static uint64_t find_pvh_note(const uint8_t *f, size_t len)
{
	static const uint8_t hdr4[] = { 4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0, 'X', 'e', 'n', 0 };
	static const uint8_t hdr8[] = { 4, 0, 0, 0, 8, 0, 0, 0, 18, 0, 0, 0, 'X', 'e', 'n', 0 };
	const uint8_t *p = memmem(f, len, hdr8, 16);
	if (p && p + 24 <= f + len)
		return get_le64(p + 16);
	p = memmem(f, len, hdr4, 16);
	return p && p + 20 <= f + len ? get_le32(p + 16) : 0;
}

static void test_vmlinux_pvh(void)
{
	struct guest_mem m = mem_new(256 * MiB);
	struct boot_entry out;
	char err[256];
	size_t klen, vlen, rdlen = 2 * MiB + 5;
	uint8_t *k = load_debian(&klen), *v = NULL, *rd = NULL;
	const char *cl = "console=hvc0 earlyprintk";

	if (!k) {
		skip_why = "no /boot/vmlinuz-*-cloud-amd64";
		goto out;
	}
	if (!have_cmd("lz4")) {
		skip_why = "lz4 not installed";
		goto out;
	}
	v = extract_vmlinux(k, klen, &vlen);
	if (!v || vlen < 64 || memcmp(v, "\177ELF", 4)) {
		CHECK(!"vmlinux extraction failed");
		goto out;
	}
	rd = make_initrd(rdlen);
	CHECK(load(&m, v, vlen, rd, rdlen, cl, &out, err) == 0);
	if (err[0])
		printf("  %s\n", err);
	uint64_t entry = find_pvh_note(v, vlen);
	CHECK(entry != 0);
	CHECK(out.pvh && out.rip == entry && out.rbx == BOOT_START_INFO);
	/* every PT_LOAD landed at its p_paddr; find the highest end */
	Elf64_Ehdr eh;
	uint64_t kend = 0;
	memcpy(&eh, v, sizeof(eh));
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, v + eh.e_phoff + i * eh.e_phentsize, sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		CHECK(memcmp(gm_ptr(&m, ph.p_paddr, ph.p_filesz), v + ph.p_offset, ph.p_filesz) == 0);
		if (ph.p_paddr + ph.p_memsz > kend)
			kend = ph.p_paddr + ph.p_memsz;
	}
	check_start_info(&m, cl, rdlen, rd, kend);
	/* too little RAM for the segments */
	struct guest_mem small = mem_new(32 * MiB);
	expect_fail(&small, v, vlen, NULL, 0, "", "outside guest RAM", "vmlinux in 32 MiB");
	mem_free(&small);
out:
	free(rd);
	free(v);
	free(k);
	mem_free(&m);
}

static void test_elf_malformed(void)
{
	struct guest_mem m = mem_new(16 * MiB);
	struct elf_opt o;
	size_t len;
	uint8_t *k;
#define ELF_CASE(stmt, want, what) do { o = elf_default(); stmt; k = make_elf(&o, &len); \
		expect_fail(&m, k, len, NULL, 0, "", want, what); free(k); } while (0)
	ELF_CASE(o.cls = ELFCLASS32, "machine", "ELF32 with 64-bit headers");
	ELF_CASE(o.cls = 3, "class", "ELF class 3");
	ELF_CASE(o.machine = EM_386, "machine", "EM_386");
	ELF_CASE(o.machine = EM_AARCH64, "machine", "EM_AARCH64");
	ELF_CASE(o.type = ET_DYN, "type", "ET_DYN");
	ELF_CASE(o.type = ET_REL, "type", "ET_REL");
	ELF_CASE(o.paddr = 16 * MiB - 0x1000, "outside guest RAM", "segment beyond RAM");
	ELF_CASE(o.paddr = 0xC0000000, "outside guest RAM", "segment in MMIO hole");
	ELF_CASE(o.paddr = 8 * GiB, "outside guest RAM", "segment in absent high RAM");
	ELF_CASE(o.offset = ELF_FILE - 0x100, "beyond end of file", "offset+filesz > file");
	ELF_CASE(o.offset = ~0ull - 0x10, "beyond end of file", "offset overflow");
	ELF_CASE((o.paddr = 0xfffffffffffff000ull, o.memsz = 0x2000), "overflows", "paddr+memsz overflow");
	ELF_CASE(o.filesz = o.memsz + 1, "p_filesz", "filesz > memsz");
	ELF_CASE(o.paddr = 0x8000, "below 1 MiB", "segment on boot area");
	ELF_CASE(o.entry = 0xC0000000, "entry point", "entry in MMIO hole");
	ELF_CASE(o.entry = 0x200000, "entry point", "entry after segment");
	ELF_CASE(o.entry = 0, "entry point", "entry 0");
	ELF_CASE(o.memsz = o.filesz = 0, "no loadable", "no PT_LOAD");

	/* header-level damage */
	o = elf_default();
	k = make_elf(&o, &len);
	uint8_t *c = malloc(len);
#define RAW(stmt, want, what) do { memcpy(c, k, len); stmt; \
		expect_fail(&m, c, len, NULL, 0, "", want, what); } while (0)
	RAW(c[EI_DATA] = ELFDATA2MSB, "little-endian", "big-endian");
	RAW(put_le64(c + 32, len - 10), "program headers", "phoff near end");
	RAW(put_le64(c + 32, ~0ull), "program headers", "phoff huge");
	RAW(put_le16(c + 54, 10), "program header", "phentsize small");
	RAW(put_le16(c + 56, 0xffff), "program header", "phnum PN_XNUM");
	RAW(put_le16(c + 56, 0), "program header", "phnum 0");
	for (size_t cut = 1; cut < 0x100; cut += 7)
		expect_fail(&m, k, cut, NULL, 0, "", NULL, "truncated ELF");

	/* initrd too large, command line too long, tiny RAM */
	size_t rdlen = 16 * MiB - o.paddr - o.memsz + 1;
	uint8_t *rd = calloc(1, rdlen);
	expect_fail(&m, k, len, rd, rdlen, "", "initrd", "initrd too large");
	struct boot_entry out;
	char err[256];
	rdlen -= 1;
	CHECK(load(&m, k, len, rd, rdlen, "", &out, err) == 0);   /* exactly fits */
	char *cl = malloc(BOOT_CMDLINE_MAX + 1);
	memset(cl, 'x', BOOT_CMDLINE_MAX);
	cl[BOOT_CMDLINE_MAX] = 0;
	expect_fail(&m, k, len, NULL, 0, cl, "command line", "cmdline 64 KiB");
	cl[BOOT_CMDLINE_MAX - 1] = 0;
	CHECK(load(&m, k, len, NULL, 0, cl, &out, err) == 0);
	struct guest_mem tiny = mem_new(1 * MiB);
	expect_fail(&tiny, k, len, NULL, 0, "", "outside guest RAM", "1 MiB RAM");
	mem_free(&tiny);
	free(cl);
	free(rd);
	free(c);
	free(k);
	mem_free(&m);
}

/* ---- ELF32 PVH and multiboot ---- */
#define MB_MAGIC 0x1BADB002u

/* Multiboot header at b + off: magic, flags, checksum (+ a.out fields if given). */
static void put_mb(uint8_t *b, size_t off, uint32_t flags, const uint32_t aout[5])
{
	put_le32(b + off, MB_MAGIC);
	put_le32(b + off + 4, flags);
	put_le32(b + off + 8, -(MB_MAGIC + flags));
	for (int i = 0; aout && i < 5; i++)
		put_le32(b + off + 12 + 4 * i, aout[i]);
}

struct elf32_opt {
	uint32_t paddr, memsz, filesz, offset, entry;
	bool pvh_note;
	uint32_t pvh_entry;
	bool mb;           /* multiboot header (flags 3) at the start of the segment's file bytes */
};

static struct elf32_opt elf32_default(void)
{
	return (struct elf32_opt){ 0x100000, 0x3000, 0x200, 0x1000, 0x100010, true, 0x100020, false };
}

/* ELF32 (EM_386) with one PT_LOAD (content at o->offset) and optionally a PT_NOTE with the PVH entry. */
static uint8_t *make_elf32(const struct elf32_opt *o, size_t *len)
{
	uint8_t *b = calloc(1, ELF_FILE);
	Elf32_Ehdr eh = { 0 };
	Elf32_Phdr ph[2] = { { 0 } };

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_386;
	eh.e_version = EV_CURRENT;
	eh.e_entry = o->entry;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf32_Phdr);
	eh.e_phnum = 1 + o->pvh_note;
	ph[0] = (Elf32_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = o->offset,
			      .p_vaddr = o->paddr, .p_paddr = o->paddr, .p_filesz = o->filesz,
			      .p_memsz = o->memsz, .p_align = 0x1000 };
	ph[1] = (Elf32_Phdr){ .p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 20, .p_align = 4 };
	memcpy(b, &eh, sizeof(eh));
	memcpy(b + sizeof(eh), ph, sizeof(ph));
	memcpy(b + 0x800, (uint32_t[3]){ 4, 4, 18 }, 12);
	memcpy(b + 0x80c, "Xen\0", 4);
	put_le32(b + 0x810, o->pvh_entry);
	for (int i = 0x1000; i < ELF_FILE; i++)
		b[i] = (uint8_t)(i * 13 + 5);
	if (o->mb)
		put_mb(b, 0x1000, 3, NULL);
	*len = ELF_FILE;
	return b;
}

static void test_elf32_pvh(void)
{
	struct guest_mem m = mem_new(32 * MiB);
	struct elf32_opt o = elf32_default();
	struct boot_entry out;
	char err[256];
	size_t len, rdlen = 5000;
	uint8_t *k = make_elf32(&o, &len), *rd = make_initrd(rdlen), *c = malloc(len);

	memset(m.host + o.paddr, 0xaa, o.memsz);
	CHECK(load(&m, k, len, rd, rdlen, "pvh32", &out, err) == 0);
	CHECK(out.pvh && out.rip == 0x100020 && out.rbx == BOOT_START_INFO && out.rax == 0);
	CHECK(memcmp(gm_ptr(&m, o.paddr, o.filesz), k + o.offset, o.filesz) == 0);
	CHECK(g64(&m, o.paddr + o.memsz - 8) == 0);
	check_start_info(&m, "pvh32", rdlen, rd, o.paddr + o.memsz);
	/* hostile ELF32 inputs: every one a clean one-line failure */
	for (size_t cut = 1; cut < 0x100; cut += 5)
		expect_fail(&m, k, cut, NULL, 0, "", NULL, "truncated ELF32");
#define RAW32(stmt, want, what) do { memcpy(c, k, len); stmt; \
		expect_fail(&m, c, len, NULL, 0, "", want, what); } while (0)
	/* Elf32_Ehdr: e_machine 18, e_entry 24, e_phoff 28, e_phentsize 42, e_phnum 44; Elf32_Phdr at 52:
	 * p_offset +4, p_paddr +12, p_filesz +16, p_memsz +20 */
	RAW32(put_le16(c + 18, EM_X86_64), "machine", "ELF32 EM_X86_64");
	RAW32(put_le32(c + 28, len - 10), "program headers", "ELF32 phoff near end");
	RAW32(put_le32(c + 28, 0xffffffff), "program headers", "ELF32 phoff huge");
	RAW32(put_le16(c + 42, 16), "program header", "ELF32 phentsize small");
	RAW32(put_le16(c + 44, 0x7fff), "program headers", "ELF32 phnum huge");
	RAW32(put_le32(c + 52 + 12, 0xC0000000), "outside guest RAM", "ELF32 segment in MMIO hole");
	RAW32(put_le32(c + 52 + 12, 0x1FFF000), "outside guest RAM", "ELF32 segment past RAM");
	RAW32((put_le32(c + 52 + 12, 0xfffff000), put_le32(c + 52 + 20, 0x2000)), "outside guest RAM", "ELF32 segment wraps 4 GiB");
	RAW32(put_le32(c + 52 + 20, 0xffffffff), "outside guest RAM", "ELF32 memsz huge");
	RAW32(put_le32(c + 52 + 4, 0xfffffff0), "beyond end of file", "ELF32 offset wraps");
	RAW32(put_le32(c + 52 + 16, 0x1001), "beyond end of file", "ELF32 filesz past file");
	RAW32((put_le32(c + 52 + 16, 0x4000), put_le32(c + 52 + 20, 0x100)), "p_filesz", "ELF32 filesz > memsz");
	RAW32(put_le32(c + 52 + 12, 0x80000), "below 1 MiB", "ELF32 segment on boot area");
	RAW32(put_le32(c + 0x810, 0x800000), "PVH entry", "ELF32 PVH entry outside");
	RAW32(put_le32(c + 0x804, 2), "size", "ELF32 PVH note descsz 2");
	RAW32(put_le32(c + 0x800, 0xfffffff0), "note", "ELF32 note namesz huge");
	free(k);
	o.pvh_note = false;
	k = make_elf32(&o, &len);
	expect_fail(&m, k, len, NULL, 0, "", "PVH entry note", "ELF32 without PVH note");
	put_mb(k, 0x1000, 3, NULL);
	put_le32(k + 0x1008, 0);   /* bad checksum */
	expect_fail(&m, k, len, NULL, 0, "", "bad checksum", "ELF32 multiboot bad checksum");
	free(c);
	free(k);
	free(rd);
	mem_free(&m);
}

/* The multiboot info at out->rbx: flags, memory, command line, loader name, mmap = e820. */
static void check_mbi(const struct guest_mem *m, const struct boot_entry *out, const char *cl, uint32_t nmods)
{
	gpa_t mbi = out->rbx;
	char buf[64] = { 0 };

	CHECK(out->pvh && out->rax == 0x2BADB002 && mbi == BOOT_START_INFO);
	CHECK((g32(m, mbi) & 0x24d) == 0x24d);
	CHECK(g32(m, mbi + 4) == 639);
	CHECK(g32(m, mbi + 8) == (m->low_size - MiB) >> 10);
	CHECK(gm_read(m, buf, g32(m, mbi + 16), strlen(cl) + 1) == 0 && strcmp(buf, cl) == 0);
	CHECK(gm_read(m, buf, g32(m, mbi + 64), 4) == 0 && strcmp(buf, "vmm") == 0);
	CHECK(g32(m, mbi + 20) == nmods);
	gpa_t mm = g32(m, mbi + 48);
	uint32_t mlen = g32(m, mbi + 44);
	CHECK(mlen % 24 == 0);
	for (uint32_t i = 0; i < mlen / 24; i++)
		CHECK(g32(m, mm + 24 * i) == 20);
	check_e820(m, mlen / 24, mm + 4, 24);
}

/* Module i: page-aligned at or above lo, its bytes and string. */
static gpa_t check_mod(const struct guest_mem *m, gpa_t mbi, uint32_t i, const uint8_t *data, size_t len,
		       const char *str, gpa_t lo)
{
	gpa_t e = g32(m, mbi + 24) + 16 * i, start = g32(m, e);
	char buf[64] = { 0 };

	CHECK(start % 4096 == 0 && start >= lo);
	CHECK(g32(m, e + 4) == start + len);
	CHECK(len == 0 || memcmp(gm_ptr(m, start, len), data, len) == 0);
	CHECK(gm_read(m, buf, g32(m, e + 8), strlen(str) + 1) == 0 && strcmp(buf, str) == 0);
	return start + len;
}

static void test_multiboot_elf(void)
{
	struct guest_mem m = mem_new(32 * MiB);
	struct elf32_opt o = elf32_default();
	struct boot_entry out;
	char err[256];
	size_t len, rdlen = 5000;
	uint8_t *k, *rd = make_initrd(rdlen), *big = calloc(1, 32 * MiB);
	struct boot_module mods[8] = { { rd, 3, "m1 arg" }, { rd + 7, 4096, NULL } };
	struct boot_input in = { .cmdline = "mb cmd", .rsdp = 0xE0000, .initrd = rd, .initrd_len = rdlen,
				 .initrd_name = "rd.img", .mods = mods, .nmods = 2 };

	o.pvh_note = false;
	o.mb = true;
	k = make_elf32(&o, &len);
	in.kernel = k, in.kernel_len = len;
	CHECK(boot_load(&m, &in, &out, err, sizeof(err)) == 0);
	CHECK(out.rip == o.entry);
	check_mbi(&m, &out, "mb cmd", 3);
	gpa_t end = check_mod(&m, out.rbx, 0, rd, rdlen, "rd.img", o.paddr + o.memsz);
	end = check_mod(&m, out.rbx, 1, rd, 3, "m1 arg", end);
	check_mod(&m, out.rbx, 2, rd + 7, 4096, "", end);
	CHECK(memcmp(gm_ptr(&m, o.paddr, o.filesz), k + o.offset, o.filesz) == 0);
	/* at most 8 modules with the initrd; a module that does not fit names itself */
	in.nmods = 8;
	for (int i = 2; i < 8; i++)
		mods[i] = (struct boot_module){ rd, 1, "x" };
	expect_fail_in(&m, &in, "at most 8", "9 modules");
	in.nmods = 7;
	CHECK(boot_load(&m, &in, &out, err, sizeof(err)) == 0);
	check_mbi(&m, &out, "mb cmd", 8);
	mods[1] = (struct boot_module){ big, 31 * MiB, "big" };
	in.nmods = 2;
	expect_fail_in(&m, &in, "module 1: file of", "module too big");
	in.nmods = 0;
	in.initrd_len = 31 * MiB;
	in.initrd = big;
	expect_fail_in(&m, &in, "initrd of", "initrd too big for multiboot");
	in.initrd = NULL, in.initrd_len = 0;
	CHECK(boot_load(&m, &in, &out, err, sizeof(err)) == 0);
	check_mbi(&m, &out, "mb cmd", 0);
	/* header flags: video (bit 2) is ignored, an unknown required bit refuses */
	put_mb(k, 0x1000, 7, NULL);
	CHECK(boot_load(&m, &in, &out, err, sizeof(err)) == 0 && out.rax == 0x2BADB002);
	put_mb(k, 0x1000, 3 | 1u << 5, NULL);
	expect_fail_in(&m, &in, "require features", "unknown required flag");
	put_mb(k, 0x1000, 3 | 1u << 20, NULL);   /* optional bits 16-31 other than 16 are fine */
	CHECK(boot_load(&m, &in, &out, err, sizeof(err)) == 0);
	/* PVH wins over multiboot */
	free(k);
	o.pvh_note = true;
	k = make_elf32(&o, &len);
	in.kernel = k;
	CHECK(boot_load(&m, &in, &out, err, sizeof(err)) == 0 && out.rax == 0 && out.rip == o.pvh_entry);
	in.nmods = 1;
	expect_fail_in(&m, &in, "--module needs a multiboot kernel", "--module with PVH");
	free(k);
	/* a multiboot ELF entered with paging off: no segment above 4 GiB; entry inside a segment */
	o.pvh_note = false;
	o.entry = 0x200000;
	k = make_elf32(&o, &len);
	in.kernel = k, in.nmods = 0;
	expect_fail_in(&m, &in, "entry point", "multiboot ELF entry outside");
	free(k);
	/* a higher-half kernel: the entry is a virtual address, translated through its segment */
	o.entry = 0xC0100010;
	k = make_elf32(&o, &len);
	put_le32(k + 52 + 8, 0xC0100000);   /* p_vaddr */
	in.kernel = k;
	CHECK(boot_load(&m, &in, &out, err, sizeof(err)) == 0 && out.rip == 0x100010);
	free(k);
	o.entry = 0x100010;
	/* ELF64 with a multiboot header goes multiboot (64-bit entry is for ELF64 without one) */
	struct elf_opt o64 = elf_default();
	k = make_elf(&o64, &len);
	put_mb(k, 0x1000, 3, NULL);
	in.kernel = k;
	CHECK(boot_load(&m, &in, &out, err, sizeof(err)) == 0 && out.pvh && out.rax == 0x2BADB002);
	free(k);
	free(big);
	free(rd);
	mem_free(&m);
}

#define AOUT_FILE 0x3000
#define AOUT_HDR  0x40
/* A flat a.out-kludge image loaded at 1 MiB: header at 0x40, 8 KiB loaded, bss to 0x104000. */
static uint8_t *make_aout(size_t *len)
{
	uint8_t *b = malloc(AOUT_FILE);
	for (int i = 0; i < AOUT_FILE; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	put_mb(b, AOUT_HDR, 0x10003, (uint32_t[5]){ 0x100040, 0x100000, 0x102000, 0x104000, 0x100080 });
	*len = AOUT_FILE;
	return b;
}

static void test_multiboot_aout(void)
{
	struct guest_mem m = mem_new(16 * MiB);
	struct boot_entry out;
	char err[256];
	size_t len;
	uint8_t *k = make_aout(&len), *c = malloc(2 * AOUT_FILE + 8192);
	struct boot_module mod = { k, 100, "mod" };
	struct boot_input in = { .kernel = k, .kernel_len = len, .cmdline = "aout", .rsdp = 0xE0000,
				 .mods = &mod, .nmods = 1 };

	memset(m.host + MiB, 0xaa, 0x10000);
	CHECK(boot_load(&m, &in, &out, err, sizeof(err)) == 0);
	CHECK(out.rip == 0x100080);
	check_mbi(&m, &out, "aout", 1);
	CHECK(memcmp(gm_ptr(&m, MiB, 0x2000), k, 0x2000) == 0);
	CHECK(g64(&m, 0x102000) == 0 && g64(&m, 0x103ff8) == 0);
	check_mod(&m, out.rbx, 0, k, 100, "mod", 0x104000);
	/* load_end 0: the whole file; bss_end 0: no bss */
	memcpy(c, k, len);
	put_mb(c, AOUT_HDR, 0x10003, (uint32_t[5]){ 0x100040, 0x100000, 0, 0, 0x100080 });
	in.kernel = c;
	CHECK(boot_load(&m, &in, &out, err, sizeof(err)) == 0);
	CHECK(memcmp(gm_ptr(&m, MiB, len), c, len) == 0);
	check_mod(&m, out.rbx, 0, k, 100, "mod", MiB + len);
	in.nmods = 0;
#define AOUT(h, l, le, be, e, want, what) do { memcpy(c, k, len); \
		put_mb(c, AOUT_HDR, 0x10003, (uint32_t[5]){ h, l, le, be, e }); \
		expect_fail_in(&m, &in, want, what); } while (0)
	AOUT(0x100040, 0x100050, 0x102000, 0x104000, 0x100080, "load start", "load_addr above header_addr");
	AOUT(0x100040, 0x0fff00, 0x102000, 0x104000, 0x100080, "load start", "load start before the file");
	AOUT(0x100040, 0x100000, 0x100000, 0x104000, 0x100080, "not above", "load_end == load_addr");
	AOUT(0x100040, 0x100000, 0x0fffff, 0x104000, 0x100080, "not above", "load_end below load_addr");
	AOUT(0x100040, 0x100000, 0x103001, 0x104000, 0x100080, "beyond the end of the file", "load_end past file");
	AOUT(0x100040, 0x100000, 0xffffffff, 0, 0x100080, "beyond the end of the file", "load_end 4 GiB");
	AOUT(0x100040, 0x100000, 0x102000, 0x101000, 0x100080, "bss_end_addr", "bss_end below load_end");
	AOUT(0x100040, 0x100000, 0x102000, 0x2000000, 0x100080, "outside guest RAM", "bss past RAM");
	AOUT(0x100040, 0x100000, 0x102000, 0xffffffff, 0x100080, "outside guest RAM", "bss to 4 GiB");
	AOUT(0xC0000040, 0xC0000000, 0xC0002000, 0, 0xC0000080, "outside guest RAM", "load in the MMIO hole");
	AOUT(0x90040, 0x90000, 0x92000, 0, 0x90080, "below 1 MiB", "load on the boot area");
	AOUT(0x100040, 0x100000, 0x102000, 0x104000, 0x102000, "entry_addr", "entry in bss");
	AOUT(0x100040, 0x100000, 0x102000, 0x104000, 0x0ffff0, "entry_addr", "entry before load");
	/* header damage */
	memcpy(c, k, len);
	put_le32(c + AOUT_HDR + 8, 0);
	expect_fail_in(&m, &in, "bad checksum", "a.out bad checksum");
	memcpy(c, k, len);
	put_mb(c, AOUT_HDR, 3, NULL);   /* not ELF and no a.out addresses */
	expect_fail_in(&m, &in, "not ELF", "flat image without flag 16");
	in.kernel_len = AOUT_HDR + 20;   /* a.out fields cut off */
	memcpy(c, k, len);
	expect_fail_in(&m, &in, "a.out fields", "a.out fields past end of file");
	/* header past the first 8192 bytes: not found */
	memset(c, 0, 8192);
	memcpy(c + 8192, k, len);
	put_mb(c, 8192 + AOUT_HDR, 0x10003, (uint32_t[5]){ 0x100040, 0x100000, 0x102000, 0x104000, 0x100080 });
	in.kernel_len = 8192 + len;
	expect_fail_in(&m, &in, "multiboot header in the first 8192", "header past 8192");
	/* the header at 8180: magic found but the a.out fields cross 8192 */
	memset(c, 0, 8192 + len);
	put_mb(c, 8180, 0x10003, (uint32_t[5]){ 0x100040, 0x100000, 0x102000, 0x104000, 0x100080 });
	expect_fail_in(&m, &in, "8192", "a.out fields cross 8192");
	free(c);
	free(k);
	mem_free(&m);
}

/* Random damage to the synthetic images (bzImage, ELF64 PVH, multiboot ELF32 and a.out): every outcome is 0 or a clean -1, never a crash. */
static void test_mutations(void)
{
	struct guest_mem m = mem_new(32 * MiB);
	struct elf_opt o = elf_default();
	struct elf32_opt o32 = elf32_default();
	struct boot_entry out;
	char err[256];
	size_t len[4];
	uint8_t *img[4], *c;
	unsigned seed = 12345;
	const size_t span[4] = { 0x270, 0x900, 0x1010, 0x60 };   /* the headers of each image */

	o.pvh_note = true;
	o.pvh_entry = 0x100000;
	o32.pvh_note = false;
	o32.mb = true;
	img[0] = make_bzimage(&len[0]);
	img[1] = make_elf(&o, &len[1]);
	img[2] = make_elf32(&o32, &len[2]);   /* multiboot ELF32 */
	img[3] = make_aout(&len[3]);          /* multiboot a.out */
	c = malloc(0x4000);
	for (int it = 0; it < 8000; it++) {
		int which = it & 3;
		size_t n = len[which];
		memcpy(c, img[which], n);
		for (int j = 0; j < 4; j++) {
			seed = seed * 1103515245 + 12345;
			c[(seed >> 8) % span[which]] ^= (uint8_t)(1u << ((seed >> 4) & 7));
		}
		seed = seed * 1103515245 + 12345;
		if ((seed >> 16) % 4 == 0)
			n = (seed >> 3) % n;
		int r = load(&m, c, n, NULL, 0, "x", &out, err);
		CHECK(r == 0 || (r == -1 && err[0]));
		if (r == 0)
			CHECK(out.rip != 0);
	}
	free(c);
	for (int i = 0; i < 4; i++)
		free(img[i]);
	mem_free(&m);
}

/* 6 GiB: 3 GiB low, 3 GiB above 4 GiB; e820 and PVH memmap have the high entry. */
static void test_6gib(void)
{
	struct guest_mem m = mem_new(6 * GiB);
	struct elf_opt o = elf_default();
	struct boot_entry out;
	char err[256];
	size_t len, rdlen = 1 * MiB;
	uint8_t *k, *rd = make_initrd(rdlen);

	if (!m.host) {
		skip_why = "cannot map 6 GiB";
		free(rd);
		return;
	}
	CHECK(m.low_size == 3 * GiB && m.high_size == 3 * GiB);
	k = make_elf(&o, &len);
	CHECK(load(&m, k, len, rd, rdlen, "big", &out, err) == 0);
	check_zero_page_common(&m, "big", g32(&m, BOOT_ZERO_PAGE + 0x218), rdlen);
	check_initrd(&m, g32(&m, BOOT_ZERO_PAGE + 0x218), rd, rdlen, MiB, 2 * GiB);
	free(k);
	o.pvh_note = true;
	o.pvh_entry = 0x100000;
	k = make_elf(&o, &len);
	CHECK(load(&m, k, len, rd, rdlen, "big", &out, err) == 0);
	check_start_info(&m, "big", rdlen, rd, MiB);
	free(k);
	/* a segment in high RAM loads at host offset low_size + (gpa - 4 GiB) */
	o = elf_default();
	o.paddr2 = HIGH_RAM_START + 16 * MiB;
	k = make_elf(&o, &len);
	CHECK(load(&m, k, len, NULL, 0, "", &out, err) == 0);
	CHECK(memcmp(m.host + m.low_size + 16 * MiB, k + 0x1800, 0x100) == 0);
	free(k);
	o.paddr2 = HIGH_RAM_START + 3 * GiB - 0x80;   /* runs past the end of high RAM */
	k = make_elf(&o, &len);
	expect_fail(&m, k, len, NULL, 0, "", "outside guest RAM", "segment past high RAM");
	free(k);
	/* multiboot: mem_upper counts low RAM only; the mmap has the high entry; modules stay low */
	struct elf32_opt o32 = elf32_default();
	o32.pvh_note = false;
	o32.mb = true;
	k = make_elf32(&o32, &len);
	CHECK(load(&m, k, len, rd, rdlen, "big", &out, err) == 0);
	check_mbi(&m, &out, "big", 1);
	check_mod(&m, out.rbx, 0, rd, rdlen, "", o32.paddr + o32.memsz);
	free(k);
	size_t blen;
	uint8_t *bz = make_bzimage(&blen);
	CHECK(load(&m, bz, blen, rd, rdlen, "", &out, err) == 0);
	check_initrd(&m, g32(&m, BOOT_ZERO_PAGE + 0x218), rd, rdlen, 0x1400000, 0x80000000);
	check_e820(&m, g8(&m, BOOT_ZERO_PAGE + 0x1e8), BOOT_ZERO_PAGE + 0x2d0, 20);
	free(bz);
	free(rd);
	mem_free(&m);
}

int main(void)
{
	RUN(test_cpu_tables);
	RUN(test_bzimage_synthetic);
	RUN(test_bzimage_malformed);
	RUN_OPT(test_bzimage_debian);
	RUN(test_elf_64bit);
	RUN(test_elf_pvh_synthetic);
	RUN_OPT(test_vmlinux_pvh);
	RUN(test_elf_malformed);
	RUN(test_elf32_pvh);
	RUN(test_multiboot_elf);
	RUN(test_multiboot_aout);
	RUN(test_mutations);
	RUN_OPT(test_6gib);
	return UNIT_DONE();
}
