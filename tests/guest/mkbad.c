/* tests/guest/mkbad.c: host tool: derives hostile loader inputs from good guest kernels (ELF64 plain and PVH, ELF32 PVH, multiboot a.out); each must make vmm exit 2. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *good;
static size_t good_len;
static const char *outdir;

static void put(const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.img", outdir, name);
	f = fopen(path, "wb");
	if (!f || (len && fwrite(buf, 1, len, f) != len) || fclose(f)) {
		fprintf(stderr, "mkbad: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* A fresh copy of the good ELF with ehdr/phdr pointers into it. */
static unsigned char *copy(Elf64_Ehdr **eh, Elf64_Phdr **ph)
{
	unsigned char *b = malloc(good_len);

	if (!b)
		exit(1);
	memcpy(b, good, good_len);
	*eh = (Elf64_Ehdr *)b;
	*ph = (Elf64_Phdr *)(b + (*eh)->e_phoff);
	return b;
}

static Elf64_Phdr *first_load(Elf64_Ehdr *eh, Elf64_Phdr *ph)
{
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD)
			return &ph[i];
	fprintf(stderr, "mkbad: no PT_LOAD in the input\n");
	exit(1);
}

static Elf64_Phdr *last_filled_load(Elf64_Ehdr *eh, Elf64_Phdr *ph)
{
	Elf64_Phdr *l = NULL;

	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_filesz && (!l || ph[i].p_offset > l->p_offset))
			l = &ph[i];
	return l ? l : first_load(eh, ph);
}

typedef void mutate_fn(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len);

static void m_seg_high(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	first_load(eh, ph)->p_paddr = 0x40000000000ull;   /* 4 TiB: beyond any RAM */
}
static void m_seg_hole(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	first_load(eh, ph)->p_paddr = 0xFEC00000ull;      /* the IOAPIC, in the MMIO hole */
}
static void m_seg_straddle(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	Elf64_Phdr *p = first_load(eh, ph);

	p->p_paddr = 0xBFFFF000ull;                       /* starts in RAM (if RAM is that big), ends in the hole */
	p->p_memsz = 0x2000;
	if (p->p_filesz > p->p_memsz)
		p->p_filesz = p->p_memsz;
}
static void m_seg_wrap(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	Elf64_Phdr *p = first_load(eh, ph);

	p->p_paddr = 0xFFFFFFFFFFFFF000ull;               /* paddr + memsz overflows */
	p->p_memsz = 0x2000;
	if (p->p_filesz > p->p_memsz)
		p->p_filesz = p->p_memsz;
}
static void m_memsz_huge(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	last_filled_load(eh, ph)->p_memsz = 0xFFFFFFFFFFFF0000ull;
}
static void m_memsz_past_ram(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	last_filled_load(eh, ph)->p_memsz = 0x40000000000ull;   /* file bytes fit; the zeroed tail runs 4 TiB on */
}
static void m_filesz_gt_memsz(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	Elf64_Phdr *p = first_load(eh, ph);

	p->p_memsz = p->p_filesz / 2;
}
static void m_offset_wrap(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	first_load(eh, ph)->p_offset = 0xFFFFFFFFFFFFFFF0ull;   /* offset + filesz overflows */
}
static void m_offset_past_end(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	first_load(eh, ph)->p_offset = *len;
}
static void m_trunc_seg(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	Elf64_Phdr *p = last_filled_load(eh, ph);

	*len = p->p_offset + p->p_filesz / 2;             /* cut inside the segment's file bytes */
}
static void m_trunc_phdr(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	*len = eh->e_phoff + sizeof(Elf64_Phdr) / 2;
}
static void m_trunc_ehdr(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	*len = sizeof(Elf64_Ehdr) / 2;
}
static void m_phoff_past_end(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	eh->e_phoff = *len - 8;
}
static void m_phoff_wrap(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	eh->e_phoff = 0xFFFFFFFFFFFFFFC0ull;
}
static void m_phnum_huge(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	eh->e_phnum = 0xFFFF;
}
static void m_phentsize(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	eh->e_phentsize = 8;
}
static void m_no_load(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD)
			ph[i].p_type = PT_NULL;
}
static void m_entry_outside(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	eh->e_entry = 0x800000;   /* RAM, but in no segment */
}
static void m_class32(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	eh->e_ident[EI_CLASS] = ELFCLASS32;
}
static void m_big_endian(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	eh->e_ident[EI_DATA] = ELFDATA2MSB;
}
static void m_machine(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	eh->e_machine = EM_AARCH64;
}
static void m_type_rel(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	eh->e_type = ET_REL;
}

