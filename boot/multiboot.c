/* boot/multiboot.c: Multiboot 1 (spec 0.6.96) kernels, ELF or a.out kludge: modules, the multiboot info, 32-bit entry with EAX = 0x2BADB002. */
#include <stdio.h>
#include <string.h>

#include "boot.h"
#include "../le.h"

#define MB_MAGIC         0x1BADB002u
#define MB_BOOT_MAGIC    0x2BADB002u
#define MB_SEARCH        8192
#define MB_PAGE_ALIGN    (1u << 0)    /* modules page aligned: always so */
#define MB_MEMORY_INFO   (1u << 1)    /* mem_* and mmap: always given */
#define MB_VIDEO_MODE    (1u << 2)    /* a video mode wish: ignored (no framebuffer) */
#define MB_AOUT_KLUDGE   (1u << 16)   /* load from the header's addresses, not the ELF headers */
#define MB_REQUIRED_MASK 0xffffu
#define PAGE_SIZE        0x1000ull

/* struct multiboot_info offsets and flags. */
#define MBI_FLAGS        0
#define MBI_MEM_LOWER    4
#define MBI_MEM_UPPER    8
#define MBI_CMDLINE      16
#define MBI_MODS_COUNT   20
#define MBI_MODS_ADDR    24
#define MBI_MMAP_LENGTH  44
#define MBI_MMAP_ADDR    48
#define MBI_LOADER_NAME  64
#define MBI_F_MEMORY     (1u << 0)
#define MBI_F_CMDLINE    (1u << 2)
#define MBI_F_MODS       (1u << 3)
#define MBI_F_MMAP       (1u << 6)
#define MBI_F_LOADER     (1u << 9)

/* What we write at BOOT_START_INFO: the info, the module list, the memory map, the loader name. */
#define MB_INFO_OFF      0x000
#define MB_MODS_OFF      0x100        /* BOOT_MAX_MODULES x 16 bytes */
#define MB_MMAP_OFF      0x200        /* E820_MAX x 24 bytes: size (20), base, length, type */
#define MB_NAME_OFF      0x400
#define MB_AREA          0x410

long boot_multiboot_find(const struct boot_input *in, long *bad_off)
{
	size_t lim = in->kernel_len < MB_SEARCH ? in->kernel_len : MB_SEARCH;

	*bad_off = -1;
	for (size_t off = 0; off + 12 <= lim; off += 4) {
		const uint8_t *h = in->kernel + off;
		if (get_le32(h) != MB_MAGIC)
			continue;
		if ((uint32_t)(get_le32(h) + get_le32(h + 4) + get_le32(h + 8)) == 0)
			return (long)off;
		if (*bad_off < 0)
			*bad_off = (long)off;
	}
	return -1;
}

