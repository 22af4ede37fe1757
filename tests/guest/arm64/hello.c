/* hello: one line on the UART, then PSCI SYSTEM_OFF (vmm exits 0). */
#include "rt.h"

int main(void)
{
	say("hello from the arm64 guest");
	system_off();
}
