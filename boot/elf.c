/* boot/elf.c: vmlinux / static ELF64 loader: PVH entry (hvm_start_info) when the Xen PHYS32 note is present, else 64-bit entry with a zero page. */
#include <elf.h>
#include <string.h>

#include "boot.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC          0x336ec578u
#define LOW_LIMIT                0x100000000ull   /* entries and the identity map are 32-bit */

/* hvm_start_info (version 1) and what follows it at BOOT_START_INFO. */
#define SI_MAGIC        0x00
#define SI_VERSION      0x04
#define SI_NR_MODULES   0x0c
#define SI_MODLIST      0x10
#define SI_CMDLINE      0x18
#define SI_RSDP         0x20
#define SI_MEMMAP       0x28
#define SI_MEMMAP_COUNT 0x30
#define SI_MODLIST_OFF  0x40   /* one hvm_modlist_entry: paddr, size, cmdline, reserved */
#define SI_MEMMAP_OFF   0x80   /* hvm_memmap_table_entry: addr, size, type, reserved */
#define SI_MEMMAP_ENTRY 24

/* Zero page for a kernel entered without a bzImage setup header. */
#define ZP_BOOT_FLAG        0x1fe
#define ZP_HEADER           0x202
#define ZP_VERSION          0x206
#define ZP_LOADFLAGS        0x211
#define ZP_INITRD_ADDR_MAX  0x22c
#define ZP_KERNEL_ALIGN     0x230
#define ZP_XLOADFLAGS       0x236
#define ZP_CMDLINE_SIZE     0x238
#define ELF_INITRD_MAX      0x7fffffffull
#define ELF_CMDLINE_MAX     (BOOT_CMDLINE_MAX - 1)

struct elf {
	const uint8_t *f;
	size_t len;
	Elf64_Ehdr eh;
	uint64_t kernel_end;   /* highest end of a segment below 4 GiB */
	uint64_t pvh_entry;
	bool pvh;
};

