/* tests/guest/powerbtn.c: waits for the ACPI power button (an edge on IOAPIC pin 5, as the DSDT's GED says) and powers off. */
#include "rt.h"

#define PIN 5       /* ACPI_PWRBTN_GSI */
#define VEC 0x50

static volatile unsigned presses;

static void button_isr(struct frame *f)
{
	presses++;
	x2apic_eoi();
}

void guest_main(uint64_t zero_page)
{
	uint32_t apic_id;

	idt_init();
	idt_set_handler(VEC, button_isr);
	apic_id = x2apic_enable();
	ioapic_rte_set(PIN, VEC, apic_id);   /* edge, active high, unmasked */
	puts_com1("powerbtn: waiting\n");
	while (presses == 0)
		sti_hlt();
	puts_com1("powerbtn: pressed\n");
	poweroff();
}
