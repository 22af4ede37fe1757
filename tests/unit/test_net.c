/* tests/unit/test_net.c: virtio-net driven like a guest driver over a SOCK_SEQPACKET socketpair standing in for the tap, plus a real tap in a private network namespace. */
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
/* The device's static helpers (spec, MAC, offload mapping) are tested directly:
 * net.c is compiled into this test, so libvmm.a's copy is never linked. */
#include "../../virtio/net.c"
#include "vm.h"

void vm_request_exit(struct vm *vm, int code) { (void)vm; (void)code; }
void vm_set_irq(struct vm *vm, unsigned pin, int level) { (void)vm; (void)pin; (void)level; }
#include "no_kvm_msi.h"
#include "le.h"

#define RAM_SIZE (4u << 20)
#define QSZ      64u
#define RXBUF    0x100000u     /* 64 buffers, 4 KiB apart */
#define BIGBUF   0x200000u     /* one 80 KiB buffer */
#define TXBUF    0x300000u

enum { DFSEL = 0, DF = 4, GFSEL = 8, GF = 0xC, CFGVEC = 0x10, NUMQ = 0x12, STAT = 0x14,
       QSEL = 0x16, QSIZE = 0x18, QVEC = 0x1A, QEN = 0x1C, QDESC = 0x20, QDRV = 0x28, QDEV = 0x30 };
#define DEVCFG     0x2000
#define NOTIFY     0x3000
#define MSIX_TABLE 0x4000

static struct vm vm;
static struct pci_bus *old_buses[64];
static unsigned nold;
static uint8_t *ram;
static struct virtio_dev *d;
static struct net *nd;
static uint64_t bar;
static int peer = -1;           /* the "network" end of the socketpair */

/* One guest queue: where its rings are, what was posted. */
struct gq { gpa_t desc, avail, used; uint16_t posted; };
static struct gq rxg = { 0x1000, 0x2000, 0x3000, 0 }, txg = { 0x4000, 0x5000, 0x6000, 0 };

static struct virtq_desc *D(struct gq *g, unsigned i) { return (struct virtq_desc *)(ram + g->desc) + i; }
static struct virtq_avail *A(struct gq *g) { return (struct virtq_avail *)(ram + g->avail); }
static struct virtq_used *U(struct gq *g) { return (struct virtq_used *)(ram + g->used); }

static uint64_t mmio_rd(uint64_t off, unsigned size)
{
	uint64_t v = 0;
	CHECK(io_dispatch(&vm.io, IO_MMIO, bar + off, &v, size, false));
	return v;
}

static void mmio_wr(uint64_t off, unsigned size, uint64_t v)
{
	CHECK(io_dispatch(&vm.io, IO_MMIO, bar + off, &v, size, true));
}

static uint32_t cfg_rd(unsigned reg, unsigned size)
{
	uint64_t v = 0;
	pci_cfg_access(vm.pci, (unsigned)d->pci.slot << 3, reg, &v, size, false);
	return (uint32_t)v;
}

static void cfg_wr(unsigned reg, unsigned size, uint32_t val)
{
	uint64_t v = val;
	pci_cfg_access(vm.pci, (unsigned)d->pci.slot << 3, reg, &v, size, true);
}

static uint64_t efd_count(int efd)
{
	eventfd_t n = 0;
	return eventfd_read(efd, &n) < 0 ? 0 : n;
}

/* A device on a socketpair, offering `features` (the base set unless 0). */
static void vm_setup(uint64_t features)
{
	int sp[2];
	if (vm.pci && nold < ARRAY_SIZE(old_buses))
		old_buses[nold++] = vm.pci;
	if (peer >= 0)
		close(peer);
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	vm.mem = (struct guest_mem){ .host = ram, .low_size = RAM_SIZE };
	memset(ram, 0, RAM_SIZE);
	rxg.posted = txg.posted = 0;
	CHECK(pci_init(&vm) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == 0);
	int big = 1 << 20;
	setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	peer = sp[1];
	nd = net_new("tap=vmmtest0");
	nd->fd = sp[0];
	nd->mtu = 1500;
	nd->ops.features = features ? features : net_ops_base.features | NF(MTU) | NF(GUEST_UFO);
	net_attach(&vm, nd);
	d = virtio_dev_get(&vm, 0);
	CHECK(d == nd->dev && virtio_dev_get(&vm, 1) == NULL);
	bar = d->pci.bar[0].mapped;
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
}

static uint64_t device_features(void)
{
	mmio_wr(DFSEL, 4, 0);
	uint64_t f = mmio_rd(DF, 4);
	mmio_wr(DFSEL, 4, 1);
	return f | mmio_rd(DF, 4) << 32;
}

