/* virtio/net.c: virtio-net (virtio 1.2 5.1) on a tap: frames move by readv/writev straight between the tap and guest buffers, offloads follow what the guest acked. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../le.h"
#include "../sandbox/sandbox.h"
#include "virtio.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20   /* Linux 6.2 */
#define TUN_F_USO6 0x40
#endif

/* Feature bits (5.1.3). */
#define NET_F_CSUM          0
#define NET_F_GUEST_CSUM    1
#define NET_F_MTU           3
#define NET_F_MAC           5
#define NET_F_GUEST_TSO4    7
#define NET_F_GUEST_TSO6    8
#define NET_F_GUEST_ECN     9
#define NET_F_GUEST_UFO     10
#define NET_F_HOST_TSO4     11
#define NET_F_HOST_TSO6     12
#define NET_F_HOST_ECN      13
#define NET_F_HOST_UFO      14
#define NET_F_MRG_RXBUF     15
#define NET_F_STATUS        16
#define NET_F_GUEST_USO4    54
#define NET_F_GUEST_USO6    55
#define NET_F_HOST_USO      56
#define NF(b)               VIRTIO_BIT(NET_F_##b)
#define NET_GUEST_GSO       (NF(GUEST_TSO4) | NF(GUEST_TSO6) | NF(GUEST_UFO) | NF(GUEST_USO4) | NF(GUEST_USO6))

/* struct virtio_net_hdr_mrg_rxbuf (5.1.6): VERSION_1 always uses all 12 bytes. */
#define NET_HDR_LEN         12
#define NET_HDR_NUM_BUFFERS 10
#define HDR_F_NEEDS_CSUM    1
#define HDR_F_DATA_VALID    2
#define GSO_NONE            0
#define GSO_TCPV4           1
#define GSO_UDP             3
#define GSO_TCPV6           4
#define GSO_UDP_L4          5
#define GSO_ECN             0x80

#define NET_RXQ             0
#define NET_TXQ             1
#define NET_QUEUE_SIZE      256
#define NET_CONFIG_LEN      12        /* mac, status, max_virtqueue_pairs, mtu */
#define NET_S_LINK_UP       1
#define NET_ETH_OVERHEAD    18        /* Ethernet header and one VLAN tag */
#define NET_MAX_GSO_FRAME   (65536 + NET_ETH_OVERHEAD)
#define NET_RX_BATCH        32        /* frames between interrupts in a long burst */
#define NET_IOV_MAX         1024      /* UIO_MAXIOV */

/* rx chains popped but not yet used: a frame is read across as many as it needs. */
struct rx_pool {
	unsigned n, niov;
	size_t bytes;
	struct { uint16_t head; unsigned niov; size_t bytes; } chain[NET_QUEUE_SIZE];
	struct iovec iov[2 * VIRTQ_MAX_SEGS];
};

struct net {
	struct virtio_dev *dev;
	struct virtio_ops ops;        /* the offers depend on what the tap can do */
	char ifname[IFNAMSIZ];
	char *spec;
	int fd;
	uint8_t mac[6];
	uint16_t mtu;                 /* 0: unknown, MTU not offered */
	bool can_set_offload;         /* TUNSETOFFLOAD allowed on the device thread (from activate) */
	unsigned offload_set;         /* TUN_F_* on the tap now */
	/* from the features acked at DRIVER_OK (vCPU thread, device lock) */
	uint64_t acked;
	bool mrg;
	size_t rx_need;               /* buffer bytes that hold any frame the tap may send */
	struct virtq_req *req;
	struct rx_pool rx;
	unsigned long drops;
};

/* ---- pure helpers: spec, MAC, offloads ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "52:54:00:12:34:56" -> mac; -EINVAL unless six hex pairs, unicast, not all zero. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++, s += 3) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
		if (lo < 0 || s[2] != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	if (mac[0] & 1 || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL;
	return 0;
}

/* A stable MAC for an interface: 52:54:00 (locally administered, unicast) + FNV-1a of the name. */
static void default_mac(const char *ifname, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (const char *p = ifname; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	mac[0] = 0x52, mac[1] = 0x54, mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16), mac[4] = (uint8_t)(h >> 8), mac[5] = (uint8_t)h;
}

