/* tests/unit/test_vhost_user.c: the in-flight record across a "crash", and a disk in a real device process (spawner, vhost-user both ways) driven like a guest driver, killed with SIGKILL and replaced. No KVM. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "../../virtio/proc.h"
#include "../../virtio/vhost_user.h"
#include "vm.h"

static _Atomic int exit_requested = -1;
void vm_request_exit(struct vm *vm, int code) { (void)vm; exit_requested = code; }
void vm_set_irq(struct vm *vm, unsigned pin, int level) { (void)vm; (void)pin; (void)level; }
#include "no_kvm_msi.h"

#define RAM_SIZE (4u << 20)
#define DESC   0x1000u
#define AVAIL  0x2000u
#define USED   0x3000u
#define HDR    0x10000u
#define DATA   0x20000u
#define STATUS 0x30000u
#define QSIZE_ 8

static uint8_t *ram;

static struct virtq_desc *D(unsigned i) { return (struct virtq_desc *)(ram + DESC) + i; }
static struct virtq_avail *A(void) { return (struct virtq_avail *)(ram + AVAIL); }
static struct virtq_used *U(void) { return (struct virtq_used *)(ram + USED); }

/* ---- the in-flight record, on a bare virtq ---- */

static void put_avail(uint16_t head)
{
	A()->ring[A()->idx % QSIZE_] = head;
	A()->idx++;
}

static void ring_setup(struct virtq *q, struct guest_mem *m, struct vq_inflight *in)
{
	*q = (struct virtq){ .max_size = QSIZE_, .call_efd = -1, .err_efd = -1 };
	virtq_reset(q);
	q->size = QSIZE_;
	q->desc_gpa = DESC;
	q->avail_gpa = AVAIL;
	q->used_gpa = USED;
	CHECK(virtq_setup(q, m, 0) == 0);
	q->inflight = in;
}

/* Fresh rings (every descriptor a 512-byte buffer) and a fresh in-flight record. */
static struct vq_inflight *record_new(void)
{
	struct vq_inflight *in = calloc(1, VQ_INFLIGHT_BYTES(QSIZE_));

	memset(ram, 0, 0x4000);
	in->version = 1;
	in->desc_num = QSIZE_;
	for (unsigned i = 0; i < QSIZE_; i++)
		*D(i) = (struct virtq_desc){ DATA + 512 * i, 512, 0, 0 };
	return in;
}

/* Pop 4, complete 1 (out of order), "crash", recover: the 3 unfinished come back oldest first, then new ones. */
static void test_recover_order(void)
{
	struct guest_mem m = { .host = ram, .low_size = RAM_SIZE };
	struct vq_inflight *in = record_new();
	struct virtq q;
	struct virtq_req *r = malloc(sizeof(*r));

	ring_setup(&q, &m, in);
	put_avail(5);
	put_avail(2);
	put_avail(7);
	put_avail(1);
	for (int i = 0; i < 4; i++)
		CHECK(virtq_pop(&q, r) == 1);
	virtq_push(&q, 2, 0);
	CHECK(U()->idx == 1 && in->used_idx == 1 && in->desc[2].inflight == 0);
	put_avail(3);   /* arrives while nobody serves the ring */

	ring_setup(&q, &m, in);   /* a new process, same memory */
	CHECK(virtq_recover(&q) == 3);
	CHECK(q.last_avail == 4 && q.used_idx == 1);
	uint16_t want[] = { 5, 7, 1, 3 };
	for (int i = 0; i < 4; i++) {
		CHECK(virtq_pop(&q, r) == 1);
		CHECK(r->head == want[i]);
	}
	CHECK(virtq_pop(&q, r) == 0);
	virtq_reset(&q);
	free(in);
	free(r);
}

/* Death between the used->idx store and clearing the record: recovery finishes the push, nothing is done twice. */
static void test_recover_last_batch(void)
{
	struct guest_mem m = { .host = ram, .low_size = RAM_SIZE };
	struct vq_inflight *in = record_new();
	struct virtq q;
	struct virtq_req *r = malloc(sizeof(*r));

	ring_setup(&q, &m, in);
	put_avail(4);
	put_avail(6);
	CHECK(virtq_pop(&q, r) == 1 && virtq_pop(&q, r) == 1);
	virtq_push(&q, 6, 0);
	/* undo the two stores after used->idx, as if the process died right there */
	in->desc[6].inflight = 1;
	in->used_idx = 0;

	ring_setup(&q, &m, in);
	CHECK(virtq_recover(&q) == 1);
	CHECK(in->desc[6].inflight == 0 && in->used_idx == 1);
	CHECK(virtq_pop(&q, r) == 1 && r->head == 4);
	CHECK(virtq_pop(&q, r) == 0);
	virtq_reset(&q);
	free(in);
	free(r);
}

