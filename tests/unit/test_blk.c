/* tests/unit/test_blk.c: virtio-blk and the virtio-pci transport driven like a guest driver, queue processed synchronously, no KVM. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "../../virtio/virtio.h"
#include "vm.h"

void vm_request_exit(struct vm *vm, int code) { (void)vm; (void)code; }
static _Atomic int irq_pin = -1, irq_level = -1;
void vm_set_irq(struct vm *vm, unsigned pin, int level) { (void)vm; irq_pin = (int)pin; irq_level = level; }
#include "no_kvm_msi.h"

#define RAM_SIZE (4u << 20)
#define DESC   0x1000u
#define AVAIL  0x2000u
#define USED   0x3000u
#define HDR    0x10000u
#define DATA   0x20000u
#define STATUS 0x30000u
#define DISK_SECTORS 2048u

/* common config offsets */
enum { DFSEL = 0, DF = 4, GFSEL = 8, GF = 0xC, CFGVEC = 0x10, NUMQ = 0x12, STAT = 0x14, GEN = 0x15,
       QSEL = 0x16, QSIZE = 0x18, QVEC = 0x1A, QEN = 0x1C, QNOFF = 0x1E, QDESC = 0x20,
       QDRV = 0x28, QDEV = 0x30 };
#define ISR_OFF    0x1000
#define DEVCFG     0x2000
#define NOTIFY     0x3000
#define MSIX_TABLE 0x4000
#define MSIX_PBA   0x5000

static struct vm *vm;
static struct vm *old_vms[64];
static unsigned nold;
static uint8_t *ram;
static struct virtio_dev *d;
static uint64_t bar;
static char disk[64];
static const char *disk_dir = "/tmp";

/* ---- helpers: a disk image and a guest driver ---- */

static uint8_t pattern(uint64_t off) { return (uint8_t)(off * 7 + (off >> 9)); }

static void make_disk(uint64_t bytes)
{
	uint8_t buf[4096];
	snprintf(disk, sizeof(disk), "%s/vmm-test-blk-XXXXXX", disk_dir);
	int fd = mkstemp(disk);
	CHECK(fd >= 0);
	for (uint64_t off = 0; off < bytes; off += sizeof(buf)) {
		size_t n = bytes - off < sizeof(buf) ? bytes - off : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		CHECK(write(fd, buf, n) == (ssize_t)n);
	}
	close(fd);
}

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

static uint32_t cfg_rd(unsigned reg, unsigned size)
{
	uint64_t v = 0;
	pci_cfg_access(vm->pci, (unsigned)d->pci.slot << 3, reg, &v, size, false);
	return (uint32_t)v;
}

static void cfg_wr(unsigned reg, unsigned size, uint32_t val)
{
	uint64_t v = val;
	pci_cfg_access(vm->pci, (unsigned)d->pci.slot << 3, reg, &v, size, true);
}

static void vm_setup(const char *opts)
{
	char spec[128];
	if (vm && nold < ARRAY_SIZE(old_vms))
		old_vms[nold++] = vm;            /* keep old devices reachable */
	/*
	 * A fresh VM and RAM each time, never freed: threads of earlier devices
	 * still run and must not see their VM or rings change under them.
	 */
	vm = calloc(1, sizeof(*vm));
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(vm != NULL && ram != MAP_FAILED);
	vm->vm_fd = -1;
	vm->mem = (struct guest_mem){ .host = ram, .low_size = RAM_SIZE };
	CHECK(pci_init(vm) == 0);
	if (disk[0])
		unlink(disk);      /* the previous device keeps its descriptor */
	make_disk(DISK_SECTORS * 512ull);
	snprintf(spec, sizeof(spec), "%s%s", disk, opts);
	virtio_blk_create(vm, spec);
	d = virtio_dev_get(vm, 0);
	CHECK(d != NULL && virtio_dev_get(vm, 1) == NULL);
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

static bool negotiate(uint64_t f)
{
	mmio_wr(GFSEL, 4, 0);
	mmio_wr(GF, 4, (uint32_t)f);
	mmio_wr(GFSEL, 4, 1);
	mmio_wr(GF, 4, (uint32_t)(f >> 32));
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
	return mmio_rd(STAT, 1) & VIRTIO_S_FEATURES_OK;
}

static void queue_config(uint16_t size, uint16_t vec)
{
	mmio_wr(QSEL, 2, 0);
	mmio_wr(QSIZE, 2, size);
	mmio_wr(QVEC, 2, vec);
	mmio_wr(QDESC, 4, DESC);       /* 64-bit fields as two halves */
	mmio_wr(QDESC + 4, 4, 0);
	mmio_wr(QDRV, 8, AVAIL);
	mmio_wr(QDEV, 4, USED);
	mmio_wr(QDEV + 4, 4, 0);
	mmio_wr(QEN, 2, 1);
}

/* Full init with MSI-X on: config vector 0, queue vector 1, both unmasked; a queue of qsize. */
static void driver_init_q(uint64_t extra, uint16_t qsize)
{
	mmio_wr(STAT, 1, 0);
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE);
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	CHECK(negotiate(VIRTIO_BIT(VIRTIO_F_VERSION_1) | (device_features() & extra)));
	cfg_wr(d->msix.cap + 2, 2, 0x8000);
	for (unsigned v = 0; v < 2; v++) {
		mmio_wr(MSIX_TABLE + 16 * v, 4, 0xFEE00000);
		mmio_wr(MSIX_TABLE + 16 * v + 8, 4, 0x30 + v);
		mmio_wr(MSIX_TABLE + 16 * v + 12, 4, 0);
	}
	mmio_wr(CFGVEC, 2, 0);
	CHECK(mmio_rd(CFGVEC, 2) == 0);
	queue_config(qsize, 1);
	CHECK(mmio_rd(QEN, 2) == 1);
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
	CHECK(virtio_dev_running(d));
}

static void driver_init(uint64_t extra) { driver_init_q(extra, 8); }