static const struct { const char *name; mutate_fn *fn; } mutations[] = {
	{ "seg-high", m_seg_high },
	{ "seg-hole", m_seg_hole },
	{ "seg-straddle", m_seg_straddle },
	{ "seg-wrap", m_seg_wrap },
	{ "memsz-huge", m_memsz_huge },
	{ "memsz-past-ram", m_memsz_past_ram },
	{ "filesz-gt-memsz", m_filesz_gt_memsz },
	{ "offset-wrap", m_offset_wrap },
	{ "offset-past-end", m_offset_past_end },
	{ "trunc-seg", m_trunc_seg },
	{ "trunc-phdr", m_trunc_phdr },
	{ "trunc-ehdr", m_trunc_ehdr },
	{ "phoff-past-end", m_phoff_past_end },
	{ "phoff-wrap", m_phoff_wrap },
	{ "phnum-huge", m_phnum_huge },
	{ "phentsize", m_phentsize },
	{ "no-load", m_no_load },
	{ "entry-outside", m_entry_outside },
	{ "class32", m_class32 },
	{ "big-endian", m_big_endian },
	{ "machine-arm64", m_machine },
	{ "type-rel", m_type_rel },
};

/* PVH mutations: the first PT_NOTE's first note (4-byte name "Xen"). */
static Elf64_Nhdr *first_note(Elf64_Ehdr *eh, Elf64_Phdr *ph)
{
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_NOTE)
			return (Elf64_Nhdr *)((unsigned char *)eh + ph[i].p_offset);
	fprintf(stderr, "mkbad: no PT_NOTE in the PVH input\n");
	exit(1);
}
static void m_pvh_descsz(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	first_note(eh, ph)->n_descsz = 2;
}
static void m_pvh_namesz(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	first_note(eh, ph)->n_namesz = 0xFFFFFFF0u;   /* name runs past the segment (and wraps 32-bit sums) */
}
static void m_pvh_note_past_end(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_NOTE)
			ph[i].p_offset = *len - 4;
}

static void m_pvh_entry_outside(Elf64_Ehdr *eh, Elf64_Phdr *ph, size_t *len)
{
	Elf64_Nhdr *n = first_note(eh, ph);

	*(uint32_t *)((unsigned char *)(n + 1) + ((n->n_namesz + 3) & ~3u)) = 0x800000;
}

static const struct { const char *name; mutate_fn *fn; } pvh_mutations[] = {
	{ "pvh-entry-outside", m_pvh_entry_outside },
	{ "pvh-descsz", m_pvh_descsz },
	{ "pvh-namesz", m_pvh_namesz },
	{ "pvh-note-past-end", m_pvh_note_past_end },
};

/* ELF32 mutations, from the ELF32 PVH guest. */
typedef void mutate32_fn(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len);

static Elf32_Phdr *find32(Elf32_Ehdr *eh, Elf32_Phdr *ph, uint32_t type)
{
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == type)
			return &ph[i];
	fprintf(stderr, "mkbad: no program header of type %u in the ELF32 input\n", type);
	exit(1);
}
static void m32_trunc_ehdr(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len) { *len = sizeof(Elf32_Ehdr) - 10; }
static void m32_trunc_phdr(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len) { *len = eh->e_phoff + sizeof(Elf32_Phdr) / 2; }
static void m32_phoff_past_end(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len) { eh->e_phoff = (uint32_t)*len - 8; }
static void m32_machine(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len) { eh->e_machine = EM_X86_64; }
static void m32_seg_high(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len) { find32(eh, ph, PT_LOAD)->p_paddr = 0x40000000; }
static void m32_seg_hole(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len) { find32(eh, ph, PT_LOAD)->p_paddr = 0xFEC00000; }
static void m32_seg_wrap(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len)
{
	Elf32_Phdr *p = find32(eh, ph, PT_LOAD);

	p->p_paddr = 0xFFFFF000;   /* paddr + memsz passes 4 GiB */
	p->p_memsz = 0x2000;
	if (p->p_filesz > p->p_memsz)
		p->p_filesz = p->p_memsz;
}
static void m32_memsz_huge(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len) { find32(eh, ph, PT_LOAD)->p_memsz = 0xFFFFF000; }
static void m32_offset_wrap(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len) { find32(eh, ph, PT_LOAD)->p_offset = 0xFFFFFFF0; }
static void m32_no_pvh(Elf32_Ehdr *eh, Elf32_Phdr *ph, size_t *len) { find32(eh, ph, PT_NOTE)->p_type = PT_NULL; }

static const struct { const char *name; mutate32_fn *fn; } elf32_mutations[] = {
	{ "elf32-trunc-ehdr", m32_trunc_ehdr },
	{ "elf32-trunc-phdr", m32_trunc_phdr },
	{ "elf32-phoff-past-end", m32_phoff_past_end },
	{ "elf32-machine", m32_machine },
	{ "elf32-seg-high", m32_seg_high },
	{ "elf32-seg-hole", m32_seg_hole },
	{ "elf32-seg-wrap", m32_seg_wrap },
	{ "elf32-memsz-huge", m32_memsz_huge },
	{ "elf32-offset-wrap", m32_offset_wrap },
	{ "elf32-no-pvh", m32_no_pvh },
};

/* Multiboot mutations, from the flat a.out-kludge guest (header with flag 16 in the first 8 KiB). */
enum { MB_FLAGS = 1, MB_SUM, MB_HDR, MB_LOAD, MB_LOAD_END, MB_BSS_END, MB_ENTRY };
typedef void mutate_mb_fn(uint32_t *h, size_t *len);