/* A batch (a merged rx frame): the driver sees all of it or none; death between its used->idx store
 * and clearing the record finishes all of it, death before that serves all of it again. */
static void test_recover_batch(void)
{
	struct guest_mem m = { .host = ram, .low_size = RAM_SIZE };
	struct vq_inflight *in = record_new();
	struct virtq q;
	struct virtq_req *r = malloc(sizeof(*r));
	struct virtq_used_elem e[3] = { { 4, 512 }, { 6, 512 }, { 1, 9 } };

	ring_setup(&q, &m, in);
	put_avail(4);
	put_avail(6);
	put_avail(1);
	put_avail(3);
	for (int i = 0; i < 4; i++)
		CHECK(virtq_pop(&q, r) == 1);
	virtq_push_n(&q, e, 3);
	CHECK(U()->idx == 3 && U()->ring[2].id == 1 && U()->ring[2].len == 9 && in->used_idx == 3);
	CHECK(!in->desc[4].inflight && !in->desc[6].inflight && !in->desc[1].inflight && in->desc[3].inflight);
	/* as if the process died right after the used->idx store */
	in->desc[4].inflight = in->desc[6].inflight = in->desc[1].inflight = 1;
	in->used_idx = 0;
	ring_setup(&q, &m, in);
	CHECK(virtq_recover(&q) == 1);   /* only 3, never a head the driver already has back */
	CHECK(virtq_pop(&q, r) == 1 && r->head == 3);
	CHECK(virtq_pop(&q, r) == 0);
	/* and died before it: the guest saw none of the batch, all of it comes again */
	virtq_reset(&q);
	U()->idx = 0;
	in->used_idx = 0;
	in->desc[4].inflight = in->desc[6].inflight = in->desc[1].inflight = in->desc[3].inflight = 1;
	ring_setup(&q, &m, in);
	CHECK(virtq_recover(&q) == 4);
	virtq_reset(&q);
	free(in);
	free(r);
}

/* ---- a disk in a device process ---- */

static struct vm *vm;
static struct virtio_dev *d;
static uint64_t bar;
static char disk[64];
static int chan;
static _Atomic pid_t backend_pid;

enum { DFSEL = 0, DF = 4, GFSEL = 8, GF = 0xC, CFGVEC = 0x10, STAT = 0x14,
       QSEL = 0x16, QSIZE = 0x18, QVEC = 0x1A, QEN = 0x1C, QDESC = 0x20, QDRV = 0x28, QDEV = 0x30 };
#define DEVCFG     0x2000
#define MSIX_TABLE 0x4000

static uint64_t mmio_rd(uint64_t off, unsigned size)
{
	uint64_t v = 0;
	CHECK(io_dispatch(&vm->io, IO_MMIO, bar + off, &v, size, false));
	return v;
}

static void mmio_wr(uint64_t off, unsigned size, uint64_t v)
{
	CHECK(io_dispatch(&vm->io, IO_MMIO, bar + off, &v, size, true));
}

static void cfg_wr(unsigned reg, unsigned size, uint32_t val)
{
	uint64_t v = val;
	pci_cfg_access(vm->pci, (unsigned)d->pci.slot << 3, reg, &v, size, true);
}

static int respawn(void *arg, char *why, size_t len)
{
	pid_t pid = -1;
	int s = devproc_spawn(chan, why, len, &pid);
	backend_pid = pid;
	return s;
}

/* device_status reads 0 again only when the device thread has taken the rings back */
static bool wait_status(uint8_t want)
{
	for (int i = 0; i < 5000; i++) {
		if (mmio_rd(STAT, 1) == want)
			return true;
		usleep(1000);
	}
	return false;
}