/* "tap=IFNAME[,mac=MAC]"; fatal (EXIT_USAGE) naming the spec on anything else. */
static void parse_spec(struct net *n, const char *spec)
{
	char *s = strdup(spec), *opt, *save = NULL;
	bool have_mac = false;

	if (!s)
		fatal(EXIT_USAGE, "--net %s: out of memory", spec);
	for (opt = strtok_r(s, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		if (!strncmp(opt, "tap=", 4) && opt[4] && strlen(opt + 4) < IFNAMSIZ && !n->ifname[0])
			memcpy(n->ifname, opt + 4, strlen(opt + 4) + 1);
		else if (!strncmp(opt, "tap=", 4))
			fatal(EXIT_USAGE, "--net %s: the tap name must be 1 to %d characters, given once",
			      spec, IFNAMSIZ - 1);
		else if (!strncmp(opt, "mac=", 4) && parse_mac(opt + 4, n->mac) == 0)
			have_mac = true;
		else if (!strncmp(opt, "mac=", 4))
			fatal(EXIT_USAGE, "--net %s: bad MAC '%s' (want a unicast xx:xx:xx:xx:xx:xx)", spec, opt + 4);
		else
			fatal(EXIT_USAGE, "--net %s: unknown option '%s' (tap=IFNAME, mac=MAC)", spec, opt);
	}
	free(s);
	if (!n->ifname[0])
		fatal(EXIT_USAGE, "--net %s: no tap=IFNAME", spec);
	if (!have_mac)
		default_mac(n->ifname, n->mac);
}

/* The TUN_F_* offloads that let the tap hand the guest exactly what `f` (guest features) accepts. */
static unsigned tun_offloads(uint64_t f)
{
	unsigned t = 0;

	if (!(f & NF(GUEST_CSUM)))
		return 0;   /* the tap takes no segmentation offload without checksum offload */
	t |= TUN_F_CSUM;
	if (f & NF(GUEST_TSO4))
		t |= TUN_F_TSO4;
	if (f & NF(GUEST_TSO6))
		t |= TUN_F_TSO6;
	if (f & NF(GUEST_ECN) && t & (TUN_F_TSO4 | TUN_F_TSO6))
		t |= TUN_F_TSO_ECN;
	if (f & NF(GUEST_UFO))
		t |= TUN_F_UFO;
	if ((f & (NF(GUEST_USO4) | NF(GUEST_USO6))) == (NF(GUEST_USO4) | NF(GUEST_USO6)))
		t |= TUN_F_USO4 | TUN_F_USO6;   /* the tap takes them only as a pair */
	return t;
}

/*
 * Whether a received header fits what the guest acked (a frame queued before
 * the tap's offloads were narrowed may not). DATA_VALID is cleared rather
 * than refused without GUEST_CSUM (5.1.6.4.1: flags must then be zero).
 */
static bool rx_hdr_fits(uint64_t f, uint8_t *flags, uint8_t gso)
{
	if (!(f & NF(GUEST_CSUM))) {
		if (*flags & HDR_F_NEEDS_CSUM)
			return false;
		*flags = 0;
	}
	if (gso & GSO_ECN && !(f & NF(GUEST_ECN)))
		return false;
	switch (gso & ~GSO_ECN) {
	case GSO_NONE:
		return !(gso & GSO_ECN);
	case GSO_TCPV4:
		return f & NF(GUEST_TSO4);
	case GSO_TCPV6:
		return f & NF(GUEST_TSO6);
	case GSO_UDP:
		return f & NF(GUEST_UFO);
	case GSO_UDP_L4:
		return f & (NF(GUEST_USO4) | NF(GUEST_USO6));
	}
	return false;
}

/* The bytes of buffers a frame may need: any GSO frame with mergeable buffers, else one MTU. */
static size_t rx_need_bytes(uint64_t f, uint16_t mtu)
{
	if (f & NET_GUEST_GSO)
		return NET_HDR_LEN + NET_MAX_GSO_FRAME;
	return NET_HDR_LEN + (mtu > 1500 ? mtu : 1500) + NET_ETH_OVERHEAD;
}

/* ---- configuration space, reset, activation (vCPU thread, device lock) ---- */

static void net_config_read(struct virtio_dev *d, unsigned off, void *buf, unsigned len)
{
	struct net *n = d->priv;
	uint8_t c[NET_CONFIG_LEN] = { 0 };

	memcpy(c, n->mac, 6);
	put_le16(c + 6, NET_S_LINK_UP);   /* status */
	put_le16(c + 8, 1);               /* max_virtqueue_pairs */
	put_le16(c + 10, n->mtu);
	memcpy(buf, c + off, len);
}

static void rx_pool_clear(struct rx_pool *p)
{
	p->n = p->niov = 0;
	p->bytes = 0;
}

static void net_reset(struct virtio_dev *d)
{
	struct net *n = d->priv;

	rx_pool_clear(&n->rx);
	n->acked = 0;
	n->mrg = false;
}

/* Whether a net thread's sandbox role lets it change the tap's offloads. */
static bool offload_allowed(enum sb_role role, bool no_sandbox)
{
	const struct sb_policy *p = sandbox_policy(role);

	if (no_sandbox)
		return true;
	for (size_t i = 0; p && i < p->nioctl; i++)
		if (p->ioctl[i].req == (uint32_t)TUNSETOFFLOAD)
			return true;
	return false;
}

static void net_activate(struct virtio_dev *d)
{
	struct net *n = d->priv;

	n->acked = d->driver_features;
	n->can_set_offload = offload_allowed(n->ops.sandbox_role, d->no_sandbox);
	n->mrg = n->acked & NF(MRG_RXBUF);
	n->rx_need = n->mrg ? rx_need_bytes(n->acked, n->mtu) : 1;
	rx_pool_clear(&n->rx);
}

/* Device thread: make the tap's offloads match what the guest acked. */
static void apply_offloads(struct net *n)
{
	unsigned want = tun_offloads(n->acked);

	if (want == n->offload_set || !n->can_set_offload)
		return;   /* without the ioctl, rx_hdr_fits drops what the guest cannot take */
	if (ioctl(n->fd, TUNSETOFFLOAD, want) < 0)
		guest_warn("%s (%s): TUNSETOFFLOAD %#x: %s", n->dev->name, n->ifname, want, strerror(errno));
	n->offload_set = want;
}

/* ---- receive: tap -> guest ---- */

static bool rxq_usable(struct net *n)
{
	struct virtq *q = &n->dev->vq[NET_RXQ];
	return virtio_dev_running(n->dev) && q->ready && !q->broken;
}

/* Keep the chain just popped; a buffer the device may not write is a broken driver. */
static int rx_hold(struct net *n, const struct virtq_req *r)
{
	struct rx_pool *p = &n->rx;

	if (r->nout || r->in_bytes < NET_HDR_LEN) {
		virtio_dev_fail(n->dev, r->nout ? "net rx buffer is not device-writable"
						: "net rx buffer shorter than the header");
		return -EINVAL;
	}
	p->chain[p->n].head = r->head;
	p->chain[p->n].niov = r->nin;
	p->chain[p->n].bytes = r->in_bytes;
	memcpy(&p->iov[p->niov], r->iov, r->nin * sizeof(r->iov[0]));
	p->n++;
	p->niov += r->nin;
	p->bytes += r->in_bytes;
	return 0;
}

static bool rx_pool_full(const struct net *n)
{
	const struct rx_pool *p = &n->rx;
	return p->bytes >= n->rx_need || p->n == NET_QUEUE_SIZE || p->niov >= VIRTQ_MAX_SEGS;
}

/*
 * Hold enough rx buffers for the largest frame. 1: go on; 0: the ring ran dry
 * and kicks are enabled again (wait for the guest: the tap is left unread);
 * -1: the queue is broken.
 */
static int rx_fill(struct net *n, struct virtq *q)
{
	for (;;) {
		while (!rx_pool_full(n)) {
			int r = virtq_pop(q, n->req);
			if (r < 0 || (r > 0 && rx_hold(n, n->req) < 0))
				return -1;
			if (r == 0)
				break;
		}
		if (rx_pool_full(n))
			return 1;
		if (!virtq_enable_notify(q))
			return 0;
		virtq_disable_notify(q);
	}
}

/* Return the first k chains of the pool, `len` bytes written across them. */
static void rx_complete(struct net *n, struct virtq *q, unsigned k, size_t len)
{
	struct rx_pool *p = &n->rx;
	struct virtq_used_elem e[NET_QUEUE_SIZE];
	unsigned iovs = 0;

	for (unsigned i = 0; i < k; i++) {
		size_t c = len < p->chain[i].bytes ? len : p->chain[i].bytes;
		e[i] = (struct virtq_used_elem){ p->chain[i].head, (uint32_t)c };
		len -= c;
		iovs += p->chain[i].niov;
		p->bytes -= p->chain[i].bytes;
	}
	/* all buffers of a merged frame at once: a driver that saw num_buffers but not all of
	 * them would drop the frame (Linux: "rx error: N buffers out of M missing") */
	virtq_push_n(q, e, k);
	p->n -= k;
	p->niov -= iovs;
	memmove(&p->chain[0], &p->chain[k], p->n * sizeof(p->chain[0]));
	memmove(&p->iov[0], &p->iov[iovs], p->niov * sizeof(p->iov[0]));
	atomic_fetch_add_explicit(&n->dev->stats->requests, k, memory_order_relaxed);
}

static void rx_drop(struct net *n, const char *why)
{
	if (n->drops++ == 0 || vmm_verbose)
		guest_warn("%s (%s): received frame dropped: %s", n->dev->name, n->ifname, why);
}

/*
 * Fix the header of a frame of `len` bytes read into `room` bytes of the pool;
 * how many chains it spans, 0 to drop it.
 */
static unsigned rx_finish_hdr(struct net *n, size_t len, size_t room)
{
	struct rx_pool *p = &n->rx;
	uint8_t h[2];
	uint16_t nb = 0;

	if (len < NET_HDR_LEN || len > room) {
		rx_drop(n, len < NET_HDR_LEN ? "shorter than its header" : "larger than the rx buffers");
		return 0;
	}
	iov_to_buf(p->iov, p->chain[0].niov, 0, h, 2);
	if (!rx_hdr_fits(n->acked, &h[0], h[1])) {
		rx_drop(n, "offload the guest did not accept");
		return 0;
	}
	for (size_t left = len; left; nb++)
		left -= left < p->chain[nb].bytes ? left : p->chain[nb].bytes;
	iov_from_buf(p->iov, p->chain[0].niov, 0, h, 1);
	iov_from_buf(p->iov, p->chain[0].niov, NET_HDR_NUM_BUFFERS, (uint8_t[2]){ (uint8_t)nb, (uint8_t)(nb >> 8) }, 2);
	return nb;
}

/*
 * readv into the first niov held iovecs plus one guard byte: the tap cuts a
 * frame too big for the buffers to their size and returns that, so a frame
 * that reaches the guard byte did not fit.
 */
static ssize_t rx_readv(struct net *n, unsigned niov)
{
	struct iovec save = n->rx.iov[niov];
	uint8_t guard;
	ssize_t len;

	n->rx.iov[niov] = (struct iovec){ &guard, 1 };
	len = readv(n->fd, n->rx.iov, (int)niov + 1);
	n->rx.iov[niov] = save;
	return len;
}

/* Read one frame into the held buffers. 1: done (or dropped); 0: the tap is empty; -1: stop. */
static int rx_frame(struct net *n, struct virtq *q)
{
	struct rx_pool *p = &n->rx;
	unsigned niov = n->mrg ? p->niov : p->chain[0].niov;
	size_t room = 0;
	ssize_t len;
	unsigned k;

	if (niov > NET_IOV_MAX - 1)
		niov = NET_IOV_MAX - 1;
	len = rx_readv(n, niov);
	if (len < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return errno == EINTR;
		if (errno == EFAULT || errno == EINVAL || errno == EMSGSIZE) {   /* too big: the tap dropped it */
			rx_drop(n, "larger than the rx buffers");
			return 1;
		}
		guest_warn("%s (%s): read: %s", n->dev->name, n->ifname, strerror(errno));
		return -1;
	}
	if (len == 0)
		return 0;
	for (unsigned i = 0; i < niov; i++)
		room += p->iov[i].iov_len;
	k = rx_finish_hdr(n, (size_t)len, room);
	if (k) {
		rx_complete(n, q, k, (size_t)len);
		atomic_fetch_add_explicit(&n->dev->stats->bytes, (uint64_t)len - NET_HDR_LEN,
					  memory_order_relaxed);
	}
	return 1;
}

/* Interrupt for what was pushed since *last, if anything (no empty interrupts without EVENT_IDX). */
static void rx_notify(struct net *n, struct virtq *q, uint16_t *last)
{
	if (q->used_idx == *last)
		return;
	*last = q->used_idx;
	virtio_notify(n->dev, q);
}

/*
 * Move frames from the tap to the guest until the tap is empty or the guest
 * has no buffers left; then the tap is not read again until an rx kick (the
 * tap queues meanwhile) or, edge-triggered, a new frame arrives.
 */
static void net_rx(struct net *n)
{
	struct virtq *q = &n->dev->vq[NET_RXQ];
	uint16_t last = q->used_idx;
	unsigned frames = 0;
	int r;

	if (!rxq_usable(n))
		return;
	apply_offloads(n);
	virtq_disable_notify(q);
	while ((r = rx_fill(n, q)) > 0 && (r = rx_frame(n, q)) > 0)
		if (++frames % NET_RX_BATCH == 0)
			rx_notify(n, q, &last);
	rx_notify(n, q, &last);
}

static void net_tap_ready(struct virtio_dev *d, void *arg)
{
	(void)d;
	net_rx(arg);
}

/* ---- transmit: guest -> tap ---- */

static int tx_one(struct net *n, const struct virtq_req *r)
{
	ssize_t w;

	if (r->out_bytes < NET_HDR_LEN) {
		virtio_dev_fail(n->dev, "net tx chain shorter than the header");
		return -EINVAL;
	}
	do
		w = writev(n->fd, r->iov, (int)r->nout);
	while (w < 0 && errno == EINTR);
	if (w < 0) {   /* a malformed GSO header (EINVAL) or the tap is down (EIO): the frame is lost */
		if (n->drops++ == 0 || vmm_verbose)
			guest_warn("%s (%s): transmitted frame dropped: %s", n->dev->name, n->ifname,
				   strerror(errno));
		return 0;
	}
	atomic_fetch_add_explicit(&n->dev->stats->bytes, r->out_bytes - NET_HDR_LEN, memory_order_relaxed);
	return 0;
}

static void net_tx(struct net *n, struct virtq *q)
{
	int r;

	do {
		virtq_disable_notify(q);
		while ((r = virtq_pop(q, n->req)) > 0) {
			if (tx_one(n, n->req) < 0)
				return;
			virtq_push(q, n->req->head, 0);
			atomic_fetch_add_explicit(&n->dev->stats->requests, 1, memory_order_relaxed);
		}
		if (r < 0)
			return;
		virtio_notify(n->dev, q);
	} while (virtq_enable_notify(q));
}

static void net_process(struct virtio_dev *d, struct virtq *q)
{
	struct net *n = d->priv;

	apply_offloads(n);
	if (q->index == NET_RXQ)
		net_rx(n);
	else
		net_tx(n, q);
}

static const struct virtio_ops net_ops_base = {
	.name = "virtio-net",
	.device_id = 1,
	.pci_class = 0x020000,
	.features = NF(CSUM) | NF(GUEST_CSUM) | NF(MAC) | NF(GUEST_TSO4) | NF(GUEST_TSO6) |
		    NF(GUEST_ECN) | NF(HOST_TSO4) | NF(HOST_TSO6) | NF(HOST_ECN) | NF(MRG_RXBUF) |
		    NF(STATUS),
	.nqueues = 2,
	.queue_size = NET_QUEUE_SIZE,
	.config_len = NET_CONFIG_LEN,
	.sandbox_role = SB_ROLE_NET,
	.config_read = net_config_read,
	.process = net_process,
	.reset = net_reset,
	.activate = net_activate,
};

/* ---- setup (fatal errors name the spec and the interface) ---- */

static void open_tap(struct net *n)
{
	struct ifreq ifr = { 0 };
	int hdr = NET_HDR_LEN;

	n->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->fd < 0)
		fatal_errno(EXIT_USAGE, "--net %s: /dev/net/tun", n->spec);
	memcpy(ifr.ifr_name, n->ifname, sizeof(n->ifname));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(n->fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		fatal(EXIT_USAGE, "--net %s: cannot attach to tap %s: %s%s", n->spec, n->ifname, strerror(e),
		      e == EBUSY ? " (in use by another process?)" :
		      e == EPERM ? " (needs CAP_NET_ADMIN, or a tap owned by this user)" :
		      e == EINVAL ? " (a bad name, or an existing tun or multiqueue device?)" : "");
	}
	memcpy(n->ifname, ifr.ifr_name, sizeof(n->ifname));   /* the kernel expands "tap%d" */
	n->ifname[IFNAMSIZ - 1] = '\0';
	if (ioctl(n->fd, TUNSETVNETHDRSZ, &hdr) < 0)
		fatal_errno(EXIT_USAGE, "--net %s: tap %s: TUNSETVNETHDRSZ", n->spec, n->ifname);
}

