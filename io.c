/* io.c: the I/O registry (port I/O and MMIO regions) and checked guest-memory copies. */
#include <errno.h>
#include <string.h>

#include "vmm.h"

int gm_read(const struct guest_mem *m, void *dst, gpa_t gpa, uint64_t len)
{
	const void *p = gm_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gm_write(const struct guest_mem *m, gpa_t gpa, const void *src, uint64_t len)
{
	void *p = gm_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

static bool overlaps(const struct io_region *r, enum io_space sp, uint64_t base, uint64_t len)
{
	return r->space == sp && base < r->base + r->len && r->base < base + len;
}

int io_register(struct io_registry *io, enum io_space sp, uint64_t base, uint64_t len,
		io_fn *fn, void *opaque, const char *name)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	for (int i = 0; i < io->n; i++)
		if (overlaps(&io->r[i], sp, base, len))
			return -EEXIST;
	if (io->n == IO_MAX_REGIONS)
		return -ENOSPC;
	io->r[io->n++] = (struct io_region){ sp, base, len, fn, opaque, name };
	return 0;
}

int io_move(struct io_registry *io, enum io_space sp, void *opaque, uint64_t old_base,
	    uint64_t new_base)
{
	for (int i = 0; i < io->n; i++) {
		struct io_region *r = &io->r[i];
		if (r->space != sp || r->opaque != opaque || r->base != old_base)
			continue;
		if (new_base + r->len < new_base)
			return -EINVAL;
		for (int j = 0; j < io->n; j++)
			if (j != i && overlaps(&io->r[j], sp, new_base, r->len))
				return -EEXIST;
		r->base = new_base;
		return 0;
	}
	return -ENOENT;
}

bool io_dispatch(struct io_registry *io, enum io_space sp, uint64_t addr, uint64_t *val,
		 unsigned size, bool is_write)
{
	for (int i = 0; i < io->n; i++) {
		struct io_region *r = &io->r[i];
		if (r->space != sp || addr < r->base || addr - r->base >= r->len)
			continue;
		if (size > r->len - (addr - r->base))
			break;   /* runs past the region's end */
		r->fn(r->opaque, addr - r->base, val, size, is_write);
		if (!is_write && size < 8)
			*val &= (1ull << (size * 8)) - 1;
		return true;
	}
	if (!is_write)
		*val = size < 8 ? (1ull << (size * 8)) - 1 : ~0ull;
	return false;
}