static void queue_config(unsigned qi, struct gq *g)
{
	mmio_wr(QSEL, 2, qi);
	mmio_wr(QSIZE, 2, QSZ);
	mmio_wr(QVEC, 2, qi + 1);
	mmio_wr(QDESC, 8, g->desc);
	mmio_wr(QDRV, 8, g->avail);
	mmio_wr(QDEV, 8, g->used);
	mmio_wr(QEN, 2, 1);
}

/* Full init, MSI-X on: config vector 0, rx 1, tx 2. `f` are the features acked. */
static void driver_init(uint64_t f)
{
	mmio_wr(STAT, 1, 0);
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	f = (f | VIRTIO_BIT(VIRTIO_F_VERSION_1)) & device_features();
	mmio_wr(GFSEL, 4, 0);
	mmio_wr(GF, 4, (uint32_t)f);
	mmio_wr(GFSEL, 4, 1);
	mmio_wr(GF, 4, (uint32_t)(f >> 32));
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
	CHECK(mmio_rd(STAT, 1) & VIRTIO_S_FEATURES_OK);
	cfg_wr(d->msix.cap + 2, 2, 0x8000);
	for (unsigned v = 0; v < 3; v++) {
		mmio_wr(MSIX_TABLE + 16 * v, 4, 0xFEE00000);
		mmio_wr(MSIX_TABLE + 16 * v + 8, 4, 0x30 + v);
		mmio_wr(MSIX_TABLE + 16 * v + 12, 4, 0);
	}
	mmio_wr(CFGVEC, 2, 0);
	memset(ram + 0x1000, 0, 0x6000);
	rxg.posted = txg.posted = 0;
	queue_config(0, &rxg);
	queue_config(1, &txg);
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
	CHECK(virtio_dev_running(d));
	for (unsigned v = 0; v < 3; v++)
		efd_count(d->msix.v[v].efd);
	efd_count(d->vq[0].kick_efd);
	efd_count(d->vq[1].kick_efd);
}

/* Make a chain available (descriptors already written) without kicking. */
static void make_avail(struct gq *g, uint16_t head)
{
	A(g)->ring[A(g)->idx % QSZ] = head;
	__atomic_store_n(&A(g)->idx, (uint16_t)(A(g)->idx + 1), __ATOMIC_RELEASE);
}

/* Post `n` single-buffer rx chains of `len` bytes (buffer i at RXBUF + i * 4 KiB). */
static void post_rx(unsigned n, uint32_t len)
{
	for (unsigned k = 0; k < n; k++) {
		unsigned i = rxg.posted++ % QSZ;
		*D(&rxg, i) = (struct virtq_desc){ RXBUF + 0x1000ull * i, len, VIRTQ_DESC_F_WRITE, 0 };
		memset(ram + RXBUF + 0x1000ull * i, 0xEE, len);
		make_avail(&rxg, (uint16_t)i);
	}
}

/* A frame as the tap hands it over: header then payload (byte i = seed + i). */
static size_t make_frame(uint8_t *buf, uint8_t flags, uint8_t gso, size_t payload, uint8_t seed)
{
	memset(buf, 0, NET_HDR_LEN);
	buf[0] = flags;
	buf[1] = gso;
	for (size_t i = 0; i < payload; i++)
		buf[NET_HDR_LEN + i] = (uint8_t)(seed + i);
	return NET_HDR_LEN + payload;
}

static void peer_send(uint8_t flags, uint8_t gso, size_t payload, uint8_t seed)
{
	static uint8_t buf[NET_HDR_LEN + 70000];
	size_t len = make_frame(buf, flags, gso, payload, seed);
	CHECK(send(peer, buf, len, 0) == (ssize_t)len);
}

