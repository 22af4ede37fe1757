/*
 * hostile: accesses no driver would make, all of which vmm must survive without exiting early:
 * reads and writes of every size to unclaimed MMIO (holes of the memory map, past RAM, the empty
 * PCI window, past the ECAM), odd sizes and offsets at the UART and around the debug-exit register
 * (every read, no write to the register itself: that ends the VM), pvpanic reads, PCI config
 * garbage to functions that do not exist and to the header of those that do, reads across the
 * GIC distributor, ITS and redistributor, unknown hypercalls, MMIO accesses KVM cannot decode
 * (they must end in an external abort of the guest), jumps to MMIO and past RAM (an instruction
 * abort). Run with --debug-exit. Then
 * "survived" and PSCI SYSTEM_OFF (exit 0). An exception ends it with "guest FAIL" (exit 255).
 */
#include "rt.h"

#define UART_LCR 3
#define UART_MCR 4
#define UART_SCR 7
#define ECAM(dev, fn, off) (PCI_ECAM_BASE + ((uintptr_t)(dev) << 15) + ((uintptr_t)(fn) << 12) + (off))

static uint64_t sink;

/* one read and one write of each size (aligned) at a */
static void poke(uintptr_t a, uint64_t v)
{
	sink += r8(a);
	sink += r16(a & ~1ul);
	sink += r32(a & ~3ul);
	sink += r64(a & ~7ul);
	w8(a, (uint8_t)v);
	w16(a & ~1ul, (uint16_t)v);
	w32(a & ~3ul, (uint32_t)v);
	w64(a & ~7ul, v);
}

static void peek_all_sizes(uintptr_t a)
{
	sink += r8(a);
	sink += r16(a & ~1ul);
	sink += r32(a & ~3ul);
	sink += r64(a & ~7ul);
}

static void unclaimed(uint64_t ram_end)
{
	static const uintptr_t holes[] = {
		0x0, 0x1000, 0x04000000, 0x07fffff8, 0x08010000, 0x08070000, 0x08400000,
		0x08ff0000, 0x09003000, 0x09011000, 0x09021000, 0x09030000, 0x0a000000,
		0x10000000, 0x1ffffff8, 0x2ffffff8, 0x30100000, 0x3ffffff8, 0x100000000ul,
		0x7ffffff000ul,
	};
	for (int r = 0; r < 40; r++)
		for (unsigned i = 0; i < sizeof(holes) / sizeof(holes[0]); i++)
			poke(holes[i] + ((uintptr_t)r & 7) * 8, 0xdeadbeefcafef00dull ^ (uint64_t)r);
	/* just past the end of RAM */
	for (int r = 0; r < 8; r++)
		poke(ram_end + (uintptr_t)r * 0x1000, 0x5555aaaa5555aaaaull);
	say("hostile: unclaimed MMIO ok");
}

static void uart(void)
{
	/* every register, every size; writes only where they cannot stop the console */
	for (int off = 0; off < 8; off++)
		peek_all_sizes(UART_BASE + (uintptr_t)off);
	for (uintptr_t off = 8; off < 0x1000; off += 0x1f8)
		poke(UART_BASE + off, 0xffffffffffffffffull);
	w8(UART_BASE + UART_SCR, 0x5a);
	if (r8(UART_BASE + UART_SCR) != 0x5a)
		fail_hex("the UART scratch register does not keep 0x5a:", r8(UART_BASE + UART_SCR));
	w16(UART_BASE + 6, 0x1234);
	w32(UART_BASE + 4, 0);              /* MCR 0 (no loopback), LSR/MSR read-only, SCR 0 */
	w64(UART_BASE + 0, 0);              /* THR 0?, IER 0, FCR 0, LCR 0 ... with one access */
	/* the divisor latch, then back to 8N1 */
	w8(UART_BASE + UART_LCR, 0x80);
	w8(UART_BASE + 0, 1);
	w8(UART_BASE + 1, 0);
	sink += r16(UART_BASE + 0);
	w8(UART_BASE + UART_LCR, 0x03);
	w8(UART_BASE + 1, 0);               /* IER: no interrupts */
	w8(UART_BASE + UART_MCR, 0x03);
	putc('\n');                             /* whatever the wide THR writes printed ends here */
	say("hostile: UART ok");
}

