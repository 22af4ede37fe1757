/* tests/fuzz/fuzz_pci.c: libFuzzer harness for PCI config space (ports 0xCF8/0xCFC, ECAM), BAR moves and MSI-X table/PBA through virtio-pci BARs. */
/*
 * Build: clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *        tests/fuzz/fuzz_pci.c dev/pci.c dev/msix.c virtio/pci.c virtio/virtq.c io.c log.c -o build/fuzz/fuzz_pci
 * Input: a sequence of 12-byte operations, each (kind, size, is_write, device;
 * 24-bit offset; 64-bit value), on a fresh bus per input: the host bridge and
 * two small virtio-pci devices. After every operation each MSI-X vector must be
 * live exactly when the guest's enable, function mask and vector mask say so.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/virtio.h"
#include "vm.h"

void vm_request_exit(struct vm *vm, int code) { (void)vm; (void)code; }
void vm_set_irq(struct vm *vm, unsigned pin, int level) { (void)vm; (void)pin; (void)level; }
#include "tests/unit/no_kvm_msi.h"
#include "tests/fuzz/fuzz_dev.h"
#include "le.h"
int sandbox_enter(int role, int own_fd);
int sandbox_enter(int role, int own_fd) { (void)role; (void)own_fd; return 0; }

#define RAM_SIZE (64u << 10)
#define NDEV 2

/* A stand-in virtio device: 16 bytes of config, every chain returned unused. */
static uint8_t devcfg[NDEV][16];
static void cfg_read(struct virtio_dev *d, unsigned off, void *buf, unsigned len)
{
	memcpy(buf, (uint8_t *)d->priv + off, len);
}
static void cfg_write(struct virtio_dev *d, unsigned off, const void *buf, unsigned len)
{
	memcpy((uint8_t *)d->priv + off, buf, len);
}
static void process(struct virtio_dev *d, struct virtq *q)
{
	static struct virtq_req req;
	int r;
	while ((r = virtq_pop(q, &req)) > 0)
		virtq_push(q, req.head, 0);
	if (r == 0)
		virtio_notify(d, q);
}
static const struct virtio_ops ops[NDEV] = {
	{ .name = "fuzz-a", .device_id = 4, .pci_class = 0xFF0000, .features = 1, .nqueues = 1,
	  .queue_size = 8, .config_len = 16, .config_read = cfg_read, .config_write = cfg_write,
	  .process = process },
	{ .name = "fuzz-b", .device_id = 5, .pci_class = 0xFF0000, .nqueues = 3, .queue_size = 4,
	  .config_len = 0, .process = process },
};

static struct vm vm;
static struct virtio_dev *dev[NDEV];

static void setup(void)
{
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	pthread_mutex_init(&vm.io_lock, NULL);
	static uint8_t *ram;
	if (!ram)
		ram = aligned_alloc(4096, RAM_SIZE);
	memset(ram, 0, RAM_SIZE);
	vm.mem = (struct guest_mem){ .host = ram, .low_size = RAM_SIZE };
	if (pci_init(&vm) < 0)
		abort();
	for (int k = 0; k < NDEV; k++) {
		memset(devcfg[k], 0, sizeof(devcfg[k]));
		dev[k] = virtio_dev_create(&vm, &ops[k], devcfg[k], "fuzz");
	}
}

static void teardown(void)
{
	for (int k = 0; k < NDEV; k++)
		fuzz_free_dev(dev[k]);
	fuzz_free_bus(&vm);
}

/* Without KVM a vector is "attached" exactly while the guest wants it to deliver. */
static void check_msix(const struct msix *m)
{
	uint16_t c = (uint16_t)pci_cfg_get(m->dev, m->cap + 2, 2);
	for (unsigned i = 0; i < m->n; i++) {
		bool want = (c & 0x8000) && !(c & 0x4000) && !(m->v[i].ctrl & 1);
		if (m->v[i].attached != want)
			__builtin_trap();
	}
}

static void op(const uint8_t *p)
{
	unsigned kind = p[0] & 7, size = 1u << ((p[0] >> 3) & 3);
	bool wr = p[0] & 0x20;
	struct virtio_dev *d = dev[(p[0] >> 6) & 1];
	uint32_t off = (uint32_t)get_le(p + 1, 3);
	uint64_t v = get_le64(p + 4);

	switch (kind) {
	case 0:   /* the type-1 ports, raw */
		io_dispatch(&vm.io, IO_PIO, PCI_CFG_PORT + (off & 7), &v, size > 4 ? 4 : size, wr);
		break;
	case 1:   /* ECAM */
		io_dispatch(&vm.io, IO_MMIO, PCI_ECAM_START + (off & (PCI_ECAM_SIZE - 1)), &v, size, wr);
		break;
	case 2:   /* BAR0 of a device, wherever the guest put it */
		io_dispatch(&vm.io, IO_MMIO, d->pci.bar[0].mapped + (off & 0x7FFF), &v, size, wr);
		break;
	case 3:   /* anywhere in the low 16 MiB of the 32-bit MMIO window */
		io_dispatch(&vm.io, IO_MMIO, PCI_MMIO_START + off, &v, size, wr);
		break;
	case 4: { /* 0xCF8 address then a 0xCFC-0xCFF data access: what a driver does */
		uint64_t a = 0x80000000u | (off & 0xFFFC);
		io_dispatch(&vm.io, IO_PIO, PCI_CFG_PORT, &a, 4, true);
		io_dispatch(&vm.io, IO_PIO, PCI_CFG_PORT + 4 + ((off >> 16) & 3), &v, size > 4 ? 4 : size, wr);
		break;
	}
	case 5:   /* the device raises a vector (MSI-X pending bits, INTx fallback) */
		msix_notify(&d->msix, off & 0xFF);
		break;
	case 6:   /* the device thread serves a queue */
		virtio_process_queue(d, off & 3);
		break;
	default:
		virtio_config_changed(d);
	}
	for (int k = 0; k < NDEV; k++)
		check_msix(&dev[k]->msix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	setup();
	for (size_t off = 0; off + 12 <= n && off < 12 * 256; off += 12)
		op(data + off);
	teardown();
	return 0;
}
