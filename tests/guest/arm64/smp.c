/*
 * smp: CPU 0 starts every other CPU the device tree's /cpus lists with PSCI CPU_ON (context id =
 * its index); each writes its MPIDR into its own flag slot (no atomics: the MMU is off) and turns
 * itself off with CPU_OFF. CPU 0 waits for the flags with a bounded loop, checks PSCI's answers
 * (ALREADY_ON for itself, INVALID_PARAMETERS for a CPU that does not exist, AFFINITY_INFO OFF once
 * a secondary is done), prints how many came up and ends with debug-exit of that count.
 */
#include "rt.h"

#define AFF_ON  0
#define AFF_OFF 1

static volatile uint64_t flag[MAX_CPUS];

void secondary_main(uint64_t idx)
{
	if (idx < MAX_CPUS)
		flag[idx] = 0x100 | cpu_index_mpidr();
	dsb();
	psci(PSCI_CPU_OFF, 0, 0, 0);
	fail_hex("PSCI CPU_OFF returned on CPU", cpu_index_mpidr());
	halt();
}

int main(void)
{
	const void *fdt = (const void *)boot_state.x[0];
	uint64_t mpidr[MAX_CPUS], hz = counter_hz(), t0;
	int n, up = 1;
	long r;

	if (!fdt_ok(fdt)) {
		fail("x0 is not a device tree");
		debug_exit(0x7f);
		system_off();
	}
	n = fdt_cpus(fdt, mpidr, MAX_CPUS);
	puts("smp: the device tree lists ");
	put_dec((uint64_t)n);
	say(" cpus");
	if (n > MAX_CPUS)
		n = MAX_CPUS;
	if (n < 1 || mpidr[0] != cpu_index_mpidr())
		fail_hex("the first /cpus entry is not CPU 0's MPIDR", mpidr[0]);

	r = psci(PSCI_CPU_ON, cpu_index_mpidr(), (uint64_t)(uintptr_t)secondary_entry, 0);
	if (r != PSCI_ALREADY_ON)
		fail_hex("CPU_ON for the running CPU did not answer ALREADY_ON:", (uint64_t)r);
	r = psci(PSCI_CPU_ON, 0xff, (uint64_t)(uintptr_t)secondary_entry, 0);
	if (r != PSCI_INVALID_PARAMS)
		fail_hex("CPU_ON for MPIDR 0xff (no such CPU) did not answer INVALID_PARAMETERS:", (uint64_t)r);

	for (int i = 1; i < n; i++) {
		r = psci(PSCI_CPU_ON, mpidr[i], (uint64_t)(uintptr_t)secondary_entry, (uint64_t)i);
		if (r != PSCI_SUCCESS) {
			puts("guest FAIL: CPU_ON ");
			put_hex(mpidr[i]);
			puts(": ");
			put_hex((uint64_t)r);
			putc('\n');
		}
	}
	/* 10 s of the virtual counter at most (a nested TCG host is slow) */
	t0 = counter();
	for (int i = 1; i < n; i++) {
		while (flag[i] == 0 && counter() - t0 < 10 * hz)
			;
		if (flag[i] == (0x100 | mpidr[i])) {
			up++;
		} else {
			puts("guest FAIL: CPU ");
			put_hex(mpidr[i]);
			puts(flag[i] ? " wrote the wrong MPIDR: " : " did not come up: flag ");
			put_hex(flag[i]);
			putc('\n');
		}
	}
	/* once off, each says so to AFFINITY_INFO (and can be started again: not tested) */
	for (int i = 1; i < n; i++) {
		if (flag[i] == 0)
			continue;
		t0 = counter();
		while ((r = psci(PSCI_AFFINITY_INFO, mpidr[i], 0, 0)) == AFF_ON && counter() - t0 < 10 * hz)
			;
		if (r != AFF_OFF)
			fail_hex("AFFINITY_INFO after CPU_OFF is not OFF for CPU", mpidr[i]);
	}
	puts("smp: cpus up: ");
	put_dec((uint64_t)up);
	putc('\n');
	debug_exit((uint32_t)up);
	system_off();
}
