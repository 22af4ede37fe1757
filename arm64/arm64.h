/* arm64/arm64.h: what the arm64 files share: the GICv3 + ITS (gic.c) and the device tree (fdt.c). */
#ifndef ARM64_H
#define ARM64_H

#include "../vm.h"

/* Create the in-kernel GICv3 and its ITS at their machine.h addresses. Before any vCPU. Exits on failure. */
void gic_create(struct vm *vm);
/* Once every vCPU exists: initialise the GIC and ITS; lines raised before now are delivered. Exits on failure. */
void gic_init(struct vm *vm);

/* What the device tree describes beyond the fixed machine. */
struct fdt_config {
	int ncpus;
	const uint64_t *mpidr;     /* ncpus affinity values (the cpu nodes' reg) */
	uint64_t ram_size;
	const char *cmdline;       /* NULL: none */
	uint64_t initrd_start, initrd_end;   /* end 0: no initrd */
	bool uart2, debug_exit;
};
/* Build the flattened device tree into buf (len bytes). 0, or -1 with err if it does not fit. */
int fdt_build(void *buf, size_t len, const struct fdt_config *c, char *err, size_t errlen);

#endif