/* Whether a frame is still waiting on the device's side (sent, not read by the device). */
static bool peer_has_data(void)
{
	uint8_t b;
	return recv(nd->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/* Whether the device wrote a frame the network side has not taken. */
static bool tx_pending(void)
{
	uint8_t b;
	return recv(peer, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

static void net_free(struct net *n)
{
	free(n->req);
	free(n->spec);
	free(n);
}

/* The payload of a received frame, gathered from used entries first..first+nb-1 (single-buffer chains). */
static bool rx_payload_ok(uint16_t first, unsigned nb, size_t payload, uint8_t seed)
{
	size_t off = 0;   /* offset in header+payload */
	for (unsigned k = 0; k < nb; k++) {
		struct virtq_used_elem e = U(&rxg)->ring[(first + k) % QSZ];
		const uint8_t *p = ram + RXBUF + 0x1000ull * e.id;
		for (uint32_t j = 0; j < e.len; j++, off++)
			if (off >= NET_HDR_LEN && p[j] != (uint8_t)(seed + off - NET_HDR_LEN))
				return false;
	}
	return off == NET_HDR_LEN + payload;
}

static const uint8_t *rx_hdr(uint16_t used_slot)
{
	return ram + RXBUF + 0x1000ull * U(&rxg)->ring[used_slot % QSZ].id;
}

static uint16_t hdr_num_buffers(const uint8_t *h) { return get_le16(h + 10); }

/* ---- pure helpers ---- */

static void test_mac_and_spec(void)
{
	uint8_t a[6], b[6];
	struct net *n;

	default_mac("tap0", a);
	default_mac("tap0", b);
	CHECK(!memcmp(a, b, 6) && a[0] == 0x52 && a[1] == 0x54 && a[2] == 0x00);
	default_mac("tap1", b);
	CHECK(memcmp(a, b, 6) != 0);
	CHECK(parse_mac("02:aB:cd:EF:00:9f", a) == 0 && a[0] == 2 && a[1] == 0xAB && a[5] == 0x9F);
	CHECK(parse_mac("01:00:00:00:00:01", a) < 0);     /* multicast */
	CHECK(parse_mac("00:00:00:00:00:00", a) < 0);
	CHECK(parse_mac("02:00:00:00:00", a) < 0);
	CHECK(parse_mac("02:00:00:00:00:01:", a) < 0);
	CHECK(parse_mac("02-00-00-00-00-01", a) < 0);
	CHECK(parse_mac("2:00:00:00:00:01", a) < 0);
	CHECK(parse_mac("02:00:00:00:00:0g", a) < 0);
	n = net_new("tap=tapX");
	CHECK(!strcmp(n->ifname, "tapX") && n->mac[0] == 0x52);
	default_mac("tapX", a);
	CHECK(!memcmp(n->mac, a, 6));
	net_free(n);
	n = net_new("mac=02:11:22:33:44:55,tap=123456789012345");
	CHECK(!strcmp(n->ifname, "123456789012345") && n->mac[1] == 0x11 && n->mac[5] == 0x55);
	net_free(n);
}

static void test_offload_mapping(void)
{
	uint64_t all = NF(GUEST_CSUM) | NF(GUEST_TSO4) | NF(GUEST_TSO6) | NF(GUEST_ECN) | NF(GUEST_UFO);
	uint8_t fl;

	CHECK(tun_offloads(0) == 0);
	CHECK(tun_offloads(NF(GUEST_TSO4)) == 0);                     /* no TSO without checksum */
	CHECK(tun_offloads(NF(GUEST_CSUM)) == TUN_F_CSUM);
	CHECK(tun_offloads(all) == (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO));
	CHECK(tun_offloads(NF(GUEST_CSUM) | NF(GUEST_ECN)) == TUN_F_CSUM);   /* ECN needs TSO */
	CHECK(tun_offloads(NF(GUEST_CSUM) | NF(GUEST_USO4)) == TUN_F_CSUM);  /* USO only as a pair */
	CHECK(tun_offloads(NF(GUEST_CSUM) | NF(GUEST_USO4) | NF(GUEST_USO6)) ==
	      (TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6));
	CHECK(tun_offloads(NF(CSUM) | NF(HOST_TSO4) | NF(MRG_RXBUF)) == 0);   /* host-side bits: nothing */
	/* received headers against the acked features */
	fl = HDR_F_NEEDS_CSUM;
	CHECK(!rx_hdr_fits(0, &fl, GSO_NONE));
	fl = HDR_F_DATA_VALID;
	CHECK(rx_hdr_fits(0, &fl, GSO_NONE) && fl == 0);
	fl = HDR_F_DATA_VALID;
	CHECK(rx_hdr_fits(NF(GUEST_CSUM), &fl, GSO_NONE) && fl == HDR_F_DATA_VALID);
	fl = HDR_F_NEEDS_CSUM;
	CHECK(rx_hdr_fits(all, &fl, GSO_TCPV4) && rx_hdr_fits(all, &fl, GSO_TCPV6 | GSO_ECN));
	CHECK(!rx_hdr_fits(NF(GUEST_CSUM) | NF(GUEST_TSO6), &fl, GSO_TCPV4));
	CHECK(!rx_hdr_fits(NF(GUEST_CSUM) | NF(GUEST_TSO4), &fl, GSO_TCPV4 | GSO_ECN));
	CHECK(!rx_hdr_fits(all, &fl, GSO_UDP_L4) && !rx_hdr_fits(all, &fl, 2) && !rx_hdr_fits(all, &fl, GSO_ECN));
	CHECK(rx_need_bytes(NF(GUEST_TSO4), 1500) == 12 + 65536 + 18);
	CHECK(rx_need_bytes(0, 1500) == 12 + 1518 && rx_need_bytes(0, 9000) == 12 + 9018);
}

/* ---- the device through the transport ---- */

static void test_identity_and_config(void)
{
	vm_setup(0);
	CHECK(cfg_rd(0, 4) == (0x1041u << 16 | 0x1AF4));
	CHECK(cfg_rd(8, 4) >> 8 == 0x020000);
	CHECK(mmio_rd(NUMQ, 2) == 2);
	uint64_t f = device_features();
	CHECK(f & NF(MAC) && f & NF(STATUS) && f & NF(MRG_RXBUF) && f & NF(MTU) && f & NF(CSUM));
	CHECK(f & NF(GUEST_CSUM) && f & NF(GUEST_TSO4) && f & NF(HOST_TSO6) && f & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	CHECK(!(f & VIRTIO_BIT(17)) && !(f & VIRTIO_BIT(22)));   /* no ctrl vq, no multiqueue */
	for (unsigned i = 0; i < 6; i++)
		CHECK(mmio_rd(DEVCFG + i, 1) == nd->mac[i]);
	CHECK(mmio_rd(DEVCFG + 6, 2) == NET_S_LINK_UP);
	CHECK(mmio_rd(DEVCFG + 8, 2) == 1);
	CHECK(mmio_rd(DEVCFG + 10, 2) == 1500);
	CHECK(mmio_rd(DEVCFG + 12, 4) == 0);   /* past the end */
	mmio_wr(DEVCFG, 1, 0x77);              /* not writable */
	CHECK(mmio_rd(DEVCFG, 1) == nd->mac[0]);
}

static void test_tx(void)
{
	uint8_t buf[4096];

	vm_setup(0);
	driver_init(NF(CSUM));
	/* header + first bytes in one descriptor, the rest in another, plus a device-writable tail (ignored) */
	size_t len = make_frame(ram + TXBUF, HDR_F_NEEDS_CSUM, GSO_NONE, 1000, 9);
	*D(&txg, 0) = (struct virtq_desc){ TXBUF, 40, VIRTQ_DESC_F_NEXT, 1 };
	*D(&txg, 1) = (struct virtq_desc){ TXBUF + 40, (uint32_t)len - 40, VIRTQ_DESC_F_NEXT, 2 };
	*D(&txg, 2) = (struct virtq_desc){ TXBUF + 0x10000, 64, VIRTQ_DESC_F_WRITE, 0 };
	make_avail(&txg, 0);
	*D(&txg, 3) = (struct virtq_desc){ TXBUF + 0x2000, NET_HDR_LEN + 60, 0, 0 };
	make_frame(ram + TXBUF + 0x2000, 0, GSO_NONE, 60, 1);
	make_avail(&txg, 3);
	virtio_process_queue(d, NET_TXQ);
	CHECK(U(&txg)->idx == 2 && U(&txg)->ring[0].id == 0 && U(&txg)->ring[0].len == 0);
	CHECK(U(&txg)->ring[1].id == 3);
	CHECK(recv(peer, buf, sizeof(buf), 0) == (ssize_t)len && !memcmp(buf, ram + TXBUF, len));
	CHECK(recv(peer, buf, sizeof(buf), 0) == NET_HDR_LEN + 60 && buf[NET_HDR_LEN] == 1);
	CHECK(efd_count(d->msix.v[2].efd) == 1 && d->stats->irqs == 1);
	CHECK(d->stats->requests == 2 && d->stats->bytes == 1060);
	CHECK(!(mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET));
	/* a chain shorter than the header is a broken driver */
	*D(&txg, 4) = (struct virtq_desc){ TXBUF, 8, 0, 0 };
	make_avail(&txg, 4);
	virtio_process_queue(d, NET_TXQ);
	CHECK(mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET);
	CHECK(!tx_pending());
}

static void test_rx_single(void)
{
	vm_setup(0);
	driver_init(NF(GUEST_CSUM));          /* no MRG_RXBUF: one chain per frame */
	post_rx(2, 2048);
	peer_send(HDR_F_DATA_VALID, GSO_NONE, 100, 3);
	peer_send(0, GSO_NONE, 1500, 4);
	net_tap_ready(d, nd);
	CHECK(U(&rxg)->idx == 2);
	CHECK(U(&rxg)->ring[0].id == 0 && U(&rxg)->ring[0].len == NET_HDR_LEN + 100);
	CHECK(rx_payload_ok(0, 1, 100, 3) && rx_payload_ok(1, 1, 1500, 4));
	CHECK(hdr_num_buffers(rx_hdr(0)) == 1 && rx_hdr(0)[0] == HDR_F_DATA_VALID);
	CHECK(efd_count(d->msix.v[1].efd) == 1);
	CHECK(d->stats->requests == 2 && d->stats->bytes == 1600);
	/* a frame larger than the buffer is dropped, not truncated into the guest; the buffer stays */
	post_rx(1, 600);
	peer_send(0, GSO_NONE, 600 - NET_HDR_LEN + 1, 5);
	peer_send(0, GSO_NONE, 600 - NET_HDR_LEN, 6);          /* fits exactly */
	virtio_process_queue(d, NET_RXQ);
	CHECK(U(&rxg)->idx == 3 && rx_payload_ok(2, 1, 600 - NET_HDR_LEN, 6) && nd->drops == 1);
}

static void test_rx_no_buffers_waits(void)
{
	vm_setup(0);
	driver_init(0);
	peer_send(0, GSO_NONE, 200, 7);
	net_tap_ready(d, nd);
	CHECK(U(&rxg)->idx == 0 && peer_has_data());      /* left in the tap, not dropped */
	CHECK(*(uint16_t *)&U(&rxg)->ring[QSZ] == 0);    /* EVENT_IDX not acked: flags */
	CHECK(U(&rxg)->flags == 0);                       /* kicks wanted */
	post_rx(1, 2048);
	virtio_process_queue(d, NET_RXQ);                 /* the guest's rx kick */
	CHECK(U(&rxg)->idx == 1 && rx_payload_ok(0, 1, 200, 7) && !peer_has_data());
	CHECK(efd_count(d->msix.v[1].efd) == 1);
	/* with EVENT_IDX: avail_event asks for a kick at the next buffer */
	vm_setup(0);
	driver_init(VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	post_rx(1, 2048);
	peer_send(0, GSO_NONE, 50, 1);
	peer_send(0, GSO_NONE, 60, 2);
	net_tap_ready(d, nd);
	CHECK(U(&rxg)->idx == 1 && peer_has_data());
	CHECK(*(uint16_t *)&U(&rxg)->ring[QSZ] == 1);
	post_rx(1, 2048);
	virtio_process_queue(d, NET_RXQ);
	CHECK(U(&rxg)->idx == 2 && rx_payload_ok(1, 1, 60, 2));
}

static void test_rx_mergeable(void)
{
	vm_setup(0);
	driver_init(NF(MRG_RXBUF));             /* no GSO: a pool of one MTU is enough */
	post_rx(8, 1000);
	peer_send(0, GSO_NONE, 1514, 1);
	net_tap_ready(d, nd);
	CHECK(U(&rxg)->idx == 2 && hdr_num_buffers(rx_hdr(0)) == 2 && nd->rx.n == 2);
	CHECK(U(&rxg)->ring[0].len == 1000 && U(&rxg)->ring[1].len == 12u + 1514 - 1000);
	CHECK(rx_payload_ok(0, 2, 1514, 1) && d->stats->requests == 2);

	/* GSO acked: nothing is read until 64 KiB of buffers are held */
	vm_setup(0);
	driver_init(NF(MRG_RXBUF) | NF(GUEST_CSUM) | NF(GUEST_TSO4) | NF(GUEST_TSO6));
	post_rx(40, 1536);
	peer_send(HDR_F_NEEDS_CSUM, GSO_TCPV4, 5000, 2);
	net_tap_ready(d, nd);
	CHECK(U(&rxg)->idx == 0 && peer_has_data() && nd->rx.n == 40);
	post_rx(10, 1536);
	virtio_process_queue(d, NET_RXQ);
	CHECK(U(&rxg)->idx == 4 && hdr_num_buffers(rx_hdr(0)) == 4 && rx_hdr(0)[1] == GSO_TCPV4);
	CHECK(U(&rxg)->ring[3].len == 5012 - 3 * 1536 && rx_payload_ok(0, 4, 5000, 2));
	CHECK(nd->rx.n == 43 && efd_count(d->msix.v[1].efd) == 1);   /* 43 * 1536 >= 65566 */
	/* a 60000-byte GSO frame: once 14 more buffers bring the pool back over 64 KiB */
	peer_send(HDR_F_NEEDS_CSUM, GSO_TCPV6, 60000, 3);
	post_rx(14, 1536);
	virtio_process_queue(d, NET_RXQ);
	unsigned nb = (60012 + 1535) / 1536;
	CHECK(U(&rxg)->idx == 4 + nb && hdr_num_buffers(rx_hdr(4)) == nb && rx_payload_ok(4, nb, 60000, 3));
	CHECK(d->stats->bytes == 65000);
	/* an offload the guest did not ack (UFO) is dropped; the buffers are reused */
	peer_send(HDR_F_NEEDS_CSUM, GSO_UDP, 3000, 4);
	peer_send(0, GSO_NONE, 70, 5);
	post_rx(4, 1536);
	virtio_process_queue(d, NET_RXQ);
	CHECK(U(&rxg)->idx == 4 + nb && nd->rx.n == 24);   /* 3 + 14 + 4 + 3 held: short of 64 KiB */
	post_rx(19, 1536);
	virtio_process_queue(d, NET_RXQ);
	CHECK(U(&rxg)->idx == 5 + nb && rx_payload_ok(4 + nb, 1, 70, 5) && nd->drops == 1);
}

static void test_rx_hostile(void)
{
	vm_setup(0);
	driver_init(0);
	*D(&rxg, 0) = (struct virtq_desc){ RXBUF, 2048, 0, 0 };   /* device-readable */
	make_avail(&rxg, 0);
	peer_send(0, GSO_NONE, 100, 1);
	net_tap_ready(d, nd);
	CHECK(U(&rxg)->idx == 0 && (mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET) && peer_has_data());
	/* after a reset the device works again; a buffer shorter than the header is refused */
	driver_init(0);
	*D(&rxg, 0) = (struct virtq_desc){ RXBUF, 8, VIRTQ_DESC_F_WRITE, 0 };
	make_avail(&rxg, 0);
	virtio_process_queue(d, NET_RXQ);
	CHECK(U(&rxg)->idx == 0 && (mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET));
	driver_init(0);
	post_rx(1, 2048);
	virtio_process_queue(d, NET_RXQ);
	CHECK(U(&rxg)->idx == 1 && rx_payload_ok(0, 1, 100, 1));
}

static void test_reset_drops_held_buffers(void)
{
	vm_setup(0);
	driver_init(NF(MRG_RXBUF) | NF(GUEST_CSUM) | NF(GUEST_TSO4));
	post_rx(5, 1536);
	net_tap_ready(d, nd);
	virtio_process_queue(d, NET_RXQ);
	CHECK(nd->rx.n == 5);
	mmio_wr(STAT, 1, 0);
	CHECK(nd->rx.n == 0 && nd->acked == 0);
	driver_init(0);
	post_rx(1, 2048);
	peer_send(0, GSO_NONE, 64, 8);
	net_tap_ready(d, nd);
	CHECK(U(&rxg)->idx == 1 && rx_payload_ok(0, 1, 64, 8));
	/* not running: the tap is not read */
	mmio_wr(STAT, 1, 0);
	peer_send(0, GSO_NONE, 64, 9);
	net_tap_ready(d, nd);
	CHECK(peer_has_data());
}

static void test_stats(void)
{
	char *out = NULL;
	size_t len = 0;
	vm_setup(0);
	driver_init(0);
	post_rx(1, 2048);
	peer_send(0, GSO_NONE, 100, 1);
	net_tap_ready(d, nd);
	FILE *f = open_memstream(&out, &len);
	virtio_print_stats(&vm, f);
	fclose(f);
	CHECK(strstr(out, "virtio-net 00:01.0 (vmmtest0)") && strstr(out, "requests 1, bytes 100, interrupts 1"));
	free(out);
}

/* The real device thread: the tap watched edge-triggered, kicks through the notify register. */
static bool wait_idx(struct gq *g, uint16_t idx)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(&U(g)->idx, __ATOMIC_ACQUIRE) == idx)
			return true;
		usleep(1000);
	}
	return false;
}

static void test_device_thread(void)
{
	uint8_t buf[256];

	vm_setup(0);
	vm.opt.no_sandbox = true;
	pthread_mutex_init(&vm.io_lock, NULL);
	CHECK(virtio_start(&vm) == 0);
	pthread_mutex_lock(&vm.io_lock);
	driver_init(0);
	pthread_mutex_unlock(&vm.io_lock);
	/* frames before any buffer wait in the tap; the rx kick brings them in */
	peer_send(0, GSO_NONE, 80, 1);
	peer_send(0, GSO_NONE, 90, 2);
	usleep(20000);
	CHECK(U(&rxg)->idx == 0 && peer_has_data());
	post_rx(1, 2048);
	pthread_mutex_lock(&vm.io_lock);
	mmio_wr(NOTIFY, 2, 0);
	pthread_mutex_unlock(&vm.io_lock);
	CHECK(wait_idx(&rxg, 1));
	post_rx(30, 2048);
	pthread_mutex_lock(&vm.io_lock);
	mmio_wr(NOTIFY, 2, 0);
	pthread_mutex_unlock(&vm.io_lock);
	CHECK(wait_idx(&rxg, 2) && rx_payload_ok(1, 1, 90, 2));
	/* with buffers held, each new frame arrives through the edge-triggered watch */
	for (uint8_t i = 0; i < 20; i++)
		peer_send(0, GSO_NONE, 100 + i, i);
	CHECK(wait_idx(&rxg, 22) && rx_payload_ok(21, 1, 119, 19));
	/* tx */
	make_frame(ram + TXBUF, 0, GSO_NONE, 100, 5);
	*D(&txg, 0) = (struct virtq_desc){ TXBUF, NET_HDR_LEN + 100, 0, 0 };
	make_avail(&txg, 0);
	pthread_mutex_lock(&vm.io_lock);
	mmio_wr(NOTIFY + 4, 2, 1);
	pthread_mutex_unlock(&vm.io_lock);
	CHECK(wait_idx(&txg, 1));
	struct pollfd pf = { peer, POLLIN, 0 };
	CHECK(poll(&pf, 1, 2000) == 1 && recv(peer, buf, sizeof(buf), 0) == NET_HDR_LEN + 100);
	CHECK(d->stats->kicks >= 3 && d->stats->kicks_exit == 3);
	/* the thread keeps running; the next vm_setup leaves this device behind */
	peer = -1;
}

/* ---- setup errors and a real tap: each in a child process ---- */

static struct vm cvm;

static int child_create(const char *spec, char *err, size_t errlen)
{
	int p[2], st;
	CHECK(pipe(p) == 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(77);
		memset(&cvm, 0, sizeof(cvm));
		cvm.vm_fd = -1;
		cvm.mem = (struct guest_mem){ .host = ram, .low_size = RAM_SIZE };
		if (pci_init(&cvm) < 0)
			_exit(9);
		virtio_net_create(&cvm, spec);
		_exit(0);
	}
	close(p[1]);
	size_t got = 0;
	ssize_t n;
	while (got < errlen - 1 && (n = read(p[0], err + got, errlen - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = 0;
	close(p[0]);
	waitpid(pid, &st, 0);
	if (getenv("TEST_DEBUG"))
		printf("child '%s': status %#x: %s\n", spec, st, err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_setup_errors(void)
{
	char err[512];

	CHECK(child_create("", err, sizeof(err)) == 2 && strstr(err, "tap=IFNAME"));
	CHECK(child_create("mac=02:00:00:00:00:01", err, sizeof(err)) == 2 && strstr(err, "no tap="));
	CHECK(child_create("tap=", err, sizeof(err)) == 2 && strstr(err, "1 to 15"));
	CHECK(child_create("tap=1234567890123456", err, sizeof(err)) == 2 && strstr(err, "1 to 15"));
	CHECK(child_create("tap=a,tap=b", err, sizeof(err)) == 2 && strstr(err, "given once"));
	CHECK(child_create("tap=t0,bogus", err, sizeof(err)) == 2 && strstr(err, "bogus"));
	CHECK(child_create("tap=t0,mac=03:00:00:00:00:01", err, sizeof(err)) == 2 && strstr(err, "bad MAC"));
	CHECK(child_create("tap=t0,mac=zz", err, sizeof(err)) == 2 && strstr(err, "--net tap=t0,mac=zz"));
	if (access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("SKIP test_setup_errors (tap part): no /dev/net/tun\n");
		return;
	}
	int st = child_create("tap=bad/name", err, sizeof(err));
	if (st == 77) {
		printf("SKIP test_setup_errors (tap part): cannot unshare the network namespace\n");
		return;
	}
	CHECK(st == 2 && strstr(err, "tap bad/name"));
}

/* ---- a real tap in a private network namespace (root only) ---- */

static int ifreq_ioctl(int s, unsigned long req, const char *ifname, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", ifname);
	return ioctl(s, req, ifr);
}

static bool tap_tso_on(const char *ifname)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_GTSO };
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ifr.ifr_data = (char *)&ev;
	int r = ioctl(s, SIOCETHTOOL, &ifr);
	close(s);
	return r == 0 && ev.data;
}

/* In the child: the device on tap vmmt0; frames cross between the ring and a packet socket. */
static int tap_child(void)
{
	struct ifreq ifr;
	uint8_t buf[2048], frame[64];
	int s, ps;

	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	vm.opt.no_sandbox = true;
	vm.mem = (struct guest_mem){ .host = ram, .low_size = RAM_SIZE };
	memset(ram, 0, RAM_SIZE);
	CHECK(pci_init(&vm) == 0);
	virtio_net_create(&vm, "tap=vmmt%d");
	d = virtio_dev_get(&vm, 0);
	nd = d->priv;
	bar = d->pci.bar[0].mapped;
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	CHECK(!strcmp(nd->ifname, "vmmt0") && !strcmp(d->label, "vmmt0"));
	CHECK(nd->mtu == 1500 && (d->offered & NF(MTU)) && (d->offered & NF(GUEST_TSO4)));
	CHECK(tap_tso_on("vmmt0"));                              /* everything offered, before the guest */
	driver_init(NF(MRG_RXBUF));                              /* a guest without offloads */
	CHECK(nd->can_set_offload);                              /* the net role allows TUNSETOFFLOAD */
	virtio_process_queue(d, NET_TXQ);
	CHECK(nd->offload_set == 0 && !tap_tso_on("vmmt0"));
	/* no IPv6 on the tap: its autoconfiguration would send frames of its own */
	FILE *v6 = fopen("/proc/sys/net/ipv6/conf/vmmt0/disable_ipv6", "w");
	if (v6)
		fputs("1\n", v6), fclose(v6);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(ifreq_ioctl(s, SIOCGIFFLAGS, "vmmt0", &ifr) == 0);
	ifr.ifr_flags |= IFF_UP;
	CHECK(ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
	CHECK(ifreq_ioctl(s, SIOCGIFINDEX, "vmmt0", &ifr) == 0);
	ps = socket(AF_PACKET, SOCK_RAW, htons(0x88B5));
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(0x88B5),
				  .sll_ifindex = ifr.ifr_ifindex };
	CHECK(ps >= 0 && bind(ps, (struct sockaddr *)&ll, sizeof(ll)) == 0);
	/* guest -> host */
	uint8_t *f = ram + TXBUF + NET_HDR_LEN;
	memset(ram + TXBUF, 0, NET_HDR_LEN);
	memset(f, 0xFF, 6);
	memcpy(f + 6, nd->mac, 6);
	f[12] = 0x88, f[13] = 0xB5;
	memcpy(f + 14, "hello from the guest", 21);
	*D(&txg, 0) = (struct virtq_desc){ TXBUF, NET_HDR_LEN + 60, 0, 0 };
	make_avail(&txg, 0);
	virtio_process_queue(d, NET_TXQ);
	struct pollfd pf = { ps, POLLIN, 0 };
	CHECK(poll(&pf, 1, 2000) == 1);
	CHECK(recv(ps, buf, sizeof(buf), 0) == 60 && !memcmp(buf + 14, "hello from the guest", 21));
	/* host -> guest */
	post_rx(4, 1536);
	memcpy(frame, nd->mac, 6);
	memset(frame + 6, 0x02, 6);
	frame[12] = 0x88, frame[13] = 0xB5;
	memset(frame + 14, 0x5A, sizeof(frame) - 14);
	CHECK(sendto(ps, frame, sizeof(frame), 0, (struct sockaddr *)&ll, sizeof(ll)) == sizeof(frame));
	for (int i = 0; i < 200 && U(&rxg)->idx == 0; i++) {
		usleep(5000);
		net_tap_ready(d, nd);
	}
	CHECK(U(&rxg)->idx == 1 && U(&rxg)->ring[0].len == NET_HDR_LEN + sizeof(frame));
	CHECK(!memcmp(rx_hdr(0) + NET_HDR_LEN, frame, sizeof(frame)) && hdr_num_buffers(rx_hdr(0)) == 1);
	/* a frame larger than the buffer is dropped, not truncated into the guest; the buffer stays */
	unsigned long drops = nd->drops;
	driver_init(0);                         /* no MRG_RXBUF: each frame must fit in one chain */
	post_rx(1, 40);
	CHECK(sendto(ps, frame, sizeof(frame), 0, (struct sockaddr *)&ll, sizeof(ll)) == sizeof(frame));
	frame[14] = 0x77;
	CHECK(sendto(ps, frame, 20, 0, (struct sockaddr *)&ll, sizeof(ll)) == 20);
	for (int i = 0; i < 200 && U(&rxg)->idx < 1; i++) {
		usleep(5000);
		net_tap_ready(d, nd);
	}
	CHECK(U(&rxg)->idx == 1 && U(&rxg)->ring[0].len == NET_HDR_LEN + 20 && nd->drops == drops + 1);
	if (getenv("TEST_DEBUG"))
		printf("idx %u len %u drops %lu -> %lu\n", U(&rxg)->idx, U(&rxg)->ring[0].len, drops, nd->drops);
	CHECK(rx_hdr(0)[NET_HDR_LEN + 14] == 0x77);
	/* a guest that takes TSO gets it switched on */
	driver_init(NF(MRG_RXBUF) | NF(GUEST_CSUM) | NF(GUEST_TSO4) | NF(GUEST_TSO6));
	virtio_process_queue(d, NET_TXQ);
	CHECK(nd->offload_set == (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) && tap_tso_on("vmmt0"));
	return unit_fail_count ? 1 : 0;
}

static void test_real_tap(void)
{
	int st;

	if (access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("SKIP test_real_tap: no /dev/net/tun\n");
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(77);
		int r = tap_child();
		fflush(stdout);
		_exit(r);
	}
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		printf("SKIP test_real_tap: cannot unshare the network namespace (needs root)\n");
		return;
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	RUN(test_mac_and_spec);
	RUN(test_offload_mapping);
	RUN(test_identity_and_config);
	RUN(test_tx);
	RUN(test_rx_single);
	RUN(test_rx_no_buffers_waits);
	RUN(test_rx_mergeable);
	RUN(test_rx_hostile);
	RUN(test_reset_drops_held_buffers);
	RUN(test_stats);
	RUN(test_setup_errors);
	RUN(test_real_tap);
	RUN(test_device_thread);
	return UNIT_DONE();
}
