/*
 * hostile: accesses no driver would make, all of which vmm must survive without exiting early:
 * reads and writes of every size to unclaimed MMIO (holes of the memory map, past RAM, the empty
 * PCI window, past the ECAM), odd sizes and offsets at the UART and around the debug-exit register
 * (every read, no write to the register itself: that ends the VM), pvpanic reads, PCI config
 * garbage to functions that do not exist and to the header of those that do, reads across the
 * GIC distributor, ITS and redistributor, unknown hypercalls. Run with --debug-exit. Then
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
	sink += mmio8(a);
	sink += mmio16(a & ~1ul);
	sink += mmio32(a & ~3ul);
	sink += mmio64(a & ~7ul);
	mmio8(a) = (uint8_t)v;
	mmio16(a & ~1ul) = (uint16_t)v;
	mmio32(a & ~3ul) = (uint32_t)v;
	mmio64(a & ~7ul) = v;
}

static void peek_all_sizes(uintptr_t a)
{
	sink += mmio8(a);
	sink += mmio16(a & ~1ul);
	sink += mmio32(a & ~3ul);
	sink += mmio64(a & ~7ul);
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
	mmio8(UART_BASE + UART_SCR) = 0x5a;
	if (mmio8(UART_BASE + UART_SCR) != 0x5a)
		fail_hex("the UART scratch register does not keep 0x5a:", mmio8(UART_BASE + UART_SCR));
	mmio16(UART_BASE + 6) = 0x1234;
	mmio32(UART_BASE + 4) = 0;              /* MCR 0 (no loopback), LSR/MSR read-only, SCR 0 */
	mmio64(UART_BASE + 0) = 0;              /* THR 0?, IER 0, FCR 0, LCR 0 ... with one access */
	/* the divisor latch, then back to 8N1 */
	mmio8(UART_BASE + UART_LCR) = 0x80;
	mmio8(UART_BASE + 0) = 1;
	mmio8(UART_BASE + 1) = 0;
	sink += mmio16(UART_BASE + 0);
	mmio8(UART_BASE + UART_LCR) = 0x03;
	mmio8(UART_BASE + 1) = 0;               /* IER: no interrupts */
	mmio8(UART_BASE + UART_MCR) = 0x03;
	putc('\n');                             /* whatever the wide THR writes printed ends here */
	say("hostile: UART ok");
}

static void exit_devices(void)
{
	/* every read of the debug-exit register (no write: that is the exit) and writes around it */
	for (int off = 0; off < 4; off++)
		sink += mmio8(DEBUG_EXIT_BASE + (uintptr_t)off);
	sink += mmio16(DEBUG_EXIT_BASE) + mmio16(DEBUG_EXIT_BASE + 2);
	sink += mmio32(DEBUG_EXIT_BASE);
	sink += mmio64(DEBUG_EXIT_BASE);
	sink += mmio64(DEBUG_EXIT_BASE + 8);
	mmio32(DEBUG_EXIT_BASE + 4) = 0x21;
	mmio64(DEBUG_EXIT_BASE + 8) = 0x21;
	mmio8(DEBUG_EXIT_BASE + 0xfff) = 0x21;
	mmio32(DEBUG_EXIT_BASE - 4) = 0x21;
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
			uint32_t id = mmio32(ECAM(dev, fn, 0));
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
				mmio32(ECAM(dev, fn, off)) = 0xa5a5a5a5u ^ (uint32_t)off;
			mmio16(ECAM(dev, fn, 4)) = 0xffff;
			mmio8(ECAM(dev, fn, 0x3c)) = 0xff;
			mmio32(ECAM(dev, fn, 0xffc)) = 0xffffffff;
			if (mmio32(ECAM(dev, fn, 0)) != 0xffffffff || mmio16(ECAM(dev, fn, 2)) != 0xffff)
				bad++;
		}
	if (bad)
		fail_hex("absent functions that read as present after config writes:", bad);
	/* the header of the functions that exist: every register, garbage, then command 0 again */
	for (int dev = 0; dev < 32; dev++)
		for (int fn = 0; fn < 8; fn++) {
			uint32_t id = mmio32(ECAM(dev, fn, 0));
			if (id == 0xffffffff)
				continue;
			for (uintptr_t off = 0; off < 0x40; off += 4)
				mmio32(ECAM(dev, fn, off)) = 0xffffffff;
			for (uintptr_t off = 0x40; off < 0x1000; off += 0x3c)
				poke(ECAM(dev, fn, off), 0x0123456789abcdefull);
			sink += mmio64(ECAM(dev, fn, 0));
			mmio64(ECAM(dev, fn, 0x10)) = 0xffffffffffffffffull;
			mmio8(ECAM(dev, fn, 0x0d)) = 0xff;
			mmio16(ECAM(dev, fn, 0x06)) = 0xffff;
			for (uintptr_t off = 0x10; off < 0x28; off += 4)
				mmio32(ECAM(dev, fn, off)) = 0;
			mmio16(ECAM(dev, fn, 4)) = 0;
			if (mmio32(ECAM(dev, fn, 0)) != id)
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
		sink += mmio32(GICD_BASE + off);
	for (uintptr_t off = 0; off < 0x10000; off += 0x404) {
		sink += mmio8(GICD_BASE + off);
		sink += mmio16(GICD_BASE + (off & ~1ul));
		sink += mmio64(GICD_BASE + (off & ~7ul));
	}
	/* the ITS and CPU 0's redistributor frames: reads only */
	for (uintptr_t off = 0; off < 0x20000; off += 0x100)
		sink += mmio32(GITS_BASE + off);
	for (uintptr_t off = 0; off < 0x20000; off += 0x100)
		sink += mmio32(GICR_BASE + off);
	say_hex("hostile: GICD_TYPER", mmio32(GICD_BASE + 4));
	say("hostile: gic ok");
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
	say("survived");
	system_off();
}
