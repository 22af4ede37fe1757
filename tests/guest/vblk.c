/* tests/guest/vblk.c: a virtio-blk driver (virtio 1.2, PCI modern, MSI-X, polled split ring): I/O, then broken rings vmm must contain. */
#include "rt.h"

#define VEC_QUEUE   0x47
#define VEC_CONFIG  0x48
#define QSIZE       16
#define SECTOR      512
/* common configuration (virtio 1.2 4.1.4.3) */
#define CC_DFSELECT 0
#define CC_DF       4
#define CC_GFSELECT 8
#define CC_GF       12
#define CC_MSIX     16
#define CC_STATUS   20
#define CC_QSELECT  22
#define CC_QSIZE    24
#define CC_QMSIX    26
#define CC_QENABLE  28
#define CC_QNOTIFY  30
#define CC_QDESC    32
#define CC_QDRIVER  40
#define CC_QDEVICE  48
#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40
#define D_NEXT 1
#define D_WRITE 2
#define NO_VECTOR 0xFFFF

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct blk_req { uint32_t type, reserved; uint64_t sector; };

static struct {
	struct desc d[QSIZE];
	uint16_t avail[3 + QSIZE] __attribute__((aligned(2)));     /* flags, idx, ring[], used_event */
	uint32_t used[1 + 2 * QSIZE + 1] __attribute__((aligned(4))); /* flags|idx, {id,len}[], avail_event */
} ring __attribute__((aligned(4096)));
static struct blk_req hdr;
static uint8_t buf[SECTOR], status;
static uint16_t used_seen;

static unsigned pci_dev;                  /* device number on bus 0 */
static uintptr_t common, notify, devcfg;  /* guest-physical, identity mapped */
static uint32_t notify_mult, apic_id;
static volatile unsigned queue_irqs, config_irqs;
static bool failed;

static void note(const char *what, uint64_t v)
{
	puts_com1("guest FAIL: vblk: ");
	putkv(what, v);
	failed = true;
}

/* ---- PCI configuration space through ports 0xCF8/0xCFC ---- */
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }

static uint32_t cfg_read32(unsigned dev, unsigned reg)
{
	outl(0xCF8, 0x80000000u | dev << 11 | (reg & 0xFC));
	return inl(0xCFC);
}
static uint8_t cfg_read8(unsigned dev, unsigned reg)
{
	return (uint8_t)(cfg_read32(dev, reg) >> (8 * (reg & 3)));
}
static void cfg_write16(unsigned dev, unsigned reg, uint16_t v)
{
	outl(0xCF8, 0x80000000u | dev << 11 | (reg & 0xFC));
	outw((uint16_t)(0xCFC + (reg & 2)), v);
}

/* ---- MMIO of the natural width ---- */
static uint8_t rd8(uintptr_t a) { return *(volatile uint8_t *)a; }
static uint16_t rd16(uintptr_t a) { return *(volatile uint16_t *)a; }
static uint32_t rd32(uintptr_t a) { return *(volatile uint32_t *)a; }
static void wr8(uintptr_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static void wr16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static void wr32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static void wr64(uintptr_t a, uint64_t v) { wr32(a, (uint32_t)v); wr32(a + 4, (uint32_t)(v >> 32)); }
static void mb(void) { __asm__ volatile("mfence" ::: "memory"); }

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void queue_isr(struct frame *f) { queue_irqs++; x2apic_eoi(); }
static void config_isr(struct frame *f) { config_irqs++; x2apic_eoi(); }

/* The address in BAR `bar` of our device (64-bit memory BARs allowed). */
static uintptr_t bar_addr(unsigned bar)
{
	uint32_t lo = cfg_read32(pci_dev, 0x10 + 4 * bar);
	uint64_t a = lo & ~0xFull;

	if ((lo & 6) == 4)
		a |= (uint64_t)cfg_read32(pci_dev, 0x14 + 4 * bar) << 32;
	if (a == 0 || a >= 0x100000000ull)
		fail("vblk: BAR unassigned or above 4 GiB (outside the identity map)");
	return (uintptr_t)a;
}

static bool find_device(void)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		if (cfg_read32(dev, 0) == (0x1042u << 16 | 0x1AF4u)) {
			pci_dev = dev;
			return true;
		}
	}
	return false;
}