static struct virtq_desc *D(unsigned i) { return (struct virtq_desc *)(ram + DESC) + i; }
static struct virtq_avail *A(void) { return (struct virtq_avail *)(ram + AVAIL); }
static struct virtq_used *U(void) { return (struct virtq_used *)(ram + USED); }

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	*D(i) = (struct virtq_desc){ addr, len, flags, next };
}

static void submit(uint16_t head)
{
	A()->ring[A()->idx % 8] = head;
	A()->idx++;
	virtio_process_queue(d, 0);
}

/* One request: header, optional data (device-writable if `in`), status. Returns the status byte. */
static int blk_req(uint32_t type, uint64_t sector, uint64_t data, uint32_t len, bool in, uint32_t *used_len)
{
	struct { uint32_t type, reserved; uint64_t sector; } h = { type, 0, sector };
	uint16_t before = U()->idx;
	memcpy(ram + HDR, &h, sizeof(h));
	ram[STATUS] = 0xEE;
	set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, len ? 1 : 2);
	if (len)
		set_desc(1, data, len, VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0), 2);
	set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	submit(0);
	if (U()->idx != (uint16_t)(before + 1))
		return -1;
	if (used_len)
		*used_len = U()->ring[before % 8].len;
	return ram[STATUS];
}

static void file_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(disk, O_RDONLY);
	CHECK(pread(fd, buf, len, (off_t)off) == (ssize_t)len);
	close(fd);
}

static bool matches_pattern(const uint8_t *p, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(off + i))
			return false;
	return true;
}

static uint64_t efd_count(int efd)
{
	eventfd_t n = 0;
	return eventfd_read(efd, &n) < 0 ? 0 : n;
}

/* ---- transport ---- */

static void test_pci_identity(void)
{
	vm_setup("");
	CHECK(cfg_rd(0, 4) == (0x1042u << 16 | 0x1AF4));
	CHECK(cfg_rd(8, 1) == 1 && cfg_rd(8, 4) >> 8 == 0x018000);
	CHECK(cfg_rd(0x2C, 4) == (0x40u << 16 | 0x1AF4));
	CHECK((cfg_rd(0x10, 4) & 0xF) == PCI_BAR_MEM64);
	/* walk the capabilities: MSI-X then common, notify, ISR, device, PCI-cfg window */
	unsigned types = 0, c = cfg_rd(PCI_CAP_PTR, 1), n = 0;
	while (c && n++ < 16) {
		if (cfg_rd(c, 1) == PCI_CAP_ID_VNDR) {
			unsigned t = cfg_rd(c + 3, 1), off = cfg_rd(c + 8, 4);
			types |= 1u << t;
			CHECK(cfg_rd(c + 4, 1) == 0);
			if (t == 1) CHECK(off == 0 && cfg_rd(c + 12, 4) >= 0x38);
			if (t == 2) CHECK(off == NOTIFY && cfg_rd(c + 16, 4) == 4 && cfg_rd(c + 2, 1) == 20);
			if (t == 3) CHECK(off == ISR_OFF);
			if (t == 4) CHECK(off == DEVCFG && cfg_rd(c + 12, 4) == 60);
		}
		c = cfg_rd(c + 1, 1);
	}
	CHECK(types == 0x3E);
	CHECK(mmio_rd(NUMQ, 2) == 1 && mmio_rd(QNOFF, 2) == 0);
	uint64_t f = device_features();
	CHECK(f & VIRTIO_BIT(VIRTIO_F_VERSION_1) && f & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	CHECK(f & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) && f & VIRTIO_BIT(9) && f & VIRTIO_BIT(13));
	CHECK(!(f & VIRTIO_BIT(5)));
	/* device config: capacity, seg_max, blk_size */
	CHECK(mmio_rd(DEVCFG, 8) == DISK_SECTORS && mmio_rd(DEVCFG, 4) == DISK_SECTORS);
	CHECK(mmio_rd(DEVCFG + 12, 4) == 254 && mmio_rd(DEVCFG + 20, 4) == 512);
	CHECK(mmio_rd(DEVCFG + 60, 4) == 0);   /* past the end */
}

static void test_features_and_status(void)
{
	vm_setup("");
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	CHECK(!negotiate(0));                                   /* legacy: refused */
	CHECK(!negotiate(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(40)));   /* not offered */
	CHECK(negotiate(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(9)));
	mmio_wr(GFSEL, 4, 0);
	mmio_wr(GF, 4, 0xFFFFFFFF);                             /* after FEATURES_OK: ignored */
	CHECK(mmio_rd(GF, 4) == VIRTIO_BIT(9));
	/* bits only accumulate; NEEDS_RESET cannot be set by the driver */
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_NEEDS_RESET);
	CHECK(mmio_rd(STAT, 1) == (VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK));
	/* reset */
	queue_config(8, 0);
	CHECK(mmio_rd(QEN, 2) == 1);
	mmio_wr(STAT, 1, 0);
	CHECK(mmio_rd(STAT, 1) == 0 && mmio_rd(QEN, 2) == 0 && mmio_rd(QSIZE, 2) == 256);
	CHECK(mmio_rd(QVEC, 2) == VIRTIO_MSI_NO_VECTOR && mmio_rd(CFGVEC, 2) == VIRTIO_MSI_NO_VECTOR);
	CHECK(mmio_rd(GF, 4) == 0 && mmio_rd(QDESC, 8) == 0);
	/* DRIVER_OK without FEATURES_OK is not taken */
	mmio_wr(STAT, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_DRIVER_OK);
	CHECK(!(mmio_rd(STAT, 1) & VIRTIO_S_DRIVER_OK) && !virtio_dev_running(d));
}

