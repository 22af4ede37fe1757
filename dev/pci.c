/* dev/pci.c: PCI bus 0: host bridge, config space via ports 0xCF8/0xCFC and ECAM, BAR sizing and moves, capability lists. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pci.h"
#include "../vm.h"
#include "../le.h"

static uint64_t bar_addr(const struct pci_dev *d, int i)
{
	uint64_t a = pci_cfg_get(d, PCI_BAR0 + 4 * i, 4) & ~0xFull;
	if (d->bar[i].is64)
		a |= (uint64_t)pci_cfg_get(d, PCI_BAR0 + 4 * (i + 1), 4) << 32;
	return a;
}

/* Let the registered region follow the BAR when memory decode is on. */
static void bar_sync(struct pci_dev *d, int i)
{
	struct pci_bar *b = &d->bar[i];
	uint64_t addr = bar_addr(d, i), old = b->mapped;

	if (!b->size || addr == old || !(pci_cfg_get(d, PCI_COMMAND, 2) & PCI_CMD_MEMORY))
		return;
	if (addr == 0 || addr + b->size < addr || (!b->is64 && addr + b->size > (1ull << 32))) {
		guest_warn("pci %s: BAR%d at %#llx is unusable; left at %#llx", d->name, i,
			   (unsigned long long)addr, (unsigned long long)old);
		return;
	}
	int r = io_move(&d->vm->io, IO_MMIO, b, old, addr);
	if (r < 0) {
		guest_warn("pci %s: cannot move BAR%d to %#llx: %s", d->name, i,
			   (unsigned long long)addr, strerror(-r));
		return;
	}
	b->mapped = addr;
	vlog("pci %s: BAR%d moved %#llx -> %#llx", d->name, i, (unsigned long long)old,
	     (unsigned long long)addr);
	if (d->bar_moved)
		d->bar_moved(d, i, old, addr);
}

/* Registry handler for every BAR: drop accesses while memory decode is off. */
static void bar_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	struct pci_bar *b = opaque;
	if (!(pci_cfg_get(b->dev, PCI_COMMAND, 2) & PCI_CMD_MEMORY)) {
		if (!is_write)
			*val = ~0ull;
		return;
	}
	b->fn(b->opaque, off, val, size, is_write);
}

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->slot = -1;
	d->cap_end = PCI_CAP_START;
	pci_cfg_put(d, PCI_VENDOR_ID, 2, vendor);
	pci_cfg_put(d, PCI_VENDOR_ID + 2, 2, device);
	pci_cfg_put(d, PCI_REVISION, 4, class << 8 | revision);
	pci_cfg_put(d, PCI_SUBSYS_VENDOR, 2, subsys_vendor);
	pci_cfg_put(d, PCI_SUBSYS_VENDOR + 2, 2, subsys_id);
	/* command: I/O, memory, bus master, SERR#, INTx disable; cache line, latency, int line */
	put_le(d->wmask + PCI_COMMAND, 2, 0x0507);
	d->wmask[0x0C] = d->wmask[0x0D] = d->wmask[PCI_INT_LINE] = 0xFF;
}

int pci_bar_add(struct pci_dev *d, int i, uint64_t size, bool is64, io_fn *fn, void *opaque)
{
	if (i < 0 || i >= PCI_NUM_BARS - (is64 ? 1 : 0) || size < 4096 || (size & (size - 1)) ||
	    (!is64 && size > (1ull << 31)) || d->bar[i].size)
		return -EINVAL;
	d->bar[i] = (struct pci_bar){ .size = size, .is64 = is64, .fn = fn, .opaque = opaque,
				      .dev = d };
	uint64_t mask = ~(size - 1);
	put_le(d->wmask + PCI_BAR0 + 4 * i, 4, (uint32_t)mask & ~0xFu);
	pci_cfg_put(d, PCI_BAR0 + 4 * i, 4, is64 ? PCI_BAR_MEM64 : 0);
	if (is64)
		put_le(d->wmask + PCI_BAR0 + 4 * (i + 1), 4, (uint32_t)(mask >> 32));
	return 0;
}

