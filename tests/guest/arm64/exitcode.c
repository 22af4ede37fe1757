/* exitcode: debug-exit with 42 (vmm --debug-exit exits (42 << 1) | 1 = 85); without --debug-exit the
 * write is to unclaimed MMIO and the guest powers off instead (exit 0). */
#include "rt.h"

int main(void)
{
	say("exitcode: writing 42 to debug-exit");
	debug_exit(42);
	say("exitcode: still running: no debug-exit device");
	system_off();
}
