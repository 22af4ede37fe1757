/* boot/elf.c: ELF64 and ELF32 kernels: PVH entry (hvm_start_info) when the Xen PHYS32 note is present, else (ELF64 only) 64-bit entry with a zero page. */
#include <elf.h>
#include <string.h>

#include "boot.h"
#include "../le.h"

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

/* The ELF header fields we use, from an Elf32_Ehdr or Elf64_Ehdr. */
static int check_ehdr(struct boot_elf *e, char *err, size_t errlen)
{
	unsigned machine, type;

	if (e->len < EI_NIDENT)
		return boot_err(err, errlen, "ELF file truncated: %zu bytes", e->len);
	if (e->f[EI_CLASS] != ELFCLASS64 && e->f[EI_CLASS] != ELFCLASS32)
		return boot_err(err, errlen, "ELF class %u not supported: need ELF64 (2) or ELF32 (1)",
				e->f[EI_CLASS]);
	e->is32 = e->f[EI_CLASS] == ELFCLASS32;
	if (e->len < (e->is32 ? sizeof(Elf32_Ehdr) : sizeof(Elf64_Ehdr)))
		return boot_err(err, errlen, "ELF file truncated: %zu bytes", e->len);
	if (e->f[EI_DATA] != ELFDATA2LSB)
		return boot_err(err, errlen, "ELF data encoding %u not supported: need little-endian",
				e->f[EI_DATA]);
	if (e->is32) {
		Elf32_Ehdr eh;
		memcpy(&eh, e->f, sizeof(eh));
		machine = eh.e_machine, type = eh.e_type;
		e->entry = eh.e_entry, e->phoff = eh.e_phoff;
		e->phentsize = eh.e_phentsize, e->phnum = eh.e_phnum;
	} else {
		Elf64_Ehdr eh;
		memcpy(&eh, e->f, sizeof(eh));
		machine = eh.e_machine, type = eh.e_type;
		e->entry = eh.e_entry, e->phoff = eh.e_phoff;
		e->phentsize = eh.e_phentsize, e->phnum = eh.e_phnum;
	}
	if (machine != (e->is32 ? EM_386 : EM_X86_64))
		return boot_err(err, errlen, "ELF machine %u not supported: need %s", machine,
				e->is32 ? "EM_386 (3) in an ELF32" : "EM_X86_64 (62) in an ELF64");
	if (type != ET_EXEC)
		return boot_err(err, errlen, "ELF type %u not supported: need ET_EXEC (2)", type);
	if (e->phentsize < (e->is32 ? sizeof(Elf32_Phdr) : sizeof(Elf64_Phdr)) || e->phnum == 0 ||
	    e->phnum == PN_XNUM)
		return boot_err(err, errlen, "ELF program header table unusable (phentsize %u, phnum %u)",
				e->phentsize, e->phnum);
	if (e->phoff > e->len || (uint64_t)e->phnum * e->phentsize > e->len - e->phoff)
		return boot_err(err, errlen, "ELF program headers beyond end of file");
	return 0;
}

/* Program header i, widened to Elf64_Phdr for an ELF32 (checked in check_ehdr: inside the file). */
static Elf64_Phdr phdr(const struct boot_elf *e, int i)
{
	const uint8_t *src = e->f + e->phoff + (uint64_t)i * e->phentsize;
	Elf64_Phdr p;

	if (e->is32) {
		Elf32_Phdr q;
		memcpy(&q, src, sizeof(q));
		p = (Elf64_Phdr){ .p_type = q.p_type, .p_flags = q.p_flags, .p_offset = q.p_offset,
				  .p_vaddr = q.p_vaddr, .p_paddr = q.p_paddr, .p_filesz = q.p_filesz,
				  .p_memsz = q.p_memsz, .p_align = q.p_align };
	} else {
		memcpy(&p, src, sizeof(p));
	}
	return p;
}

static bool in_file(const struct boot_elf *e, uint64_t off, uint64_t len)
{
	return off <= e->len && len <= e->len - off;
}

static int check_load(struct boot_elf *e, const struct guest_mem *m, int i, const Elf64_Phdr *p,
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
	if (p->p_paddr + p->p_memsz > e->end)
		e->end = p->p_paddr + p->p_memsz;
	return 0;
}

static uint64_t align4(uint64_t v)
{
	return (v + 3) & ~3ull;
}

/* Walk one PT_NOTE segment looking for XEN_ELFNOTE_PHYS32_ENTRY (Elf32_Nhdr and Elf64_Nhdr are alike). */
static int scan_notes(struct boot_elf *e, int i, const Elf64_Phdr *p, char *err, size_t errlen)
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
			e->pvh_entry = n.n_descsz == 4 ? get_le32(e->f + desc) : get_le64(e->f + desc);
			e->pvh = true;
		}
		off = desc + align4(n.n_descsz);
	}
	return 0;
}

