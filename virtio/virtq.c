/* virtio/virtq.c: the split virtqueue (virtio 1.2 2.7) as hostile input: every index, descriptor and range checked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtio.h"

static int virtq_fail(struct virtq *q, const char *why)
{
	q->broken = true;
	if (q->dev)
		virtio_dev_fail(q->dev, why);
	else
		guest_warn("virtq %u: %s", q->index, why);
	return -EINVAL;
}

void virtq_reset(struct virtq *q)
{
	q->size = q->max_size;
	q->msix_vector = VIRTIO_MSI_NO_VECTOR;
	q->enabled = false;
	q->desc_gpa = q->avail_gpa = q->used_gpa = 0;
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
	q->ready = q->broken = q->event_idx = q->indirect = false;
	q->last_avail = q->used_idx = q->signalled_used = 0;
	q->signalled_valid = false;
	q->inflight = NULL;
	q->inflight_counter = 0;
	free(q->resubmit);
	q->resubmit = NULL;
	q->nresubmit = q->resubmit_pos = 0;
}

int virtq_setup(struct virtq *q, const struct guest_mem *mem, uint64_t features)
{
	uint64_t n = q->size;

	if (n == 0 || (n & (n - 1)) || n > q->max_size)
		return -EINVAL;
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
		return -EINVAL;
	q->desc = gm_ptr(mem, q->desc_gpa, 16 * n);
	q->avail = gm_ptr(mem, q->avail_gpa, 6 + 2 * n);
	q->used = gm_ptr(mem, q->used_gpa, 6 + 8 * n);
	if (!q->desc || !q->avail || !q->used)
		return -EINVAL;
	q->mem = mem;
	q->event_idx = features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	q->indirect = features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	q->last_avail = q->used_idx = q->signalled_used = 0;
	q->signalled_valid = false;
	q->broken = false;
	q->ready = true;   /* the rings stay untouched until the device thread uses them */
	return 0;
}

static uint16_t *used_event(struct virtq *q)
{
	return &q->avail->ring[q->size];
}

static uint16_t *avail_event(struct virtq *q)
{
	return (uint16_t *)&q->used->ring[q->size];
}

/* One buffer of a chain: range inside RAM, non-empty, in[] only after out[]. */
static int add_buf(struct virtq *q, struct virtq_req *r, const struct virtq_desc *d)
{
	void *p;

	if (d->len == 0)
		return virtq_fail(q, "zero-length descriptor");
	if (r->nout + r->nin == VIRTQ_MAX_SEGS)
		return virtq_fail(q, "chain has too many buffers");
	p = gm_ptr(q->mem, d->addr, d->len);
	if (!p)
		return virtq_fail(q, "descriptor outside guest RAM");
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		r->in_bytes += d->len;
		r->nin++;
	} else {
		if (r->nin)
			return virtq_fail(q, "read-only descriptor after a write-only one");
		r->out_bytes += d->len;
		r->nout++;
	}
	r->iov[r->nout + r->nin - 1] = (struct iovec){ p, d->len };
	return 0;
}

