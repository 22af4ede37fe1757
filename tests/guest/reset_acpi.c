/* tests/guest/reset_acpi.c: writes 1 to the ACPI reset register (port 0x602): a requested reset, vmm exits 0. */
#include "rt.h"

void guest_main(uint64_t zero_page)
{
	puts_com1("reset-acpi: writing 1 to port 0x602\n");
	outb(ACPI_PM + 2, 1);
	halt_forever();
}