static int check_ehdr(struct elf *e, char *err, size_t errlen)
{
	if (e->len < EI_NIDENT)
		return boot_err(err, errlen, "ELF file truncated: %zu bytes", e->len);
	if (e->f[EI_CLASS] != ELFCLASS64)
		return boot_err(err, errlen, "ELF class %u not supported: need ELF64 (class 2)", e->f[EI_CLASS]);
	if (e->len < sizeof(e->eh))
		return boot_err(err, errlen, "ELF file truncated: %zu bytes", e->len);
	memcpy(&e->eh, e->f, sizeof(e->eh));
	if (e->eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return boot_err(err, errlen, "ELF data encoding %u not supported: need little-endian",
				e->eh.e_ident[EI_DATA]);
	if (e->eh.e_machine != EM_X86_64)
		return boot_err(err, errlen, "ELF machine %u not supported: need EM_X86_64 (62)", e->eh.e_machine);
	if (e->eh.e_type != ET_EXEC)
		return boot_err(err, errlen, "ELF type %u not supported: need ET_EXEC (2)", e->eh.e_type);
	if (e->eh.e_phentsize < sizeof(Elf64_Phdr) || e->eh.e_phnum == 0 || e->eh.e_phnum == PN_XNUM)
		return boot_err(err, errlen, "ELF program header table unusable (phentsize %u, phnum %u)",
				e->eh.e_phentsize, e->eh.e_phnum);
	if (e->eh.e_phoff > e->len ||
	    (uint64_t)e->eh.e_phnum * e->eh.e_phentsize > e->len - e->eh.e_phoff)
		return boot_err(err, errlen, "ELF program headers beyond end of file");
	return 0;
}

static Elf64_Phdr phdr(const struct elf *e, int i)
{
	Elf64_Phdr p;

	memcpy(&p, e->f + e->eh.e_phoff + (uint64_t)i * e->eh.e_phentsize, sizeof(p));
	return p;
}

static bool in_file(const struct elf *e, uint64_t off, uint64_t len)
{
	return off <= e->len && len <= e->len - off;
}

static int check_load(struct elf *e, const struct guest_mem *m, int i, const Elf64_Phdr *p,
		      char *err, size_t errlen)
{
	if (p->p_filesz > p->p_memsz)
		return boot_err(err, errlen, "ELF segment %d: p_filesz 0x%llx > p_memsz 0x%llx", i,
				(unsigned long long)p->p_filesz, (unsigned long long)p->p_memsz);
	if (!in_file(e, p->p_offset, p->p_filesz))
		return boot_err(err, errlen, "ELF segment %d: file range 0x%llx+0x%llx beyond end of file (%zu bytes)",
				i, (unsigned long long)p->p_offset, (unsigned long long)p->p_filesz, e->len);
	if (p->p_paddr > UINT64_MAX - p->p_memsz)
		return boot_err(err, errlen, "ELF segment %d: p_paddr 0x%llx + p_memsz 0x%llx overflows", i,
				(unsigned long long)p->p_paddr, (unsigned long long)p->p_memsz);
	if (p->p_paddr < BOOT_KERNEL_ADDR)
		return boot_err(err, errlen, "ELF segment %d at 0x%llx overlaps the boot area below 1 MiB", i,
				(unsigned long long)p->p_paddr);
	if (!gm_ptr(m, p->p_paddr, p->p_memsz))
		return boot_err(err, errlen, "ELF segment %d: [0x%llx, 0x%llx) is outside guest RAM", i,
				(unsigned long long)p->p_paddr, (unsigned long long)(p->p_paddr + p->p_memsz));
	if (p->p_paddr + p->p_memsz <= m->low_size && p->p_paddr + p->p_memsz > e->kernel_end)
		e->kernel_end = p->p_paddr + p->p_memsz;
	return 0;
}

static uint64_t align4(uint64_t v)
{
	return (v + 3) & ~3ull;
}

/* Walk one PT_NOTE segment looking for XEN_ELFNOTE_PHYS32_ENTRY. */
static int scan_notes(struct elf *e, int i, const Elf64_Phdr *p, char *err, size_t errlen)
{
	uint64_t off = p->p_offset, end;

	if (!in_file(e, p->p_offset, p->p_filesz))
		return boot_err(err, errlen, "ELF note segment %d beyond end of file", i);
	end = p->p_offset + p->p_filesz;
	while (end - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr n;
		memcpy(&n, e->f + off, sizeof(n));
		uint64_t name = off + sizeof(n), desc = name + align4(n.n_namesz);
		if (desc > end || align4(n.n_descsz) > end - desc)
			return boot_err(err, errlen, "malformed ELF note in segment %d", i);
		if (n.n_type == XEN_ELFNOTE_PHYS32_ENTRY && n.n_namesz == 4 &&
		    !memcmp(e->f + name, "Xen", 4)) {
			if (n.n_descsz != 4 && n.n_descsz != 8)
				return boot_err(err, errlen, "PVH entry note has size %u", n.n_descsz);
			e->pvh_entry = n.n_descsz == 4 ? ld32(e->f + desc) : ld64(e->f + desc);
			e->pvh = true;
		}
		off = desc + align4(n.n_descsz);
	}
	return 0;
}

static int check_phdrs(struct elf *e, const struct guest_mem *m, char *err, size_t errlen)
{
	int nload = 0;

	e->kernel_end = BOOT_KERNEL_ADDR;
	for (int i = 0; i < e->eh.e_phnum; i++) {
		Elf64_Phdr p = phdr(e, i);
		if (p.p_type == PT_LOAD && p.p_memsz) {
			if (check_load(e, m, i, &p, err, errlen))
				return -1;
			nload++;
		} else if (p.p_type == PT_NOTE && scan_notes(e, i, &p, err, errlen)) {
			return -1;
		}
	}
	if (nload == 0)
		return boot_err(err, errlen, "ELF file has no loadable segment");
	return 0;
}

static int load_segments(const struct elf *e, const struct guest_mem *m)
{
	for (int i = 0; i < e->eh.e_phnum; i++) {
		Elf64_Phdr p = phdr(e, i);
		uint8_t *dst;
		if (p.p_type != PT_LOAD || !p.p_memsz)
			continue;
		dst = gm_ptr(m, p.p_paddr, p.p_memsz);   /* checked in check_load */
		if (!dst)
			return -1;
		memcpy(dst, e->f + p.p_offset, p.p_filesz);
		memset(dst + p.p_filesz, 0, p.p_memsz - p.p_filesz);
	}
	return 0;
}

static int write_start_info(const struct guest_mem *m, const struct boot_input *in, gpa_t initrd)
{
	uint8_t si[0x200];
	struct e820_entry e[E820_MAX];
	int n = boot_e820(m, e);

	memset(si, 0, sizeof(si));
	st32(si + SI_MAGIC, HVM_START_MAGIC);
	st32(si + SI_VERSION, 1);
	st64(si + SI_CMDLINE, BOOT_CMDLINE_ADDR);
	st64(si + SI_RSDP, in->rsdp);
	if (initrd) {
		st32(si + SI_NR_MODULES, 1);
		st64(si + SI_MODLIST, BOOT_START_INFO + SI_MODLIST_OFF);
		st64(si + SI_MODLIST_OFF, initrd);
		st64(si + SI_MODLIST_OFF + 8, in->initrd_len);
	}
	st64(si + SI_MEMMAP, BOOT_START_INFO + SI_MEMMAP_OFF);
	st32(si + SI_MEMMAP_COUNT, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		uint8_t *p = si + SI_MEMMAP_OFF + i * SI_MEMMAP_ENTRY;
		st64(p, e[i].addr);
		st64(p + 8, e[i].size);
		st32(p + 16, e[i].type);
	}
	return gm_write(m, BOOT_START_INFO, si, sizeof(si)) ? -1 : 0;
}

static int write_elf_zero_page(const struct guest_mem *m, const struct boot_input *in, gpa_t initrd)
{
	uint8_t zp[4096];

	memset(zp, 0, sizeof(zp));
	st16(zp + ZP_BOOT_FLAG, 0xAA55);
	memcpy(zp + ZP_HEADER, "HdrS", 4);
	st16(zp + ZP_VERSION, 0x020f);
	zp[ZP_LOADFLAGS] = 0x01;   /* LOADED_HIGH */
	st32(zp + ZP_INITRD_ADDR_MAX, (uint32_t)ELF_INITRD_MAX);
	st32(zp + ZP_KERNEL_ALIGN, 0x200000);
	st16(zp + ZP_XLOADFLAGS, 0x0001);   /* XLF_KERNEL_64 */
	st32(zp + ZP_CMDLINE_SIZE, (uint32_t)ELF_CMDLINE_MAX);
	return boot_write_zero_page(m, in, zp, initrd);
}

/* Segments are already checked: p_paddr + p_memsz does not overflow. */
static bool in_segment(const struct elf *e, uint64_t addr)
{
	for (int i = 0; i < e->eh.e_phnum; i++) {
		Elf64_Phdr p = phdr(e, i);
		if (p.p_type == PT_LOAD && addr >= p.p_paddr && addr - p.p_paddr < p.p_memsz)
			return true;
	}
	return false;
}

static int set_entry(const struct elf *e, const struct guest_mem *m, struct boot_entry *out,
		     char *err, size_t errlen)
{
	uint64_t rip = e->pvh ? e->pvh_entry : e->eh.e_entry;

	if (rip >= LOW_LIMIT || !in_segment(e, rip))
		return boot_err(err, errlen, "%s entry point 0x%llx is not in a loaded segment below 4 GiB",
				e->pvh ? "PVH" : "ELF", (unsigned long long)rip);
	out->pvh = e->pvh;
	out->rip = rip;
	out->rsi = e->pvh ? 0 : BOOT_ZERO_PAGE;
	out->rbx = e->pvh ? BOOT_START_INFO : 0;
	return 0;
}

int boot_load_elf(const struct guest_mem *m, const struct boot_input *in,
		  struct boot_entry *out, char *err, size_t errlen)
{
	struct elf e = { .f = in->kernel, .len = in->kernel_len };
	gpa_t initrd;

	if (check_ehdr(&e, err, errlen) || check_phdrs(&e, m, err, errlen) ||
	    set_entry(&e, m, out, err, errlen) ||
	    boot_write_cmdline(m, in->cmdline, ELF_CMDLINE_MAX, err, errlen))
		return -1;
	if (load_segments(&e, m))
		return boot_err(err, errlen, "ELF segment outside guest RAM");
	if (boot_place_initrd(m, in, e.kernel_end, e.pvh ? LOW_LIMIT : ELF_INITRD_MAX + 1, &initrd,
			      err, errlen))
		return -1;
	if (e.pvh ? write_start_info(m, in, initrd) : write_elf_zero_page(m, in, initrd))
		return boot_err(err, errlen, "no guest RAM for the %s", e.pvh ? "PVH start info" : "zero page");
	if (boot_write_cpu_tables(m, out))
		return boot_err(err, errlen, "no guest RAM for the boot page tables");
	return 0;
}