static void test_queue_config(void)
{
	vm_setup("");
	mmio_wr(QSEL, 2, 0);
	CHECK(mmio_rd(QSIZE, 2) == 256);
	mmio_wr(QVEC, 2, 1);
	CHECK(mmio_rd(QVEC, 2) == 1);
	mmio_wr(QVEC, 2, 2);                  /* only vectors 0..1 exist */
	CHECK(mmio_rd(QVEC, 2) == VIRTIO_MSI_NO_VECTOR);
	mmio_wr(CFGVEC, 2, 5);
	CHECK(mmio_rd(CFGVEC, 2) == VIRTIO_MSI_NO_VECTOR);
	mmio_wr(QDESC, 4, 0x12345000);
	mmio_wr(QDESC + 4, 4, 0x1);
	CHECK(mmio_rd(QDESC, 8) == 0x112345000ull && mmio_rd(QDESC + 4, 4) == 1);
	mmio_wr(QSEL, 2, 1);                  /* no such queue */
	CHECK(mmio_rd(QSIZE, 2) == 0 && mmio_rd(QEN, 2) == 0);
	mmio_wr(QSIZE, 2, 8);
	/* enabling a queue with rings outside RAM: NEEDS_RESET and a config interrupt */
	cfg_wr(d->msix.cap + 2, 2, 0x8000);
	mmio_wr(MSIX_TABLE + 12, 4, 0);
	mmio_wr(CFGVEC, 2, 0);
	mmio_wr(QSEL, 2, 0);
	mmio_wr(QSIZE, 2, 8);
	mmio_wr(QEN, 2, 1);
	CHECK(mmio_rd(QEN, 2) == 0 && (mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET));
	CHECK(efd_count(d->msix.v[0].efd) == 1 && d->stats->config_irqs == 1);
	CHECK(mmio_rd(ISR_OFF, 1) == 2 && mmio_rd(ISR_OFF, 1) == 0);   /* read clears */
	/* a queue size that is not a power of two is refused too */
	mmio_wr(STAT, 1, 0);
	queue_config(6, 0);
	CHECK(mmio_rd(QEN, 2) == 0 && (mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET));
	/* changing an enabled queue is ignored */
	mmio_wr(STAT, 1, 0);
	queue_config(8, 0);
	mmio_wr(QSIZE, 2, 16);
	mmio_wr(QDESC, 4, 0x8000);
	CHECK(mmio_rd(QSIZE, 2) == 8 && mmio_rd(QDESC, 4) == DESC);
}

static void test_pci_cfg_window(void)
{
	vm_setup("");
	unsigned c = d->pci.cap_last;
	CHECK(cfg_rd(c + 3, 1) == 5);
	cfg_wr(c + 4, 1, 0);
	cfg_wr(c + 8, 4, NUMQ);
	cfg_wr(c + 12, 4, 2);
	CHECK(cfg_rd(c + 16, 2) == 1);
	cfg_wr(c + 8, 4, QSEL);
	cfg_wr(c + 16, 2, 0);
	cfg_wr(c + 8, 4, QSIZE);
	CHECK(cfg_rd(c + 16, 2) == 256);
}

static void test_notify_slow_path(void)
{
	vm_setup("");
	driver_init(0);
	mmio_wr(NOTIFY, 2, 0);
	CHECK(efd_count(d->vq[0].kick_efd) == 2);   /* DRIVER_OK kicked once, the write once */
	CHECK(d->stats->kicks_exit == 1);
	mmio_wr(NOTIFY + 4, 2, 1);                  /* no queue 1: ignored */
	CHECK(d->stats->kicks_exit == 1);
}

/* ---- block requests ---- */

static void test_read_write(void)
{
	uint8_t buf[1024];
	uint32_t used = 0;

	vm_setup("");
	driver_init(VIRTIO_BIT(9));
	CHECK(blk_req(0, 3, DATA, 1024, true, &used) == 0);
	CHECK(used == 1025 && matches_pattern(ram + DATA, 3 * 512, 1024));
	CHECK(efd_count(d->msix.v[1].efd) == 1 && d->stats->irqs == 1 && d->stats->requests == 1);
	memset(ram + DATA, 0xAB, 512);
	CHECK(blk_req(1, 10, DATA, 512, false, &used) == 0 && used == 1);
	file_read(10 * 512, buf, 512);
	CHECK(buf[0] == 0xAB && buf[511] == 0xAB);
	file_read(11 * 512, buf, 1);
	CHECK(buf[0] == pattern(11 * 512));
	CHECK(blk_req(4, 0, 0, 0, false, NULL) == 0);           /* flush */
	CHECK(d->stats->bytes == 1536 && d->stats->requests == 3);
	/* last sector fine, one past the end or a length crossing it: IOERR */
	CHECK(blk_req(0, DISK_SECTORS - 1, DATA, 512, true, &used) == 0);
	CHECK(blk_req(0, DISK_SECTORS, DATA, 512, true, &used) == 1 && used == 1);
	CHECK(blk_req(0, DISK_SECTORS - 1, DATA, 1024, true, NULL) == 1);
	CHECK(blk_req(1, ~0ull, DATA, 512, false, NULL) == 1);
	CHECK(blk_req(0, 0, DATA, 100, true, NULL) == 1);        /* not whole sectors */
	CHECK(blk_req(99, 0, DATA, 512, true, NULL) == 2);       /* unknown type */
	CHECK(!(mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET));
}

static void test_scattered_request(void)
{
	/* header and data in one descriptor, data split over three, status inside the last */
	struct { uint32_t type, reserved; uint64_t sector; } h = { 1, 0, 20 };
	uint8_t buf[1024];

	vm_setup("");
	driver_init(0);
	memcpy(ram + HDR, &h, 16);
	memset(ram + HDR + 16, 0x11, 100);
	memset(ram + DATA, 0x22, 700);
	memset(ram + DATA + 0x1000, 0x33, 224);
	set_desc(0, HDR, 116, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, DATA, 700, VIRTQ_DESC_F_NEXT, 2);
	set_desc(2, DATA + 0x1000, 224, VIRTQ_DESC_F_NEXT, 3);
	set_desc(3, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	submit(0);
	CHECK(U()->idx == 1 && ram[STATUS] == 0);
	file_read(20 * 512, buf, 1024);
	CHECK(buf[0] == 0x11 && buf[99] == 0x11 && buf[100] == 0x22 && buf[799] == 0x22 && buf[800] == 0x33);
	/* a read whose status byte shares the data descriptor */
	h.type = 0;
	memcpy(ram + HDR, &h, 16);
	set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, DATA, 513, VIRTQ_DESC_F_WRITE, 0);
	ram[DATA + 512] = 0xEE;
	submit(0);
	CHECK(U()->idx == 2 && ram[DATA + 512] == 0 && ram[DATA] == 0x11 && U()->ring[1].len == 513);
}

