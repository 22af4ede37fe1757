/* tests/fuzz/fuzz_virtio_net.c: libFuzzer harness for virtio-net: fuzzed features, rx/tx rings, guest memory and frames from a fake tap. */
/*
 * Build: clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *        tests/fuzz/fuzz_virtio_net.c virtio/virtq.c virtio/pci.c dev/pci.c dev/msix.c \
 *        sandbox/policy.c io.c log.c -o build/fuzz/fuzz_virtio_net
 * net.c is compiled into this file (as tests/unit/test_net.c does) to put the
 * device on a SOCK_SEQPACKET socketpair instead of a tap. Input:
 *   8 bytes  features the driver acks (VERSION_1 added, cut to the offers)
 *   1 byte   rx queue size (log2), 1 byte tx queue size (log2)
 *   1 byte   bits 0-1: frames the "tap" sends; 2: tx before rx; 3: MSI-X on;
 *            4: reset, bring up again and serve the queues a second time
 *   frames   each a 2-byte length (mod 4096) then its bytes (vnet header first)
 *   then     rx avail ring, rx descriptors, tx avail ring, tx descriptors, RAM from 0x8000
 * A fresh device per input. Every frame the device transmits must be at least
 * a vnet header long.
 */
#include <sys/socket.h>

#include "virtio/net.c"
#include "vm.h"

void vm_request_exit(struct vm *vm, int code) { (void)vm; (void)code; }
void vm_set_irq(struct vm *vm, unsigned pin, int level) { (void)vm; (void)pin; (void)level; }
#include "tests/unit/no_kvm_msi.h"
#include "tests/fuzz/fuzz_dev.h"
#include "le.h"

int sandbox_enter(enum sb_role role, int own_fd) { (void)role; (void)own_fd; return 0; }

#define RAM_SIZE (256u << 10)
#define RX_DESC  0x1000u
#define RX_AVAIL 0x2000u
#define RX_USED  0x3000u
#define TX_DESC  0x4000u
#define TX_AVAIL 0x5000u
#define TX_USED  0x6000u
#define DATA     0x8000u

static struct vm vm;
static uint8_t *ram;
static struct net *nd;
static struct virtio_dev *d;
static int peer = -1;

static void wr(uint64_t off, unsigned size, uint64_t v)
{
	io_dispatch(&vm.io, IO_MMIO, d->pci.bar[0].mapped + off, &v, size, true);
}

static void setup(void)
{
	int sp[2];

	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	pthread_mutex_init(&vm.io_lock, NULL);
	if (!ram)
		ram = aligned_alloc(4096, RAM_SIZE);
	memset(ram, 0, RAM_SIZE);
	vm.mem = (struct guest_mem){ .host = ram, .low_size = RAM_SIZE };
	if (pci_init(&vm) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
	peer = sp[1];
	nd = net_new("tap=fuzz0");
	nd->fd = sp[0];
	nd->mtu = 1500;
	nd->ops.features = net_ops_base.features | NF(MTU) | NF(GUEST_UFO) | NF(HOST_UFO);
	net_attach(&vm, nd);
	d = nd->dev;
	uint64_t cmd = PCI_CMD_MEMORY | PCI_CMD_MASTER;
	pci_cfg_access(vm.pci, (unsigned)d->pci.slot << 3, PCI_COMMAND, &cmd, 2, true);
}

static void teardown(void)
{
	fuzz_free_dev(d);
	close(nd->fd);
	close(peer);
	free(nd->req);
	free(nd->spec);
	free(nd);
	fuzz_free_bus(&vm);
}

static void queue(unsigned qi, uint16_t size, gpa_t desc, gpa_t avail, gpa_t used)
{
	wr(0x16, 2, qi);
	wr(0x18, 2, size);
	wr(0x1A, 2, qi + 1);
	wr(0x20, 8, desc);
	wr(0x28, 8, avail);
	wr(0x30, 8, used);
	wr(0x1C, 2, 1);
}

/* What a Linux driver does, with the fuzzed feature set and queue sizes. */
static void bring_up(uint64_t f, uint16_t rxs, uint16_t txs, bool msix)
{
	wr(0x14, 1, 0);
	wr(0x14, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	f = (f | VIRTIO_BIT(VIRTIO_F_VERSION_1)) & d->offered;
	wr(0x08, 4, 0);
	wr(0x0C, 4, (uint32_t)f);
	wr(0x08, 4, 1);
	wr(0x0C, 4, (uint32_t)(f >> 32));
	wr(0x14, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
	if (msix) {
		uint64_t ctl = 0x8000;
		pci_cfg_access(vm.pci, (unsigned)d->pci.slot << 3, d->msix.cap + 2, &ctl, 2, true);
		for (unsigned v = 0; v < 3; v++) {
			wr(0x4000 + 16 * v, 4, 0xFEE00000);
			wr(0x4000 + 16 * v + 8, 4, 0x30 + v);
			wr(0x4000 + 16 * v + 12, 4, 0);
		}
		wr(0x10, 2, 0);
	}
	queue(0, rxs, RX_DESC, RX_AVAIL, RX_USED);
	queue(1, txs, TX_DESC, TX_AVAIL, TX_USED);
	wr(0x14, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
}

/* The device thread's work: a tx kick, a frame on the tap, an rx kick. */
static void serve(bool tx_first)
{
	if (tx_first)
		virtio_process_queue(d, NET_TXQ);
	pthread_mutex_lock(&d->lock);
	net_tap_ready(d, nd);
	pthread_mutex_unlock(&d->lock);
	virtio_process_queue(d, NET_RXQ);
	if (!tx_first)
		virtio_process_queue(d, NET_TXQ);
}

/* Copy up to len input bytes to guest address gpa; advances *off. */
static void put(const uint8_t *data, size_t n, size_t *off, gpa_t gpa, size_t len)
{
	if (len > n - *off)
		len = n - *off;
	memcpy(ram + gpa, data + *off, len);
	*off += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static uint8_t frame[65536 + 64];
	uint64_t f;
	size_t off = 11;

	if (n < 11)
		return 0;
	setup();
	memcpy(&f, data, 8);
	uint16_t rxs = (uint16_t)(1u << (data[8] % 9)), txs = (uint16_t)(1u << (data[9] % 9));
	uint8_t flags = data[10];
	bring_up(f, rxs, txs, flags & 8);
	for (unsigned i = 0; i < (flags & 3u) && off + 2 <= n; i++) {
		size_t len = get_le16(data + off) % 4096;
		off += 2;
		if (len > n - off)
			len = n - off;
		if (send(peer, data + off, len, 0) < 0)
			break;
		off += len;
	}
	put(data, n, &off, RX_AVAIL, 6 + 2u * rxs);
	put(data, n, &off, RX_DESC, 16u * rxs);
	put(data, n, &off, TX_AVAIL, 6 + 2u * txs);
	put(data, n, &off, TX_DESC, 16u * txs);
	put(data, n, &off, DATA, RAM_SIZE - DATA);
	serve(flags & 4);
	if (flags & 16) {
		bring_up(f, rxs, txs, flags & 8);
		serve(!(flags & 4));
	}
	for (;;) {
		ssize_t r = recv(peer, frame, sizeof(frame), MSG_TRUNC);
		if (r < 0)
			break;
		if (r < NET_HDR_LEN)
			__builtin_trap();
	}
	teardown();
	return 0;
}
