/* tests/unit/test_ioapic.c: the IOAPIC state machine driven through its MMIO window, with a recording MSI sink. */
#include <pthread.h>
#include <unistd.h>

#include "apic/apic.h"
#include "unit.h"

#define MAXSENT 4096
static struct { uint64_t addr; uint32_t data; } sent[MAXSENT];
static int nsent;
static struct { uint64_t addr; uint32_t data; int calls; } routes[IOAPIC_PINS];
static int nroute_calls;

static void rec_send(void *opaque, uint64_t addr, uint32_t data)
{
	(void)opaque;
	if (nsent < MAXSENT) {
		sent[nsent].addr = addr;
		sent[nsent].data = data;
	}
	nsent++;
}

static void rec_route(void *opaque, unsigned pin, uint64_t addr, uint32_t data)
{
	(void)opaque;
	if (pin < IOAPIC_PINS) {
		routes[pin].addr = addr;
		routes[pin].data = data;
		routes[pin].calls++;
	}
	nroute_calls++;
}

static struct ioapic *fresh(void)
{
	nsent = 0;
	nroute_calls = 0;
	memset(routes, 0, sizeof(routes));
	return ioapic_create(rec_send, NULL);
}

static void wr(struct ioapic *io, uint64_t off, uint32_t v)
{
	uint64_t val = v;
	ioapic_mmio(io, off, &val, 4, true);
}

static uint32_t rd(struct ioapic *io, uint64_t off)
{
	uint64_t val = 0xdeadbeefcafef00dull;
	ioapic_mmio(io, off, &val, 4, false);
	return (uint32_t)val;
}

static void reg_w(struct ioapic *io, uint32_t idx, uint32_t v)
{
	wr(io, 0x00, idx);
	wr(io, 0x10, v);
}

static uint32_t reg_r(struct ioapic *io, uint32_t idx)
{
	wr(io, 0x00, idx);
	return rd(io, 0x10);
}

/* Program a redirection entry the way Linux does: high dword, then low. */
static void rte(struct ioapic *io, unsigned pin, uint32_t lo, uint32_t hi)
{
	reg_w(io, 0x10 + 2 * pin + 1, hi);
	reg_w(io, 0x10 + 2 * pin, lo);
}

#define MASKED (1u << 16)
#define LEVEL  (1u << 15)
#define RIRR   (1u << 14)
#define ACTLOW (1u << 13)
#define LOGICAL (1u << 11)

static void test_id_ver_arb(void)
{
	struct ioapic *io = fresh();

	CHECK(reg_r(io, 0) == (uint32_t)IOAPIC_ID << 24);
	CHECK(reg_r(io, 1) == 0x00170020);
	CHECK(reg_r(io, 2) == (uint32_t)IOAPIC_ID << 24);
	reg_w(io, 0, 0x0a000000);
	CHECK(reg_r(io, 0) == 0x0a000000);
	CHECK(reg_r(io, 2) == 0x0a000000);
	reg_w(io, 0, 0xffffffff);
	CHECK(reg_r(io, 0) == 0x0f000000);
	reg_w(io, 1, 0);             /* VER and ARB are read-only */
	reg_w(io, 2, 0x05000000);
	CHECK(reg_r(io, 1) == 0x00170020);
	CHECK(reg_r(io, 2) == 0x0f000000);
	wr(io, 0x00, 0x1234);        /* IOREGSEL keeps 8 bits */
	CHECK(rd(io, 0x00) == 0x34);
	ioapic_destroy(io);
}

static void test_redirection_reset_and_bits(void)
{
	struct ioapic *io = fresh();

	for (unsigned p = 0; p < IOAPIC_PINS; p++) {
		CHECK(reg_r(io, 0x10 + 2 * p) == MASKED);
		CHECK(reg_r(io, 0x11 + 2 * p) == 0);
	}
	/* All writable bits; ExtINT so that the level bit does not arm remote IRR. */
	reg_w(io, 0x10, 0xffffffff);
	CHECK(reg_r(io, 0x10) == 0x1afff);  /* delivery status, remote IRR, reserved read 0 */
	reg_w(io, 0x11, 0xffffffff);
	CHECK(reg_r(io, 0x11) == 0xfffe0000); /* dest 63:56, ext dest 55:49 */
	CHECK(nsent == 0);
	/* The last entry is 0x3e/0x3f; 0x40 is past the table. */
	rte(io, 23, 0x21 | MASKED, 0x07000000);
	CHECK(reg_r(io, 0x3e) == (0x21 | MASKED));
	CHECK(reg_r(io, 0x3f) == 0x07000000);
	ioapic_destroy(io);
}

