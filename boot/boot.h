/* boot/boot.h: kernel loaders (bzImage, vmlinux ELF, PVH, multiboot), e820, boot page tables, ACPI tables. */
#ifndef BOOT_H
#define BOOT_H

#include <linux/limits.h>   /* PATH_MAX (<limits.h> would define PAGE_SIZE) */

#include "../vmm.h"

/* Fixed low-memory layout used by the loaders (all below 1 MiB). */
#define BOOT_GDT_ADDR      0x0500ull
#define BOOT_PML4_ADDR     0x1000ull   /* PML4, PDPT, 4 PDs: identity map of 0-4 GiB */
#define BOOT_ZERO_PAGE     0x7000ull   /* struct boot_params */
#define BOOT_START_INFO    0x8000ull   /* PVH hvm_start_info + memmap, or the multiboot info + lists */
#define BOOT_CMDLINE_ADDR  0x20000ull
#define BOOT_CMDLINE_MAX   0x10000ull
#define BOOT_MB_STRINGS    0x30000ull   /* multiboot module strings */
#define BOOT_MB_STRINGS_MAX 0x10000ull
#define BOOT_MAX_MODULES   8            /* multiboot: the initrd and --module files */
#define EBDA_START         0x9FC00ull  /* [EBDA_START, 1 MiB) reserved in e820 */
#define ACPI_TABLES_ADDR   0xE0000ull  /* RSDP first; tables up to 1 MiB */
#define ACPI_TABLES_SIZE   0x20000ull

/* How a vCPU must be set up to enter the loaded kernel. */
struct boot_entry {
	bool pvh;        /* true: 32-bit flat protected mode, paging off (PVH and multiboot) */
	uint64_t rip;    /* entry point */
	uint64_t rsi;    /* 64-bit entry: zero page address */
	uint64_t rbx;    /* PVH: hvm_start_info address; multiboot: the multiboot info address */
	uint64_t rax;    /* multiboot: 0x2BADB002 */
	uint64_t cr3;    /* 64-bit entry: PML4 address */
	uint64_t gdt;    /* flat GDT: 0x08 code32, 0x10 code64, 0x18 data */
};

/* A multiboot module: its bytes and its string (the module's command line). */
struct boot_module { const uint8_t *data; size_t len; const char *string; };

struct boot_input {
	const uint8_t *kernel; size_t kernel_len;
	const uint8_t *initrd; size_t initrd_len;   /* initrd may be NULL */
	const char *cmdline;
	gpa_t rsdp;                                  /* 0 if none */
	const char *initrd_name;                     /* multiboot: module 0's string (NULL = "") */
	const struct boot_module *mods; int nmods;   /* multiboot modules after the initrd */
};

/*
 * Detect the kernel format, copy kernel, initrd (and multiboot modules) into
 * guest memory, write command line, zero page, PVH start info or multiboot
 * info, e820 map and boot page tables. Order: an ELF with the Xen PVH note
 * (ELF32 or ELF64) -> PVH; another ELF with a valid multiboot header ->
 * multiboot; another ELF64 -> 64-bit entry; "HdrS" at 0x202 -> bzImage; a
 * valid multiboot header -> multiboot. Returns 0, or -1 with a one-line reason in err
 * (the caller prefixes the file name and exits 2): a reason about the initrd
 * starts with "initrd", one about in->mods[i] with "module i: ".
 */
int boot_load(const struct guest_mem *m, const struct boot_input *in, struct boot_entry *out,
	      char *err, size_t errlen) MUST_CHECK;

/* ---- loader internals (boot/layout.c, zeropage.c, bzimage.c, elf.c) ---- */
#define BOOT_KERNEL_ADDR   0x100000ull  /* bzImage protected-mode kernel; ELF segments start here or above */
#define BOOT_TSS_SEL       0x20         /* GDT also holds a 32-bit busy TSS (base 0, limit 0x67) for TR */
#define E820_RAM           1
#define E820_RESERVED      2
#define E820_MAX           8
struct e820_entry { uint64_t addr, size; uint32_t type; };

