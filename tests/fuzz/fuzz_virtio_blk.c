/* tests/fuzz/fuzz_virtio_blk.c: libFuzzer harness for virtio-blk over virtio-pci: fuzzed register writes, ring memory and requests. */
/*
 * Build: clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *        tests/fuzz/fuzz_virtio_blk.c virtio/virtq.c virtio/pci.c virtio/blk.c dev/pci.c dev/msix.c io.c log.c -o build/fuzz_virtio_blk
 * Input: a count byte, that many 8-byte BAR0 or config-space accesses, then
 * the avail ring, the descriptor table and the rest of guest RAM. A normal
 * driver bring-up runs between the register writes and the queue processing,
 * so both the transport and the request parser see hostile input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/virtio.h"
#include "vm.h"

void vm_request_exit(struct vm *vm, int code) { (void)vm; (void)code; }
void vm_set_irq(struct vm *vm, unsigned pin, int level) { (void)vm; (void)pin; (void)level; }
#include "tests/unit/no_kvm_msi.h"
#include "le.h"
int sandbox_enter(int role, int own_fd);
int sandbox_enter(int role, int own_fd) { (void)role; (void)own_fd; return 0; }

#define RAM_SIZE (256u << 10)
#define DESC 0x1000u
#define AVAIL 0x2000u
#define USED 0x3000u

static struct vm vm;
static struct virtio_dev *d;
static uint64_t bar;

static void wr(uint64_t off, unsigned size, uint64_t v)
{
	io_dispatch(&vm.io, IO_MMIO, bar + off, &v, size, true);
}

/* One fuzzed access: BAR0 write, BAR0 read, or config-space write/read of the device. */
static void fuzz_op(const uint8_t *op)
{
	unsigned off = get_le16(op) & 0x7FFF, size = 1u << (op[2] & 3);
	uint64_t v = get_le(op + 3, 5);

	switch ((op[2] >> 2) & 3) {
	case 0: wr(off, size, v); break;
	case 1: io_dispatch(&vm.io, IO_MMIO, bar + off, &v, size, false); break;
	case 2: pci_cfg_access(vm.pci, (unsigned)d->pci.slot << 3, off & 0xFFF, &v, size, true); break;
	default: pci_cfg_access(vm.pci, (unsigned)d->pci.slot << 3, off & 0xFFF, &v, size, false);
	}
	bar = d->pci.bar[0].mapped;   /* the guest may have moved it */
}

static void setup_once(void)
{
	char path[] = "/tmp/fuzz-blk-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		abort();
	close(fd);
	vm.vm_fd = -1;
	vm.mem = (struct guest_mem){ aligned_alloc(4096, RAM_SIZE), RAM_SIZE, 0 };
	if (pci_init(&vm) < 0)
		abort();
	virtio_blk_create(&vm, path);
	unlink(path);
	d = virtio_dev_get(&vm, 0);
	bar = d->pci.bar[0].mapped;
	uint64_t cmd = PCI_CMD_MEMORY;
	pci_cfg_access(vm.pci, (unsigned)d->pci.slot << 3, PCI_COMMAND, &cmd, 2, true);
}

static void bring_up(void)
{
	wr(0x14, 1, 1);
	wr(0x14, 1, 3);
	wr(0x08, 4, 1);
	wr(0x0C, 4, 1);                         /* VERSION_1 */
	wr(0x08, 4, 0);
	wr(0x0C, 4, 0x30006246);                /* indirect, event idx, blk features */
	wr(0x14, 1, 11);
	wr(0x16, 2, 0);
	wr(0x18, 2, 16);
	wr(0x20, 8, DESC);
	wr(0x28, 8, AVAIL);
	wr(0x30, 8, USED);
	wr(0x1C, 2, 1);
	wr(0x14, 1, 15);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	size_t off = 1, len;

	if (!d)
		setup_once();
	if (n < 1)
		return 0;
	memset(vm.mem.host, 0, RAM_SIZE);
	wr(0x14, 1, 0);                         /* reset */
	for (unsigned i = 0; i < data[0] % 16 && off + 8 <= n; i++, off += 8)
		fuzz_op(data + off);
	if (!(__atomic_load_n(&d->status, __ATOMIC_RELAXED) & VIRTIO_S_DRIVER_OK))
		bring_up();
	len = n - off < 6 + 2 * 16 ? n - off : 6 + 2 * 16;
	memcpy(vm.mem.host + AVAIL, data + off, len);
	off += len;
	len = n - off < 16 * 16 ? n - off : 16 * 16;
	memcpy(vm.mem.host + DESC, data + off, len);
	off += len;
	len = n - off < RAM_SIZE - 0x4000 ? n - off : RAM_SIZE - 0x4000;
	memcpy(vm.mem.host + 0x4000, data + off, len);
	for (unsigned q = 0; q < 2; q++)
		virtio_process_queue(d, q);
	return 0;
}