static void test_bad_register_index(void)
{
	struct ioapic *io = fresh();

	CHECK(reg_r(io, 3) == 0);
	CHECK(reg_r(io, 0x0f) == 0);
	CHECK(reg_r(io, 0x40) == 0);
	CHECK(reg_r(io, 0xff) == 0);
	reg_w(io, 0x40, 0xffffffff);
	reg_w(io, 0xff, 0xffffffff);
	reg_w(io, 3, 0xffffffff);
	CHECK(reg_r(io, 0x40) == 0 && reg_r(io, 3) == 0);
	CHECK(reg_r(io, 0x3f) == 0);
	CHECK(nsent == 0);
	ioapic_destroy(io);
}

static void test_odd_accesses(void)
{
	struct ioapic *io = fresh();
	uint64_t v;

	wr(io, 0x00, 1);
	v = 0x55; ioapic_mmio(io, 0x10, &v, 1, false); CHECK(v == 0);
	v = 0x55; ioapic_mmio(io, 0x10, &v, 2, false); CHECK(v == 0);
	v = 0x55; ioapic_mmio(io, 0x10, &v, 8, false); CHECK(v == 0);
	v = 0x55; ioapic_mmio(io, 0x11, &v, 4, false); CHECK(v == 0);
	v = 0x55; ioapic_mmio(io, 0x12, &v, 4, false); CHECK(v == 0);
	v = 2; ioapic_mmio(io, 0x00, &v, 1, true);   /* ignored: IOREGSEL stays 1 */
	v = 2; ioapic_mmio(io, 0x00, &v, 8, true);
	v = 2; ioapic_mmio(io, 0x01, &v, 4, true);
	CHECK(rd(io, 0x00) == 1);
	CHECK(rd(io, 0x10) == 0x00170020);
	reg_w(io, 0x10, 0x30);                          /* unmask pin 0 */
	v = 0; ioapic_mmio(io, 0x10, &v, 2, true);      /* a 2-byte write must not touch it */
	CHECK(reg_r(io, 0x10) == 0x30);
	CHECK(rd(io, 0x20) == 0);                       /* unused offsets */
	CHECK(rd(io, 0x40) == 0);                       /* EOI register is write-only */
	CHECK(rd(io, 0xffc) == 0);
	wr(io, 0x20, 0xffffffff);
	wr(io, 0xffc, 0xffffffff);
	CHECK(reg_r(io, 0x10) == 0x30 && nsent == 0);
	ioapic_destroy(io);
}

static void test_edge(void)
{
	struct ioapic *io = fresh();

	rte(io, 4, 0x31, 0);
	CHECK(nsent == 0);
	ioapic_set_irq(io, 4, 1);
	CHECK(nsent == 1 && sent[0].addr == 0xfee00000 && sent[0].data == 0x31);
	ioapic_set_irq(io, 4, 1);   /* no edge */
	CHECK(nsent == 1);
	ioapic_set_irq(io, 4, 0);
	CHECK(nsent == 1);
	ioapic_set_irq(io, 4, 1);
	CHECK(nsent == 2);
	CHECK((reg_r(io, 0x18) & RIRR) == 0);   /* edge never sets remote IRR */
	ioapic_eoi(io, 0x31);
	CHECK(nsent == 2);
	ioapic_set_irq(io, 4, 0);
	ioapic_destroy(io);
}

static void test_masked_edge_latched(void)
{
	struct ioapic *io = fresh();

	rte(io, 3, 0x33 | MASKED, 0);
	ioapic_set_irq(io, 3, 1);
	ioapic_set_irq(io, 3, 0);
	ioapic_set_irq(io, 3, 1);
	CHECK(nsent == 0);
	rte(io, 3, 0x33, 0);                   /* unmask: the latched edge is delivered once */
	CHECK(nsent == 1 && sent[0].data == 0x33);
	rte(io, 3, 0x33, 0);
	CHECK(nsent == 1);
	ioapic_set_irq(io, 3, 0);
	ioapic_set_irq(io, 3, 1);
	CHECK(nsent == 2);
	ioapic_destroy(io);
}

