/* tests/unit/test_pci.c: PCI config space (type-1 ports, ECAM), BAR sizing and moves, capability list, MSI-X table/PBA semantics. */
#include <errno.h>
#include <sys/eventfd.h>

#include "unit.h"
#include "../../dev/pci.h"
#include "vm.h"

static int exit_code = -1;
void vm_request_exit(struct vm *vm, int code) { (void)vm; exit_code = code; }
static int irq_pin = -1, irq_level = -1;
void vm_set_irq(struct vm *vm, unsigned pin, int level) { (void)vm; irq_pin = (int)pin; irq_level = level; }
/* A pretend KVM for the MSI-X routing logic (used when vm.vm_fd >= 0). */
static int next_gsi = 24, routes_set, assigned_efd = -1, deassigns;
static uint64_t route_addr;
static uint32_t route_data;
int msi_gsi_alloc(struct vm *vm) { (void)vm; return next_gsi++; }
int msi_route_set_dev(struct vm *vm, int gsi, uint64_t a, uint32_t d, uint32_t devid)
{
	(void)vm; (void)gsi; (void)devid;
	if ((a >> 20) != 0xFEE)
		return -EINVAL;
	routes_set++;
	route_addr = a;
	route_data = d;
	return 0;
}
int irqfd_assign(struct vm *vm, int efd, int gsi) { (void)vm; (void)gsi; assigned_efd = efd; return 0; }
int irqfd_deassign(struct vm *vm, int efd, int gsi) { (void)vm; (void)gsi; (void)efd; assigned_efd = -1; deassigns++; return 0; }

static struct vm vm;
static struct pci_dev dev;
static struct msix msix;
static int moved_bar = -1;
static uint64_t moved_old, moved_new;
static uint64_t last_off[PCI_NUM_BARS];
static unsigned bar_hits[PCI_NUM_BARS];

static void fake_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	int bar = (int)(intptr_t)opaque;
	bar_hits[bar]++;
	last_off[bar] = off;
	if (bar == 2 && off >= 0x2000 && off < 0x3000) {
		msix_table_io(&msix, off - 0x2000, val, size, is_write);
		return;
	}
	if (bar == 2 && off >= 0x3000) {
		msix_pba_io(&msix, off - 0x3000, val, size, is_write);
		return;
	}
	if (!is_write)
		*val = 0x5A5A5A5A;
}

static void fake_moved(struct pci_dev *d, int bar, uint64_t o, uint64_t n)
{
	(void)d;
	moved_bar = bar;
	moved_old = o;
	moved_new = n;
}

static void fake_cfg_write(struct pci_dev *d, unsigned off, unsigned size)
{
	(void)d;
	if (off < msix.cap + 4 && msix.cap + 2 < off + size)
		msix_control_written(&msix);
}

/* ---- the guest's view ---- */
static uint32_t cfg_rd(unsigned slot, unsigned reg, unsigned size)
{
	uint64_t v = 0, a = 0x80000000u | slot << 11 | (reg & 0xFC);
	CHECK(io_dispatch(&vm.io, IO_PIO, 0xCF8, &a, 4, true));
	CHECK(io_dispatch(&vm.io, IO_PIO, 0xCFC + (reg & 3), &v, size, false));
	return (uint32_t)v;
}

static void cfg_wr(unsigned slot, unsigned reg, unsigned size, uint32_t val)
{
	uint64_t v = val, a = 0x80000000u | slot << 11 | (reg & 0xFC);
	CHECK(io_dispatch(&vm.io, IO_PIO, 0xCF8, &a, 4, true));
	CHECK(io_dispatch(&vm.io, IO_PIO, 0xCFC + (reg & 3), &v, size, true));
}

static uint32_t ecam_rd(unsigned slot, unsigned reg, unsigned size)
{
	uint64_t v = 0;
	CHECK(io_dispatch(&vm.io, IO_MMIO, PCI_ECAM_START + (slot << 15) + reg, &v, size, false));
	return (uint32_t)v;
}

