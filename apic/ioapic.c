/* apic/ioapic.c: the userspace 82093AA-style IOAPIC (version 0x20): redirection table to MSI, remote IRR, EOI. */
#include <stdlib.h>

#include "apic.h"

#define IOAPIC_VERSION 0x20
#define IOAPIC_VER_REG (((uint32_t)(IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION)

/* MMIO offsets */
#define IOREGSEL 0x00
#define IOWIN    0x10
#define IOEOI    0x40

/* Indirect registers */
#define REG_ID   0x00
#define REG_VER  0x01
#define REG_ARB  0x02
#define REG_RTE0 0x10
#define REG_RTE_END (REG_RTE0 + 2 * IOAPIC_PINS)

/* Redirection entry bits */
#define RTE_VECTOR   0xffull
#define RTE_DM_SHIFT 8
#define RTE_DESTLOG  (1ull << 11)
#define RTE_DELIVS   (1ull << 12)
#define RTE_ACTLOW   (1ull << 13)
#define RTE_RIRR     (1ull << 14)
#define RTE_LEVEL    (1ull << 15)
#define RTE_MASKED   (1ull << 16)
#define RTE_LO_RW    (RTE_VECTOR | 7ull << RTE_DM_SHIFT | RTE_DESTLOG | RTE_ACTLOW | RTE_LEVEL | RTE_MASKED)
#define RTE_HI_RW    0xfffe0000u  /* destination 63:56, extended destination ID 55:49 */

#define WARN_MAX 8   /* a hostile guest gets this many log lines from us, then one "suppressed" line */

/* Delivery modes: 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT; 3 and 6 are reserved. */
#define DM_LOWEST 1
#define DM_RESERVED(dm) ((dm) == 3 || (dm) == 6)

struct ioapic {
	pthread_mutex_t lock;
	msi_send_fn *send;
	ioapic_route_fn *route;
	void *opaque;
	uint32_t regsel;
	uint32_t id;            /* 4-bit IOAPIC ID, register bits 27:24 */
	uint32_t wire;          /* bit per pin: input wire level */
	uint32_t pending;       /* bit per pin: edge latched while masked */
	unsigned warnings;      /* guest faults logged so far (capped at WARN_MAX) */
	uint64_t rte[IOAPIC_PINS];
};

/* Log a guest fault: the first WARN_MAX per IOAPIC, on top of guest_warn's own rate limit. Lock held. */
#define io_warn(io, ...) do { \
	if ((io)->warnings < WARN_MAX) \
		guest_warn(__VA_ARGS__); \
	else if ((io)->warnings == WARN_MAX) \
		guest_warn("ioapic: further guest faults not logged"); \
	if ((io)->warnings <= WARN_MAX) \
		(io)->warnings++; \
} while (0)

static unsigned rte_dm(uint64_t e)
{
	return (e >> RTE_DM_SHIFT) & 7;
}

/* Level semantics (remote IRR, EOI) only exist for fixed and lowest-priority delivery. */
static bool rte_is_level(uint64_t e)
{
	return (e & RTE_LEVEL) && rte_dm(e) <= DM_LOWEST;
}

/* The SDM MSI encoding of an entry; extended destination bits 55:49 go to addr 11:5. */
static void rte_to_msi(uint64_t e, uint64_t *addr, uint32_t *data)
{
	uint64_t dest = e >> 56, ext = (e >> 49) & 0x7f;

	*addr = LAPIC_ADDR | dest << 12 | ext << 5 | ((e & RTE_DESTLOG) ? 1u << 2 : 0);
	*data = (uint32_t)(e & RTE_VECTOR) | rte_dm(e) << 8;
	if (rte_is_level(e))
		*data |= 1u << 15 | 1u << 14;   /* level trigger, assert */
}

static bool pin_asserted(const struct ioapic *io, unsigned pin)
{
	bool wire = (io->wire >> pin) & 1;
	return wire != !!(io->rte[pin] & RTE_ACTLOW);
}

static void deliver(struct ioapic *io, unsigned pin)
{
	uint64_t addr;
	uint32_t data;
	unsigned dm = rte_dm(io->rte[pin]);

	if (DM_RESERVED(dm)) {
		io_warn(io, "ioapic: pin %u uses reserved delivery mode %u", pin, dm);
		return;
	}
	rte_to_msi(io->rte[pin], &addr, &data);
	io->send(io->opaque, addr, data);
}

