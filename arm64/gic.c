/* arm64/gic.c: the in-kernel GICv3 with its ITS, legacy lines as SPIs (KVM_IRQ_LINE), and what an MSI means here (a write to GITS_TRANSLATER with the requester id). */
#include <errno.h>
#include <string.h>
#include <linux/kvm.h>

#include "arm64.h"
#include "../irq.h"
#include "../kvm.h"
#include "../dev/pci.h"

#define GITS_TRANSLATER 0x10040   /* offset in the ITS frame: an MSI writes its data here */

static int gic_fd = -1, its_fd = -1;
static atomic_bool gic_ready;
static atomic_uchar early_level[NR_SPIS];   /* lines raised before the GIC existed */

static int create_dev(struct vm *vm, uint32_t type, const char *what)
{
	struct kvm_create_device d = { .type = type };

	if (kvm_ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &d) < 0)
		fatal(EXIT_RUNTIME, "/dev/kvm cannot create a %s (KVM_CREATE_DEVICE): vmm needs one", what);
	return (int)d.fd;
}

static void set_attr(int fd, uint32_t group, uint64_t attr, const void *val, const char *what)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)val };

	if (kvm_ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0)
		fatal_errno(EXIT_RUNTIME, "GIC: %s (KVM_SET_DEVICE_ATTR)", what);
}

void gic_create(struct vm *vm)
{
	uint64_t dist = GIC_DIST_BASE, redist = GIC_REDIST_BASE, its = GIC_ITS_BASE;
	uint32_t nirqs = 32 + NR_SPIS;

	if (GIC_REDIST_BASE + (uint64_t)vm->ncpus * GIC_REDIST_SIZE > UART_BASE)
		fatal(EXIT_USAGE, "--cpus %d: the redistributors do not fit below the UART", vm->ncpus);
	gic_fd = create_dev(vm, KVM_DEV_TYPE_ARM_VGIC_V3, "GICv3");
	set_attr(gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist, "distributor address");
	set_attr(gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist, "redistributor address");
	set_attr(gic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nirqs, "number of interrupts");
	its_fd = create_dev(vm, KVM_DEV_TYPE_ARM_VGIC_ITS, "GICv3 ITS");
	set_attr(its_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &its, "ITS address");
}

static int irq_line(struct vm *vm, unsigned spi, int level)
{
	struct kvm_irq_level l = {
		.irq = KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | (32 + spi),
		.level = (uint32_t)level,
	};
	return (int)kvm_ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

void gic_init(struct vm *vm)
{
	set_attr(gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL, "initialisation");
	set_attr(its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL, "ITS initialisation");
	atomic_store(&gic_ready, true);
	for (unsigned i = 0; i < NR_SPIS; i++)
		if (atomic_load(&early_level[i]) && irq_line(vm, i, 1) < 0)
			fatal_errno(EXIT_RUNTIME, "GIC: KVM_IRQ_LINE");
}

/*
 * The wire level of line `pin` (SPI pin). PCI INTx wires are active-low (x86's IOAPIC entries say
 * so); the GIC's SPIs are active-high, so those are inverted here. Before gic_init KVM would
 * initialise the GIC on its own (and refuse the vCPUs created after), so the level is kept and
 * raised then.
 */
void vm_set_irq(struct vm *vm, unsigned pin, int level)
{
	if (pin >= NR_SPIS)
		return;
	if (pin >= PCI_INTX_GSI && pin < PCI_INTX_GSI + 8)
		level = !level;
	if (!atomic_load(&gic_ready)) {
		atomic_store(&early_level[pin], (unsigned char)(level != 0));
		return;
	}
	if (irq_line(vm, pin, level) < 0)
		guest_warn("GIC: KVM_IRQ_LINE for SPI %u: %s", pin, strerror(errno));
}

bool arch_msi(uint64_t addr, uint32_t data, uint32_t devid, struct kvm_msi *out)
{
	memset(out, 0, sizeof(*out));
	if (addr != GIC_ITS_BASE + GITS_TRANSLATER)
		return false;
	out->address_lo = (uint32_t)addr;
	out->address_hi = (uint32_t)(addr >> 32);
	out->data = data;
	out->flags = KVM_MSI_VALID_DEVID;
	out->devid = devid;
	return true;
}