/* The tap's MTU (a socket, at setup only); 0 if it cannot be read. */
static uint16_t tap_mtu(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r;

	if (s < 0)
		return 0;
	memcpy(ifr.ifr_name, ifname, IFNAMSIZ);
	r = ioctl(s, SIOCGIFMTU, &ifr);
	close(s);
	if (r < 0 || ifr.ifr_mtu < 68)
		return 0;
	return ifr.ifr_mtu > 65535 ? 65535 : (uint16_t)ifr.ifr_mtu;
}

static bool tap_takes(int fd, unsigned flags)
{
	return ioctl(fd, TUNSETOFFLOAD, flags) == 0;
}

/* Offer what this tap can deliver: UFO and USO depend on the host kernel. */
static uint64_t probe_offers(struct net *n)
{
	uint64_t f = net_ops_base.features;
	unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

	if (!tap_takes(n->fd, base))
		f &= ~(NF(GUEST_CSUM) | NF(GUEST_TSO4) | NF(GUEST_TSO6) | NF(GUEST_ECN));
	else if (tap_takes(n->fd, base | TUN_F_UFO))
		f |= NF(GUEST_UFO) | NF(HOST_UFO);
	if (f & NF(GUEST_CSUM) && tap_takes(n->fd, base | TUN_F_USO4 | TUN_F_USO6))
		f |= NF(GUEST_USO4) | NF(GUEST_USO6) | NF(HOST_USO);
	if (n->mtu)
		f |= NF(MTU);
	return f;
}

