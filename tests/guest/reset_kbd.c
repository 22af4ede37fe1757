/* tests/guest/reset_kbd.c: i8042 pulse-reset command 0xFE on port 0x64: a requested reset, vmm exits 0. */
#include "rt.h"

void guest_main(uint64_t zero_page)
{
	puts_com1("reset-kbd: writing 0xfe to port 0x64\n");
	outb(I8042_CMD, 0xFE);
	halt_forever();
}