static void test_get_id_discard_zeroes(void)
{
	uint8_t buf[512];
	uint32_t used = 0;
	struct { uint64_t sector; uint32_t num, flags; } seg = { 100, 4, 0 };

	vm_setup(",serial=SN-0042");
	driver_init(VIRTIO_BIT(13) | VIRTIO_BIT(14));
	memset(ram + DATA, 0xFF, 20);
	CHECK(blk_req(8, 0, DATA, 20, true, &used) == 0 && used == 21);
	CHECK(!memcmp(ram + DATA, "SN-0042", 8) && ram[DATA + 19] == 0);
	/* write zeroes, with and without unmap */
	memcpy(ram + DATA, &seg, 16);
	CHECK(blk_req(13, 0, DATA, 16, false, NULL) == 0);
	file_read(100 * 512, buf, 512);
	CHECK(buf[0] == 0 && buf[511] == 0);
	file_read(104 * 512, buf, 1);
	CHECK(buf[0] == pattern(104 * 512));
	seg.sector = 200, seg.flags = 1;
	memcpy(ram + DATA, &seg, 16);
	CHECK(blk_req(13, 0, DATA, 16, false, NULL) == 0);
	file_read(203 * 512, buf, 512);
	CHECK(buf[0] == 0 && buf[511] == 0);
	/* discard: fine; with the unmap flag or reserved bits: UNSUPP; out of range: IOERR */
	seg.sector = 300, seg.flags = 0;
	memcpy(ram + DATA, &seg, 16);
	CHECK(blk_req(11, 0, DATA, 16, false, NULL) == 0);
	seg.flags = 1;
	memcpy(ram + DATA, &seg, 16);
	CHECK(blk_req(11, 0, DATA, 16, false, NULL) == 2);
	seg.flags = 4;
	memcpy(ram + DATA, &seg, 16);
	CHECK(blk_req(13, 0, DATA, 16, false, NULL) == 2);
	seg.sector = DISK_SECTORS - 2, seg.num = 4, seg.flags = 0;
	memcpy(ram + DATA, &seg, 16);
	CHECK(blk_req(13, 0, DATA, 16, false, NULL) == 1);
	CHECK(blk_req(11, 0, DATA, 12, false, NULL) == 2);      /* not a whole segment */
}

static void test_read_only(void)
{
	uint8_t buf[512];
	vm_setup(",ro");
	CHECK(device_features() & VIRTIO_BIT(5));
	CHECK(!(device_features() & (VIRTIO_BIT(13) | VIRTIO_BIT(14))));
	driver_init(VIRTIO_BIT(5));
	CHECK(blk_req(0, 1, DATA, 512, true, NULL) == 0 && matches_pattern(ram + DATA, 512, 512));
	memset(ram + DATA, 0xCD, 512);
	CHECK(blk_req(1, 1, DATA, 512, false, NULL) == 1);
	file_read(512, buf, 512);
	CHECK(matches_pattern(buf, 512, 512));
	memset(ram + DATA, 0, 16);
	CHECK(blk_req(13, 0, DATA, 16, false, NULL) == 1);
	CHECK(blk_req(4, 0, 0, 0, false, NULL) == 0);
}

static void test_direct(void)
{
	uint8_t buf[512];
	vm_setup(",direct");
	driver_init(0);
	CHECK(blk_req(0, 2, DATA, 4096, true, NULL) == 0 && matches_pattern(ram + DATA, 1024, 4096));
	CHECK(blk_req(0, 2, DATA + 1, 512, true, NULL) == 0 && matches_pattern(ram + DATA + 1, 1024, 512));
	memset(ram + DATA + 3, 0x5E, 512);                      /* unaligned buffer: bounce */
	CHECK(blk_req(1, 7, DATA + 3, 512, false, NULL) == 0);
	file_read(7 * 512, buf, 512);
	CHECK(buf[0] == 0x5E && buf[511] == 0x5E);
}

/*
 * Regression: ,direct on a file whose file system sits on 4 KiB-sector storage
 * (ext4 on a loop device with 4096-byte sectors) advertises 4096 as the block
 * size, so the guest never sends a request O_DIRECT would refuse there; those
 * it sends work, unaligned guest buffers included.
 */
static void test_direct_4k(void)
{
	static const char setup[] =
		"set -e; d=/tmp/vmm-test-4k; umount $d/mnt 2>/dev/null || true; mkdir -p $d/mnt;"
		"truncate -s 64M $d/img; l=$(losetup -f --show -b 4096 $d/img); echo $l >$d/dev;"
		"mkfs.ext4 -q -F $l; mount $l $d/mnt";
	uint8_t buf[4096];

	if (geteuid() != 0 || system("command -v losetup mkfs.ext4 >/dev/null") != 0)
		SKIP("needs root, losetup and mkfs.ext4");
	if (system(setup) != 0) {
		(void)!system("umount /tmp/vmm-test-4k/mnt 2>/dev/null; losetup -d $(cat /tmp/vmm-test-4k/dev) 2>/dev/null");
		SKIP("cannot mount ext4 on a 4096-byte-sector loop device here");
	}
	disk_dir = "/tmp/vmm-test-4k/mnt";
	vm_setup(",direct");
	driver_init(0);
	CHECK(mmio_rd(DEVCFG + 20, 4) == 4096);                  /* blk_size */
	CHECK(device_features() & VIRTIO_BIT(6));               /* BLK_F_BLK_SIZE */
	CHECK(mmio_rd(DEVCFG, 8) == DISK_SECTORS);              /* 1 MiB: whole 4 KiB blocks */
	CHECK(blk_req(0, 8, DATA, 4096, true, NULL) == 0 && matches_pattern(ram + DATA, 8 * 512, 4096));
	memset(ram + DATA + 512, 0x6B, 4096);                    /* 512-aligned buffer: bounced */
	CHECK(blk_req(1, 16, DATA + 512, 4096, false, NULL) == 0);
	CHECK(blk_req(0, 16, DATA + 8192, 4096, true, NULL) == 0 && ram[DATA + 8192] == 0x6B &&
	      ram[DATA + 8192 + 4095] == 0x6B);
	file_read(16 * 512, buf, 4096);
	CHECK(buf[0] == 0x6B && buf[4095] == 0x6B);
	unlink(disk);
	disk[0] = 0;
	disk_dir = "/tmp";
	CHECK(system("umount -l /tmp/vmm-test-4k/mnt && losetup -d $(cat /tmp/vmm-test-4k/dev) && rm -rf /tmp/vmm-test-4k") == 0);
}