/* Fire the pin if its state calls for it. Called with the lock held. */
static void service(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->rte[pin];

	if (e & RTE_MASKED)
		return;
	if (rte_is_level(e)) {
		if (!pin_asserted(io, pin) || (e & RTE_RIRR))
			return;
		io->rte[pin] |= RTE_RIRR;
		deliver(io, pin);
	} else if (io->pending & (1u << pin)) {
		io->pending &= ~(1u << pin);
		deliver(io, pin);
	}
}

static void notify_route(struct ioapic *io, unsigned pin)
{
	uint64_t addr;
	uint32_t data;

	if (!io->route)
		return;
	rte_to_msi(io->rte[pin], &addr, &data);
	io->route(io->opaque, pin, addr, data);
}

struct ioapic *ioapic_create(msi_send_fn *send, void *opaque)
{
	struct ioapic *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	pthread_mutex_init(&io->lock, NULL);
	io->send = send;
	io->opaque = opaque;
	io->id = IOAPIC_ID;
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		io->rte[i] = RTE_MASKED;
	return io;
}

void ioapic_set_route_hook(struct ioapic *io, ioapic_route_fn *route)
{
	pthread_mutex_lock(&io->lock);
	io->route = route;
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		notify_route(io, i);
	pthread_mutex_unlock(&io->lock);
}

void ioapic_destroy(struct ioapic *io)
{
	if (!io)
		return;
	pthread_mutex_destroy(&io->lock);
	free(io);
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	bool was;

	if (pin >= IOAPIC_PINS)
		return;
	pthread_mutex_lock(&io->lock);
	was = pin_asserted(io, pin);
	if (level)
		io->wire |= 1u << pin;
	else
		io->wire &= ~(1u << pin);
	if (!rte_is_level(io->rte[pin]) && !was && pin_asserted(io, pin))
		io->pending |= 1u << pin;
	service(io, pin);
	pthread_mutex_unlock(&io->lock);
}

static void eoi_locked(struct ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->rte[pin];

		if (!(e & RTE_RIRR) || (e & RTE_VECTOR) != vector)
			continue;
		io->rte[pin] &= ~RTE_RIRR;
		service(io, pin);
	}
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	eoi_locked(io, vector);
	pthread_mutex_unlock(&io->lock);
}

static uint32_t reg_read(const struct ioapic *io, uint32_t idx)
{
	if (idx == REG_ID || idx == REG_ARB)
		return io->id << 24;
	if (idx == REG_VER)
		return IOAPIC_VER_REG;
	if (idx >= REG_RTE0 && idx < REG_RTE_END) {
		uint64_t e = io->rte[(idx - REG_RTE0) / 2];
		return (uint32_t)(idx & 1 ? e >> 32 : e);
	}
	return 0;   /* Linux probes register 3 on version 0x20; unimplemented reads 0 */
}

static void rte_write(struct ioapic *io, unsigned pin, bool high, uint32_t val)
{
	uint64_t e = io->rte[pin];

	if (high) {
		e = (e & 0xffffffffull) | (uint64_t)(val & RTE_HI_RW) << 32;
	} else {
		e = (e & ~RTE_LO_RW) | (val & RTE_LO_RW);
		if (rte_is_level(e))
			io->pending &= ~(1u << pin);
		else
			e &= ~RTE_RIRR;   /* remote IRR is meaningless for edge entries */
	}
	io->rte[pin] = e;
	notify_route(io, pin);
	if (!high)
		service(io, pin);
}

static void reg_write(struct ioapic *io, uint32_t idx, uint32_t val)
{
	if (idx == REG_ID)
		io->id = (val >> 24) & 0xf;
	else if (idx >= REG_RTE0 && idx < REG_RTE_END)
		rte_write(io, (idx - REG_RTE0) / 2, idx & 1, val);
	/* VER, ARB and unimplemented registers are read-only */
}

void ioapic_mmio(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	struct ioapic *io = opaque;

	if (!is_write)
		*val = 0;
	pthread_mutex_lock(&io->lock);
	if (size != 4 || (off & 3)) {
		io_warn(io, "ioapic: %u-byte %s at +0x%llx ignored", size, is_write ? "write" : "read",
			(unsigned long long)off);
	} else if (off == IOREGSEL) {
		if (is_write)
			io->regsel = (uint32_t)*val & 0xff;
		else
			*val = io->regsel;
	} else if (off == IOWIN) {
		if (is_write)
			reg_write(io, io->regsel, (uint32_t)*val);
		else
			*val = reg_read(io, io->regsel);
	} else if (off == IOEOI && is_write) {
		eoi_locked(io, (uint8_t)*val);
	}
	pthread_mutex_unlock(&io->lock);
}
