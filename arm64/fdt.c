/* arm64/fdt.c: the machine as a flattened device tree, built with libfdt: memory, cpus (PSCI), timer, GICv3 + ITS, UARTs, pvpanic, debug-exit, the ECAM PCI host, /chosen. */
#include <stdio.h>
#include <libfdt.h>

#include "arm64.h"
#include "../dev/pci.h"

#define PH_GIC 1
#define PH_ITS 2
#define GIC_SPI 0
#define GIC_PPI 1
#define IRQ_LEVEL_HIGH 4

/* Every libfdt call goes through this: the first error sticks and the rest do nothing. */
struct fdt_b { void *buf; int err; };

static void ck(struct fdt_b *b, int r)
{
	if (r < 0 && !b->err)
		b->err = r;
}

static void begin(struct fdt_b *b, const char *name, uint64_t addr)
{
	char n[64];

	if (b->err)
		return;
	if (addr != UINT64_MAX)
		snprintf(n, sizeof(n), "%s@%llx", name, (unsigned long long)addr);
	else
		snprintf(n, sizeof(n), "%s", name);
	ck(b, fdt_begin_node(b->buf, n));
}

static void end(struct fdt_b *b)
{
	if (!b->err)
		ck(b, fdt_end_node(b->buf));
}

static void str(struct fdt_b *b, const char *name, const char *v)
{
	if (!b->err)
		ck(b, fdt_property_string(b->buf, name, v));
}

static void u32p(struct fdt_b *b, const char *name, uint32_t v)
{
	if (!b->err)
		ck(b, fdt_property_u32(b->buf, name, v));
}

static void u64p(struct fdt_b *b, const char *name, uint64_t v)
{
	if (!b->err)
		ck(b, fdt_property_u64(b->buf, name, v));
}

static void empty(struct fdt_b *b, const char *name)
{
	if (!b->err)
		ck(b, fdt_property(b->buf, name, NULL, 0));
}

/* A property of n big-endian cells. */
static void cells(struct fdt_b *b, const char *name, const uint32_t *v, int n)
{
	fdt32_t be[16];

	for (int i = 0; i < n && i < 16; i++)
		be[i] = cpu_to_fdt32(v[i]);
	if (!b->err)
		ck(b, fdt_property(b->buf, name, be, (int)(n * sizeof(fdt32_t))));
}

/* reg = <addr size> with two cells each. */
static void reg(struct fdt_b *b, uint64_t addr, uint64_t size)
{
	uint32_t v[4] = { (uint32_t)(addr >> 32), (uint32_t)addr, (uint32_t)(size >> 32), (uint32_t)size };

	cells(b, "reg", v, 4);
}

static void spi(struct fdt_b *b, unsigned n)
{
	uint32_t v[3] = { GIC_SPI, n, IRQ_LEVEL_HIGH };

	cells(b, "interrupts", v, 3);
}

static void uart(struct fdt_b *b, uint64_t base, unsigned irq)
{
	begin(b, "serial", base);
	str(b, "compatible", "ns16550a");
	reg(b, base, 0x1000);
	spi(b, irq);
	u32p(b, "clock-frequency", 1843200);
	u32p(b, "reg-shift", 0);
	u32p(b, "reg-io-width", 1);
	end(b);
}

static void cpus(struct fdt_b *b, const struct fdt_config *c)
{
	begin(b, "cpus", UINT64_MAX);
	u32p(b, "#address-cells", 1);
	u32p(b, "#size-cells", 0);
	for (int i = 0; i < c->ncpus; i++) {
		begin(b, "cpu", c->mpidr[i]);
		str(b, "device_type", "cpu");
		str(b, "compatible", "arm,arm-v8");
		str(b, "enable-method", "psci");
		u32p(b, "reg", (uint32_t)c->mpidr[i]);
		end(b);
	}
	end(b);
	begin(b, "psci", UINT64_MAX);
	if (!b->err)   /* a string list: KVM's PSCI is 1.0, which 0.2 drivers also drive */
		ck(b, fdt_property(b->buf, "compatible", "arm,psci-1.0\0arm,psci-0.2", 26));
	str(b, "method", "hvc");
	end(b);
}

static void gic(struct fdt_b *b, const struct fdt_config *c)
{
	uint32_t r[8] = { 0, (uint32_t)GIC_DIST_BASE, 0, (uint32_t)GIC_DIST_SIZE,
			  0, (uint32_t)GIC_REDIST_BASE, 0, (uint32_t)(GIC_REDIST_SIZE * (uint64_t)c->ncpus) };
	/* the architected timer's PPIs: secure and non-secure physical, virtual, hypervisor */
	uint32_t t[12] = { GIC_PPI, 13, IRQ_LEVEL_HIGH, GIC_PPI, 14, IRQ_LEVEL_HIGH,
			   GIC_PPI, 11, IRQ_LEVEL_HIGH, GIC_PPI, 10, IRQ_LEVEL_HIGH };

	begin(b, "interrupt-controller", GIC_DIST_BASE);
	str(b, "compatible", "arm,gic-v3");
	u32p(b, "#interrupt-cells", 3);
	empty(b, "interrupt-controller");
	cells(b, "reg", r, 8);
	u32p(b, "#address-cells", 2);
	u32p(b, "#size-cells", 2);
	empty(b, "ranges");
	u32p(b, "phandle", PH_GIC);
	begin(b, "msi-controller", GIC_ITS_BASE);
	str(b, "compatible", "arm,gic-v3-its");
	empty(b, "msi-controller");
	u32p(b, "#msi-cells", 1);
	reg(b, GIC_ITS_BASE, GIC_ITS_SIZE);
	u32p(b, "phandle", PH_ITS);
	end(b);
	end(b);
	begin(b, "timer", UINT64_MAX);
	str(b, "compatible", "arm,armv8-timer");
	cells(b, "interrupts", t, 12);
	empty(b, "always-on");
	end(b);
}