static void test_malformed(void)
{
	vm_setup("");
	driver_init(0);
	set_desc(0, HDR, 8, VIRTQ_DESC_F_NEXT, 2);              /* header too short */
	set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	submit(0);
	CHECK(U()->idx == 0 && (mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET) && !virtio_dev_running(d));
	CHECK(efd_count(d->msix.v[0].efd) == 1);                 /* config interrupt */
	submit(0);                                               /* nothing more happens */
	CHECK(U()->idx == 0);

	vm_setup("");
	driver_init(0);
	set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);              /* no device-writable byte */
	set_desc(1, DATA, 512, 0, 0);
	submit(0);
	CHECK(U()->idx == 0 && (mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET));

	vm_setup("");
	driver_init(0);
	set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 0);              /* loop */
	submit(0);
	CHECK(U()->idx == 0 && (mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET));
	/* the driver resets and starts over: the device works again */
	memset(ram + DESC, 0, 0x3000);
	driver_init(0);
	CHECK(!(mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET));
	CHECK(blk_req(0, 0, DATA, 512, true, NULL) == 0 && matches_pattern(ram + DATA, 0, 512));
}

static void test_event_idx_and_masking(void)
{
	vm_setup("");
	driver_init(VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	uint16_t *used_event = &A()->ring[8];
	CHECK(blk_req(0, 0, DATA, 512, true, NULL) == 0);
	CHECK(efd_count(d->msix.v[1].efd) == 1);                 /* first completion always signals */
	*used_event = 5;                                         /* "not before the 6th" */
	CHECK(blk_req(0, 0, DATA, 512, true, NULL) == 0);
	CHECK(efd_count(d->msix.v[1].efd) == 0);
	uint16_t *avail_event = (uint16_t *)&U()->ring[8];
	CHECK(*avail_event == 2);                                /* kick me at the next one */
	/* masked queue vector: the completion is pending in the PBA, delivered on unmask */
	*used_event = 2;
	mmio_wr(MSIX_TABLE + 16 + 12, 4, 1);
	CHECK(blk_req(0, 0, DATA, 512, true, NULL) == 0);
	CHECK(mmio_rd(MSIX_PBA, 8) == 2);
	mmio_wr(MSIX_TABLE + 16 + 12, 4, 0);
	CHECK(mmio_rd(MSIX_PBA, 8) == 0 && efd_count(d->msix.v[1].efd) == 1);
}

static void test_intx_fallback(void)
{
	vm_setup("");
	driver_init(0);
	CHECK(cfg_rd(PCI_INT_PIN, 1) == 1);
	cfg_wr(d->msix.cap + 2, 2, 0);             /* the guest turns MSI-X off */
	irq_pin = -1;
	irq_level = -1;
	CHECK(blk_req(0, 0, DATA, 512, true, NULL) == 0);
	CHECK(irq_pin == 17 && irq_level == 0);     /* slot 1, INTA -> IOAPIC pin 17, active low */
	CHECK(efd_count(d->msix.v[1].efd) == 0);
	CHECK(mmio_rd(ISR_OFF, 1) == 1 && irq_level == 1);
	CHECK(mmio_rd(ISR_OFF, 1) == 0);
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_INTX_OFF);
	irq_level = -1;
	CHECK(blk_req(0, 0, DATA, 512, true, NULL) == 0 && irq_level == -1);
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEMORY);
	CHECK(blk_req(0, 0, DATA, 512, true, NULL) == 0 && irq_level == 0);   /* asserted, not yet acknowledged */
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_INTX_OFF);
	CHECK(irq_level == 1);                      /* Interrupt Disable releases the line */
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEMORY);
	CHECK(blk_req(0, 0, DATA, 512, true, NULL) == 0 && irq_level == 0);
	cfg_wr(d->msix.cap + 2, 2, 0x8000);         /* MSI-X back on: the asserted line is released */
	CHECK(irq_level == 1);
	irq_level = -1;
	CHECK(blk_req(0, 0, DATA, 512, true, NULL) == 0 && irq_level == -1);   /* and INTA stays quiet */
}

static void test_stats(void)
{
	char *out = NULL;
	size_t len = 0;
	vm_setup("");
	driver_init(0);
	CHECK(blk_req(0, 0, DATA, 512, true, NULL) == 0);
	FILE *f = open_memstream(&out, &len);
	virtio_print_stats(vm, f);
	fclose(f);
	CHECK(strstr(out, "virtio-blk 00:01.0") && strstr(out, "requests 1, bytes 512, interrupts 1"));
	CHECK(!strstr(out, "holds"));
	free(out);
	/* two chains made available and not kicked: the device holds them */
	A()->ring[A()->idx % 8] = 0;
	A()->ring[(A()->idx + 1) % 8] = 0;
	A()->idx = (uint16_t)(A()->idx + 2);
	f = open_memstream(&out, &len);
	virtio_print_stats(vm, f);
	fclose(f);
	CHECK(strstr(out, "; buffers the device holds: queue 0 2\n") != NULL);
	free(out);
}

/* The real device thread: kicks through the notify register, completions seen by the "guest". */
static bool wait_used(uint16_t idx)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(&U()->idx, __ATOMIC_ACQUIRE) == idx)
			return true;
		usleep(1000);
	}
	return false;
}