static void mb_fix(uint32_t *h) { h[MB_SUM] = -(h[0] + h[MB_FLAGS]); }
static void mbm_checksum(uint32_t *h, size_t *len) { h[MB_SUM]++; }
static void mbm_flags_unknown(uint32_t *h, size_t *len) { h[MB_FLAGS] |= 1u << 5; mb_fix(h); }
static void mbm_not_elf(uint32_t *h, size_t *len) { h[MB_FLAGS] &= ~(1u << 16); mb_fix(h); }
static void mbm_order(uint32_t *h, size_t *len) { h[MB_LOAD] = h[MB_HDR] + 0x10; }
static void mbm_outside_ram(uint32_t *h, size_t *len)
{
	uint32_t d = 0xD0000000 - h[MB_LOAD];   /* move the whole image into the MMIO hole */

	h[MB_HDR] += d, h[MB_LOAD] += d, h[MB_LOAD_END] += d, h[MB_BSS_END] += d, h[MB_ENTRY] += d;
}
static void mbm_load_end(uint32_t *h, size_t *len) { h[MB_LOAD_END] = h[MB_LOAD] + (uint32_t)*len + 0x1000; }
static void mbm_bss_order(uint32_t *h, size_t *len) { h[MB_BSS_END] = h[MB_LOAD_END] - 4; }
static void mbm_entry_outside(uint32_t *h, size_t *len) { h[MB_ENTRY] = h[MB_BSS_END] + 0x1000; }
static void mbm_trunc(uint32_t *h, size_t *len) { *len = 20; }

static const struct { const char *name; mutate_mb_fn *fn; } mb_mutations[] = {
	{ "mb-checksum", mbm_checksum },
	{ "mb-flags-unknown", mbm_flags_unknown },
	{ "mb-not-elf", mbm_not_elf },
	{ "mb-aout-order", mbm_order },
	{ "mb-aout-outside-ram", mbm_outside_ram },
	{ "mb-aout-load-end", mbm_load_end },
	{ "mb-aout-bss-order", mbm_bss_order },
	{ "mb-aout-entry-outside", mbm_entry_outside },
	{ "mb-aout-trunc", mbm_trunc },
};

static size_t mb_header_offset(void)
{
	for (size_t off = 0; off + 32 <= good_len && off < 8192; off += 4)
		if (*(uint32_t *)(good + off) == 0x1BADB002u)
			return off;
	fprintf(stderr, "mkbad: no multiboot header in the a.out input\n");
	exit(1);
}

static void read_good(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < (long)sizeof(Elf64_Ehdr) || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "mkbad: %s: cannot read\n", path);
		exit(1);
	}
	good_len = (size_t)n;
	good = malloc(good_len);
	if (!good || fread(good, 1, good_len, f) != good_len)
		exit(1);
	fclose(f);
}

int main(int argc, char **argv)
{
	static const char garbage[] = "this is not a kernel image, just text\n";
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;

	if (argc != 6) {
		fprintf(stderr, "usage: mkbad GOOD.elf GOOD-PVH.elf OUTDIR GOOD-PVH32.elf GOOD-MB-AOUT.bin\n");
		return 1;
	}
	outdir = argv[3];
	read_good(argv[1]);
	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		unsigned char *b = copy(&eh, &ph);
		size_t len = good_len;

		mutations[i].fn(eh, ph, &len);
		put(mutations[i].name, b, len);
		free(b);
	}
	free(good);
	read_good(argv[2]);
	for (size_t i = 0; i < sizeof(pvh_mutations) / sizeof(pvh_mutations[0]); i++) {
		unsigned char *b = copy(&eh, &ph);
		size_t len = good_len;

		pvh_mutations[i].fn(eh, ph, &len);
		put(pvh_mutations[i].name, b, len);
		free(b);
	}
	free(good);
	read_good(argv[4]);
	for (size_t i = 0; i < sizeof(elf32_mutations) / sizeof(elf32_mutations[0]); i++) {
		unsigned char *b = malloc(good_len);
		size_t len = good_len;

		if (!b)
			exit(1);
		memcpy(b, good, good_len);
		elf32_mutations[i].fn((Elf32_Ehdr *)b, (Elf32_Phdr *)(b + ((Elf32_Ehdr *)b)->e_phoff), &len);
		put(elf32_mutations[i].name, b, len);
		free(b);
	}
	free(good);
	read_good(argv[5]);
	size_t hoff = mb_header_offset();
	for (size_t i = 0; i < sizeof(mb_mutations) / sizeof(mb_mutations[0]); i++) {
		unsigned char *b = malloc(good_len);
		size_t len = good_len;

		if (!b)
			exit(1);
		memcpy(b, good, good_len);
		mb_mutations[i].fn((uint32_t *)(b + hoff), &len);
		put(mb_mutations[i].name, b, len);
		free(b);
	}
	/* the header moved past the first 8192 bytes: not found */
	unsigned char *far = calloc(1, 8192 + good_len);
	if (!far)
		exit(1);
	memcpy(far + 8192, good, good_len);
	put("mb-past-8192", far, 8192 + good_len);
	free(far);
	put("empty", "", 0);
	put("garbage", garbage, sizeof(garbage) - 1);
	return 0;
}