static struct net *net_new(const char *spec)
{
	struct net *n = calloc(1, sizeof(*n));

	if (!n || !(n->req = malloc(sizeof(*n->req))) || !(n->spec = strdup(spec)))
		fatal(EXIT_USAGE, "--net %s: out of memory", spec);
	n->fd = -1;
	n->ops = net_ops_base;
	parse_spec(n, spec);
	return n;
}

/*
 * The tap's offloads set to everything offered (what a guest acks in
 * practice), the tap watched edge-triggered: the sandbox has no epoll_ctl,
 * and an edge per new frame is what lets rx leave the tap unread while the
 * guest has no buffers.
 */
static void net_bind(struct net *n)
{
	int r;

	n->offload_set = tun_offloads(n->ops.features);
	if (n->offload_set && !tap_takes(n->fd, n->offload_set))
		n->offload_set = 0;
	n->dev->sandbox_fd = n->fd;   /* TUNSETOFFLOAD */
	r = virtio_watch_fd(n->dev, n->fd, EPOLLET, net_tap_ready, n);
	if (r < 0)
		fatal(EXIT_USAGE, "--net %s: cannot watch tap %s: %s", n->spec, n->ifname, strerror(-r));
}

/* Put the device on the bus. */
static void net_attach(struct vm *vm, struct net *n)
{
	n->dev = virtio_dev_create(vm, &n->ops, n, n->ifname);
	net_bind(n);
	vlog("%s: tap %s, mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u, features %#llx", n->dev->name,
	     n->ifname, n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5], n->mtu,
	     (unsigned long long)n->ops.features);
}

struct net *virtio_net_open(const char *spec)
{
	struct net *n = net_new(spec);

	open_tap(n);
	n->mtu = tap_mtu(n->ifname);
	n->ops.features = probe_offers(n);
	return n;
}

void virtio_net_attach(struct vm *vm, struct net *n)
{
	net_attach(vm, n);
}

struct virtio_dev *virtio_net_backend(struct net *n)
{
	n->ops.sandbox_role = SB_ROLE_NET_PROC;
	n->dev = virtio_dev_new(&n->ops, n, n->ifname);
	if (!n->dev)
		fatal(EXIT_RUNTIME, "--net %s: cannot create the device", n->spec);
	net_bind(n);
	return n->dev;
}

int virtio_net_fd(const struct net *n)
{
	return n->fd;
}

const char *virtio_net_ifname(const struct net *n)
{
	return n->ifname;
}

void virtio_net_create(struct vm *vm, const char *spec)
{
	virtio_net_attach(vm, virtio_net_open(spec));
}