int pci_cap_add(struct pci_dev *d, const void *cap, unsigned len, const void *wmask)
{
	unsigned off = (d->cap_end + 3u) & ~3u;
	if (len < 2 || off + len > PCI_CFG_SIZE)
		return -ENOSPC;
	memcpy(d->cfg + off, cap, len);
	if (wmask)
		memcpy(d->wmask + off, wmask, len);
	d->wmask[off] = d->wmask[off + 1] = 0;
	d->cfg[off + 1] = 0;
	if (d->cap_last)
		d->cfg[d->cap_last + 1] = (uint8_t)off;
	else
		d->cfg[PCI_CAP_PTR] = (uint8_t)off;
	d->cap_last = (uint8_t)off;
	d->cap_end = (uint8_t)(off + len < PCI_CFG_SIZE ? off + len : PCI_CFG_SIZE - 1);
	pci_cfg_put(d, PCI_STATUS, 2, pci_cfg_get(d, PCI_STATUS, 2) | PCI_STATUS_CAPS);
	return (int)off;
}

static int bar_assign(struct pci_bus *bus, struct pci_dev *d, int i)
{
	struct pci_bar *b = &d->bar[i];
	uint64_t addr = (bus->next_mmio + b->size - 1) & ~(b->size - 1);

	if (addr + b->size > PCI_MMIO_START + PCI_MMIO_SIZE)
		return -ENOSPC;
	int r = io_register(&d->vm->io, IO_MMIO, addr, b->size, bar_io, b, d->name);
	if (r < 0)
		return r;
	b->mapped = addr;
	bus->next_mmio = addr + b->size;
	pci_cfg_put(d, PCI_BAR0 + 4 * i, 4, (uint32_t)addr | (b->is64 ? PCI_BAR_MEM64 : 0));
	if (b->is64)
		pci_cfg_put(d, PCI_BAR0 + 4 * (i + 1), 4, (uint32_t)(addr >> 32));
	return 0;
}

int pci_dev_register(struct vm *vm, struct pci_dev *d)
{
	struct pci_bus *bus = vm->pci;
	int slot = 0;

	if (!bus)
		return -ENODEV;
	while (slot < PCI_SLOTS && bus->dev[slot])
		slot++;
	if (slot == PCI_SLOTS)
		return -ENOSPC;
	d->vm = vm;
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		if (!d->bar[i].size)
			continue;
		int r = bar_assign(bus, d, i);
		if (r < 0)
			return r;
	}
	d->slot = slot;
	bus->dev[slot] = d;
	return slot;
}

void pci_set_intx(struct pci_dev *d, int pin, bool asserted)
{
	struct pci_bus *bus = d->vm->pci;
	unsigned line = pci_intx_gsi(d->slot, pin);
	bool any = false;

	pthread_mutex_lock(&bus->intx_lock);
	d->intx[pin & 3] = asserted;
	for (int s = 0; s < PCI_SLOTS; s++)
		for (int p = 0; p < 4 && bus->dev[s]; p++)
			any |= bus->dev[s]->intx[p] && pci_intx_gsi(s, p) == line;
	vm_set_irq(d->vm, line, !any);
	pthread_mutex_unlock(&bus->intx_lock);
}

void pci_release_intx(struct pci_dev *d)
{
	if (!d->vm || !d->vm->pci)
		return;
	for (int pin = 0; pin < 4; pin++)
		pci_set_intx(d, pin, false);
}

struct pci_dev *pci_dev_get(struct vm *vm, unsigned slot)
{
	if (!vm->pci || slot >= PCI_SLOTS)
		return NULL;
	return vm->pci->dev[slot];
}

static bool overlaps(unsigned reg, unsigned size, unsigned lo, unsigned hi)
{
	return reg < hi && lo < reg + size;
}

