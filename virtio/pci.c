/* virtio/pci.c: the virtio-pci modern transport (virtio 1.2 4.1): capabilities, common config, notify via ioeventfds, MSI-X, the device thread. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <linux/kvm.h>

#include "../sandbox/sandbox.h"
#include "../le.h"
#include "virtio.h"

/* BAR0 layout: one 4 KiB page per structure so each can be mapped on its own. */
#define VP_BAR_SIZE     0x8000
#define VP_COMMON       0x0000
#define VP_ISR          0x1000
#define VP_DEVICE       0x2000
#define VP_NOTIFY       0x3000
#define VP_MSIX_TABLE   0x4000
#define VP_MSIX_PBA     0x5000
#define VP_PAGE         0x1000
#define VP_NOTIFY_MULT  4
#define VP_COMMON_LEN   0x38

/* virtio_pci_cap cfg_type */
enum { VP_CAP_COMMON = 1, VP_CAP_NOTIFY = 2, VP_CAP_ISR = 3, VP_CAP_DEVICE = 4, VP_CAP_PCI = 5 };

static bool status_has(const struct virtio_dev *d, uint8_t bits)
{
	return __atomic_load_n(&d->status, __ATOMIC_ACQUIRE) & bits;
}

/* INTA, the fallback while the guest has MSI-X off. */
static void intx_set(struct virtio_dev *d, bool asserted)
{
	pci_set_intx(&d->pci, 0, asserted);
}

/*
 * Raise an interrupt: the MSI-X vector, or, while the guest has MSI-X off,
 * INTA (the ISR read deasserts it). false if nothing could be signalled.
 */
static bool raise_irq(struct virtio_dev *d, uint16_t vec, uint8_t isr_bit)
{
	__atomic_or_fetch(&d->isr, isr_bit, __ATOMIC_ACQ_REL);
	if (msix_enabled(&d->msix))
		return msix_notify(&d->msix, vec);
	if (pci_cfg_get(&d->pci, PCI_COMMAND, 2) & PCI_CMD_INTX_OFF)
		return false;
	intx_set(d, true);
	/*
	 * A vCPU may have enabled MSI-X or set Interrupt Disable since the checks
	 * above; it deasserts INTx after its write (under the INTx lock), so
	 * looking again after ours leaves no line asserted that nobody clears.
	 */
	if (msix_enabled(&d->msix) || (pci_cfg_get(&d->pci, PCI_COMMAND, 2) & PCI_CMD_INTX_OFF)) {
		intx_set(d, false);
		return msix_enabled(&d->msix) && msix_notify(&d->msix, vec);
	}
	return true;
}

/* d->raise: a queue's vector (ISR bit 0), or with q NULL the config vector (ISR bit 1). */
static bool vp_raise(struct virtio_dev *d, struct virtq *q)
{
	if (!q)
		return raise_irq(d, __atomic_load_n(&d->config_vector, __ATOMIC_RELAXED), 2);
	return raise_irq(d, __atomic_load_n(&q->msix_vector, __ATOMIC_RELAXED), 1);
}

/* ---- KVM ioeventfds on the notify addresses ---- */

static int vp_ioeventfd(struct virtio_dev *d, unsigned qi, uint64_t bar_base, bool assign)
{
	struct kvm_ioeventfd e = {
		.addr = bar_base + VP_NOTIFY + VP_NOTIFY_MULT * qi,
		.len = d->ioeventfd_any_len ? 0 : 2,   /* the driver writes the 16-bit queue index */
		.fd = d->vq[qi].kick_efd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};
	if (d->vm->vm_fd < 0)
		return 0;
	if (ioctl(d->vm->vm_fd, KVM_IOEVENTFD, &e) < 0) {
		int err = errno;
		fprintf(stderr, "vmm: KVM_IOEVENTFD (%s queue %u at %#llx): %s\n", d->name, qi,
			(unsigned long long)e.addr, strerror(err));
		return -err;
	}
	return 0;
}

