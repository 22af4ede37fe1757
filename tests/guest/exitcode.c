/* tests/guest/exitcode.c: writes 0x21 to the debug-exit port; with --debug-exit vmm exits (0x21 << 1) | 1 = 0x43. */
#include "rt.h"

void guest_main(uint64_t zero_page)
{
	puts_com1("exitcode: writing 0x21 to port 0xf4\n");
	outb(DEBUG_EXIT, 0x21);
	halt_forever();   /* vmm stops the vCPU; if it does not, the test times out */
}