/* Flag 16: copy [load_addr, load_end_addr) from the file, zero up to bss_end_addr. */
static int load_aout(const struct guest_mem *m, const struct boot_input *in, size_t off,
		     uint64_t *entry, uint64_t *kend, char *err, size_t errlen)
{
	const uint8_t *h = in->kernel + off;
	uint32_t hdr, load, load_end, bss_end, ent;
	uint64_t foff, end, bend;

	if (off + 32 > in->kernel_len || off + 32 > MB_SEARCH)
		return boot_err(err, errlen, "multiboot header at 0x%zx: its a.out fields (flag 16) run past %s",
				off, off + 32 > in->kernel_len ? "the end of the file" : "the first 8192 bytes");
	hdr = get_le32(h + 12), load = get_le32(h + 16), load_end = get_le32(h + 20);
	bss_end = get_le32(h + 24), ent = get_le32(h + 28);
	if (load > hdr || hdr - load > off)
		return boot_err(err, errlen, "multiboot a.out fields: load_addr 0x%x and header_addr 0x%x put "
				"the load start outside the file (header at offset 0x%zx)", load, hdr, off);
	foff = off - (hdr - load);
	end = load_end ? load_end : load + (uint64_t)(in->kernel_len - foff);
	if (end <= load)
		return boot_err(err, errlen, "multiboot a.out fields: load_end_addr 0x%x is not above load_addr 0x%x",
				load_end, load);
	if (end - load > in->kernel_len - foff)
		return boot_err(err, errlen, "multiboot a.out fields: load_end_addr 0x%llx is beyond the end of the "
				"file (%zu bytes from load_addr 0x%x)", (unsigned long long)end,
				in->kernel_len - (size_t)foff, load);
	bend = bss_end ? bss_end : end;
	if (bend < end)
		return boot_err(err, errlen, "multiboot a.out fields: bss_end_addr 0x%x is below load_end_addr 0x%llx",
				bss_end, (unsigned long long)end);
	if (load < BOOT_KERNEL_ADDR)
		return boot_err(err, errlen, "multiboot load_addr 0x%x overlaps the boot area below 1 MiB", load);
	if (bend > m->low_size)
		return boot_err(err, errlen, "multiboot kernel [0x%x, 0x%llx) is outside guest RAM below 0x%llx",
				load, (unsigned long long)bend, (unsigned long long)m->low_size);
	if (ent < load || ent >= end)
		return boot_err(err, errlen, "multiboot entry_addr 0x%x is outside the loaded [0x%x, 0x%llx)",
				ent, load, (unsigned long long)end);
	uint8_t *dst = gm_ptr(m, load, bend - load);
	if (!dst)
		return boot_err(err, errlen, "multiboot kernel outside guest RAM");
	memcpy(dst, in->kernel + foff, end - load);
	memset(dst + (end - load), 0, bend - end);
	*entry = ent;
	*kend = bend;
	return 0;
}

static int load_elf(const struct guest_mem *m, const struct boot_input *in, uint64_t *entry,
		    uint64_t *kend, char *err, size_t errlen)
{
	struct boot_elf e;

	if (in->kernel_len < 4 || memcmp(in->kernel, "\177ELF", 4))
		return boot_err(err, errlen, "multiboot kernel is not ELF and its header lacks the a.out "
				"addresses (flag 16)");
	if (boot_elf_parse(&e, m, in->kernel, in->kernel_len, err, errlen))
		return -1;
	if (e.end > m->low_size)
		return boot_err(err, errlen, "multiboot ELF segment ends at 0x%llx, beyond guest RAM below 4 GiB "
				"(0x%llx): a multiboot kernel starts with paging off",
				(unsigned long long)e.end, (unsigned long long)m->low_size);
	if (!boot_elf_entry_paddr(&e, entry))
		return boot_err(err, errlen, "multiboot ELF entry point 0x%llx is not in a loaded segment",
				(unsigned long long)e.entry);
	if (boot_elf_load(&e, m))
		return boot_err(err, errlen, "ELF segment outside guest RAM");
	*kend = e.kernel_end;
	return 0;
}