static void thread_req(uint64_t sector, uint16_t idx)
{
	struct { uint32_t type, reserved; uint64_t sector; } h = { 0, 0, sector };
	memcpy(ram + HDR, &h, sizeof(h));
	set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, DATA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	A()->ring[A()->idx % 8] = 0;
	__atomic_store_n(&A()->idx, (uint16_t)(A()->idx + 1), __ATOMIC_RELEASE);
	pthread_mutex_lock(&vm->io_lock);
	mmio_wr(NOTIFY, 2, 0);
	pthread_mutex_unlock(&vm->io_lock);
	CHECK(wait_used(idx));
	CHECK(ram[STATUS] == 0 && matches_pattern(ram + DATA, sector * 512, 512));
}

static atomic_int watch_calls;
static void on_watch(struct virtio_dev *dev, void *arg)
{
	eventfd_t v;
	CHECK(dev == d && pthread_mutex_trylock(&dev->lock) == EBUSY);   /* called under the device lock */
	if (eventfd_read(*(int *)arg, &v) == 0)
		atomic_fetch_add(&watch_calls, 1);
}

static void test_device_thread(void)
{
	static int wfd;
	vm_setup("");
	vm->opt.no_sandbox = true;
	pthread_mutex_init(&vm->io_lock, NULL);
	wfd = eventfd(0, EFD_NONBLOCK);
	CHECK(virtio_watch_fd(d, wfd, 0, on_watch, &wfd) >= 0);
	CHECK(virtio_start(vm) == 0);
	CHECK(eventfd_write(wfd, 1) == 0);
	for (int i = 0; i < 2000 && !atomic_load(&watch_calls); i++)
		usleep(1000);
	CHECK(atomic_load(&watch_calls) == 1);
	pthread_mutex_lock(&vm->io_lock);
	driver_init(0);
	pthread_mutex_unlock(&vm->io_lock);
	for (uint16_t i = 1; i <= 20; i++)
		thread_req(i, i);
	CHECK(d->stats->requests == 20 && d->stats->kicks >= 20 && d->stats->kicks_exit == 20);
	/* reset while the thread is live, then start over */
	pthread_mutex_lock(&vm->io_lock);
	mmio_wr(STAT, 1, 0);
	memset(ram + DESC, 0, 0x3000);
	driver_init(0);
	pthread_mutex_unlock(&vm->io_lock);
	thread_req(5, 1);
}

/* ---- the worker pool: many requests in flight ---- */

#define MQ      128                  /* queue size for these tests: 64 two-descriptor chains */
#define MREQS   64
#define MSTRIDE 0x400u               /* request i: header at HDR + 16 i, data+status at DATA + i MSTRIDE */

