/* tests/unit/test_io.c: the I/O registry and checked guest-memory access. */
#include <errno.h>
#include <stdlib.h>
#include "vmm.h"
#include "unit.h"

static uint64_t last_off, last_val; static unsigned calls;
static void h(void *o, uint64_t off, uint64_t *val, unsigned size, bool wr)
{
	calls++; last_off = off;
	if (wr) last_val = *val; else *val = 0x1122334455667788ull;
}

static void registry(void)
{
	struct io_registry io = { 0 };
	CHECK(io_register(&io, IO_PIO, 0x3f8, 8, h, NULL, "a") == 0);
	CHECK(io_register(&io, IO_PIO, 0x3ff, 2, h, NULL, "b") == -EEXIST);
	CHECK(io_register(&io, IO_PIO, 0x3f0, 8, h, NULL, "c") == 0);   /* adjacent below */
	CHECK(io_register(&io, IO_MMIO, 0x3f8, 8, h, NULL, "m") == 0);  /* other space */
	CHECK(io_register(&io, IO_PIO, 0, 0, h, NULL, "z") == -EINVAL);
	CHECK(io_register(&io, IO_PIO, ~0ull - 1, 4, h, NULL, "wrap") == -EINVAL);
	uint64_t v = 0;
	CHECK(io_dispatch(&io, IO_PIO, 0x3fa, &v, 1, false) && v == 0x88 && last_off == 2);
	CHECK(io_dispatch(&io, IO_PIO, 0x3fc, &v, 4, false) && v == 0x55667788);
	calls = 0;
	CHECK(!io_dispatch(&io, IO_PIO, 0x3fe, &v, 4, false) && calls == 0);  /* runs past end */
	CHECK(v == 0xffffffff);
	CHECK(!io_dispatch(&io, IO_PIO, 0x500, &v, 2, false) && v == 0xffff);
	v = 0xab;
	CHECK(io_dispatch(&io, IO_PIO, 0x3f8, &v, 1, true) && last_val == 0xab);
	CHECK(!io_dispatch(&io, IO_PIO, 0x500, &v, 8, false) && v == ~0ull);
}

static void moving(void)
{
	struct io_registry io = { 0 };
	int tag1, tag2;
	CHECK(io_register(&io, IO_MMIO, 0x1000, 0x100, h, &tag1, "a") == 0);
	CHECK(io_register(&io, IO_MMIO, 0x2000, 0x100, h, &tag2, "b") == 0);
	CHECK(io_move(&io, IO_MMIO, &tag1, 0x1000, 0x2080) == -EEXIST);
	CHECK(io_move(&io, IO_MMIO, &tag1, 0x1234, 0x3000) == -ENOENT);
	CHECK(io_move(&io, IO_MMIO, &tag1, 0x1000, 0x3000) == 0);
	uint64_t v;
	CHECK(!io_dispatch(&io, IO_MMIO, 0x1000, &v, 4, false));
	CHECK(io_dispatch(&io, IO_MMIO, 0x3004, &v, 4, false) && last_off == 4);
}

static void full(void)
{
	struct io_registry io = { 0 };
	for (int i = 0; i < IO_MAX_REGIONS; i++)
		CHECK(io_register(&io, IO_PIO, (uint64_t)i * 16, 16, h, NULL, "x") == 0);
	CHECK(io_register(&io, IO_PIO, 0x10000, 16, h, NULL, "x") == -ENOSPC);
}

static void guest_memory(void)
{
	struct guest_mem m = { .host = calloc(1, 8192), .low_size = 4096, .high_size = 4096 };
	uint8_t b[16] = { 1, 2, 3 };
	CHECK(gm_ptr(&m, 0, 4096) == m.host);
	CHECK(gm_ptr(&m, 1, 4096) == NULL);
	CHECK(gm_ptr(&m, 4095, 2) == NULL);            /* spans low RAM's end */
	CHECK(gm_ptr(&m, HIGH_RAM_START, 4096) == m.host + 4096);
	CHECK(gm_ptr(&m, HIGH_RAM_START + 4096, 1) == NULL);
	CHECK(gm_ptr(&m, HIGH_RAM_START - 1, 2) == NULL);
	CHECK(gm_ptr(&m, ~0ull, 2) == NULL);           /* wraps */
	CHECK(gm_ptr(&m, 16, ~0ull) == NULL);
	CHECK(gm_ptr(&m, HIGH_RAM_START + 8, ~0ull - 4) == NULL);
	CHECK(gm_write(&m, 4090, b, 16) == -EFAULT);
	CHECK(gm_write(&m, 100, b, 3) == 0 && m.host[101] == 2);
	CHECK(gm_read(&m, b + 8, 100, 3) == 0 && b[10] == 3);
	CHECK(gm_read(&m, b, HIGH_RAM_START + 4090, 16) == -EFAULT);
	free(m.host);
}

int main(void)
{
	RUN(registry);
	RUN(moving);
	RUN(full);
	RUN(guest_memory);
	return UNIT_DONE();
}
