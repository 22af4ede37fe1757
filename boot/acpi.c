/* boot/acpi.c: ACPI tables for a hardware-reduced PC: RSDP, XSDT, FADT, MADT, MCFG and an AML DSDT. */
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "../le.h"
#include "aml.h"
#include "../apic/apic.h"
#include "../dev/dev.h"
#include "../dev/pci.h"

#define ACPI_HDR_LEN      36
#define ACPI_OEM_ID       "VMM   "
#define ACPI_OEM_TABLE_ID "VMM     "
#define ACPI_CREATOR_ID   "VMM "
#define ACPI_ALIGN        16
#define XSDT_MAX_ENTRIES  8

#define RSDP_LEN          36
#define FADT_LEN          276   /* ACPI 6.0-6.5: up to the hypervisor vendor identity */
#define FADT_MINOR        3     /* ACPI 6.3, the newest the iasl in Debian 12 knows */
#define MADT_REVISION     5     /* ACPI 6.3 */
#define MCFG_LEN          (44 + 16)

/* FADT field offsets (ACPI 6.3 table 5-33). */
enum {
	FADT_IAPC_BOOT_ARCH = 109, FADT_FLAGS = 112, FADT_RESET_REG = 116,
	FADT_RESET_VALUE = 128, FADT_MINOR_VERSION = 131, FADT_X_DSDT = 140,
	FADT_SLEEP_CONTROL = 244, FADT_SLEEP_STATUS = 256, FADT_HYPERVISOR_ID = 268,
};
/* IA-PC boot architecture flags: no VGA, no CMOS RTC (kvm-clock gives wall-clock time).
 * The 8042 flag stays clear: Linux then marks the i8042 firmware-absent and, with no
 * PNP0303 device in the DSDT, skips probing the controller instead of stalling on it. */
#define IAPC_VGA_NOT_PRESENT   (1u << 2)
#define IAPC_CMOS_RTC_ABSENT   (1u << 5)
/* FADT flags: power and sleep buttons are not fixed-feature (no phantom LNXPWRBN). */
#define FADT_F_WBINVD          (1u << 0)
#define FADT_F_PWR_BUTTON      (1u << 4)
#define FADT_F_SLP_BUTTON      (1u << 5)
#define FADT_F_RESET_REG_SUP   (1u << 10)
#define FADT_F_HW_REDUCED      (1u << 20)

/* MADT entry types and lengths. */
enum { MADT_IOAPIC = 1, MADT_X2APIC = 9, MADT_X2APIC_NMI = 0x0A };
#define MADT_HDR_LEN      44
#define MADT_IOAPIC_LEN   12
#define MADT_X2APIC_LEN   16
#define MADT_X2NMI_LEN    12

#define GAS_SYSTEM_IO     1
#define GAS_ACCESS_BYTE   1

/* The tables are assembled in a host buffer, then copied to guest memory at once. */
struct stage {
	uint8_t *buf;
	size_t used;
	gpa_t base;
	uint64_t xsdt[XSDT_MAX_ENTRIES];
	unsigned nxsdt;
};


static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	while (len--)
		s += *p++;
	return s;
}

/* Reserve len bytes, 16-byte aligned; returns the offset, or SIZE_MAX if full. */
static size_t stage_alloc(struct stage *st, size_t len)
{
	size_t off = (st->used + ACPI_ALIGN - 1) & ~(size_t)(ACPI_ALIGN - 1);
	if (off > ACPI_TABLES_SIZE || len > ACPI_TABLES_SIZE - off)
		return SIZE_MAX;
	st->used = off + len;
	return off;
}

/* Fill a standard header; the checksum is set by table_done() once the body is written. */
static void table_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put_le32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	put_le32(t + 24, 1);
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put_le32(t + 32, 1);
}