/* Walk the capability list: virtio structures (vendor 0x09) and MSI-X (0x11). */
static void find_caps(void)
{
	unsigned msix = 0;

	for (unsigned c = cfg_read8(pci_dev, 0x34) & 0xFC, n = 0; c && n < 48; c = cfg_read8(pci_dev, c + 1) & 0xFC, n++) {
		uint8_t id = cfg_read8(pci_dev, c), type = cfg_read8(pci_dev, c + 3);
		uintptr_t at;

		if (id == 0x11)
			msix = c;
		if (id != 0x09 || type < 1 || type > 4)
			continue;
		at = bar_addr(cfg_read8(pci_dev, c + 4)) + cfg_read32(pci_dev, c + 8);
		if (type == 1)
			common = at;
		else if (type == 2) {
			notify = at;
			notify_mult = cfg_read32(pci_dev, c + 16);
		} else if (type == 4)
			devcfg = at;
	}
	if (!common || !notify || !devcfg || !msix)
		fail("vblk: missing common/notify/device capability or MSI-X");
	cfg_write16(pci_dev, 4, (uint16_t)(cfg_read32(pci_dev, 4) | 6));   /* memory space, bus master */
	/* MSI-X table entry 0: config changes; entry 1: queue 0. Fixed delivery to us. */
	uint32_t tbl = cfg_read32(pci_dev, msix + 4);
	uintptr_t t = bar_addr(tbl & 7) + (tbl & ~7u);
	for (unsigned e = 0; e < 2; e++) {
		wr32(t + 16 * e, 0xFEE00000u | apic_id << 12);
		wr32(t + 16 * e + 4, 0);
		wr32(t + 16 * e + 8, e ? VEC_QUEUE : VEC_CONFIG);
		wr32(t + 16 * e + 12, 0);
	}
	/* enable, function mask off */
	cfg_write16(pci_dev, msix + 2, (uint16_t)(((cfg_read32(pci_dev, msix) >> 16) & ~0x4000u) | 0x8000));
}

static bool wait_until(bool (*cond)(void), uint64_t cycles)
{
	uint64_t t = rdtsc();

	while (!cond()) {
		sti_nop_cli();
		if (rdtsc() - t > cycles)
			return false;
	}
	return true;
}
static bool status_zero(void) { return rd8(common + CC_STATUS) == 0; }
static bool needs_reset(void) { return rd8(common + CC_STATUS) & S_NEEDS_RESET; }
static unsigned irq0, missed_irqs;
static bool queue_irq_came(void) { return queue_irqs != irq0; }
static bool used_moved(void) { mb(); return (uint16_t)(ring.used[0] >> 16) != used_seen; }   /* used->idx */

