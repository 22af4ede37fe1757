/* tests/guest/triplefault.c: empty IDT then ud2: #UD -> #GP -> #DF -> shutdown (KVM_EXIT_SHUTDOWN): vmm exits 1. */
#include "rt.h"

void guest_main(uint64_t zero_page)
{
	puts_com1("triplefault: empty IDT, ud2\n");
	triple_fault();
}