static int vp_ioeventfds(struct virtio_dev *d, uint64_t bar_base, bool assign)
{
	for (unsigned i = 0; i < d->ops->nqueues; i++) {
		int r = vp_ioeventfd(d, i, bar_base, assign);
		if (r < 0)
			return r;
	}
	return 0;
}

static void vp_bar_moved(struct pci_dev *p, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct virtio_dev *d = p->priv;
	if (vp_ioeventfds(d, old_addr, false) < 0 || vp_ioeventfds(d, new_addr, true) < 0)
		guest_warn("%s: queue notifications now take the slow path", d->name);
}

/* ---- common configuration ---- */

static struct virtq *selected_queue(struct virtio_dev *d)
{
	return d->queue_sel < d->ops->nqueues ? &d->vq[d->queue_sel] : NULL;
}

static uint64_t common_read(struct virtio_dev *d, unsigned off, unsigned size)
{
	uint8_t b[0x40] = { 0 };
	struct virtq *q = selected_queue(d);
	uint64_t v = 0;

	put_le(b + 0x00, 4, d->dfselect);
	put_le(b + 0x04, 4, d->dfselect < 2 ? d->offered >> (32 * d->dfselect) : 0);
	put_le(b + 0x08, 4, d->gfselect);
	put_le(b + 0x0C, 4, d->gfselect < 2 ? d->driver_features >> (32 * d->gfselect) : 0);
	put_le(b + 0x10, 2, d->config_vector);
	put_le(b + 0x12, 2, d->ops->nqueues);
	b[0x14] = __atomic_load_n(&d->status, __ATOMIC_ACQUIRE);
	if (!b[0x14] && d->ops->resetting && d->ops->resetting(d))
		b[0x14] = d->status_at_reset;
	b[0x15] = __atomic_load_n(&d->config_gen, __ATOMIC_ACQUIRE);
	put_le(b + 0x16, 2, d->queue_sel);
	if (q) {
		put_le(b + 0x18, 2, q->size);
		put_le(b + 0x1A, 2, q->msix_vector);
		put_le(b + 0x1C, 2, q->enabled);
		put_le(b + 0x1E, 2, q->index);   /* queue_notify_off */
		put_le(b + 0x20, 8, q->desc_gpa);
		put_le(b + 0x28, 8, q->avail_gpa);
		put_le(b + 0x30, 8, q->used_gpa);
	}
	if (off + size > sizeof(b))
		return 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)b[off + i] << (8 * i);
	return v;
}

static void vp_reset(struct virtio_dev *d)
{
	uint8_t old = __atomic_exchange_n(&d->status, 0, __ATOMIC_ACQ_REL);

	if (old)
		d->status_at_reset = old;
	d->driver_features = 0;
	d->dfselect = d->gfselect = 0;
	d->queue_sel = 0;
	__atomic_store_n(&d->config_vector, VIRTIO_MSI_NO_VECTOR, __ATOMIC_RELAXED);
	__atomic_store_n(&d->isr, 0, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < d->ops->nqueues; i++)
		virtq_reset(&d->vq[i]);
	if (d->ops->reset)
		d->ops->reset(d);
	msix_clear_pending(&d->msix);
	intx_set(d, false);
}