/* The ECAM host: bus 0, one 32-bit memory window, MSIs through the ITS with the requester id as device id. */
static void pci(struct fdt_b *b)
{
	uint32_t ranges[7] = { 0x02000000, 0, (uint32_t)PCI_MMIO_START, 0, (uint32_t)PCI_MMIO_START,
			       0, (uint32_t)PCI_MMIO_SIZE };
	uint32_t bus[2] = { 0, 0 };
	uint32_t msi[4] = { 0, PH_ITS, 0, 0x10000 };
	uint32_t mask[4] = { 0xf800, 0, 0, 7 };
	/* INTx: slot s, pin p (1 = INTA) -> SPI pci_intx_gsi(s, p - 1); 32 slots x 4 pins x 10 cells */
	static fdt32_t map[32 * 4 * 10];
	int n = 0;

	for (int s = 0; s < 32; s++)
		for (int p = 1; p <= 4; p++) {
			uint32_t e[10] = { (uint32_t)s << 11, 0, 0, (uint32_t)p, PH_GIC, 0, 0,
					   GIC_SPI, pci_intx_gsi(s, p - 1), IRQ_LEVEL_HIGH };
			for (int i = 0; i < 10; i++)
				map[n++] = cpu_to_fdt32(e[i]);
		}
	begin(b, "pcie", PCI_ECAM_START);
	str(b, "compatible", "pci-host-ecam-generic");
	str(b, "device_type", "pci");
	reg(b, PCI_ECAM_START, PCI_ECAM_SIZE);
	cells(b, "bus-range", bus, 2);
	u32p(b, "#address-cells", 3);
	u32p(b, "#size-cells", 2);
	u32p(b, "#interrupt-cells", 1);
	u32p(b, "linux,pci-domain", 0);
	cells(b, "ranges", ranges, 7);
	cells(b, "msi-map", msi, 4);
	cells(b, "interrupt-map-mask", mask, 4);
	if (!b->err)
		ck(b, fdt_property(b->buf, "interrupt-map", map, (int)sizeof(map)));
	empty(b, "dma-coherent");
	end(b);
}

int fdt_build(void *buf, size_t len, const struct fdt_config *c, char *err, size_t errlen)
{
	struct fdt_b b = { buf, 0 };
	char path[32];

	ck(&b, fdt_create(buf, (int)len));
	ck(&b, fdt_finish_reservemap(buf));
	begin(&b, "", UINT64_MAX);
	str(&b, "compatible", "linux,dummy-virt");
	str(&b, "model", "vmm");
	u32p(&b, "#address-cells", 2);
	u32p(&b, "#size-cells", 2);
	u32p(&b, "interrupt-parent", PH_GIC);

	begin(&b, "chosen", UINT64_MAX);
	snprintf(path, sizeof(path), "/serial@%llx", (unsigned long long)UART_BASE);
	str(&b, "stdout-path", path);
	if (c->cmdline)
		str(&b, "bootargs", c->cmdline);
	if (c->initrd_end) {
		u64p(&b, "linux,initrd-start", c->initrd_start);
		u64p(&b, "linux,initrd-end", c->initrd_end);
	}
	end(&b);

	begin(&b, "memory", HIGH_RAM_START);
	str(&b, "device_type", "memory");
	reg(&b, HIGH_RAM_START, c->ram_size);
	end(&b);

	cpus(&b, c);
	gic(&b, c);
	uart(&b, UART_BASE, UART_SPI);
	if (c->uart2)
		uart(&b, UART2_BASE, UART2_SPI);
	begin(&b, "pvpanic", PVPANIC_BASE);
	str(&b, "compatible", "qemu,pvpanic-mmio");
	reg(&b, PVPANIC_BASE, 2);
	end(&b);
	if (c->debug_exit) {
		begin(&b, "debug-exit", DEBUG_EXIT_BASE);
		str(&b, "compatible", "vmm,debug-exit");
		reg(&b, DEBUG_EXIT_BASE, 4);
		end(&b);
	}
	pci(&b);
	end(&b);
	ck(&b, fdt_finish(buf));
	if (b.err) {
		snprintf(err, errlen, "device tree: %s", fdt_strerror(b.err));
		return -1;
	}
	return 0;
}
