/* tests/guest/arm64/rt.c: the runtime of the tiny arm64 guests (see rt.h). With the MMU off every data access is
 * to Device memory: only aligned accesses, no exclusives, no DC ZVA (so no library memset). */
#include "rt.h"

#define UART_THR 0
#define UART_LSR 5
#define LSR_THRE 0x20

void putc(char c)
{
	for (int i = 0; i < 100000 && !(r8(UART_BASE + UART_LSR) & LSR_THRE); i++)
		;
	w8(UART_BASE + UART_THR, (uint8_t)c);
}

void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

void put_hex(uint64_t v)
{
	int i = 60;

	puts("0x");
	while (i > 0 && !(v >> i))
		i -= 4;
	for (; i >= 0; i -= 4)
		putc("0123456789abcdef"[(v >> i) & 0xf]);
}

void put_dec(uint64_t v)
{
	char b[24];
	int n = 0;

	do
		b[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < 24);
	while (n)
		putc(b[--n]);
}

void say(const char *s)
{
	puts(s);
	putc('\n');
}

void say_hex(const char *what, uint64_t v)
{
	puts(what);
	putc(' ');
	put_hex(v);
	putc('\n');
}

void fail(const char *what)
{
	puts("guest FAIL: ");
	say(what);
}

void fail_hex(const char *what, uint64_t v)
{
	puts("guest FAIL: ");
	say_hex(what, v);
}

long psci(uint64_t fn, uint64_t a, uint64_t b, uint64_t c)
{
	register uint64_t x0 __asm__("x0") = fn, x1 __asm__("x1") = a, x2 __asm__("x2") = b, x3 __asm__("x3") = c;

	/* SMCCC 1.0: x4-x17 may be lost across the call */
	__asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : :
			 "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15",
			 "x16", "x17", "memory");
	return (long)x0;
}

void debug_exit(uint32_t v)
{
	dsb();
	w32(DEBUG_EXIT_BASE, v);
	dsb();
}

void system_off(void)
{
	psci(PSCI_SYSTEM_OFF, 0, 0, 0);
	fail("PSCI SYSTEM_OFF returned");
	halt();
}

uint64_t cpu_index_mpidr(void)
{
	return sysreg_read(mpidr_el1) & 0xff00ffffffull;
}

bool streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static bool prefix(const char *s, const char *p)
{
	while (*p && *s == *p)
		s++, p++;
	return !*p;
}

/* ---- the device tree: big-endian, read a byte at a time where alignment is not certain ---- */
uint32_t be32(const void *p)
{
	const volatile uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

uint64_t be64(const void *p)
{
	return (uint64_t)be32(p) << 32 | be32((const uint8_t *)p + 4);
}

#define FDT_MAGIC      0xd00dfeed
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP        4
#define FDT_END        9

bool fdt_ok(const void *fdt)
{
	const uint8_t *h = fdt;

	return ((uintptr_t)fdt & 7) == 0 && be32(h) == FDT_MAGIC && be32(h + 4) >= 40 &&
	       be32(h + 4) <= 0x200000 && be32(h + 8) < be32(h + 4) && be32(h + 12) < be32(h + 4);
}

/*
 * Walk the structure block; for each property, cb(node path depth names, ...). Kept simple: the
 * callers only need nodes at depth 1 and 2 (the root's children and theirs).
 */
struct walk {
	const char *n1, *n2;     /* the current node's names at depth 1 and 2 */
	int depth;
};
typedef void (*prop_cb)(void *ctx, const struct walk *w, const char *name, const uint8_t *val, int len);
typedef void (*node_cb)(void *ctx, const struct walk *w);

static void fdt_walk(const void *fdt, void *ctx, prop_cb pcb, node_cb ncb)
{
	const uint8_t *h = fdt, *s = h + be32(h + 8), *strs = h + be32(h + 12);
	const uint8_t *end = h + be32(h + 4);
	struct walk w = { "", "", -1 };

	while (s + 4 <= end) {
		uint32_t tok = be32(s);
		s += 4;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)s;
			while (s < end && *s)
				s++;
			s = (const uint8_t *)(((uintptr_t)s + 4) & ~3ul);
			w.depth++;
			if (w.depth == 1)
				w.n1 = name, w.n2 = "";
			else if (w.depth == 2)
				w.n2 = name;
			if (ncb)
				ncb(ctx, &w);
		} else if (tok == FDT_END_NODE) {
			w.depth--;
		} else if (tok == FDT_PROP) {
			int len = (int)be32(s);
			const char *name = (const char *)(strs + be32(s + 4));
			s += 8;
			if (pcb)
				pcb(ctx, &w, name, s, len);
			s = (const uint8_t *)(((uintptr_t)s + (uint32_t)len + 3) & ~3ul);
		} else if (tok != FDT_NOP) {
			break;   /* FDT_END or garbage */
		}
	}
}

struct cpus_ctx { uint64_t *mpidr; int max, n; };

static void cpus_node(void *ctx, const struct walk *w)
{
	struct cpus_ctx *c = ctx;

	if (w->depth == 2 && streq(w->n1, "cpus") && prefix(w->n2, "cpu@")) {
		if (c->n < c->max)
			c->mpidr[c->n] = ~0ull;
		c->n++;
	}
}