/* Fill e[] with the guest memory map (RAM, EBDA/BIOS hole, ECAM, high RAM); returns the count. */
int boot_e820(const struct guest_mem *m, struct e820_entry e[E820_MAX]);
/* Write the flat GDT and the 0-4 GiB identity page tables; sets out->gdt and out->cr3. -1 if RAM too small. */
int boot_write_cpu_tables(const struct guest_mem *m, struct boot_entry *out) MUST_CHECK;
/* Write the command line (NULL = empty) at BOOT_CMDLINE_ADDR; -1 with err if strlen > max. */
int boot_write_cmdline(const struct guest_mem *m, const char *cmdline, uint64_t max,
		       char *err, size_t errlen) MUST_CHECK;
/*
 * Copy the initrd (none: *addr = 0) page-aligned as high as possible in [lo, min(hi, low RAM top)).
 * -1 with err if it does not fit.
 */
int boot_place_initrd(const struct guest_mem *m, const struct boot_input *in, gpa_t lo, gpa_t hi,
		      gpa_t *addr, char *err, size_t errlen) MUST_CHECK;
/*
 * Complete a 4096-byte zero page whose setup header is already filled (loader type, heap, command
 * line, initrd, RSDP, e820) and write it at BOOT_ZERO_PAGE. -1 if it cannot be written.
 */
int boot_write_zero_page(const struct guest_mem *m, const struct boot_input *in, uint8_t *zp,
			 gpa_t initrd) MUST_CHECK;
/* The two loaders behind boot_load(); same contract. */
int boot_load_bzimage(const struct guest_mem *m, const struct boot_input *in,
		      struct boot_entry *out, char *err, size_t errlen) MUST_CHECK;
int boot_load_elf(const struct guest_mem *m, const struct boot_input *in,
		  struct boot_entry *out, char *err, size_t errlen) MUST_CHECK;
int boot_load_multiboot(const struct guest_mem *m, const struct boot_input *in, size_t hdr_off,
			struct boot_entry *out, char *err, size_t errlen) MUST_CHECK;
/*
 * Offset of the first valid multiboot header (magic 0x1BADB002, 4-byte aligned, in the first
 * 8192 bytes, checksum right), or -1; *bad_off: the first magic with a wrong checksum, or -1.
 */
long boot_multiboot_find(const struct boot_input *in, long *bad_off);

/* An ELF32 (EM_386) or ELF64 (EM_X86_64) executable, checked by boot_elf_parse(). */
struct boot_elf {
	const uint8_t *f; size_t len;
	bool is32;
	uint64_t entry, phoff;
	uint16_t phentsize, phnum;
	uint64_t kernel_end;   /* highest end of a segment in low RAM (at least 1 MiB) */
	uint64_t end;          /* highest end of any segment */
	uint64_t pvh_entry;
	bool pvh;              /* has XEN_ELFNOTE_PHYS32_ENTRY */
};
/* Check the ELF header, program headers, segments (in file, in guest RAM, at or above 1 MiB) and notes. */
int boot_elf_parse(struct boot_elf *e, const struct guest_mem *m, const uint8_t *f, size_t len,
		   char *err, size_t errlen) MUST_CHECK;
/* Copy the PT_LOAD segments and zero their tails; -1 if one is outside guest RAM. */
int boot_elf_load(const struct boot_elf *e, const struct guest_mem *m) MUST_CHECK;
/* True if addr lies in a PT_LOAD segment. */
bool boot_elf_in_segment(const struct boot_elf *e, uint64_t addr);
/*
 * e_entry as a physical address: itself if it lies in a segment's [p_paddr, +p_memsz), else
 * translated through the first segment whose [p_vaddr, +p_memsz) holds it (a higher-half
 * kernel, as GRUB does for multiboot). False if neither.
 */