static void test_level_remote_irr(void)
{
	struct ioapic *io = fresh();

	rte(io, 10, 0x40 | LEVEL, 0x01000000);
	CHECK(nsent == 0);
	ioapic_set_irq(io, 10, 1);
	CHECK(nsent == 1 && sent[0].addr == 0xfee01000 && sent[0].data == (0x40 | 0xc000));
	CHECK(reg_r(io, 0x10 + 20) & RIRR);
	ioapic_set_irq(io, 10, 1);             /* still asserted, remote IRR set */
	CHECK(nsent == 1);
	ioapic_eoi(io, 0x41);                  /* another vector: nothing */
	CHECK(nsent == 1 && (reg_r(io, 0x24) & RIRR));
	ioapic_eoi(io, 0x40);                  /* still asserted: re-fire */
	CHECK(nsent == 2 && (reg_r(io, 0x24) & RIRR));
	ioapic_set_irq(io, 10, 0);
	CHECK(nsent == 2 && (reg_r(io, 0x24) & RIRR));
	ioapic_eoi(io, 0x40);
	CHECK(nsent == 2 && !(reg_r(io, 0x24) & RIRR));
	ioapic_eoi(io, 0x40);                  /* stray EOI */
	CHECK(nsent == 2);
	ioapic_set_irq(io, 10, 1);
	CHECK(nsent == 3);
	reg_w(io, 0x24, 0x40 | LEVEL | RIRR);   /* remote IRR is read-only */
	CHECK(reg_r(io, 0x24) & RIRR);
	ioapic_destroy(io);
}

static void test_eoi_register(void)
{
	struct ioapic *io = fresh();

	rte(io, 11, 0x51 | LEVEL, 0);
	rte(io, 12, 0x51 | LEVEL, 0);          /* shared vector */
	rte(io, 13, 0x52 | LEVEL, 0);
	ioapic_set_irq(io, 11, 1);
	ioapic_set_irq(io, 12, 1);
	ioapic_set_irq(io, 13, 1);
	CHECK(nsent == 3);
	ioapic_set_irq(io, 11, 0);
	wr(io, 0x40, 0x51);                    /* directed EOI: clears both 0x51 entries */
	CHECK(!(reg_r(io, 0x26) & RIRR));
	CHECK(reg_r(io, 0x28) & RIRR);         /* pin 12 still asserted: re-fired */
	CHECK(nsent == 4 && sent[3].data == (0x51 | 0xc000));
	CHECK(reg_r(io, 0x2a) & RIRR);         /* other vector untouched */
	wr(io, 0x40, 0xffffff52);              /* only the low 8 bits are the vector */
	CHECK(nsent == 5 && sent[4].data == (0x52 | 0xc000));
	ioapic_destroy(io);
}

static void test_active_low(void)
{
	struct ioapic *io = fresh();

	/* Level, active low, wire idle at 0 = asserted: unmasking fires at once. */
	rte(io, 16, 0x60 | LEVEL | ACTLOW | MASKED, 0);
	CHECK(nsent == 0);
	ioapic_set_irq(io, 16, 1);             /* wire high = deasserted */
	rte(io, 16, 0x60 | LEVEL | ACTLOW, 0);
	CHECK(nsent == 0);
	ioapic_set_irq(io, 16, 0);             /* wire low = asserted */
	CHECK(nsent == 1 && sent[0].data == (0x60 | 0xc000));
	ioapic_set_irq(io, 16, 1);
	ioapic_eoi(io, 0x60);
	CHECK(nsent == 1 && !(reg_r(io, 0x30) & RIRR));
	/* Edge, active low: the falling wire edge fires. */
	rte(io, 17, 0x61 | ACTLOW, 0);
	ioapic_set_irq(io, 17, 1);
	CHECK(nsent == 1);
	ioapic_set_irq(io, 17, 0);
	CHECK(nsent == 2 && sent[1].data == 0x61);
	ioapic_set_irq(io, 17, 1);
	CHECK(nsent == 2);
	ioapic_destroy(io);
}

static void test_unmask_while_asserted(void)
{
	struct ioapic *io = fresh();

	rte(io, 9, 0x45 | LEVEL | MASKED, 0);
	ioapic_set_irq(io, 9, 1);
	CHECK(nsent == 0 && !(reg_r(io, 0x22) & RIRR));
	rte(io, 9, 0x45 | LEVEL, 0);
	CHECK(nsent == 1 && (reg_r(io, 0x22) & RIRR));
	/* Mask with remote IRR set, EOI, unmask: fires again since still asserted. */
	rte(io, 9, 0x45 | LEVEL | MASKED, 0);
	ioapic_eoi(io, 0x45);
	CHECK(nsent == 1 && !(reg_r(io, 0x22) & RIRR));
	rte(io, 9, 0x45 | LEVEL, 0);
	CHECK(nsent == 2);
	/* Level to edge clears remote IRR. */
	rte(io, 9, 0x45, 0);
	CHECK(!(reg_r(io, 0x22) & RIRR));
	ioapic_destroy(io);
}