/* Reset and bring up the device (virtio 1.2 3.1.1), queue 0 with QSIZE entries and MSI-X vectors 0/1. */
static void dev_init(void)
{
	wr8(common + CC_STATUS, 0);
	if (!wait_until(status_zero, 2000000000ull))
		fail("vblk: device_status does not read 0 after reset");
	wr8(common + CC_STATUS, S_ACK);
	wr8(common + CC_STATUS, S_ACK | S_DRIVER);
	wr32(common + CC_DFSELECT, 1);
	if (!(rd32(common + CC_DF) & 1))
		fail("vblk: device does not offer VIRTIO_F_VERSION_1");
	wr32(common + CC_GFSELECT, 0);
	wr32(common + CC_GF, 0);
	wr32(common + CC_GFSELECT, 1);
	wr32(common + CC_GF, 1);                  /* VERSION_1 only: no event idx, no indirect */
	wr8(common + CC_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd8(common + CC_STATUS) & S_FEATURES_OK))
		fail("vblk: FEATURES_OK not accepted");
	wr16(common + CC_MSIX, 0);
	if (rd16(common + CC_MSIX) != 0)
		note("config_msix_vector did not take vector 0: ", rd16(common + CC_MSIX));
	wr16(common + CC_QSELECT, 0);
	if (rd16(common + CC_QSIZE) < QSIZE)
		fail("vblk: queue 0 smaller than 16");
	memset(&ring, 0, sizeof(ring));
	used_seen = 0;
	wr16(common + CC_QSIZE, QSIZE);
	wr16(common + CC_QMSIX, 1);
	if (rd16(common + CC_QMSIX) != 1)
		note("queue_msix_vector did not take vector 1: ", rd16(common + CC_QMSIX));
	wr64(common + CC_QDESC, (uintptr_t)ring.d);
	wr64(common + CC_QDRIVER, (uintptr_t)ring.avail);
	wr64(common + CC_QDEVICE, (uintptr_t)ring.used);
	wr16(common + CC_QENABLE, 1);
	wr8(common + CC_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

/* Put head 0 in the avail ring `bump` entries on (1 normally), kick queue 0. */
static void submit(uint16_t head, uint16_t bump)
{
	uint16_t idx = ring.avail[1];

	ring.avail[2 + idx % QSIZE] = head;
	mb();
	ring.avail[1] = (uint16_t)(idx + bump);
	mb();
	wr16(notify + rd16(common + CC_QNOTIFY) * notify_mult, 0);
}

/* A three-descriptor request: header, data, status. Returns the status byte or -1 on timeout. */
static int blk_rw(uint32_t type, uint64_t sector)
{
	hdr = (struct blk_req){ type, 0, sector };
	status = 0xEE;
	ring.d[0] = (struct desc){ (uintptr_t)&hdr, sizeof(hdr), D_NEXT, 1 };
	ring.d[1] = (struct desc){ (uintptr_t)buf, SECTOR, (uint16_t)(D_NEXT | (type == 0 ? D_WRITE : 0)), 2 };
	ring.d[2] = (struct desc){ (uintptr_t)&status, 1, D_WRITE, 0 };
	irq0 = queue_irqs;
	submit(0, 1);
	if (!wait_until(used_moved, 4000000000ull))
		return -1;
	used_seen++;
	/* the used ring first, then the interrupt: wait for it rather than race it */
	if (!wait_until(queue_irq_came, 2000000000ull))
		missed_irqs++;
	return status;
}

static void io_round(void)
{
	static const char pattern[] = "written by the vblk guest";
	uint64_t cap = (uint64_t)rd32(devcfg) | (uint64_t)rd32(devcfg + 4) << 32;
	int s;

	putkv("vblk: capacity (sectors) ", cap);
	if ((s = blk_rw(0, 0)) != 0)
		return note("read of sector 0 failed, status ", (uint64_t)s);
	buf[15] = 0;
	puts_com1("vblk: sector 0 starts '");
	puts_com1((const char *)buf);
	puts_com1("'\n");
	memset(buf, 0, sizeof(buf));
	memcpy(buf, pattern, sizeof(pattern));
	if ((s = blk_rw(1, 1)) != 0)
		return note("write of sector 1 failed, status ", (uint64_t)s);
	memset(buf, 0, sizeof(buf));
	if ((s = blk_rw(0, 1)) != 0 || buf[0] != 'w' || buf[sizeof(pattern) - 2] != 't')
		return note("sector 1 did not read back what was written; status ", (uint64_t)s);
	if ((s = blk_rw(0, cap)) != 1)
		note("read past the capacity: status (want 1 = IOERR) ", (uint64_t)s);
	putkv("vblk: queue interrupts ", queue_irqs);
	if (missed_irqs)
		note("completions without an MSI-X interrupt: ", missed_irqs);
	puts_com1("vblk: io ok\n");
}

/* ---- broken rings: the device must set NEEDS_RESET, raise the config vector, and work after a reset ---- */
static void bad_addr(void) { ring.d[1].addr = 0xFFFFFFFFFFFF0000ull; submit(0, 1); }
static void bad_loop(void) { ring.d[0].next = 0; submit(0, 1); }   /* the header chains to itself */
static void bad_len(void) { ring.d[1].addr = 0x100000; ring.d[1].len = 0xFFFFFFF0u; submit(0, 1); }
static void bad_idx(void) { submit(0, 1000); }

static void case_fail(const char *name, const char *what)
{
	puts_com1("guest FAIL: vblk: ");
	puts_com1(name);
	puts_com1(": ");
	puts_com1(what);
	putc_com1('\n');
	failed = true;
}

static unsigned cfg0;
static bool config_irq_came(void) { return config_irqs != cfg0; }

static void hostile_case(const char *name, void (*breakit)(void), bool must_reset)
{
	cfg0 = config_irqs;

	/* a well-formed read request in the descriptors, then one rule broken */
	hdr = (struct blk_req){ 0, 0, 0 };
	ring.d[0] = (struct desc){ (uintptr_t)&hdr, sizeof(hdr), D_NEXT, 1 };
	ring.d[1] = (struct desc){ (uintptr_t)buf, SECTOR, D_NEXT | D_WRITE, 2 };
	ring.d[2] = (struct desc){ (uintptr_t)&status, 1, D_WRITE, 0 };
	breakit();
	bool nr = wait_until(needs_reset, 2000000000ull);
	if (nr)
		wait_until(config_irq_came, 2000000000ull);   /* status first, then the interrupt */
	puts_com1("vblk: ");
	puts_com1(name);
	puts_com1(nr ? ": NEEDS_RESET" : ": no NEEDS_RESET");
	putkv(", config interrupts ", config_irqs - cfg0);
	if (must_reset && !nr)
		case_fail(name, "device did not set NEEDS_RESET");
	if (nr && config_irqs == cfg0)
		case_fail(name, "NEEDS_RESET without a config interrupt");
	dev_init();
	if (blk_rw(0, 0) != 0)
		case_fail(name, "device does not work after a reset");
}

void guest_main(uint64_t zero_page)
{
	idt_init();
	idt_set_handler(VEC_QUEUE, queue_isr);
	idt_set_handler(VEC_CONFIG, config_isr);
	apic_id = x2apic_enable();
	if (!find_device())
		fail("vblk: no virtio-blk (1af4:1042) on PCI bus 0");
	putkv("vblk: device at 00:", pci_dev);
	find_caps();
	dev_init();
	io_round();
	hostile_case("descriptor outside RAM", bad_addr, true);
	hostile_case("descriptor loop", bad_loop, true);
	hostile_case("huge descriptor", bad_len, true);
	hostile_case("avail idx jumps 1000", bad_idx, false);
	if (failed)
		fail("vblk: see the lines above");
	puts_com1("vblk ok\n");
	poweroff();
}