bool boot_elf_entry_paddr(const struct boot_elf *e, uint64_t *paddr);
/* snprintf into err; returns -1 so callers can `return boot_err(...)`. */
int boot_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ACPI tables description. */
struct acpi_config {
	int ncpus;                 /* APIC IDs 0..ncpus-1 */
	uint16_t pm_port;          /* sleep control +0, sleep status +1, reset +2 */
	uint16_t pvpanic_port;     /* 0 = no pvpanic device */
	bool pci;                  /* PCI root + MCFG (ECAM at PCI_ECAM_START, bus 0) */
	bool com2;                 /* a second UART at COM2_PORT */
	gpa_t addr;                /* where to write the tables: 0 = ACPI_TABLES_ADDR (tests move them) */
};
#define ACPI_PM_PORT      0x600
#define ACPI_RESET_VALUE  0x01
#define ACPI_SLP_TYP_S5   5       /* \_S5 package value; SLP_TYP field of the sleep control reg */
#define PVPANIC_PORT      0x505
#define ACPI_PWRBTN_GSI   5       /* the power button: an edge on this IOAPIC pin (GED, ACPI0013) */

/*
 * Write RSDP, XSDT, FADT, DSDT, MADT (and MCFG) in the ACPI_TABLES_SIZE bytes at
 * ACPI_TABLES_ADDR (or cfg->addr), RSDP first; only the bytes used are written. Returns the RSDP address, 0 if cfg is
 * invalid (ncpus outside 1..MAX_CPUS, pm_port 0 or above 0xFFFD, addr not 16-aligned)
 * or the area is not guest RAM. Hardware-reduced ACPI: no PIC, PIT, SCI or CMOS RTC;
 * PCI INTx of slot s pin p (0 = INTA) is routed to IOAPIC pin 16 + ((s + p) & 7).
 */
gpa_t acpi_build(const struct guest_mem *m, const struct acpi_config *cfg) MUST_CHECK;

/* ---- initramfs (boot/initramfs.c) ---- */
/* An in-memory cpio "newc" archive, as the kernel unpacks an initramfs. Zero-initialize it. */
struct cpio { uint8_t *buf; size_t len, cap; unsigned ino; };
/*
 * Append an entry: mode includes the type (S_IFREG, S_IFDIR, S_IFLNK: data = the target); uid and
 * gid 0, mtime 0; a leading '/' of name is dropped; parents are not implied. 0, or -ENOMEM, or
 * -EINVAL (empty name, another type, a directory with data, a symlink without, len >= 4 GiB).
 */
int cpio_add(struct cpio *c, const char *name, unsigned mode, const void *data, size_t len) MUST_CHECK;
/* Append the TRAILER!!! entry (every entry is padded, so the archive is a multiple of 4 bytes). */
/* The whole of a file (also for run.c), NUL-terminated (not counted in *outlen, which may be NULL). 0 or -errno. */
int boot_read_file(const char *path, char **out, size_t *outlen) MUST_CHECK;
/* A kernel, initrd or module mapped read-only, whole; exits 2 naming the file and the option (`what`). */
struct mapped_file { const uint8_t *data; size_t len; };
struct mapped_file boot_map_file(const char *path, const char *what);
int cpio_finish(struct cpio *c) MUST_CHECK;
void cpio_free(struct cpio *c);
/*
 * The kernel's release ("6.1.0-57-cloud-amd64") from a bzImage (setup header kernel_version at
 * 0x20E: offset of a string relative to 0x200) or an ELF vmlinux / other image (the first
 * "Linux version " followed by a digit). The release ends at a space, '(' or NUL.
 * 0, or -EINVAL if none (or it does not fit in outlen).
 */
int boot_kernel_release(const void *k, size_t len, char *out, size_t outlen) MUST_CHECK;
/*
 * Resolve kernel modules for loading: for each wanted name (e.g. "virtio_pci", "virtiofs",
 * "overlay"; '-' and '_' are equivalent) find it in MODDIR/modules.dep and add its dependencies
 * first (modules.dep lists them transitive, deepest last: they are added in reverse), then it;
 * no duplicates. Names in MODDIR/modules.builtin (optional file) are built in: nothing to load.
 * Fills paths[] (absolute host paths, compressed names kept, in load order) and returns the
 * count, or -ENOENT (err names the module, neither module nor built-in), -E2BIG (more than max),
 * -errno (err names the file). optional[i] true (optional may be NULL): a missing module is skipped.
 */
int kmod_resolve(const char *moddir, const char *const *want, const bool *optional, unsigned nwant,
		 char (*paths)[PATH_MAX], unsigned max, char *err, size_t errlen) MUST_CHECK;

#endif