static void ecam_wr(unsigned slot, unsigned reg, unsigned size, uint32_t val)
{
	uint64_t v = val;
	CHECK(io_dispatch(&vm.io, IO_MMIO, PCI_ECAM_START + (slot << 15) + reg, &v, size, true));
}

static uint64_t mmio_rd(uint64_t addr, unsigned size)
{
	uint64_t v = 0;
	io_dispatch(&vm.io, IO_MMIO, addr, &v, size, false);
	return v;
}

static bool mmio_wr(uint64_t addr, unsigned size, uint64_t val)
{
	return io_dispatch(&vm.io, IO_MMIO, addr, &val, size, true);
}

static int slot;

static void setup(void)
{
	free(vm.pci);
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	moved_bar = -1;
	exit_code = -1;
	CHECK(pci_init(&vm) == 0 && vm.pci);
	pci_dev_init(&dev, "fake", 0x1234, 0x5678, 0x018000, 2, 0x1AF4, 0x40);
	dev.vm = &vm;
	dev.bar_moved = fake_moved;
	dev.cfg_write = fake_cfg_write;
	CHECK(pci_bar_add(&dev, 0, 0x1000, false, fake_io, (void *)0) == 0);
	CHECK(pci_bar_add(&dev, 2, 0x4000, true, fake_io, (void *)2) == 0);
	CHECK(pci_bar_add(&dev, 5, 0x1000, true, fake_io, NULL) == -EINVAL);   /* no room for the high half */
	CHECK(pci_bar_add(&dev, 1, 0x1800, false, fake_io, NULL) == -EINVAL);  /* not a power of two */
	CHECK(msix_init(&msix, &dev, 4, 2, 0x2000, 0x3000) == 0);
	slot = pci_dev_register(&vm, &dev);
	CHECK(slot == 1);
}

static void test_host_bridge(void)
{
	setup();
	CHECK(cfg_rd(0, 0, 4) == 0x0d578086);
	CHECK(cfg_rd(0, 0x08, 4) >> 8 == 0x060000);
	CHECK(cfg_rd(0, 0x0E, 1) == 0);
	CHECK(cfg_rd(7, 0, 4) == 0xFFFFFFFF);      /* empty slot */
	CHECK(ecam_rd(0, 0, 2) == 0x8086);
	CHECK(ecam_rd(9, 0, 4) == 0xFFFFFFFF);
	/* function 1 does not exist */
	uint64_t v = 0;
	CHECK(io_dispatch(&vm.io, IO_MMIO, PCI_ECAM_START + (1 << 15) + (1 << 12), &v, 4, false) && v == 0xFFFFFFFF);
	/* config disabled (bit 31 clear) reads all-ones */
	uint64_t a = 0x0000000;
	CHECK(io_dispatch(&vm.io, IO_PIO, 0xCF8, &a, 4, true));
	CHECK(io_dispatch(&vm.io, IO_PIO, 0xCFC, &v, 4, false) && v == 0xFFFFFFFF);
	/* the latch reads back */
	a = 0x80000810;
	CHECK(io_dispatch(&vm.io, IO_PIO, 0xCF8, &a, 4, true));
	CHECK(io_dispatch(&vm.io, IO_PIO, 0xCF8, &v, 4, false) && v == 0x80000810);
	/* vendor id is read-only */
	cfg_wr(0, 0, 4, 0);
	CHECK(cfg_rd(0, 0, 2) == 0x8086);
	/* reset control */
	v = 2;
	CHECK(io_dispatch(&vm.io, IO_PIO, 0xCF9, &v, 1, true) && exit_code == -1);
	v = 6;
	CHECK(io_dispatch(&vm.io, IO_PIO, 0xCF9, &v, 1, true) && exit_code == EXIT_GUEST_OFF);
}

