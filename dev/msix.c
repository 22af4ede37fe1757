/* dev/msix.c: emulated MSI-X table and PBA; each live vector is an MSI route plus an irqfd, a masked one keeps its message pending in the eventfd. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../irq.h"
#include "pci.h"
#include "../vm.h"

#define MSIX_CTRL_ENABLE  0x8000
#define MSIX_CTRL_FMASK   0x4000
#define MSIX_VEC_MASKED   0x1

static uint16_t msg_ctrl(const struct msix *m)
{
	return (uint16_t)pci_cfg_get(m->dev, m->cap + 2, 2);
}

/* Whether the guest wants vector i to deliver now. */
static bool vec_wanted(const struct msix *m, unsigned i)
{
	uint16_t c = msg_ctrl(m);
	return (c & MSIX_CTRL_ENABLE) && !(c & MSIX_CTRL_FMASK) && !(m->v[i].ctrl & MSIX_VEC_MASKED);
}

static int vec_route(struct msix *m, struct msix_vec *v)
{
	uint64_t addr = (uint64_t)v->addr_hi << 32 | v->addr_lo;
	int r;

	if (v->gsi < 0) {
		r = msi_gsi_alloc(m->vm);
		if (r < 0)
			return r;
		v->gsi = r;
	}
	if (v->attached && addr == v->routed_addr && v->data == v->routed_data)
		return 0;
	r = msi_route_set_dev(m->vm, v->gsi, addr, v->data, (uint32_t)m->dev->slot << 3);
	if (r < 0)
		return r;
	v->routed_addr = addr;
	v->routed_data = v->data;
	return 0;
}

static void vec_detach(struct msix *m, struct msix_vec *v)
{
	if (m->kvm && irqfd_deassign(m->vm, v->efd, v->gsi) < 0)
		guest_warn("pci %s: MSI-X irqfd deassign failed", m->dev->name);
	v->attached = false;
}

/*
 * Assign the irqfd. A message that waited behind the mask is taken out of the
 * eventfd first and written again afterwards: KVM would inject it at assign
 * time anyway, but then leave the count behind as a stale pending bit.
 */
static void vec_attach(struct msix *m, struct msix_vec *v)
{
	eventfd_t pending = 0;
	bool had = eventfd_read(v->efd, &pending) == 0;

	if (irqfd_assign(m->vm, v->efd, v->gsi) == 0)
		v->attached = true;
	if (had && eventfd_write(v->efd, v->attached ? 1 : pending) < 0)
		guest_warn("pci %s: MSI-X eventfd write: %s", m->dev->name, strerror(errno));
}

/* Bring KVM's view of vector i in line with the table: route + irqfd iff wanted. */
static void vec_sync(struct msix *m, unsigned i)
{
	struct msix_vec *v = &m->v[i];
	bool want = vec_wanted(m, i);

	if (!m->kvm) {
		v->attached = want;
		return;
	}
	if (!want) {
		if (v->attached)
			vec_detach(m, v);
		return;
	}
	int r = vec_route(m, v);
	if (r < 0) {
		guest_warn("pci %s: MSI-X vector %u: no route for %#x:%#x (%s)", m->dev->name, i,
			   v->addr_lo, v->data, strerror(-r));
		if (v->attached)
			vec_detach(m, v);
		return;
	}
	if (!v->attached)
		vec_attach(m, v);
}

int msix_init(struct msix *m, struct pci_dev *d, unsigned n, int bar, uint32_t table_off,
	      uint32_t pba_off)
{
	uint8_t cap[12] = { PCI_CAP_ID_MSIX }, wm[12] = { 0 };

	if (n == 0 || n > MSIX_MAX_VECTORS || (table_off & 7) || (pba_off & 7))
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->vm = d->vm;
	m->dev = d;
	m->n = n;
	m->kvm = d->vm && d->vm->vm_fd >= 0;
	for (unsigned i = 0; i < n; i++) {
		m->v[i].ctrl = MSIX_VEC_MASKED;
		m->v[i].gsi = -1;
		m->v[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (m->v[i].efd < 0)
			return -errno;
	}
	cap[2] = (uint8_t)(n - 1);
	cap[3] = (uint8_t)((n - 1) >> 8);
	wm[3] = 0xC0;   /* enable, function mask */
	uint32_t t = table_off | (uint32_t)bar, p = pba_off | (uint32_t)bar;
	memcpy(cap + 4, &t, 4);
	memcpy(cap + 8, &p, 4);
	int off = pci_cap_add(d, cap, sizeof(cap), wm);
	if (off < 0)
		return off;
	m->cap = (unsigned)off;
	return 0;
}

static uint32_t *vec_field(struct msix_vec *v, unsigned field)
{
	switch (field) {
	case 0: return &v->addr_lo;
	case 1: return &v->addr_hi;
	case 2: return &v->data;
	default: return &v->ctrl;
	}
}

static void table_dword(struct msix *m, uint64_t off, uint32_t *val, bool is_write)
{
	unsigned i = (unsigned)(off / 16), field = (unsigned)(off % 16) / 4;
	struct msix_vec *v = &m->v[i];

	if (!is_write) {
		*val = *vec_field(v, field);
		return;
	}
	if (field == 3)
		*val = (*val & MSIX_VEC_MASKED) | (v->ctrl & ~MSIX_VEC_MASKED);
	*vec_field(v, field) = *val;
	vec_sync(m, i);
}

void msix_table_io(struct msix *m, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	bool ok = (size == 4 || size == 8) && !(off & (size - 1)) && off < MSIX_TABLE_BYTES(m->n);

	if (!ok) {
		if (!is_write)
			*val = 0;
		return;
	}
	for (unsigned k = 0; k < size / 4; k++) {
		uint32_t d = (uint32_t)(*val >> (32 * k));
		table_dword(m, off + 4 * k, &d, is_write);
		if (!is_write)
			*val = (k ? *val : 0) | (uint64_t)d << (32 * k);
	}
}

static bool vec_pending(const struct msix *m, unsigned i)
{
	struct pollfd p = { .fd = m->v[i].efd, .events = POLLIN };
	return !m->v[i].attached && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void msix_pba_io(struct msix *m, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	if (is_write)
		return;
	*val = 0;
	if ((size != 4 && size != 8) || (off & (size - 1)))
		return;
	for (unsigned b = 0; b < size * 8; b++) {
		uint64_t i = off * 8 + b;
		if (i < m->n && vec_pending(m, (unsigned)i))
			*val |= 1ull << b;
	}
}

void msix_control_written(struct msix *m)
{
	for (unsigned i = 0; i < m->n; i++)
		vec_sync(m, i);
	if (msix_enabled(m))
		pci_release_intx(m->dev);
}

bool msix_notify(struct msix *m, unsigned vec)
{
	if (vec >= m->n)
		return false;
	if (eventfd_write(m->v[vec].efd, 1) < 0)
		guest_warn("pci %s: MSI-X eventfd write: %s", m->dev->name, strerror(errno));
	return true;
}

void msix_clear_pending(struct msix *m)
{
	eventfd_t drop;
	for (unsigned i = 0; i < m->n; i++)
		if (!m->v[i].attached)
			(void)!eventfd_read(m->v[i].efd, &drop);
}

bool msix_enabled(const struct msix *m)
{
	return __atomic_load_n(&m->dev->cfg[m->cap + 3], __ATOMIC_RELAXED) & (MSIX_CTRL_ENABLE >> 8);
}

bool msix_vector_live(const struct msix *m, unsigned vec)
{
	return vec < m->n && m->v[vec].attached;
}