static bool features_ok(const struct virtio_dev *d)
{
	return !(d->driver_features & ~d->offered) &&
	       (d->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

static void kick_all(struct virtio_dev *d)
{
	for (unsigned i = 0; i < d->ops->nqueues; i++)
		if (d->vq[i].ready && eventfd_write(d->vq[i].kick_efd, 1) < 0)
			guest_warn("%s: kick: %s", d->name, strerror(errno));
}

/* The status state machine (virtio 1.2 3.1.1): bits only accumulate until a reset. */
static void set_status(struct virtio_dev *d, uint8_t v)
{
	uint8_t old = __atomic_load_n(&d->status, __ATOMIC_ACQUIRE);
	uint8_t add;

	if (v == 0) {
		vp_reset(d);
		return;
	}
	v = (uint8_t)((v & ~VIRTIO_S_NEEDS_RESET) | old);
	add = v & ~old;
	if ((add & VIRTIO_S_FEATURES_OK) && !features_ok(d))
		v &= (uint8_t)~VIRTIO_S_FEATURES_OK;   /* the driver reads it back and gives up */
	if ((add & VIRTIO_S_DRIVER_OK) && !(v & VIRTIO_S_FEATURES_OK)) {
		guest_warn("%s: DRIVER_OK without FEATURES_OK", d->name);
		v &= (uint8_t)~VIRTIO_S_DRIVER_OK;
	}
	__atomic_fetch_or(&d->status, v, __ATOMIC_ACQ_REL);
	if ((v & ~old) & VIRTIO_S_DRIVER_OK) {
		if (d->ops->activate)
			d->ops->activate(d);
		kick_all(d);   /* buffers made available before DRIVER_OK */
	}
}

static void set_features(struct virtio_dev *d, uint32_t v)
{
	if (status_has(d, VIRTIO_S_FEATURES_OK) || d->gfselect > 1) {
		guest_warn("%s: driver_feature write ignored", d->name);
		return;
	}
	unsigned sh = 32 * d->gfselect;
	d->driver_features = (d->driver_features & ~(0xFFFFFFFFull << sh)) | ((uint64_t)v << sh);
}

static uint16_t checked_vector(struct virtio_dev *d, uint16_t v)
{
	return v < d->msix.n ? v : VIRTIO_MSI_NO_VECTOR;
}

static void enable_queue(struct virtio_dev *d, struct virtq *q, uint16_t v)
{
	char why[64];

	if (v != 1 || q->enabled)
		return;   /* 0 is not a way to disable (that takes a reset) */
	if (virtq_setup(q, &d->vm->mem, d->driver_features) < 0) {
		snprintf(why, sizeof(why), "queue %u: bad size or ring address", q->index);
		virtio_dev_fail(d, why);
		return;
	}
	q->enabled = true;
}

/* A 64-bit field written whole or as two 32-bit halves. */
static void set_addr(gpa_t *f, unsigned half, unsigned size, uint64_t v)
{
	if (size == 8)
		*f = v;
	else if (half)
		*f = (*f & 0xFFFFFFFFull) | v << 32;
	else
		*f = (*f & ~0xFFFFFFFFull) | (uint32_t)v;
}

static void queue_write(struct virtio_dev *d, unsigned off, unsigned size, uint64_t v)
{
	struct virtq *q = selected_queue(d);

	if (!q)
		return;
	if (off == 0x1A && size == 2) {
		__atomic_store_n(&q->msix_vector, checked_vector(d, (uint16_t)v), __ATOMIC_RELAXED);
		return;
	}
	if (off == 0x1C && size == 2) {
		enable_queue(d, q, (uint16_t)v);
		return;
	}
	if (q->enabled) {
		guest_warn("%s: queue %u changed while enabled; ignored", d->name, q->index);
		return;
	}
	if (off == 0x18 && size == 2)
		q->size = (uint16_t)v;
	else if (off >= 0x20 && off < 0x38 && (size == 8 ? !(off & 7) : size == 4 && !(off & 3)))
		set_addr(off < 0x28 ? &q->desc_gpa : off < 0x30 ? &q->avail_gpa : &q->used_gpa,
			 (off & 4) != 0, size, v);
}

static void common_write(struct virtio_dev *d, unsigned off, unsigned size, uint64_t v)
{
	pthread_mutex_lock(&d->lock);
	if (off == 0x00 && size == 4)
		d->dfselect = (uint32_t)v;
	else if (off == 0x08 && size == 4)
		d->gfselect = (uint32_t)v;
	else if (off == 0x0C && size == 4)
		set_features(d, (uint32_t)v);
	else if (off == 0x10 && size == 2)
		__atomic_store_n(&d->config_vector, checked_vector(d, (uint16_t)v), __ATOMIC_RELAXED);
	else if (off == 0x14 && size == 1)
		set_status(d, (uint8_t)v);
	else if (off == 0x16 && size == 2)
		d->queue_sel = (uint16_t)v;
	else if (off >= 0x18 && off < VP_COMMON_LEN)
		queue_write(d, off, size, v);
	else
		guest_warn("%s: common config write at %#x size %u ignored", d->name, off, size);
	pthread_mutex_unlock(&d->lock);
}

/* ---- the BAR ---- */

static void device_cfg_io(struct virtio_dev *d, unsigned off, uint64_t *val, unsigned size,
			  bool is_write)
{
	uint8_t buf[8] = { 0 };

	if (off + size > d->ops->config_len) {
		if (!is_write)
			*val = 0;
		return;
	}
	if (is_write) {
		memcpy(buf, val, size);
		if (d->ops->config_write) {
			pthread_mutex_lock(&d->lock);
			d->ops->config_write(d, off, buf, size);
			pthread_mutex_unlock(&d->lock);
		}
		return;
	}
	if (d->ops->config_read)
		d->ops->config_read(d, off, buf, size);
	*val = 0;
	memcpy(val, buf, size);
}

static void notify_write(struct virtio_dev *d, unsigned off)
{
	unsigned qi = off / VP_NOTIFY_MULT;

	if (qi >= d->ops->nqueues)
		return;
	atomic_fetch_add_explicit(&d->stats->kicks_exit, 1, memory_order_relaxed);
	if (eventfd_write(d->vq[qi].kick_efd, 1) < 0)
		guest_warn("%s: kick: %s", d->name, strerror(errno));
}

/* Reading the ISR clears it and lowers INTA. */
static uint8_t isr_read(struct virtio_dev *d)
{
	uint8_t v = __atomic_exchange_n(&d->isr, 0, __ATOMIC_ACQ_REL);

	if (msix_enabled(&d->msix))
		return v;
	intx_set(d, false);
	if (__atomic_load_n(&d->isr, __ATOMIC_ACQUIRE))   /* raised after our exchange */
		intx_set(d, true);
	return v;
}

static void vp_bar_io(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write)
{
	struct virtio_dev *d = opaque;
	unsigned o = (unsigned)(off & (VP_PAGE - 1));

	switch (off & ~(uint64_t)(VP_PAGE - 1)) {
	case VP_COMMON:
		if (is_write)
			common_write(d, o, size, *val);
		else
			*val = common_read(d, o, size);
		return;
	case VP_ISR:
		if (!is_write)
			*val = o == 0 ? isr_read(d) : 0;
		return;
	case VP_DEVICE:
		device_cfg_io(d, o, val, size, is_write);
		return;
	case VP_NOTIFY:
		if (is_write)
			notify_write(d, o);
		else
			*val = 0;
		return;
	case VP_MSIX_TABLE:
		msix_table_io(&d->msix, o, val, size, is_write);
		return;
	case VP_MSIX_PBA:
		msix_pba_io(&d->msix, o, val, size, is_write);
		return;
	}
	if (!is_write)
		*val = 0;
}

/* ---- PCI capabilities ---- */

static int add_vcap(struct virtio_dev *d, uint8_t type, uint32_t off, uint32_t len, uint32_t extra,
		    bool writable)
{
	uint8_t c[20] = { PCI_CAP_ID_VNDR, 0, 0, type, 0 }, wm[20] = { 0 };
	unsigned clen = (type == VP_CAP_NOTIFY || type == VP_CAP_PCI) ? 20 : 16;

	c[2] = (uint8_t)clen;
	put_le(c + 8, 4, off);
	put_le(c + 12, 4, len);
	if (type == VP_CAP_NOTIFY)
		put_le(c + 16, 4, extra);
	if (writable) {   /* VIRTIO_PCI_CAP_PCI_CFG: bar, offset, length and data */
		wm[4] = 0xFF;
		memset(wm + 8, 0xFF, 12);
	}
	return pci_cap_add(&d->pci, c, clen, wm);
}

/*
 * The PCI-config access window (VIRTIO_PCI_CAP_PCI_CFG, added last, so it is
 * cap_last): an access to its data bytes is forwarded to the BAR.
 */
static void vp_window(struct virtio_dev *d, unsigned off, unsigned size, bool is_write)
{
	unsigned c = d->pci.cap_last;
	uint32_t bar = d->pci.cfg[c + 4], boff = pci_cfg_get(&d->pci, c + 8, 4);
	uint32_t len = pci_cfg_get(&d->pci, c + 12, 4);
	uint64_t v;

	if (!(off < c + 20 && c + 16 < off + size))
		return;
	if (bar != 0 || (len != 1 && len != 2 && len != 4) || (boff & (len - 1)) || boff >= VP_BAR_SIZE)
		return;
	if (is_write) {
		v = pci_cfg_get(&d->pci, c + 16, len);
		vp_bar_io(d, boff, &v, len, true);
	} else {
		vp_bar_io(d, boff, &v, len, false);
		pci_cfg_put(&d->pci, c + 16, len, (uint32_t)v);
	}
}

static void vp_cfg_read(struct pci_dev *p, unsigned off, unsigned size)
{
	vp_window(p->priv, off, size, false);
}

static void vp_cfg_write(struct pci_dev *p, unsigned off, unsigned size)
{
	struct virtio_dev *d = p->priv;
	if (off < d->msix.cap + 4 && d->msix.cap + 2 < off + size)
		msix_control_written(&d->msix);
	vp_window(d, off, size, true);
}

static int add_caps(struct virtio_dev *d)
{
	int r = msix_init(&d->msix, &d->pci, d->ops->nqueues + 1, 0, VP_MSIX_TABLE, VP_MSIX_PBA);
	if (r >= 0)
		r = add_vcap(d, VP_CAP_COMMON, VP_COMMON, VP_COMMON_LEN, 0, false);
	if (r >= 0)
		r = add_vcap(d, VP_CAP_NOTIFY, VP_NOTIFY, VP_NOTIFY_MULT * d->ops->nqueues,
			     VP_NOTIFY_MULT, false);
	if (r >= 0)
		r = add_vcap(d, VP_CAP_ISR, VP_ISR, 1, 0, false);
	if (r >= 0 && d->ops->config_len)
		r = add_vcap(d, VP_CAP_DEVICE, VP_DEVICE, d->ops->config_len, 0, false);
	if (r >= 0)
		r = add_vcap(d, VP_CAP_PCI, 0, 0, 0, true);
	return r < 0 ? r : 0;
}

/* ---- creation, the device thread, stats ---- */

static int vp_start(struct pci_dev *p);
static void vp_stop(struct virtio_dev *d, int code);
static void vp_print_stats(struct pci_dev *p, FILE *f);

static void vp_pci_setup(struct virtio_dev *d)
{
	const struct virtio_ops *o = d->ops;

	pci_dev_init(&d->pci, d->name, 0x1AF4, (uint16_t)(0x1040 + o->device_id), o->pci_class, 1,
		     0x1AF4, 0x40);
	d->pci.vm = d->vm;
	d->pci.priv = d;
	d->pci.cfg[PCI_INT_PIN] = 1;   /* INTA: used only while MSI-X is off */
	d->pci.cfg_read = vp_cfg_read;
	d->pci.cfg_write = vp_cfg_write;
	d->pci.bar_moved = vp_bar_moved;
	d->pci.start = vp_start;
	d->pci.print_stats = vp_print_stats;
}

struct virtio_dev *virtio_dev_create(struct vm *vm, const struct virtio_ops *ops, void *priv,
				     const char *label)
{
	struct virtio_dev *d = vm->pci ? virtio_dev_new(ops, priv, label) : NULL;
	int r, slot;

	if (!d)
		fatal(EXIT_RUNTIME, "%s (%s): cannot create device (no PCI bus, bad ops or out of resources)",
		      ops->name, label);
	d->vm = vm;
	d->raise = vp_raise;
	d->stop = vp_stop;
	vp_pci_setup(d);
	r = pci_bar_add(&d->pci, 0, VP_BAR_SIZE, true, vp_bar_io, d);
	if (r == 0)
		r = add_caps(d);
	if (r < 0)
		fatal(EXIT_RUNTIME, "%s (%s): %s", ops->name, label, strerror(-r));
	slot = pci_dev_register(vm, &d->pci);
	if (slot < 0)
		fatal(EXIT_USAGE, "%s (%s): no room on the PCI bus: %s", ops->name, label, strerror(-slot));
	snprintf(d->name, sizeof(d->name), "%s 00:%02x.0", ops->name, slot);
	if (vm->ioapic)
		intx_set(d, false);   /* an idle active-low line is high */
	if (vm->vm_fd >= 0) {
		d->ioeventfd_any_len = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
		if (vp_ioeventfds(d, d->pci.bar[0].mapped, true) < 0)
			fatal(EXIT_RUNTIME, "%s (%s): cannot register queue notifications", d->name, label);
	}
	vlog("%s (%s): BAR0 at %#llx", d->name, label, (unsigned long long)d->pci.bar[0].mapped);
	return d;
}

struct virtio_dev *virtio_dev_get(struct vm *vm, unsigned n)
{
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_dev *p = pci_dev_get(vm, s);
		if (p && p->start == vp_start && n-- == 0)
			return p->priv;
	}
	return NULL;
}

static void vp_stop(struct virtio_dev *d, int code)
{
	vm_request_exit(d->vm, code);
}

static void *vp_thread(void *arg)
{
	struct virtio_dev *d = arg;

	if (virtio_dev_run(d) < 0)
		vp_stop(d, EXIT_RUNTIME);
	return NULL;
}

static int vp_start(struct pci_dev *p)
{
	struct virtio_dev *d = p->priv;
	sigset_t all, old;
	int r;

	if (d->started)
		return 0;
	d->no_sandbox = d->vm->opt.no_sandbox;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);   /* signals belong to the main thread */
	if (d->ops->start && (r = d->ops->start(d)) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return r;
	}
	r = pthread_create(&d->thread, NULL, vp_thread, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		fprintf(stderr, "vmm: %s: pthread_create: %s\n", d->name, strerror(r));
		return -r;
	}
	d->started = true;
	return 0;
}