static void test_msi_encoding(void)
{
	struct ioapic *io = fresh();

	rte(io, 1, 0x33, 0x12000000);                      /* physical, fixed, edge */
	ioapic_set_irq(io, 1, 1);
	CHECK(sent[0].addr == 0xfee12000 && sent[0].data == 0x33);
	rte(io, 2, 0x34 | 1u << 8 | LOGICAL | LEVEL, 0x0f000000); /* logical, lowest prio, level */
	ioapic_set_irq(io, 2, 1);
	CHECK(sent[1].addr == 0xfee0f004 && sent[1].data == (0x34 | 0x100 | 0xc000));
	rte(io, 5, 0x02 | 4u << 8, 0x03000000);            /* NMI */
	ioapic_set_irq(io, 5, 1);
	CHECK(sent[2].addr == 0xfee03000 && sent[2].data == 0x402);
	rte(io, 6, 0x00 | 4u << 8 | LEVEL, 0);             /* NMI marked level: no remote IRR */
	ioapic_set_irq(io, 6, 1);
	CHECK(nsent == 4 && sent[3].data == 0x400 && !(reg_r(io, 0x1c) & RIRR));
	rte(io, 7, 0x35, 0x34000000 | 5u << 17);           /* extended destination ID 0x534 */
	ioapic_set_irq(io, 7, 1);
	CHECK(sent[4].addr == (0xfee34000 | 5u << 5) && sent[4].data == 0x35);
	rte(io, 8, 0x36 | 7u << 8, 0);                     /* ExtINT passes through */
	ioapic_set_irq(io, 8, 1);
	CHECK(nsent == 6 && sent[5].data == 0x736);
	rte(io, 14, 0x37 | 3u << 8, 0);                    /* reserved delivery mode: dropped */
	ioapic_set_irq(io, 14, 1);
	CHECK(nsent == 6);
	ioapic_destroy(io);
}

static void test_bad_pin(void)
{
	struct ioapic *io = fresh();

	ioapic_set_irq(io, IOAPIC_PINS, 1);
	ioapic_set_irq(io, 1000, 1);
	ioapic_set_irq(io, ~0u, 1);
	CHECK(nsent == 0);
	ioapic_destroy(io);
}

static void test_route_hook(void)
{
	struct ioapic *io = fresh();

	ioapic_set_route_hook(io, rec_route);
	CHECK(nroute_calls == IOAPIC_PINS);
	CHECK(routes[0].addr == 0xfee00000 && routes[23].calls == 1);
	rte(io, 4, 0x41 | LEVEL, 0x02000000);
	CHECK(routes[4].addr == 0xfee02000 && routes[4].data == (0x41 | 0xc000));
	rte(io, 4, 0x41, 0x02000000);
	CHECK(routes[4].data == 0x41);
	ioapic_destroy(io);
}

/* A hostile guest gets at most 8 lines plus one "not logged" line (run first: guest_warn allows 10/s). */
static void test_warn_cap(void)
{
	struct ioapic *io = fresh();
	FILE *t = tmpfile();
	int saved = dup(2), lines = 0, c;
	uint64_t v = 0;

	CHECK(t && saved >= 0);
	fflush(stderr);
	dup2(fileno(t), 2);
	for (int i = 0; i < 500; i++) {
		ioapic_mmio(io, 0x10, &v, 1, false);
		ioapic_mmio(io, 0x13, &v, 4, true);
	}
	rte(io, 23, 0x50 | 3u << 8, 0);
	for (int i = 0; i < 100; i++) {
		ioapic_set_irq(io, 23, 1);
		ioapic_set_irq(io, 23, 0);
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(t);
	while ((c = fgetc(t)) != EOF)
		lines += c == '\n';
	fclose(t);
	CHECK(lines == 9);
	CHECK(nsent == 0);
	ioapic_destroy(io);
}

struct hammer { struct ioapic *io; unsigned pin; };

static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < 500; i++) {
		ioapic_set_irq(h->io, h->pin, 1);
		ioapic_set_irq(h->io, h->pin, 0);
		ioapic_eoi(h->io, 0x70);
	}
	return NULL;
}

static void test_threads(void)
{
	struct ioapic *io = fresh();
	struct hammer h[4];
	pthread_t t[4];

	for (unsigned i = 0; i < 4; i++) {
		rte(io, i, 0x71 + i, 0);
		h[i].io = io;
		h[i].pin = i;
	}
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, hammer_fn, &h[i]) == 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK(nsent == 4 * 500);
	ioapic_destroy(io);
}

int main(void)
{
	RUN(test_warn_cap);
	RUN(test_id_ver_arb);
	RUN(test_redirection_reset_and_bits);
	RUN(test_bad_register_index);
	RUN(test_odd_accesses);
	RUN(test_edge);
	RUN(test_masked_edge_latched);
	RUN(test_level_remote_irr);
	RUN(test_eoi_register);
	RUN(test_active_low);
	RUN(test_unmask_while_asserted);
	RUN(test_msi_encoding);
	RUN(test_bad_pin);
	RUN(test_route_hook);
	RUN(test_threads);
	return UNIT_DONE();
}