static void cfg_write(struct pci_dev *d, unsigned reg, uint32_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++) {
		uint8_t m = d->wmask[reg + i], b = (uint8_t)(v >> (8 * i));
		pci_cfg_put(d, reg + i, 1, (pci_cfg_get(d, reg + i, 1) & ~m) | (b & m));
	}
	if (overlaps(reg, size, PCI_BAR0, PCI_BAR0 + 24) || overlaps(reg, size, PCI_COMMAND, PCI_COMMAND + 2))
		for (int i = 0; i < PCI_NUM_BARS; i++)
			bar_sync(d, i);
	/* Interrupt Disable deasserts the function's INTx (PCI 3.0 6.2.2) */
	if (overlaps(reg, size, PCI_COMMAND, PCI_COMMAND + 2) &&
	    (pci_cfg_get(d, PCI_COMMAND, 2) & PCI_CMD_INTX_OFF))
		pci_release_intx(d);
	if (d->cfg_write && reg >= PCI_CAP_START)
		d->cfg_write(d, reg, size);
}

void pci_cfg_access(struct pci_bus *bus, unsigned devfn, unsigned reg, uint64_t *val,
		    unsigned size, bool is_write)
{
	struct pci_dev *d = (devfn & 7) ? NULL : bus->dev[(devfn >> 3) & 31];
	bool ok = d && (size == 1 || size == 2 || size == 4) && !(reg & (size - 1)) && reg < 4096;

	if (is_write) {
		if (ok && reg < PCI_CFG_SIZE)
			cfg_write(d, reg, (uint32_t)*val, size);
		return;
	}
	if (!ok) {
		*val = size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
		return;
	}
	if (reg >= PCI_CFG_SIZE) {
		*val = 0;   /* no extended capabilities */
		return;
	}
	if (d->cfg_read && reg >= PCI_CAP_START)
		d->cfg_read(d, reg, size);
	*val = pci_cfg_get(d, reg, size);
}

/* Ports 0xCF8-0xCFF: the type-1 mechanism. */
static void pci_port_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	struct pci_bus *bus = opaque;

	if (off == 0 && size == 4) {
		if (is_write)
			bus->cf8 = (uint32_t)*val & 0x80FFFFFCu;
		else
			*val = bus->cf8;
		return;
	}
	if (off == 1 && size == 1) {   /* reset control register */
		if (is_write && (*val & 4))
			vm_request_exit(bus->vm, EXIT_GUEST_OFF);
		else if (!is_write)
			*val = 0;
		return;
	}
	if (off < 4 || !(bus->cf8 & 0x80000000u) || ((bus->cf8 >> 16) & 0xFF) != 0) {
		if (!is_write)
			*val = ~0ull;
		return;
	}
	unsigned reg = (bus->cf8 & 0xFC) + (unsigned)(off - 4);
	pci_cfg_access(bus, (bus->cf8 >> 8) & 0xFF, reg, val, size, is_write);
}

/* ECAM: bus 0 only, 4 KiB per function. */
static void pci_ecam_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	pci_cfg_access(opaque, (unsigned)(off >> 12) & 0xFF, (unsigned)off & 0xFFF, val, size, is_write);
}

int pci_init(struct vm *vm)
{
	struct pci_bus *bus = calloc(1, sizeof(*bus));
	int r;

	if (!bus)
		return -ENOMEM;
	bus->vm = vm;
	bus->next_mmio = PCI_MMIO_START;
	pthread_mutex_init(&bus->intx_lock, NULL);
	pci_dev_init(&bus->host, "host-bridge", 0x8086, 0x0d57, 0x060000, 0, 0, 0);
	bus->host.vm = vm;
	bus->host.slot = 0;
	bus->dev[0] = &bus->host;
	r = io_register(&vm->io, IO_PIO, PCI_CFG_PORT, 8, pci_port_io, bus, "pci-cf8");
	if (r == 0)
		r = io_register(&vm->io, IO_MMIO, PCI_ECAM_START, PCI_ECAM_SIZE, pci_ecam_io, bus, "pci-ecam");
	if (r < 0)
		return r;   /* bus stays allocated: a registered region may point at it */
	vm->pci = bus;
	return 0;
}