static void test_header_and_caps(void)
{
	setup();
	CHECK(cfg_rd(slot, 0, 4) == 0x56781234);
	CHECK(cfg_rd(slot, 8, 4) == 0x01800002);
	CHECK(cfg_rd(slot, 0x2C, 4) == 0x00401AF4);
	CHECK(cfg_rd(slot, 6, 2) & PCI_STATUS_CAPS);
	unsigned cap = cfg_rd(slot, PCI_CAP_PTR, 1);
	CHECK(cap == msix.cap && cap >= 0x40);
	CHECK(cfg_rd(slot, cap, 1) == PCI_CAP_ID_MSIX && cfg_rd(slot, cap + 1, 1) == 0);
	CHECK((cfg_rd(slot, cap + 2, 2) & 0x7FF) == 3);                /* table size N-1 */
	CHECK(cfg_rd(slot, cap + 4, 4) == (0x2000 | 2));
	CHECK(cfg_rd(slot, cap + 8, 4) == (0x3000 | 2));
	/* misaligned access: all-ones, write ignored */
	CHECK(ecam_rd(slot, 1, 2) == 0xFFFF);
	CHECK(ecam_rd(slot, 0x100, 4) == 0);                           /* no extended caps */
	/* command register: writable bits only */
	cfg_wr(slot, PCI_COMMAND, 2, 0xFFFF);
	CHECK(cfg_rd(slot, PCI_COMMAND, 2) == 0x0507);
	cfg_wr(slot, PCI_INT_LINE, 1, 11);
	CHECK(cfg_rd(slot, PCI_INT_LINE, 1) == 11 && cfg_rd(slot, PCI_INT_LINE + 1, 1) == 0);
	ecam_wr(slot, PCI_INT_LINE, 2, 0xFF0C);     /* interrupt pin is read-only */
	CHECK(ecam_rd(slot, PCI_INT_LINE, 2) == 0x000C);
	ecam_wr(slot, PCI_INT_LINE + 1, 2, 0xFFFF); /* misaligned: ignored */
	CHECK(ecam_rd(slot, PCI_INT_LINE, 4) == 0x0C);
	/* expansion ROM: none */
	cfg_wr(slot, 0x30, 4, 0xFFFFFFFF);
	CHECK(cfg_rd(slot, 0x30, 4) == 0);
}

static void test_bar_sizing(void)
{
	setup();
	uint32_t b0 = cfg_rd(slot, 0x10, 4), b2 = cfg_rd(slot, 0x18, 4), b3 = cfg_rd(slot, 0x1C, 4);
	CHECK(b0 >= PCI_MMIO_START && b0 % 0x1000 == 0);
	CHECK((b2 & 0xF) == PCI_BAR_MEM64 && (b2 & ~0xFu) % 0x4000 == 0 && b3 == 0);
	CHECK(dev.bar[0].mapped == b0 && dev.bar[2].mapped == (b2 & ~0xFu));
	/* the guest sizes with decode off */
	cfg_wr(slot, 0x10, 4, 0xFFFFFFFF);
	CHECK(cfg_rd(slot, 0x10, 4) == 0xFFFFF000);
	cfg_wr(slot, 0x18, 4, 0xFFFFFFFF);
	cfg_wr(slot, 0x1C, 4, 0xFFFFFFFF);
	CHECK(cfg_rd(slot, 0x18, 4) == (0xFFFFC000 | PCI_BAR_MEM64));
	CHECK(cfg_rd(slot, 0x1C, 4) == 0xFFFFFFFF);
	CHECK(cfg_rd(slot, 0x14, 4) == 0 && cfg_rd(slot, 0x20, 4) == 0);   /* unused BARs */
	cfg_wr(slot, 0x14, 4, 0xFFFFFFFF);
	CHECK(cfg_rd(slot, 0x14, 4) == 0);
	CHECK(moved_bar == -1);
	cfg_wr(slot, 0x10, 4, b0);
	cfg_wr(slot, 0x18, 4, b2);
	cfg_wr(slot, 0x1C, 4, 0);
	cfg_wr(slot, PCI_COMMAND, 2, PCI_CMD_MEMORY);
	CHECK(moved_bar == -1);                                            /* nothing moved */
	CHECK(mmio_rd(b0 + 8, 4) == 0x5A5A5A5A && bar_hits[0] == 1 && last_off[0] == 8);
}