int virtio_start(struct vm *vm)
{
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_dev *p = pci_dev_get(vm, s);
		if (p && p->start) {
			int r = p->start(p);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static void vp_print_stats(struct pci_dev *p, FILE *f)
{
	struct virtio_dev *d = p->priv;
	struct virtio_stats *s = d->stats;

	fprintf(f, "%s (%s): requests %llu, bytes %llu, interrupts %llu (+%llu config), "
		"notifications %llu (%llu via MMIO exits)", d->name, d->label,
		(unsigned long long)s->requests, (unsigned long long)s->bytes,
		(unsigned long long)s->irqs, (unsigned long long)s->config_irqs,
		(unsigned long long)s->kicks, (unsigned long long)s->kicks_exit);
	if (d->ops->stats)
		d->ops->stats(d, f);
	/* what the driver made available and the device has not returned (a hang's first clue) */
	const char *sep = "; buffers the device holds:";
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES && d->vm; i++) {
		const struct virtq *q = &d->vq[i];
		const volatile struct virtq_avail *a = q->enabled ? gm_ptr(&d->vm->mem, q->avail_gpa, 4) : NULL;
		const volatile struct virtq_used *u = q->enabled ? gm_ptr(&d->vm->mem, q->used_gpa, 4) : NULL;
		uint16_t held = a && u ? (uint16_t)(a->idx - u->idx) : 0;
		if (held) {
			fprintf(f, "%s queue %u %u", sep, i, held);
			sep = ",";
		}
	}
	fputc('\n', f);
}

void virtio_print_stats(struct vm *vm, FILE *f)
{
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_dev *p = pci_dev_get(vm, s);
		if (p && p->print_stats)
			p->print_stats(p, f);
	}
}