/* Checksum the table at off and list it in the XSDT (unless it is the DSDT). */
static void table_done(struct stage *st, size_t off, bool in_xsdt)
{
	uint8_t *t = st->buf + off;
	uint32_t len = get_le32(t + 4);
	t[9] = 0;
	t[9] = (uint8_t)-sum8(t, len);
	if (in_xsdt && st->nxsdt < XSDT_MAX_ENTRIES)
		st->xsdt[st->nxsdt++] = st->base + off;
}

/* A Generic Address Structure for a byte-wide I/O port. */
static void gas_io8(uint8_t *p, uint16_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = 8;   /* bit width */
	p[2] = 0;   /* bit offset */
	p[3] = GAS_ACCESS_BYTE;
	put_le64(p + 4, port);
}

static bool build_fadt(struct stage *st, const struct acpi_config *cfg, gpa_t dsdt)
{
	size_t off = stage_alloc(st, FADT_LEN);
	if (off == SIZE_MAX)
		return false;
	uint8_t *t = st->buf + off;
	table_header(t, "FACP", FADT_LEN, 6);
	put_le16(t + FADT_IAPC_BOOT_ARCH, IAPC_VGA_NOT_PRESENT | IAPC_CMOS_RTC_ABSENT);
	put_le32(t + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON |
			      FADT_F_RESET_REG_SUP | FADT_F_HW_REDUCED);
	gas_io8(t + FADT_RESET_REG, (uint16_t)(cfg->pm_port + 2));
	t[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
	t[FADT_MINOR_VERSION] = FADT_MINOR;
	put_le64(t + FADT_X_DSDT, dsdt);   /* the 32-bit DSDT field stays 0: X_DSDT is used */
	gas_io8(t + FADT_SLEEP_CONTROL, cfg->pm_port);
	gas_io8(t + FADT_SLEEP_STATUS, (uint16_t)(cfg->pm_port + 1));
	memcpy(t + FADT_HYPERVISOR_ID, "VMM", 3);
	table_done(st, off, true);
	return true;
}

static size_t madt_len(int ncpus)
{
	return MADT_HDR_LEN + (size_t)ncpus * MADT_X2APIC_LEN + MADT_IOAPIC_LEN + MADT_X2NMI_LEN;
}

/* One Local x2APIC entry per CPU (BSP first), the IOAPIC, and NMI on LINT1 for all CPUs. */
static bool build_madt(struct stage *st, int ncpus)
{
	size_t len = madt_len(ncpus);
	size_t off = stage_alloc(st, len);
	if (off == SIZE_MAX)
		return false;
	uint8_t *t = st->buf + off;
	table_header(t, "APIC", (uint32_t)len, MADT_REVISION);
	put_le32(t + 36, (uint32_t)LAPIC_ADDR);
	put_le32(t + 40, 0);   /* no PCAT_COMPAT: there is no 8259 PIC */
	uint8_t *e = t + MADT_HDR_LEN;
	for (int i = 0; i < ncpus; i++, e += MADT_X2APIC_LEN) {
		e[0] = MADT_X2APIC;
		e[1] = MADT_X2APIC_LEN;
		put_le32(e + 4, (uint32_t)i);   /* x2APIC ID */
		put_le32(e + 8, 1);             /* enabled */
		put_le32(e + 12, (uint32_t)i);  /* ACPI processor UID */
	}
	e[0] = MADT_IOAPIC;
	e[1] = MADT_IOAPIC_LEN;
	e[2] = IOAPIC_ID;
	put_le32(e + 4, (uint32_t)IOAPIC_ADDR);
	put_le32(e + 8, 0);   /* GSI base */
	e += MADT_IOAPIC_LEN;
	e[0] = MADT_X2APIC_NMI;
	e[1] = MADT_X2NMI_LEN;
	put_le16(e + 2, 0);             /* polarity and trigger conform to the bus */
	put_le32(e + 4, 0xFFFFFFFF);    /* all processors */
	e[8] = 1;                    /* LINT1 */
	table_done(st, off, true);
	return true;
}

static bool build_mcfg(struct stage *st)
{
	size_t off = stage_alloc(st, MCFG_LEN);
	if (off == SIZE_MAX)
		return false;
	uint8_t *t = st->buf + off;
	table_header(t, "MCFG", MCFG_LEN, 1);
	uint8_t *e = t + 44;
	put_le64(e, PCI_ECAM_START);
	put_le16(e + 8, 0);   /* segment */
	e[10] = 0;         /* first bus */
	e[11] = (uint8_t)(PCI_ECAM_SIZE >> 20) - 1;   /* last bus: 1 MiB of ECAM per bus */
	table_done(st, off, true);
	return true;
}

/* ---- DSDT ---- */

static void dsdt_s5(struct aml *a)
{
	aml_name(a, "_S5");   /* at the root: no prefix needed (iasl would drop it too) */
	aml_package(a, 4);   /* SLP_TYPa, SLP_TYPb, reserved, reserved */
	aml_int(a, ACPI_SLP_TYP_S5);
	aml_int(a, ACPI_SLP_TYP_S5);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_close(a);
}

static void dsdt_com(struct aml *a, const char *name, uint16_t port, unsigned irq, unsigned uid)
{
	uint8_t tmp[64];
	struct aml r;
	aml_init(&r, tmp, sizeof(tmp));
	aml_res_io(&r, port, 8);
	aml_res_irq(&r, irq);

	aml_device(a, name);
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name(a, "_UID");
	aml_int(a, uid);
	aml_name(a, "_CRS");
	aml_restemplate(a, &r);
	aml_close(a);
}

/* QEMU's pvpanic ISA device: Linux's pvpanic-mmio driver binds to QEMU0001 and uses its I/O port. */
static void dsdt_pvpanic(struct aml *a, uint16_t port)
{
	uint8_t tmp[32];
	struct aml r;
	aml_init(&r, tmp, sizeof(tmp));
	aml_res_io(&r, port, 1);

	aml_device(a, "PEVT");
	aml_name(a, "_HID");
	aml_string(a, "QEMU0001");
	aml_name(a, "_STA");
	aml_int(a, 0x0F);
	aml_name(a, "_CRS");
	aml_restemplate(a, &r);
	aml_close(a);
}

/*
 * The power button without fixed hardware: a Generic Event Device (ACPI 6.4
 * 5.6.9) whose edge interrupt runs _EVT, which notifies PNP0C0C "pressed".
 */
static void dsdt_power_button(struct aml *a)
{
	uint8_t tmp[16];
	struct aml r;

	aml_device(a, "PWRB");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0C0C");
	aml_name(a, "_UID");
	aml_int(a, 1);
	aml_close(a);

	aml_init(&r, tmp, sizeof(tmp));
	aml_res_gsi_edge(&r, ACPI_PWRBTN_GSI);
	aml_device(a, "GED0");
	aml_name(a, "_HID");
	aml_string(a, "ACPI0013");
	aml_name(a, "_UID");
	aml_int(a, 0);
	aml_name(a, "_CRS");
	aml_restemplate(a, &r);
	aml_method(a, "_EVT", 1, true);
	aml_if(a);
	aml_byte(a, AML_LEQUAL);
	aml_byte(a, AML_ARG0);
	aml_int(a, ACPI_PWRBTN_GSI);
	aml_byte(a, AML_NOTIFY);
	aml_namestring(a, "PWRB");
	aml_int(a, 0x80);   /* power button pressed */
	aml_close(a);
	aml_close(a);
	aml_close(a);
}

static void dsdt_pci_crs(struct aml *a)
{
	uint8_t tmp[128];
	struct aml r;
	aml_init(&r, tmp, sizeof(tmp));
	aml_res_bus_range(&r, 0, 0);
	aml_res_io(&r, 0x0CF8, 8);   /* the config-space ports the bridge itself decodes */
	aml_res_io_window(&r, 0x0000, 0x0CF7);
	aml_res_io_window(&r, 0x0D00, 0xFFFF);
	aml_res_mem32_window(&r, (uint32_t)PCI_MMIO_START, (uint32_t)(PCI_MMIO_START + PCI_MMIO_SIZE - 1));
	aml_name(a, "_CRS");
	aml_restemplate(a, &r);
}

/*
 * _OSC for the PCI host bridge (PCI Firmware spec 4.5): grant every control the
 * OS asks for by returning its buffer unchanged; an unknown UUID gets bit 2.
 *   CreateDWordField(Arg3, 0, CDW1)
 *   If (!(Arg0 == ToUUID(PCI_HOST_BRIDGE_UUID))) { CDW1 |= 4 }
 *   Return (Arg3)
 */
static void dsdt_pci_osc(struct aml *a)
{
	aml_method(a, "_OSC", 4, true);
	aml_byte(a, AML_CREATE_DWORD_FIELD);
	aml_byte(a, AML_ARG3);
	aml_int(a, 0);
	aml_namestring(a, "CDW1");
	aml_if(a);
	aml_byte(a, AML_LNOT);
	aml_byte(a, AML_LEQUAL);
	aml_byte(a, AML_ARG0);
	aml_uuid(a, "33db4d5b-1ff7-401c-9657-7441c03dd766");
	aml_byte(a, AML_OR);
	aml_namestring(a, "CDW1");
	aml_int(a, 4);
	aml_namestring(a, "CDW1");
	aml_close(a);
	aml_byte(a, AML_RETURN);
	aml_byte(a, AML_ARG3);
	aml_close(a);
}

/* _PRT: every slot's INTA-INTD on the IOAPIC pins dev/pci.c raises (level, active low by PCI rule). */
static void dsdt_pci_prt(struct aml *a)
{
	aml_name(a, "_PRT");
	aml_package(a, PCI_SLOTS * 4);
	for (int slot = 0; slot < PCI_SLOTS; slot++) {
		for (int pin = 0; pin < 4; pin++) {
			aml_package(a, 4);
			aml_int(a, (uint64_t)slot << 16 | 0xFFFF);   /* any function of the slot */
			aml_int(a, (uint64_t)pin);
			aml_int(a, 0);   /* no link device: the last field is a GSI */
			aml_int(a, pci_intx_gsi(slot, pin));
			aml_close(a);
		}
	}
	aml_close(a);
}

static void dsdt_pci(struct aml *a)
{
	aml_device(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A08");
	aml_name(a, "_CID");
	aml_eisaid(a, "PNP0A03");
	aml_name(a, "_SEG");
	aml_int(a, 0);
	aml_name(a, "_BBN");
	aml_int(a, 0);
	aml_name(a, "_UID");
	aml_int(a, 0);
	dsdt_pci_crs(a);
	dsdt_pci_osc(a);
	dsdt_pci_prt(a);
	aml_close(a);
}

/*
 * Motherboard resources: the ACPI PM ports, so the OS never places a PCI I/O BAR on
 * them, and the ECAM window, which Linux checks before it trusts the MCFG entry.
 */
static void dsdt_mres(struct aml *a, const struct acpi_config *cfg)
{
	uint8_t tmp[32];
	struct aml r;
	aml_init(&r, tmp, sizeof(tmp));
	aml_res_io(&r, cfg->pm_port, 3);
	if (cfg->pci)
		aml_res_mem32_fixed(&r, (uint32_t)PCI_ECAM_START, (uint32_t)PCI_ECAM_SIZE);

	aml_device(a, "MRES");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0C02");
	aml_name(a, "_UID");
	aml_int(a, 0);
	aml_name(a, "_CRS");
	aml_restemplate(a, &r);
	aml_close(a);
}

static void dsdt_body(struct aml *a, const struct acpi_config *cfg)
{
	dsdt_s5(a);
	aml_scope(a, "_SB");
	dsdt_com(a, "COM1", COM1_PORT, COM1_IRQ, 1);
	if (cfg->com2)
		dsdt_com(a, "COM2", COM2_PORT, COM2_IRQ, 2);
	dsdt_power_button(a);
	if (cfg->pvpanic_port)
		dsdt_pvpanic(a, cfg->pvpanic_port);
	if (cfg->pci)
		dsdt_pci(a);
	dsdt_mres(a, cfg);
	aml_close(a);
}

/* The AML is written in place after the header, with the rest of the stage as its limit. */
static gpa_t build_dsdt(struct stage *st, const struct acpi_config *cfg)
{
	size_t off = stage_alloc(st, ACPI_HDR_LEN);
	if (off == SIZE_MAX)
		return 0;
	struct aml a;
	aml_init(&a, st->buf + off + ACPI_HDR_LEN, ACPI_TABLES_SIZE - st->used);
	dsdt_body(&a, cfg);
	if (!aml_done(&a))
		return 0;
	st->used += a.len;
	table_header(st->buf + off, "DSDT", (uint32_t)(ACPI_HDR_LEN + a.len), 2);
	table_done(st, off, false);
	return st->base + off;
}

static void build_xsdt(struct stage *st, size_t off)
{
	uint32_t len = ACPI_HDR_LEN + 8 * st->nxsdt;
	uint8_t *t = st->buf + off;
	table_header(t, "XSDT", len, 1);
	for (unsigned i = 0; i < st->nxsdt; i++)
		put_le64(t + ACPI_HDR_LEN + 8 * i, st->xsdt[i]);
	table_done(st, off, false);
}

static void build_rsdp(struct stage *st, gpa_t xsdt)
{
	uint8_t *t = st->buf;   /* always at offset 0: on a 16-byte boundary for the legacy scan */
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, ACPI_OEM_ID, 6);
	t[15] = 2;              /* revision: ACPI 2.0+ with an XSDT (no RSDT) */
	put_le32(t + 20, RSDP_LEN);
	put_le64(t + 24, xsdt);
	t[8] = (uint8_t)-sum8(t, 20);
	t[32] = (uint8_t)-sum8(t, RSDP_LEN);
}

static bool config_ok(const struct acpi_config *cfg)
{
	return cfg->ncpus >= 1 && cfg->ncpus <= MAX_CPUS && cfg->pm_port != 0 &&
	       cfg->pm_port <= 0xFFFD && cfg->addr % ACPI_ALIGN == 0;
}

/* Lay out every table in st; false if anything does not fit. */
static bool build_all(struct stage *st, const struct acpi_config *cfg)
{
	size_t rsdp = stage_alloc(st, RSDP_LEN);
	size_t xsdt = stage_alloc(st, ACPI_HDR_LEN + 8 * XSDT_MAX_ENTRIES);
	if (rsdp != 0 || xsdt == SIZE_MAX)
		return false;
	gpa_t dsdt = build_dsdt(st, cfg);
	if (!dsdt || !build_fadt(st, cfg, dsdt) || !build_madt(st, cfg->ncpus))
		return false;
	if (cfg->pci && !build_mcfg(st))
		return false;
	build_xsdt(st, xsdt);
	build_rsdp(st, st->base + xsdt);
	return true;
}

gpa_t acpi_build(const struct guest_mem *m, const struct acpi_config *cfg)
{
	if (!config_ok(cfg))
		return 0;
	struct stage st = { .base = cfg->addr ? cfg->addr : ACPI_TABLES_ADDR };
	st.buf = calloc(1, ACPI_TABLES_SIZE);
	if (!st.buf)
		return 0;
	/* The whole area must be RAM; only the bytes used are written (fewer guest pages touched). */
	bool ok = gm_ptr(m, st.base, ACPI_TABLES_SIZE) && build_all(&st, cfg) &&
		  gm_write(m, st.base, st.buf, st.used) == 0;
	free(st.buf);
	return ok ? st.base : 0;
}
