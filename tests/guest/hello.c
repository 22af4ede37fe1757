/* tests/guest/hello.c: prints "hello from guest" on COM1, then ACPI poweroff (vmm exits 0). */
#include "rt.h"

void guest_main(uint64_t zero_page)
{
	puts_com1("hello from guest\n");
	poweroff();
}