static void cpus_prop(void *ctx, const struct walk *w, const char *name, const uint8_t *v, int len)
{
	struct cpus_ctx *c = ctx;

	if (w->depth == 2 && streq(w->n1, "cpus") && prefix(w->n2, "cpu@") && streq(name, "reg") &&
	    c->n > 0 && c->n <= c->max)
		c->mpidr[c->n - 1] = len == 8 ? be64(v) : be32(v);
}

int fdt_cpus(const void *fdt, uint64_t *mpidr, int max)
{
	struct cpus_ctx c = { mpidr, max, 0 };

	fdt_walk(fdt, &c, cpus_prop, cpus_node);
	return c.n;
}

struct mem_ctx { uint64_t base, size; bool found; };

static void mem_prop(void *ctx, const struct walk *w, const char *name, const uint8_t *v, int len)
{
	struct mem_ctx *c = ctx;

	if (w->depth == 1 && prefix(w->n1, "memory@") && streq(name, "reg") && len >= 16) {
		c->base = be64(v);
		c->size = be64(v + 8);
		c->found = true;
	}
}

bool fdt_memory(const void *fdt, uint64_t *base, uint64_t *size)
{
	struct mem_ctx c = { 0, 0, false };

	fdt_walk(fdt, &c, mem_prop, 0);
	*base = c.base;
	*size = c.size;
	return c.found;
}

struct chosen_ctx { const char *prop; const void *val; int len; };

static void chosen_prop(void *ctx, const struct walk *w, const char *name, const uint8_t *v, int len)
{
	struct chosen_ctx *c = ctx;

	if (w->depth == 1 && streq(w->n1, "chosen") && streq(name, c->prop))
		c->val = v, c->len = len;
}

const void *fdt_chosen(const void *fdt, const char *prop, int *len)
{
	struct chosen_ctx c = { prop, 0, -1 };

	fdt_walk(fdt, &c, chosen_prop, 0);
	*len = c.len;
	return c.val;
}

/* ---- GICv3 ---- */
#define CTLR_RWP        (1u << 31)
#define WAKER_SLEEP     (1u << 1)
#define WAKER_ASLEEP    (1u << 2)

/* This CPU's redistributor: the one whose GICR_TYPER affinity is our MPIDR's. */
static uintptr_t my_redist(void)
{
	uint64_t m = cpu_index_mpidr();
	uint64_t aff = (m & 0xffffff) | ((m >> 32) & 0xff) << 24;

	for (int i = 0; i < 64; i++) {
		uintptr_t rd = GICR_BASE + (uintptr_t)i * GICR_STRIDE;
		uint64_t t = r64(rd + GICR_TYPER);
		if (t >> 32 == aff)
			return rd;
		if (t & (1u << 4))   /* Last */
			break;
	}
	return 0;
}

uintptr_t gic_cpu_init(int *fails)
{
	uintptr_t rd;
	uint64_t sre;

	sr_wr(ICC_SRE_EL1, sr_rd(ICC_SRE_EL1) | 1);
	isb();
	sre = sr_rd(ICC_SRE_EL1);
	if (!(sre & 1))
		fail_hex("ICC_SRE_EL1.SRE does not stick:", sre), (*fails)++;
	w32(GICD_BASE + GICD_CTLR, (1u << 4) | (1u << 1));   /* ARE, EnableGrp1 */
	for (int i = 0; i < 1000000 && (r32(GICD_BASE + GICD_CTLR) & CTLR_RWP); i++)
		;
	rd = my_redist();
	if (!rd) {
		fail("no redistributor has this CPU's affinity"), (*fails)++;
		return 0;
	}
	w32(rd + GICR_WAKER, r32(rd + GICR_WAKER) & ~WAKER_SLEEP);
	for (int i = 0; i < 1000000 && (r32(rd + GICR_WAKER) & WAKER_ASLEEP); i++)
		;
	if (r32(rd + GICR_WAKER) & WAKER_ASLEEP)
		fail("GICR_WAKER.ChildrenAsleep stays set"), (*fails)++;
	sr_wr(ICC_PMR_EL1, 0xff);
	sr_wr(ICC_BPR1_EL1, 0);
	sr_wr(ICC_IGRPEN1_EL1, 1);
	isb();
	return rd;
}

/* ---- exceptions ---- */
static const char *const vec_names[16] = {
	"sync (SP0)", "IRQ (SP0)", "FIQ (SP0)", "SError (SP0)",
	"sync", "IRQ", "FIQ", "SError",
	"sync (lower EL)", "IRQ (lower EL)", "FIQ (lower EL)", "SError (lower EL)",
	"sync (AArch32)", "IRQ (AArch32)", "FIQ (AArch32)", "SError (AArch32)",
};

void exc_default(uint64_t type, struct frame *f)
{
	puts("guest FAIL: unexpected exception: ");
	puts(vec_names[type & 15]);
	puts(" on CPU ");
	put_hex(cpu_index_mpidr());
	puts(" ESR ");
	put_hex(sysreg_read(esr_el1));
	puts(" ELR ");
	put_hex(f->elr);
	puts(" FAR ");
	put_hex(sysreg_read(far_el1));
	putc('\n');
	debug_exit(0x7f);
	system_off();
}

__attribute__((weak)) void exc_handler(uint64_t type, struct frame *f)
{
	exc_default(type, f);
}

__attribute__((weak)) void secondary_main(uint64_t idx)
{
	fail_hex("a secondary CPU started in a guest without secondary_main: index", idx);
}
