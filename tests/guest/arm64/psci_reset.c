/* psci-reset: PSCI SYSTEM_RESET (vmm exits 0: it does not reboot). */
#include "rt.h"

int main(void)
{
	say("psci-reset: SYSTEM_RESET");
	psci(PSCI_SYSTEM_RESET, 0, 0, 0);
	fail("PSCI SYSTEM_RESET returned");
	debug_exit(0x7e);
	halt();
}
