/* tests/fuzz/fuzz_ioapic.c: libFuzzer harness for the IOAPIC: IOREGSEL/IOWIN/EOI accesses interleaved with pin changes and EOIs. */
/*
 * Build: clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *        tests/fuzz/fuzz_ioapic.c apic/ioapic.c log.c -o build/fuzz/fuzz_ioapic
 * Input: 6-byte operations (kind, argument, 32-bit value) on a fresh IOAPIC.
 * Checked besides memory safety: every MSI sent or routed is an interrupt
 * message with a defined delivery mode, and at the end every
 * redirection entry reads back with its reserved bits clear and no remote IRR
 * on an edge-triggered entry.
 */
#include <stdlib.h>
#include <string.h>

#include "apic/apic.h"
#include "le.h"

static void send(void *opaque, uint64_t addr, uint32_t data)
{
	unsigned dm = (data >> 8) & 7;

	(void)opaque;
	if ((addr & 0xFFF00000u) != LAPIC_ADDR || addr >> 32 || dm == 3 || dm == 6 || data >> 16)
		__builtin_trap();
}

static void route(void *opaque, unsigned pin, uint64_t addr, uint32_t data)
{
	(void)opaque;
	(void)data;
	if (pin >= IOAPIC_PINS || (addr & 0xFFF00000u) != LAPIC_ADDR)
		__builtin_trap();
}

static uint32_t mmio(struct ioapic *io, unsigned off, unsigned size, bool wr, uint32_t val)
{
	uint64_t v = val;
	ioapic_mmio(io, off, &v, size, wr);
	return (uint32_t)v;
}

/* Every redirection entry through IOREGSEL/IOWIN; IOREGSEL is put back. */
static void check_entries(struct ioapic *io)
{
	uint32_t sel = mmio(io, 0x00, 4, false, 0);

	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		mmio(io, 0x00, 4, true, 0x10 + 2 * pin);
		uint32_t lo = mmio(io, 0x10, 4, false, 0);
		mmio(io, 0x00, 4, true, 0x11 + 2 * pin);
		uint32_t hi = mmio(io, 0x10, 4, false, 0);
		if (lo >> 17 || (hi & 0x1FFFF) || (!(lo & (1u << 15)) && (lo & (1u << 14))))
			__builtin_trap();
	}
	mmio(io, 0x00, 4, true, sel);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct ioapic *io = ioapic_create(send, NULL);

	if (!io)
		abort();
	if (n & 1)
		ioapic_set_route_hook(io, route);
	for (size_t off = 0; off + 6 <= n; off += 6) {
		const uint8_t *p = data + off;
		uint32_t v = get_le32(p + 2);
		switch (p[0] & 7) {
		case 0:   /* select a register, then write it through IOWIN */
			mmio(io, 0x00, 4, true, p[1]);
			mmio(io, 0x10, 4, true, v);
			break;
		case 1:   /* select, then read back */
			mmio(io, 0x00, 4, true, p[1]);
			if (p[1] == 0x01 && mmio(io, 0x10, 4, false, 0) != 0x00170020)
				__builtin_trap();   /* the version register is constant */
			else
				mmio(io, 0x10, 4, false, 0);
			break;
		case 2:   /* any access to the window: odd offsets and sizes included */
			mmio(io, p[1] & 0x7F, 1u << ((p[0] >> 3) & 3), p[0] & 0x20, v);
			break;
		case 3:   /* the EOI register */
			mmio(io, 0x40, 4, true, p[1]);
			break;
		case 4:   /* a device drives a pin (out-of-range pins included) */
		case 5:
			ioapic_set_irq(io, p[1] % 32, (int)(v & 1));
			break;
		case 6:   /* KVM_EXIT_IOAPIC_EOI */
			ioapic_eoi(io, p[1]);
			break;
		default:   /* a pulse */
			ioapic_set_irq(io, p[1] % 24, 1);
			ioapic_set_irq(io, p[1] % 24, 0);
		}
	}
	check_entries(io);
	ioapic_destroy(io);
	return 0;
}