static void test_bar_move(void)
{
	setup();
	uint32_t b0 = cfg_rd(slot, 0x10, 4);
	uint64_t nb = 0xD0000000ull;
	/* decode off: the BAR does not answer, and writes do not move it */
	bar_hits[0] = 0;
	CHECK(mmio_rd(b0, 4) == 0xFFFFFFFF && bar_hits[0] == 0);
	cfg_wr(slot, 0x10, 4, (uint32_t)nb);
	CHECK(moved_bar == -1 && dev.bar[0].mapped == b0);
	/* decode on: the region follows */
	cfg_wr(slot, PCI_COMMAND, 2, PCI_CMD_MEMORY);
	CHECK(moved_bar == 0 && moved_old == b0 && moved_new == nb && dev.bar[0].mapped == nb);
	CHECK(mmio_rd(nb + 4, 4) == 0x5A5A5A5A && bar_hits[0] == 1);
	CHECK(mmio_rd(b0, 4) == 0xFFFFFFFF && bar_hits[0] == 1);
	/* a 64-bit BAR above 4 GiB, written while decode is on (low half first) */
	moved_bar = -1;
	cfg_wr(slot, 0x18, 4, 0x00010000);
	CHECK(moved_bar == 2);
	cfg_wr(slot, 0x1C, 4, 0x1);
	CHECK(dev.bar[2].mapped == 0x100010000ull && moved_new == 0x100010000ull);
	CHECK(mmio_rd(0x100010000ull + 0x10, 4) == 0x5A5A5A5A && last_off[2] == 0x10);
	/* back below 4 GiB, then a move onto another BAR is refused: the region stays */
	cfg_wr(slot, 0x1C, 4, 0);
	CHECK(dev.bar[2].mapped == 0x10000);
	cfg_wr(slot, 0x10, 4, 0x00012000);
	CHECK(dev.bar[0].mapped == nb);
	/* an access that runs past the BAR's end is rejected */
	CHECK(!mmio_wr(nb + 0xFFE, 4, 0));
	/* moving to address 0 is ignored */
	cfg_wr(slot, 0x10, 4, 0);
	CHECK(dev.bar[0].mapped == nb);
	/* a later valid address is picked up */
	cfg_wr(slot, 0x10, 4, 0xD0001000);
	CHECK(dev.bar[0].mapped == 0xD0001000);
}

static uint64_t efd_count(int efd)
{
	eventfd_t n = 0;
	if (eventfd_read(efd, &n) < 0)
		return 0;
	return n;
}