/* Walk an indirect table: no nesting, length a multiple of 16, within limits. */
static int walk_indirect(struct virtq *q, struct virtq_req *r, const struct virtq_desc *id)
{
	const struct virtq_desc *table;
	uint32_t n = id->len / 16, i = 0;
	struct virtq_desc d;

	if (!q->indirect)
		return virtq_fail(q, "indirect descriptor not negotiated");
	if (id->flags & VIRTQ_DESC_F_NEXT)
		return virtq_fail(q, "indirect descriptor with NEXT");
	if (id->len == 0 || id->len % 16 || n > VIRTQ_MAX_SEGS)
		return virtq_fail(q, "bad indirect table length");
	table = gm_ptr(q->mem, id->addr, id->len);
	if (!table)
		return virtq_fail(q, "indirect table outside guest RAM");
	for (uint32_t count = 0;; count++) {
		if (count == n)
			return virtq_fail(q, "indirect chain loops");
		memcpy(&d, &table[i], sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return virtq_fail(q, "nested indirect table");
		if (add_buf(q, r, &d) < 0)
			return -EINVAL;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return virtq_fail(q, "indirect next out of range");
		i = d.next;
	}
}

/* Walk a chain from head; at most q->size descriptors in the ring itself. */
static int walk_chain(struct virtq *q, struct virtq_req *r, uint16_t head)
{
	struct virtq_desc d;
	uint16_t i = head;

	for (unsigned count = 0;; count++) {
		if (count == q->size)
			return virtq_fail(q, "descriptor chain longer than the queue (loop?)");
		memcpy(&d, &q->desc[i], sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return walk_indirect(q, r, &d);
		if (add_buf(q, r, &d) < 0)
			return -EINVAL;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= q->size)
			return virtq_fail(q, "descriptor next out of range");
		i = d.next;
	}
}

/* The inflight record of head, or NULL (none kept, or a head the record does not cover). */
static struct vq_inflight_desc *inflight_desc(struct virtq *q, uint16_t head)
{
	return q->inflight && head < q->inflight->desc_num ? &q->inflight->desc[head] : NULL;
}

static int pop_head(struct virtq *q, struct virtq_req *r, uint16_t head)
{
	struct vq_inflight_desc *f;

	r->head = head;
	r->nout = r->nin = 0;
	r->out_bytes = r->in_bytes = 0;
	if (walk_chain(q, r, head) < 0)
		return -EINVAL;
	if ((f = inflight_desc(q, head))) {
		f->counter = ++q->inflight_counter;
		__atomic_store_n(&f->inflight, 1, __ATOMIC_RELEASE);
	}
	return 1;
}

int virtq_pop(struct virtq *q, struct virtq_req *r)
{
	uint16_t avail_idx, head;

	if (!q->ready || q->broken)
		return q->broken ? -EINVAL : 0;
	if (q->resubmit_pos < q->nresubmit)
		return pop_head(q, r, q->resubmit[q->resubmit_pos++]);
	avail_idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
	if (avail_idx == q->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return virtq_fail(q, "avail index ran more than the queue size ahead");
	head = __atomic_load_n(&q->avail->ring[q->last_avail & (q->size - 1)], __ATOMIC_RELAXED);
	if (head >= q->size)
		return virtq_fail(q, "avail ring head out of range");
	if (pop_head(q, r, head) < 0)
		return -EINVAL;
	q->last_avail++;
	return 1;
}

void virtq_push_n(struct virtq *q, const struct virtq_used_elem *e, unsigned n)
{
	struct vq_inflight *in = q->inflight;
	uint16_t first = q->used_idx;

	if (!q->ready)
		return;
	/*
	 * The order the inflight record needs (a process may die between any two stores): the
	 * batch's heads on the last-batch list, the elements, one used->idx store for all of them
	 * (a guest never sees part of a batch), then the record cleared.
	 */
	for (unsigned i = 0; i < n; i++) {
		struct vq_inflight_desc *f = inflight_desc(q, (uint16_t)e[i].id);
		if (f) {
			f->next = in->last_batch_head;
			__atomic_store_n(&in->last_batch_head, (uint16_t)e[i].id, __ATOMIC_RELEASE);
		}
		memcpy(&q->used->ring[(uint16_t)(first + i) & (q->size - 1)], &e[i], sizeof(e[i]));
	}
	q->used_idx = (uint16_t)(first + n);
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
	if (!in)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct vq_inflight_desc *f = inflight_desc(q, (uint16_t)e[i].id);
		if (f)
			__atomic_store_n(&f->inflight, 0, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&in->used_idx, q->used_idx, __ATOMIC_RELEASE);
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	virtq_push_n(q, &(struct virtq_used_elem){ head, len }, 1);
}

int virtq_recover(struct virtq *q)
{
	struct vq_inflight *in = q->inflight;
	uint16_t used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE), h, n, k;
	unsigned count = 0;

	q->used_idx = used;
	if (!in || !in->version)
		return 0;
	/* pushes whose used->idx store landed but whose record was not cleared */
	h = in->last_batch_head;
	for (n = (uint16_t)(used - in->used_idx); n && h < in->desc_num; n--) {
		in->desc[h].inflight = 0;
		h = in->desc[h].next;
	}
	in->used_idx = used;
	for (unsigned i = 0; i < in->desc_num; i++)
		count += in->desc[i].inflight == 1;
	free(q->resubmit);
	q->resubmit = count ? malloc(count * sizeof(*q->resubmit)) : NULL;
	if (count && !q->resubmit)
		return -ENOMEM;
	/* oldest first: insertion sort by pop counter (at most a queue's worth) */
	for (unsigned i = 0, m = 0; i < in->desc_num; i++) {
		if (in->desc[i].inflight != 1)
			continue;
		for (k = (uint16_t)m; k && in->desc[q->resubmit[k - 1]].counter > in->desc[i].counter; k--)
			q->resubmit[k] = q->resubmit[k - 1];
		q->resubmit[k] = (uint16_t)i;
		m++;
		if (in->desc[i].counter > q->inflight_counter)
			q->inflight_counter = in->desc[i].counter;
	}
	q->nresubmit = count;
	q->resubmit_pos = 0;
	q->last_avail = (uint16_t)(used + count);
	return (int)count;
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old = q->signalled_used, new = q->used_idx, ev;
	bool valid = q->signalled_valid;

	if (!q->ready)
		return false;
	/* our used->idx store must be visible before we read the driver's wishes */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(__atomic_load_n(&q->avail->flags, __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	q->signalled_used = new;
	q->signalled_valid = true;
	if (!valid)
		return true;
	ev = __atomic_load_n(used_event(q), __ATOMIC_RELAXED);
	return (uint16_t)(new - ev - 1) < (uint16_t)(new - old);   /* vring_need_event */
}

void virtq_disable_notify(struct virtq *q)
{
	if (q->ready && !q->event_idx)
		__atomic_store_n(&q->used->flags, VIRTQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

bool virtq_enable_notify(struct virtq *q)
{
	if (!q->ready || q->broken)
		return false;
	if (q->event_idx)
		__atomic_store_n(avail_event(q), q->last_avail, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&q->used->flags, 0, __ATOMIC_RELAXED);
	/* publish the flag before re-reading avail->idx, or a kick can be lost */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE) != q->last_avail;
}

/* Copy between iov[] (from `skip` bytes in) and a flat buffer, in the direction asked. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t skip, uint8_t *buf, size_t len,
		       bool to_iov)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t c = iov[i].iov_len - skip;
		if (c > len - done)
			c = len - done;
		uint8_t *v = (uint8_t *)iov[i].iov_base + skip;
		if (to_iov)
			memcpy(v, buf + done, c);
		else
			memcpy(buf + done, v, c);
		done += c;
		skip = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
	return iov_copy(iov, n, skip, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
	return iov_copy(iov, n, skip, (uint8_t *)buf, len, true);
}
