/* tests/guest/hang.c: cli; hlt forever: only vmm's --timeout ends it (exit 124). */
#include "rt.h"

void guest_main(uint64_t zero_page)
{
	puts_com1("hang: halting with interrupts off\n");
	halt_forever();
}
