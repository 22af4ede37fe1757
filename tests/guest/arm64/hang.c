/* hang: wfi forever with interrupts masked: only vmm's --timeout ends it. */
#include "rt.h"

int main(void)
{
	say("hang: wfi with interrupts masked");
	halt();
}