static void test_msix(void)
{
	setup();
	uint64_t t = dev.bar[2].mapped + 0x2000, pba = dev.bar[2].mapped + 0x3000;
	unsigned cap = msix.cap;
	cfg_wr(slot, PCI_COMMAND, 2, PCI_CMD_MEMORY);
	/* after reset: every vector masked, MSI-X off */
	CHECK(mmio_rd(t + 12, 4) == 1 && mmio_rd(t + 16 + 12, 4) == 1);
	CHECK(!msix_vector_live(&msix, 0));
	/* program vector 1 */
	CHECK(mmio_wr(t + 16, 4, 0xFEE01000));
	CHECK(mmio_wr(t + 20, 4, 0));
	CHECK(mmio_wr(t + 24, 4, 0x4041));
	CHECK(mmio_rd(t + 16, 4) == 0xFEE01000 && mmio_rd(t + 24, 4) == 0x4041);
	CHECK(mmio_rd(t + 16, 8) == 0xFEE01000ull);
	mmio_wr(t + 28, 4, 0xFFFFFFFE);                    /* only bit 0 of control is writable */
	CHECK(mmio_rd(t + 28, 4) == 0);
	CHECK(!msix_vector_live(&msix, 1));                /* unmasked, but MSI-X disabled */
	/* a message while disabled stays pending */
	CHECK(msix_notify(&msix, 1));
	CHECK(mmio_rd(pba, 4) == 2 && mmio_rd(pba, 8) == 2);
	/* enable with the function mask set: still pending */
	cfg_wr(slot, cap + 2, 2, 0xC000);
	CHECK((cfg_rd(slot, cap + 2, 2) & 0xC7FF) == 0xC003);
	CHECK(!msix_vector_live(&msix, 1) && mmio_rd(pba, 4) == 2);
	/* clear the function mask: vector 1 goes live, the pending message is delivered */
	cfg_wr(slot, cap + 2, 2, 0x8000);
	CHECK(msix_vector_live(&msix, 1) && !msix_vector_live(&msix, 0));
	CHECK(mmio_rd(pba, 4) == 0);
	CHECK(efd_count(msix.v[1].efd) == 1);
	/* live vector: messages go straight to the eventfd (the irqfd under KVM) */
	CHECK(msix_notify(&msix, 1) && msix_notify(&msix, 1));
	CHECK(efd_count(msix.v[1].efd) == 2 && mmio_rd(pba, 4) == 0);
	/* per-vector mask: pending bit, delivered on unmask */
	CHECK(mmio_wr(t + 28, 4, 1));
	CHECK(!msix_vector_live(&msix, 1));
	CHECK(msix_notify(&msix, 1) && mmio_rd(pba, 4) == 2);
	CHECK(mmio_wr(t + 28, 4, 0));
	CHECK(msix_vector_live(&msix, 1) && mmio_rd(pba, 4) == 0 && efd_count(msix.v[1].efd) == 1);
	/* out of range vectors (NO_VECTOR included) are refused */
	CHECK(!msix_notify(&msix, 4) && !msix_notify(&msix, 0xFFFF));
	/* PBA is read-only; clear_pending drops masked messages */
	CHECK(mmio_wr(t + 12, 4, 0));  /* vector 0 unmasked, never programmed */
	CHECK(mmio_wr(t + 28, 4, 1));
	CHECK(msix_notify(&msix, 1) && mmio_rd(pba, 4) == 2);
	mmio_wr(pba, 4, 0);
	CHECK(mmio_rd(pba, 4) == 2);
	msix_clear_pending(&msix);
	CHECK(mmio_rd(pba, 4) == 0);
	/* odd sizes and offsets read 0 and change nothing */
	CHECK(mmio_rd(t + 2, 2) == 0);
	mmio_wr(t + 16, 2, 0);
	CHECK(mmio_rd(t + 16, 4) == 0xFEE01000);
	/* disabling MSI-X takes every vector down */
	cfg_wr(slot, cap + 2, 2, 0);
	CHECK(!msix_vector_live(&msix, 0) && !msix_vector_live(&msix, 1));
}

