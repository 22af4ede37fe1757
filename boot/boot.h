/* boot/boot.h: kernel loaders (bzImage, vmlinux ELF, PVH), e820, boot page tables, ACPI tables. */
#ifndef BOOT_H
#define BOOT_H

#include "../vmm.h"

/* Fixed low-memory layout used by the loaders (all below 1 MiB). */
#define BOOT_GDT_ADDR      0x0500ull
#define BOOT_PML4_ADDR     0x1000ull   /* PML4, PDPT, 4 PDs: identity map of 0-4 GiB */
#define BOOT_ZERO_PAGE     0x7000ull   /* struct boot_params */
#define BOOT_START_INFO    0x8000ull   /* PVH hvm_start_info + memmap */
#define BOOT_CMDLINE_ADDR  0x20000ull
#define BOOT_CMDLINE_MAX   0x10000ull
#define EBDA_START         0x9FC00ull  /* [EBDA_START, 1 MiB) reserved in e820 */
#define ACPI_TABLES_ADDR   0xE0000ull  /* RSDP first; tables up to 1 MiB */
#define ACPI_TABLES_SIZE   0x20000ull

/* How a vCPU must be set up to enter the loaded kernel. */
struct boot_entry {
	bool pvh;        /* true: 32-bit protected mode, paging off, EBX = start_info */
	uint64_t rip;    /* entry point */
	uint64_t rsi;    /* 64-bit entry: zero page address */
	uint64_t rbx;    /* PVH: hvm_start_info address */
	uint64_t cr3;    /* 64-bit entry: PML4 address */
	uint64_t gdt;    /* flat GDT: 0x08 code32, 0x10 code64, 0x18 data */
};

struct boot_input {
	const uint8_t *kernel; size_t kernel_len;
	const uint8_t *initrd; size_t initrd_len;   /* initrd may be NULL */
	const char *cmdline;
	gpa_t rsdp;                                  /* 0 if none */
};

/*
 * Detect the kernel format (bzImage, ELF64 with or without a PVH note), copy
 * kernel and initrd into guest memory, write command line, zero page or PVH
 * start info, e820 map and boot page tables. Returns 0, or -1 with a one-line
 * reason in err (the caller prefixes the file name and exits 2).
 */
int boot_load(const struct guest_mem *m, const struct boot_input *in, struct boot_entry *out,
	      char *err, size_t errlen) MUST_CHECK;

/* ACPI tables description. */
struct acpi_config {
	int ncpus;                 /* APIC IDs 0..ncpus-1 */
	uint16_t pm_port;          /* sleep control +0, sleep status +1, reset +2 */
	uint16_t pvpanic_port;     /* 0 = no pvpanic device */
	bool pci;                  /* PCI root + MCFG (ECAM at PCI_ECAM_START, bus 0) */
};
#define ACPI_PM_PORT      0x600
#define ACPI_RESET_VALUE  0x01
#define ACPI_SLP_TYP_S5   5       /* \_S5 package value; SLP_TYP field of the sleep control reg */
#define PVPANIC_PORT      0x505

/* Write RSDP, XSDT, FADT, DSDT, MADT (and MCFG) at ACPI_TABLES_ADDR. Returns the RSDP address, 0 on failure. */
gpa_t acpi_build(const struct guest_mem *m, const struct acpi_config *cfg) MUST_CHECK;

#endif