int boot_elf_parse(struct boot_elf *e, const struct guest_mem *m, const uint8_t *f, size_t len,
		   char *err, size_t errlen)
{
	int nload = 0;

	*e = (struct boot_elf){ .f = f, .len = len, .kernel_end = BOOT_KERNEL_ADDR };
	if (check_ehdr(e, err, errlen))
		return -1;
	for (int i = 0; i < e->phnum; i++) {
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

int boot_elf_load(const struct boot_elf *e, const struct guest_mem *m)
{
	for (int i = 0; i < e->phnum; i++) {
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
	put_le32(si + SI_MAGIC, HVM_START_MAGIC);
	put_le32(si + SI_VERSION, 1);
	put_le64(si + SI_CMDLINE, BOOT_CMDLINE_ADDR);
	put_le64(si + SI_RSDP, in->rsdp);
	if (initrd) {
		put_le32(si + SI_NR_MODULES, 1);
		put_le64(si + SI_MODLIST, BOOT_START_INFO + SI_MODLIST_OFF);
		put_le64(si + SI_MODLIST_OFF, initrd);
		put_le64(si + SI_MODLIST_OFF + 8, in->initrd_len);
	}
	put_le64(si + SI_MEMMAP, BOOT_START_INFO + SI_MEMMAP_OFF);
	put_le32(si + SI_MEMMAP_COUNT, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		uint8_t *p = si + SI_MEMMAP_OFF + i * SI_MEMMAP_ENTRY;
		put_le64(p, e[i].addr);
		put_le64(p + 8, e[i].size);
		put_le32(p + 16, e[i].type);
	}
	return gm_write(m, BOOT_START_INFO, si, sizeof(si)) ? -1 : 0;
}

static int write_elf_zero_page(const struct guest_mem *m, const struct boot_input *in, gpa_t initrd)
{
	uint8_t zp[4096];

	memset(zp, 0, sizeof(zp));
	put_le16(zp + ZP_BOOT_FLAG, 0xAA55);
	memcpy(zp + ZP_HEADER, "HdrS", 4);
	put_le16(zp + ZP_VERSION, 0x020f);
	zp[ZP_LOADFLAGS] = 0x01;   /* LOADED_HIGH */
	put_le32(zp + ZP_INITRD_ADDR_MAX, (uint32_t)ELF_INITRD_MAX);
	put_le32(zp + ZP_KERNEL_ALIGN, 0x200000);
	put_le16(zp + ZP_XLOADFLAGS, 0x0001);   /* XLF_KERNEL_64 */
	put_le32(zp + ZP_CMDLINE_SIZE, (uint32_t)ELF_CMDLINE_MAX);
	return boot_write_zero_page(m, in, zp, initrd);
}

/* Segments are already checked: p_paddr + p_memsz does not overflow. */
bool boot_elf_in_segment(const struct boot_elf *e, uint64_t addr)
{
	for (int i = 0; i < e->phnum; i++) {
		Elf64_Phdr p = phdr(e, i);
		if (p.p_type == PT_LOAD && addr >= p.p_paddr && addr - p.p_paddr < p.p_memsz)
			return true;
	}
	return false;
}

bool boot_elf_entry_paddr(const struct boot_elf *e, uint64_t *paddr)
{
	if (boot_elf_in_segment(e, e->entry)) {
		*paddr = e->entry;
		return true;
	}
	for (int i = 0; i < e->phnum; i++) {
		Elf64_Phdr p = phdr(e, i);
		if (p.p_type == PT_LOAD && e->entry >= p.p_vaddr && e->entry - p.p_vaddr < p.p_memsz) {
			*paddr = e->entry - p.p_vaddr + p.p_paddr;
			return true;
		}
	}
	return false;
}

static int set_entry(const struct boot_elf *e, struct boot_entry *out, char *err, size_t errlen)
{
	uint64_t rip = e->pvh ? e->pvh_entry : e->entry;

	if (e->is32 && !e->pvh)
		return boot_err(err, errlen, "ELF32 kernel without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) "
				"or a multiboot header: an ELF32 boots only through PVH or multiboot");
	if (rip >= LOW_LIMIT || !boot_elf_in_segment(e, rip))
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
	struct boot_elf e;
	gpa_t initrd;

	if (boot_elf_parse(&e, m, in->kernel, in->kernel_len, err, errlen) ||
	    set_entry(&e, out, err, errlen) ||
	    boot_write_cmdline(m, in->cmdline, ELF_CMDLINE_MAX, err, errlen))
		return -1;
	if (boot_elf_load(&e, m))
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