static void exit_devices(void)
{
	/* every read of the debug-exit register (no write: that is the exit) and writes around it */
	for (int off = 0; off < 4; off++)
		sink += r8(DEBUG_EXIT_BASE + (uintptr_t)off);
	sink += r16(DEBUG_EXIT_BASE) + r16(DEBUG_EXIT_BASE + 2);
	sink += r32(DEBUG_EXIT_BASE);
	sink += r64(DEBUG_EXIT_BASE);
	sink += r64(DEBUG_EXIT_BASE + 8);
	w32(DEBUG_EXIT_BASE + 4, 0x21);
	w64(DEBUG_EXIT_BASE + 8, 0x21);
	w8(DEBUG_EXIT_BASE + 0xfff, 0x21);
	w32(DEBUG_EXIT_BASE - 4, 0x21);
	/* pvpanic: reads only (a write of 1 is a panic) */
	peek_all_sizes(PVPANIC_BASE);
	peek_all_sizes(PVPANIC_BASE + 1);
	say("hostile: exit devices ok");
}

static void pci(void)
{
	int present = 0;
	uint32_t bad = 0;

	for (int dev = 0; dev < 32; dev++)
		for (int fn = 0; fn < 8; fn++) {
			uint32_t id = r32(ECAM(dev, fn, 0));
			if (id != 0xffffffff) {
				present++;
				puts("hostile: pci 00:");
				put_hex((uint64_t)dev);
				putc('.');
				put_dec((uint64_t)fn);
				puts(" id ");
				put_hex(id);
				putc('\n');
				continue;
			}
			/* garbage config writes to a function that does not exist, then it must still read as absent */
			for (uintptr_t off = 0; off < 0x100; off += 4)
				w32(ECAM(dev, fn, off), 0xa5a5a5a5u ^ (uint32_t)off);
			w16(ECAM(dev, fn, 4), 0xffff);
			w8(ECAM(dev, fn, 0x3c), 0xff);
			w32(ECAM(dev, fn, 0xffc), 0xffffffff);
			if (r32(ECAM(dev, fn, 0)) != 0xffffffff || r16(ECAM(dev, fn, 2)) != 0xffff)
				bad++;
		}
	if (bad)
		fail_hex("absent functions that read as present after config writes:", bad);
	/* the header of the functions that exist: every register, garbage, then command 0 again */
	for (int dev = 0; dev < 32; dev++)
		for (int fn = 0; fn < 8; fn++) {
			uint32_t id = r32(ECAM(dev, fn, 0));
			if (id == 0xffffffff)
				continue;
			for (uintptr_t off = 0; off < 0x40; off += 4)
				w32(ECAM(dev, fn, off), 0xffffffff);
			for (uintptr_t off = 0x40; off < 0x1000; off += 0x3c)
				poke(ECAM(dev, fn, off), 0x0123456789abcdefull);
			sink += r64(ECAM(dev, fn, 0));
			w64(ECAM(dev, fn, 0x10), 0xffffffffffffffffull);
			w8(ECAM(dev, fn, 0x0d), 0xff);
			w16(ECAM(dev, fn, 0x06), 0xffff);
			for (uintptr_t off = 0x10; off < 0x28; off += 4)
				w32(ECAM(dev, fn, off), 0);
			w16(ECAM(dev, fn, 4), 0);
			if (r32(ECAM(dev, fn, 0)) != id)
				fail_hex("a read-only vendor/device id changed: was", id);
		}
	puts("hostile: pci functions ");
	put_dec((uint64_t)present);
	putc('\n');
	say("hostile: pci ok");
}

static void gic(void)
{
	/* the distributor: a word every 0x10 bytes across its 64 KiB, bytes and halves here and there */
	for (uintptr_t off = 0; off < 0x10000; off += 0x10)
		sink += r32(GICD_BASE + off);
	for (uintptr_t off = 0; off < 0x10000; off += 0x404) {
		sink += r8(GICD_BASE + off);
		sink += r16(GICD_BASE + (off & ~1ul));
		sink += r64(GICD_BASE + (off & ~7ul));
	}
	/* the ITS and CPU 0's redistributor frames: reads only */
	for (uintptr_t off = 0; off < 0x20000; off += 0x100)
		sink += r32(GITS_BASE + off);
	for (uintptr_t off = 0; off < 0x20000; off += 0x100)
		sink += r32(GICR_BASE + off);
	say_hex("hostile: GICD_TYPER", r32(GICD_BASE + 4));
	say("hostile: gic ok");
}