/* Modules (the initrd first) page-aligned upward from the kernel's end; fills the list at mods. */
static int place_modules(const struct guest_mem *m, const struct boot_input *in, uint64_t kend,
			 uint8_t *mods, uint32_t *count, char *err, size_t errlen)
{
	struct boot_module all[BOOT_MAX_MODULES];
	int n = 0, first = 0;
	gpa_t at = (kend + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1), str = BOOT_MB_STRINGS;

	if (in->initrd) {
		all[n++] = (struct boot_module){ in->initrd, in->initrd_len, in->initrd_name };
		first = 1;
	}
	if (in->nmods < 0 || in->nmods > BOOT_MAX_MODULES - n)
		return boot_err(err, errlen, "%d multiboot modules: at most %d (the initrd counts as one)",
				in->nmods + n, BOOT_MAX_MODULES);
	for (int i = 0; i < in->nmods; i++)
		all[n++] = in->mods[i];
	for (int i = 0; i < n; i++) {
		const char *s = all[i].string ? all[i].string : "";
		size_t slen = strlen(s) + 1;
		char who[32];

		if (i < first)
			snprintf(who, sizeof(who), "initrd");
		else
			snprintf(who, sizeof(who), "module %d: file", i - first);
		if (all[i].len && !all[i].data)
			return boot_err(err, errlen, "%s length without data", who);
		if (at > m->low_size || all[i].len > m->low_size - at)
			return boot_err(err, errlen, "%s of %zu bytes does not fit in guest RAM between 0x%llx and 0x%llx",
					who, all[i].len, (unsigned long long)at, (unsigned long long)m->low_size);
		if (slen > BOOT_MB_STRINGS + BOOT_MB_STRINGS_MAX - str)
			return boot_err(err, errlen, "%s string: the module strings exceed %llu bytes", who,
					BOOT_MB_STRINGS_MAX);
		if (gm_write(m, at, all[i].data, all[i].len) || gm_write(m, str, s, slen))
			return boot_err(err, errlen, "%s at 0x%llx is outside guest RAM", who, (unsigned long long)at);
		put_le32(mods + 16 * i, (uint32_t)at);
		put_le32(mods + 16 * i + 4, (uint32_t)(at + all[i].len));
		put_le32(mods + 16 * i + 8, (uint32_t)str);
		put_le32(mods + 16 * i + 12, 0);
		at = (at + all[i].len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		str += slen;
	}
	*count = (uint32_t)n;
	return 0;
}

int boot_load_multiboot(const struct guest_mem *m, const struct boot_input *in, size_t off,
			struct boot_entry *out, char *err, size_t errlen)
{
	uint32_t flags = get_le32(in->kernel + off + 4), unknown = flags & MB_REQUIRED_MASK &
		~(MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_VIDEO_MODE), nmods = 0;
	uint64_t entry = 0, kend = 0;
	uint8_t area[MB_AREA];
	struct e820_entry e[E820_MAX];
	int n;

	if (unknown)
		return boot_err(err, errlen, "multiboot header flags 0x%x require features vmm lacks (bits 0x%x)",
				flags, unknown);
	if ((flags & MB_AOUT_KLUDGE) ? load_aout(m, in, off, &entry, &kend, err, errlen)
				     : load_elf(m, in, &entry, &kend, err, errlen))
		return -1;
	memset(area, 0, sizeof(area));
	if (place_modules(m, in, kend, area + MB_MODS_OFF, &nmods, err, errlen) ||
	    boot_write_cmdline(m, in->cmdline, BOOT_CMDLINE_MAX - 1, err, errlen))
		return -1;
	n = boot_e820(m, e);
	for (int i = 0; i < n; i++) {
		uint8_t *p = area + MB_MMAP_OFF + 24 * i;
		put_le32(p, 20);
		put_le64(p + 4, e[i].addr);
		put_le64(p + 12, e[i].size);
		put_le32(p + 20, e[i].type);
	}
	put_le32(area + MBI_FLAGS, MBI_F_MEMORY | MBI_F_CMDLINE | MBI_F_MODS | MBI_F_MMAP | MBI_F_LOADER);
	put_le32(area + MBI_MEM_LOWER, (uint32_t)(EBDA_START >> 10));
	put_le32(area + MBI_MEM_UPPER, (uint32_t)((m->low_size - BOOT_KERNEL_ADDR) >> 10));
	put_le32(area + MBI_CMDLINE, (uint32_t)BOOT_CMDLINE_ADDR);
	put_le32(area + MBI_MODS_COUNT, nmods);
	put_le32(area + MBI_MODS_ADDR, (uint32_t)(BOOT_START_INFO + MB_MODS_OFF));
	put_le32(area + MBI_MMAP_LENGTH, (uint32_t)(24 * n));
	put_le32(area + MBI_MMAP_ADDR, (uint32_t)(BOOT_START_INFO + MB_MMAP_OFF));
	put_le32(area + MBI_LOADER_NAME, (uint32_t)(BOOT_START_INFO + MB_NAME_OFF));
	memcpy(area + MB_NAME_OFF, "vmm", 4);
	if (gm_write(m, BOOT_START_INFO, area, sizeof(area)))
		return boot_err(err, errlen, "no guest RAM for the multiboot info");
	if (boot_write_cpu_tables(m, out))
		return boot_err(err, errlen, "no guest RAM for the boot page tables");
	out->pvh = true;   /* the same state: 32-bit flat protected mode, paging off */
	out->rip = entry;
	out->rax = MB_BOOT_MAGIC;
	out->rbx = BOOT_START_INFO + MB_INFO_OFF;
	return 0;
}
