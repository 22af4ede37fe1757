/* tests/unit/test_platform.c: i8042 reset, port 0x80, ACPI PM sleep/reset, pvpanic and debug-exit ports. */
#include <errno.h>

#include "boot/boot.h"
#include "dev/dev.h"
#include "unit.h"
#include "vm.h"

static int exit_code = -1, exit_calls;
void vm_request_exit(struct vm *vm, int code)
{
	exit_code = code;
	exit_calls++;
}
void vm_set_irq(struct vm *vm, unsigned pin, int level) { }

static struct vm vm;   /* static: the regions' opaque pointers stay reachable */
static struct guest_mem ram_for_next;

static void fresh(bool debug_exit)
{
	for (int i = 0; i < vm.io.n; i++)
		if (strcmp(vm.io.r[i].name, "acpi-pm") == 0)
			free(vm.io.r[i].opaque);
	memset(&vm, 0, sizeof(vm));
	pthread_mutex_init(&vm.io_lock, NULL);
	vm.mem = ram_for_next;
	vm.opt.debug_exit = debug_exit;
	CHECK(platform_devices_create(&vm) == 0);
	exit_code = -1;
	exit_calls = 0;
}

static bool rd(uint16_t port, unsigned size, uint64_t *v)
{
	*v = 0x5a5a5a5a;
	return io_dispatch(&vm.io, IO_PIO, port, v, size, false);
}

static bool wr(uint16_t port, unsigned size, uint64_t v)
{
	return io_dispatch(&vm.io, IO_PIO, port, &v, size, true);
}

static void i8042(void)
{
	uint64_t v;
	fresh(false);
	CHECK(rd(0x64, 1, &v) && v == 0);        /* no IBF: kb_wait() returns at once */
	CHECK(rd(0x60, 1, &v) && v == 0);
	CHECK(wr(0x64, 1, 0x20) && exit_calls == 0);
	CHECK(wr(0x60, 1, 0xfe) && exit_calls == 0);   /* data port: not a command */
	CHECK(wr(0x64, 1, 0xff) && exit_calls == 0);   /* pulse nothing */
	CHECK(wr(0x64, 1, 0xfe) && exit_calls == 1 && exit_code == EXIT_GUEST_OFF);
	CHECK(wr(0x64, 1, 0xf0) && exit_calls == 2);
	CHECK(!rd(0x61, 1, &v) && !rd(0x63, 1, &v)); /* neighbours stay unclaimed */
}

static void post_port(void)
{
	uint64_t v;
	fresh(false);
	CHECK(wr(0x80, 1, 0x55) && exit_calls == 0);
	CHECK(rd(0x80, 1, &v));
}

static void acpi_pm(void)
{
	uint64_t v;
	fresh(false);
	CHECK(rd(ACPI_PM_PORT, 1, &v) && v == 0);
	CHECK(rd(ACPI_PM_PORT + 1, 1, &v) && v == 0);
	CHECK(wr(ACPI_PM_PORT, 1, ACPI_SLP_TYP_S5 << 2) && exit_calls == 0);   /* no SLP_EN */
	CHECK(wr(ACPI_PM_PORT, 1, 0x20 | (3 << 2)) && exit_calls == 0);        /* S3: wake at once */
	CHECK(rd(ACPI_PM_PORT + 1, 1, &v) && v == 0x80);
	CHECK(wr(ACPI_PM_PORT + 1, 1, 0x80) && rd(ACPI_PM_PORT + 1, 1, &v) && v == 0);
	CHECK(wr(ACPI_PM_PORT, 1, 0x20 | (ACPI_SLP_TYP_S5 << 2)));
	CHECK(exit_calls == 1 && exit_code == EXIT_GUEST_OFF);
	CHECK(wr(ACPI_PM_PORT + 2, 1, ACPI_RESET_VALUE ^ 0xff) && exit_calls == 1);
	CHECK(wr(ACPI_PM_PORT + 2, 1, ACPI_RESET_VALUE) && exit_calls == 2 && exit_code == 0);
	/* a wider access acts per byte: +1 cleared, +2 reset */
	CHECK(wr(ACPI_PM_PORT + 1, 2, (uint64_t)ACPI_RESET_VALUE << 8) && exit_calls == 3);
	CHECK(!wr(ACPI_PM_PORT + 2, 2, 0) && exit_calls == 3);   /* runs past the end */
	CHECK(rd(ACPI_PM_PORT, 2, &v) && v == 0);
}

static void pvpanic(void)
{
	uint64_t v;
	fresh(false);
	CHECK(rd(PVPANIC_PORT, 1, &v) && v == 3);
	CHECK(wr(PVPANIC_PORT, 1, 2) && exit_calls == 0);        /* crash kernel loaded: log */
	CHECK(wr(PVPANIC_PORT, 1, 0) && exit_calls == 0);
	CHECK(wr(PVPANIC_PORT, 1, 1) && exit_calls == 1 && exit_code == EXIT_PANIC);
}

static void debug_exit(void)
{
	uint64_t v;
	fresh(false);
	CHECK(!wr(DEBUG_EXIT_PORT, 1, 1) && exit_calls == 0);    /* off unless asked for */
	fresh(true);
	CHECK(rd(DEBUG_EXIT_PORT, 4, &v) && v == 0);
	CHECK(wr(DEBUG_EXIT_PORT, 4, 0x10) && exit_code == 0x21);
	CHECK(wr(DEBUG_EXIT_PORT, 1, 0) && exit_code == 1);
	CHECK(wr(DEBUG_EXIT_PORT, 2, 0x1234) && exit_code == 0x69);
	CHECK(wr(DEBUG_EXIT_PORT + 3, 1, 0x7f) && exit_code == 0xff);
	CHECK(wr(DEBUG_EXIT_PORT, 4, 0xffffffff) && exit_code == 0xff);   /* never -1 */
	CHECK(exit_calls == 5);
}

/* The reset vector gets a stub that resets through the i8042 command port. */
static void reset_vector_stub(void)
{
	static uint8_t ram[0x100000];
	ram_for_next = (struct guest_mem){ .host = ram, .low_size = sizeof(ram) };
	fresh(false);                            /* (the other tests: no RAM, stub skipped) */
	ram_for_next = (struct guest_mem){ 0 };
	static const uint8_t want[] = { 0xB0, 0xFE, 0xE6, 0x64, 0xF4, 0xEB, 0xFD };
	CHECK(memcmp(ram + 0xFFFF0, want, sizeof(want)) == 0);
	CHECK(ram[0xFFFF0 + sizeof(want)] == 0);
}

static void with_serial_and_twice(void)
{
	fresh(true);
	CHECK(serial_create(&vm, IO_PIO, COM1_PORT, COM1_IRQ, -1) != NULL);   /* reachable through vm.io: no leak report */
	CHECK(platform_devices_create(&vm) == -EEXIST);
}

int main(void)
{
	RUN(i8042);
	RUN(post_port);
	RUN(acpi_pm);
	RUN(pvpanic);
	RUN(debug_exit);
	RUN(reset_vector_stub);
	RUN(with_serial_and_twice);
	return UNIT_DONE();
}