/* An access KVM cannot decode (no syndrome: a load/store pair, writeback) is not an exit vmm can
 * emulate: the guest gets a synchronous external abort (as on hardware), which this guest expects
 * and steps over. vmm must go on. */
static volatile int expect_abort, aborts, iaborts;

void exc_handler(uint64_t type, struct frame *f)
{
	uint64_t esr = sysreg_read(esr_el1);

	/* EC 0x25 (data abort, same EL), DFSC 0x10 (synchronous external abort). Only ESR[31:0]:
	 * Linux 6.1's KVM builds the injected ESR as a sign-extended int (bits 63:32 all ones). */
	if (expect_abort && type == 4 && ((esr >> 26) & 0x3f) == 0x25 && (esr & 0x3f) == 0x10) {
		aborts++;
		f->elr += 4;
		return;
	}
	/* EC 0x21: an instruction abort (a fetch from where there is no RAM): back to the caller */
	if (expect_abort && type == 4 && ((esr >> 26) & 0x3f) == 0x21) {
		iaborts++;
		f->elr = f->x[30];
		return;
	}
	exc_default(type, f);
}

static void no_syndrome(void)
{
	uintptr_t a = 0x0a000000, p = a;
	uint64_t x = 0, y = 0;

	expect_abort = 1;
	__asm__ volatile("ldp %0, %1, [%2]" : "=&r"(x), "=&r"(y) : "r"(a) : "memory");
	__asm__ volatile("stp %0, %0, [%1]" : : "r"(x), "r"(a) : "memory");
	__asm__ volatile("ldr %0, [%1], #8" : "=&r"(x), "+r"(p) : : "memory");
	__asm__ volatile("str %1, [%0, #8]!" : "+r"(p) : "r"(y) : "memory");
	/* a claimed device (the UART's scratch register) and the in-kernel GIC alike */
	__asm__ volatile("ldp %w0, %w1, [%2]" : "=&r"(x), "=&r"(y) : "r"(UART_BASE + 8) : "memory");
	__asm__ volatile("ldp %w0, %w1, [%2]" : "=&r"(x), "=&r"(y) : "r"(GICD_BASE) : "memory");
	expect_abort = 0;
	if (aborts != 6)
		fail_hex("external aborts for 6 accesses without a syndrome:", (uint64_t)aborts);
	say("hostile: accesses without a syndrome ok");
}

/* Code run from MMIO and from past the end of RAM: KVM answers with an instruction abort. */
static void wild_jumps(uint64_t ram_end)
{
	const uintptr_t to[] = { 0x0a000000, UART_BASE, 0x0, ram_end + 0x10000 };

	expect_abort = 1;
	for (unsigned i = 0; i < sizeof(to) / sizeof(to[0]); i++)
		__asm__ volatile("blr %0" : : "r"(to[i]) : "x30", "memory");
	expect_abort = 0;
	if (iaborts != 4)
		fail_hex("instruction aborts for 4 jumps outside RAM:", (uint64_t)iaborts);
	say("hostile: jumps outside RAM ok");
}

static void hypercalls(void)
{
	static const uint64_t ids[] = { 0x84000099, 0xc4000099, 0x12345678, 0xffffffff, 0 };
	for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		long r = psci(ids[i], 1, 2, 3);
		if (r != -1) {
			puts("guest FAIL: hvc #0 with unknown function ");
			put_hex(ids[i]);
			puts(" answered ");
			put_hex((uint64_t)r);
			say(", not NOT_SUPPORTED (-1)");
		}
	}
	say("hostile: hypercalls ok");
}

int main(void)
{
	const void *fdt = (const void *)boot_state.x[0];
	uint64_t base = RAM_BASE, size = 0x10000000;

	if (fdt_ok(fdt))
		fdt_memory(fdt, &base, &size);
	say("hostile: start");
	unclaimed(base + size);
	uart();
	exit_devices();
	pci();
	gic();
	hypercalls();
	no_syndrome();
	wild_jumps(base + size);
	say("survived");
	system_off();
}