static void driver_init(void)
{
	mmio_wr(STAT, 1, 0);
	CHECK(wait_status(0));
	memset(ram + DESC, 0, 0x3000);
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	mmio_wr(GFSEL, 4, 0);
	mmio_wr(GF, 4, 0);
	mmio_wr(GFSEL, 4, 1);
	mmio_wr(GF, 4, 1);   /* VERSION_1 */
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
	CHECK(mmio_rd(STAT, 1) & VIRTIO_S_FEATURES_OK);
	cfg_wr(d->msix.cap + 2, 2, 0x8000);
	for (unsigned v = 0; v < 2; v++) {
		mmio_wr(MSIX_TABLE + 16 * v, 4, 0xFEE00000);
		mmio_wr(MSIX_TABLE + 16 * v + 8, 4, 0x30 + v);
		mmio_wr(MSIX_TABLE + 16 * v + 12, 4, 0);
	}
	mmio_wr(CFGVEC, 2, 0);
	mmio_wr(QSEL, 2, 0);
	mmio_wr(QSIZE, 2, QSIZE_);
	mmio_wr(QVEC, 2, 1);
	mmio_wr(QDESC, 8, DESC);
	mmio_wr(QDRV, 8, AVAIL);
	mmio_wr(QDEV, 8, USED);
	mmio_wr(QEN, 2, 1);
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
	CHECK(wait_status(VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK));
}

/* One request on a chain of header, data, status; kick as KVM would; wait for the used ring. Status or -1. */
static int blk_req(uint32_t type, uint64_t sector, uint32_t len, bool in)
{
	struct { uint32_t type, reserved; uint64_t sector; } h = { type, 0, sector };
	uint16_t before = U()->idx;

	memcpy(ram + HDR, &h, sizeof(h));
	ram[STATUS] = 0xEE;
	*D(0) = (struct virtq_desc){ HDR, 16, VIRTQ_DESC_F_NEXT, 1 };
	*D(1) = (struct virtq_desc){ DATA, len, VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0), 2 };
	*D(2) = (struct virtq_desc){ STATUS, 1, VIRTQ_DESC_F_WRITE, 0 };
	A()->ring[A()->idx % QSIZE_] = 0;
	__atomic_store_n(&A()->idx, A()->idx + 1, __ATOMIC_RELEASE);
	CHECK(eventfd_write(d->vq[0].kick_efd, 1) == 0);
	for (int i = 0; i < 10000; i++) {
		if (__atomic_load_n(&U()->idx, __ATOMIC_ACQUIRE) == (uint16_t)(before + 1))
			return ram[STATUS];
		usleep(1000);
	}
	return -1;
}

static void file_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(disk, O_RDONLY);
	CHECK(pread(fd, buf, len, (off_t)off) == (ssize_t)len);
	close(fd);
}

/* ---- a back-end on a socketpair: SET_FEATURES activates the device with what was acked ---- */

static int activated;
static uint64_t activated_with;
static void fake_process(struct virtio_dev *dev, struct virtq *q) { (void)dev; (void)q; }
static void fake_activate(struct virtio_dev *dev) { activated++; activated_with = dev->driver_features; }
static const struct virtio_ops fake_ops = {
	.name = "virtio-fake", .nqueues = 1, .queue_size = 8, .features = 1ull << 3,
	.process = fake_process, .activate = fake_activate,
};
struct serve_arg { struct virtio_dev *d; int sock, r; };
static void *serve_thread(void *arg)
{
	struct serve_arg *a = arg;
	a->r = vu_serve(a->d, a->sock);
	return NULL;
}