static void test_msix_kvm_routing(void)
{
	setup();
	vm.vm_fd = 1000;   /* pretend: msix_init now takes the KVM path, served by the stubs above */
	struct pci_dev d2;
	pci_dev_init(&d2, "kvm", 1, 2, 0, 0, 0, 0);
	d2.vm = &vm;
	CHECK(msix_init(&msix, &d2, 2, 0, 0, 0x800) == 0 && msix.kvm);
	uint64_t v;
	routes_set = 0;
	/* program and unmask vector 1, then enable: route first, then the irqfd */
	v = 0xFEE00000; msix_table_io(&msix, 16, &v, 4, true);
	v = 0x41; msix_table_io(&msix, 24, &v, 4, true);
	v = 0; msix_table_io(&msix, 28, &v, 4, true);
	CHECK(routes_set == 0 && assigned_efd == -1);
	CHECK(msix_notify(&msix, 1));                      /* pending before enable */
	pci_cfg_put(&d2, msix.cap + 2, 2, 0x8000);
	msix_control_written(&msix);
	CHECK(routes_set == 1 && route_addr == 0xFEE00000 && route_data == 0x41);
	CHECK(assigned_efd == msix.v[1].efd && msix.v[1].gsi == 24 && msix_vector_live(&msix, 1));
	CHECK(efd_count(msix.v[1].efd) == 1);              /* re-signalled once after assign */
	/* reprogramming a live vector updates the route only */
	v = 0x42; msix_table_io(&msix, 24, &v, 4, true);
	CHECK(routes_set == 2 && route_data == 0x42 && deassigns == 0);
	msix_control_written(&msix);                       /* nothing changed: no ioctl */
	CHECK(routes_set == 2);
	/* mask: irqfd off, message pending, unmask: back on with the same GSI */
	v = 1; msix_table_io(&msix, 28, &v, 4, true);
	CHECK(deassigns == 1 && assigned_efd == -1 && !msix_vector_live(&msix, 1));
	CHECK(msix_notify(&msix, 1));
	uint64_t pba = 0;
	msix_pba_io(&msix, 0, &pba, 8, false);
	CHECK(pba == 2);
	v = 0; msix_table_io(&msix, 28, &v, 4, true);
	CHECK(msix_vector_live(&msix, 1) && msix.v[1].gsi == 24 && efd_count(msix.v[1].efd) == 1);
	/* a vector pointing outside the interrupt window gets no route and stays off */
	v = 0x12345000; msix_table_io(&msix, 0, &v, 4, true);
	v = 0; msix_table_io(&msix, 12, &v, 4, true);
	CHECK(!msix_vector_live(&msix, 0));
	/* function mask takes everything down */
	pci_cfg_put(&d2, msix.cap + 2, 2, 0xC000);
	msix_control_written(&msix);
	CHECK(!msix_vector_live(&msix, 1) && deassigns == 2);
	vm.vm_fd = -1;
}

static void test_intx_shared_line(void)
{
	static struct pci_dev filler[7], d9;
	setup();
	for (int i = 0; i < 7; i++) {
		pci_dev_init(&filler[i], "filler", 1, 1, 0, 0, 0, 0);
		CHECK(pci_dev_register(&vm, &filler[i]) == i + 2);
	}
	pci_dev_init(&d9, "slot9", 1, 1, 0, 0, 0, 0);
	CHECK(pci_dev_register(&vm, &d9) == 9);
	pci_set_intx(&dev, 0, true);
	CHECK(irq_pin == 17 && irq_level == 0);        /* active low: asserted = wire 0 */
	pci_set_intx(&d9, 0, true);
	CHECK(irq_pin == 17 && irq_level == 0);
	pci_set_intx(&dev, 0, false);
	CHECK(irq_level == 0);                         /* slot 9 still holds the line */
	pci_set_intx(&d9, 0, false);
	CHECK(irq_level == 1);
	pci_set_intx(&filler[0], 1, true);             /* slot 2 INTB -> pin 16 + 3 */
	CHECK(irq_pin == 19 && irq_level == 0);
	pci_set_intx(&filler[0], 1, false);
	CHECK(irq_level == 1);
}

int main(void)
{
	RUN(test_host_bridge);
	RUN(test_header_and_caps);
	RUN(test_bar_sizing);
	RUN(test_bar_move);
	RUN(test_msix);
	RUN(test_msix_kvm_routing);
	RUN(test_intx_shared_line);
	free(vm.pci);
	return UNIT_DONE();
}
