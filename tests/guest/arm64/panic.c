/* panic: pvpanic-mmio: a read shows the events it takes, a write of PANICKED ends vmm with status 3. */
#include "rt.h"

int main(void)
{
	say_hex("panic: pvpanic features", r8(PVPANIC_BASE));
	say("panic: writing PANICKED");
	w8(PVPANIC_BASE, 1);
	fail("still running after the pvpanic write");
	system_off();
}