static void test_backend_activates(void)
{
	struct serve_arg a = { virtio_dev_new(&fake_ops, NULL, "fake"), -1, -1 };
	struct vu_msg m = { .req = VU_SET_FEATURES, .flags = VU_VERSION, .size = 8 };
	int sp[2], fds[VU_MAX_FDS], nfds;
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | (1ull << 3);
	pthread_t t;

	CHECK(a.d && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	a.d->no_sandbox = true;
	a.sock = sp[1];
	CHECK(pthread_create(&t, NULL, serve_thread, &a) == 0);
	m.u.u64 = want;
	CHECK(vu_send(sp[0], &m, NULL, 0) == 0);
	m = (struct vu_msg){ .req = VU_GET_FEATURES, .flags = VU_VERSION };   /* its answer: the first was handled */
	CHECK(vu_send(sp[0], &m, NULL, 0) == 0);
	CHECK(vu_recv(sp[0], &m, fds, &nfds) == 1 && m.req == VU_GET_FEATURES && (m.flags & VU_FLAG_REPLY));
	CHECK(activated == 1 && activated_with == want);
	close(sp[0]);   /* the front-end hangs up: the back-end returns 0 */
	pthread_join(t, NULL);
	CHECK(a.r == 0);
	close(a.d->epfd);
	free(a.d);
}

static struct blk *b;   /* the spawner's; reachable, so not a leak */
static struct virtio_stats *shared;   /* the device processes count here */

static void setup_devproc(void)
{
	int memfd, sock;

	snprintf(disk, sizeof(disk), "/tmp/vmm-test-vu-XXXXXX");
	int fd = mkstemp(disk);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	b = virtio_blk_open(disk);
	struct devproc_dev dv = { .type = VU_TYPE_BLK, .blk = b };
	CHECK(devproc_start(&dv, 1, true, &chan, &shared) == 0);   /* forks while single-threaded */

	memfd = memfd_create("ram", MFD_CLOEXEC);
	CHECK(memfd >= 0 && ftruncate(memfd, RAM_SIZE) == 0);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	CHECK(ram != MAP_FAILED);
	vm = calloc(1, sizeof(*vm));
	vm->vm_fd = -1;
	vm->mem_fd = memfd;
	vm->opt.no_sandbox = true;
	vm->mem = (struct guest_mem){ .host = ram, .low_size = RAM_SIZE };
	pthread_mutex_init(&vm->io_lock, NULL);
	CHECK(pci_init(vm) == 0);
	pid_t pid = -1;
	sock = devproc_spawn(chan, NULL, 0, &pid);
	backend_pid = pid;
	CHECK(sock >= 0 && pid > 0);
	struct vu_respawn rs = { respawn, NULL, false, shared };
	d = vu_attach(vm, sock, VU_TYPE_BLK, disk, &rs, NULL);
	bar = d->pci.bar[0].mapped;
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	CHECK(virtio_start(vm) == 0);
}

/* The config space comes from the back-end; requests round-trip through the device process. */
static void test_devproc_io(void)
{
	uint8_t buf[512];
	uint64_t cap = 0;

	for (unsigned i = 0; i < 8; i++)
		cap |= mmio_rd(DEVCFG + i, 1) << (8 * i);
	CHECK(cap == (1 << 20) / 512);
	driver_init();
	memset(ram + DATA, 0xA5, 512);
	CHECK(blk_req(1 /* OUT */, 3, 512, false) == 0);
	file_read(3 * 512, buf, 512);
	CHECK(buf[0] == 0xA5 && buf[511] == 0xA5);
	memset(ram + DATA, 0, 512);
	CHECK(blk_req(0 /* IN */, 3, 512, true) == 0);
	CHECK(ram[DATA] == 0xA5);
	CHECK(d->msix.v[1].efd >= 0);
	/* the process's counters are what --stats prints */
	CHECK(d->stats == shared && shared->requests == 2 && shared->bytes == 1024);
	CHECK(shared->kicks >= 2 && shared->irqs >= 2);
}

/* SIGKILL the device process: the next request is served by a new one, which the restart count shows. */
static void test_devproc_kill(void)
{
	uint8_t buf[512];
	pid_t old = backend_pid;

	CHECK(kill(old, SIGKILL) == 0);
	usleep(100000);
	memset(ram + DATA, 0x5A, 512);
	CHECK(blk_req(1, 9, 512, false) == 0);
	CHECK(backend_pid != old);
	CHECK(vu_restarts(d) == 1);
	file_read(9 * 512, buf, 512);
	CHECK(buf[0] == 0x5A);
	CHECK(exit_requested == -1);
	CHECK(shared->requests == 3);   /* the new process adds to the same counters */
	/* a device reset and a new start go to the new process too */
	driver_init();
	CHECK(blk_req(0, 9, 512, true) == 0);
	CHECK(ram[DATA] == 0x5A);
}

/* A broken chain in the device process sets NEEDS_RESET in vmm (through the err eventfd), nothing dies. */
static void test_devproc_broken_ring(void)
{
	pid_t before = backend_pid;

	*D(0) = (struct virtq_desc){ HDR, 16, VIRTQ_DESC_F_NEXT, 0 };   /* a loop */
	A()->ring[A()->idx % QSIZE_] = 0;
	__atomic_store_n(&A()->idx, A()->idx + 1, __ATOMIC_RELEASE);
	CHECK(eventfd_write(d->vq[0].kick_efd, 1) == 0);
	for (int i = 0; i < 5000 && !(mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET); i++)
		usleep(1000);
	CHECK(mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET);
	CHECK(backend_pid == before && kill(before, 0) == 0 && vu_restarts(d) == 1);
	driver_init();   /* the reset brings it back */
	CHECK(blk_req(0, 9, 512, true) == 0);
}

int main(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	RUN(test_recover_order);
	RUN(test_recover_last_batch);
	RUN(test_recover_batch);
	RUN(test_backend_activates);
	free(ram);
	setup_devproc();
	RUN(test_devproc_io);
	RUN(test_devproc_kill);
	RUN(test_devproc_broken_ring);
	unlink(disk);
	return UNIT_DONE();
}