/* Request i (head 2i): header, then 512 bytes of data and the status byte in one descriptor. */
static void mreq_put(unsigned i, uint32_t type, uint64_t sector)
{
	struct { uint32_t type, reserved; uint64_t sector; } h = { type, 0, sector };
	memcpy(ram + HDR + 16 * i, &h, sizeof(h));
	ram[DATA + i * MSTRIDE + 512] = 0xEE;
	if (type == 0)
		memset(ram + DATA + i * MSTRIDE, 0, 512);
	set_desc(2 * i, HDR + 16 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(2 * i + 1));
	set_desc(2 * i + 1, DATA + i * MSTRIDE, 513, VIRTQ_DESC_F_WRITE, 0);
	if (type == 1) {   /* a write: data out, status in */
		set_desc(2 * i + 1, DATA + i * MSTRIDE, 512, VIRTQ_DESC_F_NEXT, (uint16_t)(2 * i + 1 + MQ / 2));
		set_desc(2 * i + 1 + MQ / 2, DATA + i * MSTRIDE + 512, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	A()->ring[A()->idx % MQ] = (uint16_t)(2 * i);
	__atomic_store_n(&A()->idx, (uint16_t)(A()->idx + 1), __ATOMIC_RELEASE);
}

static void kick(void)
{
	pthread_mutex_lock(&vm->io_lock);
	mmio_wr(NOTIFY, 2, 0);
	pthread_mutex_unlock(&vm->io_lock);
}

/* Threads of this process named `comm`. */
static unsigned count_threads(const char *comm)
{
	char path[300], buf[32];
	unsigned n = 0;
	struct dirent *e;
	DIR *dir = opendir("/proc/self/task");

	CHECK(dir != NULL);
	while (dir && (e = readdir(dir))) {
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t l = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[l > 0 ? l : 0] = 0;
		n += strncmp(buf, comm, strlen(comm)) == 0;
	}
	if (dir)
		closedir(dir);
	return n;
}

static void pool_setup(void)
{
	vm_setup("");
	vm->opt.no_sandbox = true;
	pthread_mutex_init(&vm->io_lock, NULL);
	CHECK(virtio_start(vm) == 0);
	pthread_mutex_lock(&vm->io_lock);
	driver_init_q(VIRTIO_BIT(VIRTIO_F_EVENT_IDX), MQ);
	pthread_mutex_unlock(&vm->io_lock);
}

static void test_pool_inflight(void)
{
	bool seen[MREQS] = { false };
	uint8_t buf[512];

	pool_setup();
	/* more requests at once than the device takes in flight (32): the rest wait in the ring */
	for (unsigned i = 0; i < MREQS; i++)
		mreq_put(i, 0, 3 * i);
	kick();
	CHECK(wait_used(MREQS));
	for (unsigned i = 0; i < MREQS; i++) {
		struct virtq_used_elem e = U()->ring[i];
		CHECK(e.id % 2 == 0 && e.id < 2 * MREQS && !seen[e.id / 2] && e.len == 513);
		seen[e.id / 2] = true;
		CHECK(ram[DATA + i * MSTRIDE + 512] == 0 && matches_pattern(ram + DATA + i * MSTRIDE, 3 * i * 512, 512));
	}
	CHECK(d->stats->requests == MREQS && d->stats->bytes == MREQS * 512);
	/* writes then a read-back of each, all in flight together */
	for (unsigned i = 0; i < 16; i++) {
		memset(ram + DATA + i * MSTRIDE, 0x40 + (int)i, 512);
		mreq_put(i, 1, 1000 + i);
	}
	kick();
	CHECK(wait_used(MREQS + 16));
	for (unsigned i = 0; i < 16; i++) {
		file_read((1000 + i) * 512ull, buf, 512);
		CHECK(ram[DATA + i * MSTRIDE + 512] == 0 && buf[0] == 0x40 + i && buf[511] == 0x40 + i);
	}
	CHECK(count_threads("vio-blk-io") >= 4);
	CHECK(!(mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET));
}

/* The driver's side of a reset (virtio 1.2 4.1.4.3.2): write 0, wait until status reads 0. */
static bool reset_and_wait(void)
{
	pthread_mutex_lock(&vm->io_lock);
	mmio_wr(STAT, 1, 0);
	pthread_mutex_unlock(&vm->io_lock);
	for (int i = 0; i < 5000; i++) {
		pthread_mutex_lock(&vm->io_lock);
		uint64_t st = mmio_rd(STAT, 1);
		pthread_mutex_unlock(&vm->io_lock);
		if (st == 0)
			return true;
		usleep(1000);
	}
	return false;
}

/* Once status reads 0 after a reset, no worker touches guest memory; the device then starts over. */
static void test_pool_reset(void)
{
	pool_setup();
	for (int round = 0; round < 20; round++) {
		for (unsigned i = 0; i < MREQS; i++)
			mreq_put(i, 0, i);
		kick();
		usleep((useconds_t)(round * 50));
		CHECK(reset_and_wait());
		uint16_t used = __atomic_load_n(&U()->idx, __ATOMIC_ACQUIRE);
		memset(ram + DATA, 0x5A, MREQS * MSTRIDE);
		usleep(2000);
		CHECK(__atomic_load_n(&U()->idx, __ATOMIC_ACQUIRE) == used);
		bool clean = true;
		for (unsigned i = 0; i < MREQS * MSTRIDE; i++)
			clean &= ram[DATA + i] == 0x5A;
		CHECK(clean);
		memset(ram + DESC, 0, 0x3000);
		pthread_mutex_lock(&vm->io_lock);
		driver_init_q(0, MQ);
		pthread_mutex_unlock(&vm->io_lock);
	}
	/* all slots came back: a full batch completes */
	for (unsigned i = 0; i < MREQS; i++)
		mreq_put(i, 0, 7 * i);
	kick();
	CHECK(wait_used(MREQS));
	CHECK(matches_pattern(ram + DATA + 63 * MSTRIDE, 7 * 63 * 512, 512));
}

#define HUNG 0x200000u        /* a page of RAM no other test uses */

/* Resolve the userfaultfd-missing page at ram + HUNG after 3 s, or at once when hung_release is set. */
static int hung_uffd;
static atomic_bool hung_release;
static void *hung_resolver(void *arg)
{
	for (int i = 0; i < 300 && !atomic_load(&hung_release); i++)
		usleep(10000);
	struct uffdio_zeropage z = { .range = { (uintptr_t)(ram + HUNG), 4096 } };
	(void)!ioctl(hung_uffd, UFFDIO_ZEROPAGE, &z);
	return arg;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * Regression: a reset with a request stuck in a worker (its buffer faults and
 * nothing resolves the fault: a hung disk) must not wait for it under the I/O
 * lock. It returns at once; status reads non-zero until the worker is done;
 * the stale request is never completed; the device then works again.
 */
static void test_pool_reset_hung(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	pthread_t t;

	hung_uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (hung_uffd < 0 || ioctl(hung_uffd, UFFDIO_API, &api) < 0) {
		if (hung_uffd >= 0)
			close(hung_uffd);
		SKIP("no userfaultfd here to make a request hang");
	}
	pool_setup();
	reg.range = (struct uffdio_range){ (uintptr_t)(ram + HUNG), 4096 };
	CHECK(madvise(ram + HUNG, 4096, MADV_DONTNEED) == 0);
	CHECK(ioctl(hung_uffd, UFFDIO_REGISTER, &reg) == 0);
	atomic_store(&hung_release, false);
	CHECK(pthread_create(&t, NULL, hung_resolver, NULL) == 0);
	struct { uint32_t type, reserved; uint64_t sector; } h = { 0, 0, 9 };
	memcpy(ram + HDR, &h, sizeof(h));
	set_desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, HUNG, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);   /* read into the missing page */
	set_desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	A()->ring[0] = 0;
	__atomic_store_n(&A()->idx, 1, __ATOMIC_RELEASE);
	kick();
	struct pollfd pf = { hung_uffd, POLLIN, 0 };
	CHECK(poll(&pf, 1, 2000) == 1);     /* the worker is stuck in the fault */
	double t0 = now_s();
	pthread_mutex_lock(&vm->io_lock);
	mmio_wr(STAT, 1, 0);
	pthread_mutex_unlock(&vm->io_lock);
	CHECK(now_s() - t0 < 1.0);
	CHECK(mmio_rd(STAT, 1) != 0);      /* still resetting */
	atomic_store(&hung_release, true);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(reset_and_wait());
	CHECK(__atomic_load_n(&U()->idx, __ATOMIC_ACQUIRE) == 0);
	struct uffdio_range r = { (uintptr_t)(ram + HUNG), 4096 };
	CHECK(ioctl(hung_uffd, UFFDIO_UNREGISTER, &r) == 0);
	close(hung_uffd);
	memset(ram + DESC, 0, 0x3000);
	pthread_mutex_lock(&vm->io_lock);
	driver_init_q(0, MQ);
	pthread_mutex_unlock(&vm->io_lock);
	mreq_put(0, 0, 5);
	kick();
	CHECK(wait_used(1) && matches_pattern(ram + DATA, 5 * 512, 512));
}

/*
 * Regression: the device thread raises interrupts while a vCPU turns MSI-X
 * and Interrupt Disable on and off (config bytes read and written from two
 * threads: TSan checks them). Once MSI-X is on for good, INTA must be
 * deasserted, whatever the interleaving was.
 */
static void test_intx_msix_race(void)
{
	pool_setup();
	for (unsigned round = 0; round < 100; round++) {
		mreq_put(0, 0, round);
		kick();
		pthread_mutex_lock(&vm->io_lock);
		cfg_wr(d->msix.cap + 2, 2, round & 1 ? 0x8000 : 0);
		cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER | (round & 2 ? PCI_CMD_INTX_OFF : 0));
		pthread_mutex_unlock(&vm->io_lock);
		CHECK(wait_used((uint16_t)(round + 1)));
	}
	pthread_mutex_lock(&vm->io_lock);
	cfg_wr(d->msix.cap + 2, 2, 0x8000);
	cfg_wr(PCI_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	pthread_mutex_unlock(&vm->io_lock);
	usleep(20000);
	CHECK(!d->pci.intx[0] && atomic_load(&irq_level) != 0);
}

/* A malformed chain among good ones: the device fails, and completes nothing after it. */
static void test_pool_malformed(void)
{
	pool_setup();
	for (unsigned i = 0; i < 8; i++)
		mreq_put(i, 0, i);
	set_desc(2 * 8, HDR, 8, VIRTQ_DESC_F_NEXT, 2 * 8 + 1);   /* header too short */
	set_desc(2 * 8 + 1, DATA, 1, VIRTQ_DESC_F_WRITE, 0);
	A()->ring[A()->idx % MQ] = 16;
	__atomic_store_n(&A()->idx, (uint16_t)(A()->idx + 1), __ATOMIC_RELEASE);
	for (unsigned i = 9; i < 12; i++)
		mreq_put(i, 0, i);
	kick();
	for (int i = 0; i < 2000 && !(mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET); i++)
		usleep(1000);
	CHECK(mmio_rd(STAT, 1) & VIRTIO_S_NEEDS_RESET);
	usleep(20000);
	CHECK(__atomic_load_n(&U()->idx, __ATOMIC_ACQUIRE) <= 8);
	pthread_mutex_lock(&vm->io_lock);
	mmio_wr(STAT, 1, 0);
	memset(ram + DESC, 0, 0x3000);
	driver_init_q(0, MQ);
	pthread_mutex_unlock(&vm->io_lock);
	mreq_put(0, 0, 5);
	kick();
	CHECK(wait_used(1) && matches_pattern(ram + DATA, 5 * 512, 512));
}

/* ---- setup errors: each runs in a child that must exit 2 naming the disk ---- */

static struct vm cvm;

static int child_create(const char *spec, char *err, size_t errlen)
{
	int p[2], st;
	CHECK(pipe(p) == 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		memset(&cvm, 0, sizeof(cvm));
		cvm.vm_fd = -1;
		cvm.mem = (struct guest_mem){ .host = ram, .low_size = RAM_SIZE };
		if (pci_init(&cvm) < 0)
			_exit(9);
		virtio_blk_create(&cvm, spec);
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
	char err[512], spec[128];
	make_disk(DISK_SECTORS * 512ull);

	snprintf(spec, sizeof(spec), "%s,bogus", disk);
	CHECK(child_create(spec, err, sizeof(err)) == 2 && strstr(err, "bogus"));
	snprintf(spec, sizeof(spec), "%s,serial=123456789012345678901", disk);
	CHECK(child_create(spec, err, sizeof(err)) == 2 && strstr(err, "serial"));
	CHECK(child_create(",ro", err, sizeof(err)) == 2 && strstr(err, "path"));
	CHECK(child_create("", err, sizeof(err)) == 2);
	CHECK(child_create("/nonexistent/disk.img", err, sizeof(err)) == 2 && strstr(err, "/nonexistent/disk.img"));
	CHECK(child_create("/tmp", err, sizeof(err)) == 2 && strstr(err, "/tmp"));
	/* locked by another process (here: another open file description) */
	int fd = open(disk, O_RDONLY);
	CHECK(flock(fd, LOCK_SH) == 0);
	CHECK(child_create(disk, err, sizeof(err)) == 2 && strstr(err, "in use by another process") && strstr(err, disk));
	snprintf(spec, sizeof(spec), "%s,ro", disk);
	CHECK(child_create(spec, err, sizeof(err)) == 0);       /* two readers are fine */
	close(fd);
	CHECK(child_create(disk, err, sizeof(err)) == 0);
	/* empty image; size not a multiple of 512 (warns, rounds down) */
	int e = open(disk, O_WRONLY | O_TRUNC);
	close(e);
	CHECK(child_create(disk, err, sizeof(err)) == 2 && strstr(err, "empty"));
	CHECK(truncate(disk, 1000) == 0);
	CHECK(child_create(disk, err, sizeof(err)) == 0 && strstr(err, "multiple of 512"));
	unlink(disk);
}

static void test_read_only_file(void)
{
	char err[512], spec[128];
	make_disk(4096);
	/* root ignores permission bits; an immutable file refuses writers even to root */
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "chattr +i %s 2>/dev/null", disk);
	if (geteuid() == 0 ? system(cmd) != 0 : chmod(disk, 0444) != 0) {
		printf("SKIP test_read_only_file: cannot make a read-only file here\n");
		unlink(disk);
		return;
	}
	CHECK(child_create(disk, err, sizeof(err)) == 2 && strstr(err, ",ro") && strstr(err, disk));
	snprintf(spec, sizeof(spec), "%s,ro", disk);
	CHECK(child_create(spec, err, sizeof(err)) == 0);
	snprintf(cmd, sizeof(cmd), "chattr -i %s 2>/dev/null", disk);
	if (geteuid() == 0)
		CHECK(system(cmd) == 0);
	unlink(disk);
}

int main(void)
{
	RUN(test_pci_identity);
	RUN(test_features_and_status);
	RUN(test_queue_config);
	RUN(test_pci_cfg_window);
	RUN(test_notify_slow_path);
	RUN(test_read_write);
	RUN(test_scattered_request);
	RUN(test_get_id_discard_zeroes);
	RUN(test_read_only);
	RUN(test_direct);
	RUN(test_direct_4k);
	RUN(test_malformed);
	RUN(test_event_idx_and_masking);
	RUN(test_intx_fallback);
	RUN(test_stats);
	unlink(disk);
	RUN(test_setup_errors);
	RUN(test_read_only_file);
	RUN(test_device_thread);
	RUN(test_pool_inflight);
	RUN(test_pool_reset);
	RUN(test_pool_reset_hung);
	RUN(test_pool_malformed);
	RUN(test_intx_msix_race);
	unlink(disk);
	return UNIT_DONE();
}
