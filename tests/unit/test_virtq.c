/* tests/unit/test_virtq.c: the split-virtqueue walker against a fake guest memory, every malformed case included. */
#include <errno.h>

#include "unit.h"
#include "../../virtio/virtio.h"
#include "vm.h"

void vm_request_exit(struct vm *vm, int code) { (void)vm; (void)code; }
void vm_set_irq(struct vm *vm, unsigned pin, int level) { (void)vm; (void)pin; (void)level; }
#include "no_kvm_msi.h"

#define RAM_SIZE (1u << 20)
#define DESC  0x1000u
#define AVAIL 0x2000u
#define USED  0x3000u
#define BUF   0x10000u

static uint8_t *ram;
static struct guest_mem mem;
static struct virtq q;
static struct virtq_req req;

static struct virtq_desc *D(unsigned i) { return (struct virtq_desc *)(ram + DESC) + i; }
static struct virtq_avail *A(void) { return (struct virtq_avail *)(ram + AVAIL); }
static struct virtq_used *U(void) { return (struct virtq_used *)(ram + USED); }

static void set_desc(struct virtq_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void avail_add(uint16_t head)
{
	A()->ring[A()->idx & (q.size - 1)] = head;
	A()->idx++;
}

static void setup(uint16_t size, uint64_t features)
{
	memset(ram, 0, RAM_SIZE);
	memset(&q, 0, sizeof(q));
	q.max_size = 256;
	virtq_reset(&q);
	q.size = size;
	q.desc_gpa = DESC;
	q.avail_gpa = AVAIL;
	q.used_gpa = USED;
	CHECK(virtq_setup(&q, &mem, features) == 0);
}

static void test_simple_chain(void)
{
	setup(8, 0);
	CHECK(virtq_pop(&q, &req) == 0);
	set_desc(D(3), BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(D(5), BUF + 0x100, 100, VIRTQ_DESC_F_NEXT, 0);
	set_desc(D(0), BUF + 0x200, 1, VIRTQ_DESC_F_WRITE, 0);
	avail_add(3);
	CHECK(virtq_pop(&q, &req) == 1);
	CHECK(req.head == 3 && req.nout == 2 && req.nin == 1);
	CHECK(req.out_bytes == 116 && req.in_bytes == 1);
	CHECK(req.iov[0].iov_base == ram + BUF && req.iov[1].iov_len == 100);
	CHECK(req.iov[2].iov_base == ram + BUF + 0x200);
	CHECK(virtq_pop(&q, &req) == 0);
	virtq_push(&q, 3, 1);
	CHECK(U()->idx == 1 && U()->ring[0].id == 3 && U()->ring[0].len == 1);
	CHECK(!q.broken);
}

static void expect_broken(const char *what)
{
	int r = virtq_pop(&q, &req);
	if (r != -EINVAL || !q.broken)
		printf("  %s: pop returned %d\n", what, r);
	CHECK(r == -EINVAL && q.broken);
	CHECK(virtq_pop(&q, &req) == -EINVAL);   /* stays broken until reset */
}

static void test_loop(void)
{
	setup(8, 0);
	set_desc(D(0), BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(D(1), BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	avail_add(0);
	expect_broken("loop");
	setup(8, 0);   /* a self loop */
	set_desc(D(2), BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	avail_add(2);
	expect_broken("self loop");
}

static void test_chain_longer_than_queue(void)
{
	setup(4, 0);
	for (unsigned i = 0; i < 4; i++)
		set_desc(D(i), BUF, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	avail_add(0);    /* desc 3 points at 4 == size */
	expect_broken("next out of range");
	setup(4, 0);
	for (unsigned i = 0; i < 4; i++)
		set_desc(D(i), BUF, 16, i < 3 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	avail_add(0);    /* exactly the queue size: allowed */
	CHECK(virtq_pop(&q, &req) == 1 && req.nout == 4);
}

static void test_bad_ranges(void)
{
	setup(8, 0);
	set_desc(D(0), RAM_SIZE - 8, 16, 0, 0);
	avail_add(0);
	expect_broken("past end of RAM");
	setup(8, 0);
	set_desc(D(0), 0xFFFFFFFFFFFFFFF0ull, 0x20, 0, 0);
	avail_add(0);
	expect_broken("wrapping address");
	setup(8, 0);
	set_desc(D(0), 0xC0000000ull, 16, 0, 0);
	avail_add(0);
	expect_broken("MMIO hole");
}

static void test_zero_length(void)
{
	setup(8, 0);
	set_desc(D(0), BUF, 0, 0, 0);
	avail_add(0);
	expect_broken("zero length");
}

static void test_direction_order(void)
{
	setup(8, 0);
	set_desc(D(0), BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(D(1), BUF, 16, 0, 0);
	avail_add(0);
	expect_broken("read after write");
}

static void test_head_and_idx(void)
{
	setup(8, 0);
	avail_add(8);
	expect_broken("head out of range");
	setup(8, 0);
	set_desc(D(0), BUF, 16, 0, 0);
	A()->idx = 9;    /* 9 entries in an 8-entry ring */
	expect_broken("avail idx jump");
	setup(8, 0);
	set_desc(D(0), BUF, 16, 0, 0);
	A()->idx = 8;    /* exactly full: fine */
	for (int i = 0; i < 8; i++)
		CHECK(virtq_pop(&q, &req) == 1);
	CHECK(virtq_pop(&q, &req) == 0);
}

static void test_wraparound(void)
{
	setup(4, 0);
	q.last_avail = q.used_idx = 65534;
	A()->idx = U()->idx = 65534;
	set_desc(D(0), BUF, 16, 0, 0);
	set_desc(D(1), BUF, 32, 0, 0);
	set_desc(D(2), BUF, 48, 0, 0);
	avail_add(0);
	avail_add(1);
	avail_add(2);
	CHECK(A()->idx == 1);
	for (uint32_t i = 0; i < 3; i++) {
		CHECK(virtq_pop(&q, &req) == 1 && req.head == i && req.out_bytes == 16 * (i + 1));
		virtq_push(&q, req.head, 0);
	}
	CHECK(virtq_pop(&q, &req) == 0);
	CHECK(q.last_avail == 1 && U()->idx == 1);
	CHECK(U()->ring[2].id == 0 && U()->ring[3].id == 1 && U()->ring[0].id == 2);
}

static void test_indirect(void)
{
	struct virtq_desc *t = (struct virtq_desc *)(ram + 0x5000);
	uint64_t f = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);

	setup(8, f);
	set_desc(&t[0], BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	set_desc(&t[2], BUF + 0x100, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(&t[1], BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	set_desc(D(0), BUF + 0x800, 16, VIRTQ_DESC_F_NEXT, 1);   /* direct, then indirect */
	set_desc(D(1), 0x5000, 48, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	CHECK(virtq_pop(&q, &req) == 1 && req.nout == 2 && req.nin == 2);
	CHECK(req.in_bytes == 513 && req.iov[1].iov_base == ram + BUF);

	setup(8, 0);   /* not negotiated */
	set_desc(D(0), 0x5000, 48, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_broken("indirect not negotiated");

	setup(8, f);
	set_desc(D(0), 0x5000, 40, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_broken("indirect length not a multiple of 16");

	setup(8, f);
	set_desc(D(0), 0x5000, 0, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_broken("indirect length 0");

	setup(8, f);
	set_desc(&t[0], 0x6000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(D(0), 0x5000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_broken("indirect in indirect");

	setup(8, f);
	set_desc(&t[0], BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(&t[1], BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	set_desc(D(0), 0x5000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_broken("indirect loop");

	setup(8, f);
	set_desc(&t[0], BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	set_desc(D(0), 0x5000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_broken("indirect next out of table");

	setup(8, f);
	set_desc(D(0), RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_broken("indirect table outside RAM");

	setup(8, f);
	set_desc(D(0), 0x5000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	avail_add(0);
	expect_broken("indirect with NEXT");

	setup(8, f);
	set_desc(D(0), 0x20000, (VIRTQ_MAX_SEGS + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_broken("indirect table too long");
}

static void test_many_indirect_segments(void)
{
	struct virtq_desc *t = (struct virtq_desc *)(ram + 0x20000);
	setup(8, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
		set_desc(&t[i], BUF, 1, i + 1 < VIRTQ_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	set_desc(D(0), 0x20000, VIRTQ_MAX_SEGS * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	CHECK(virtq_pop(&q, &req) == 1 && req.nout == VIRTQ_MAX_SEGS);
	/* one direct descriptor more overflows the iovec array */
	setup(8, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
		set_desc(&t[i], BUF, 1, i + 1 < VIRTQ_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	set_desc(D(0), BUF, 1, VIRTQ_DESC_F_NEXT, 1);
	set_desc(D(1), 0x20000, VIRTQ_MAX_SEGS * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_broken("too many segments");
}

static void test_setup_checks(void)
{
	memset(ram, 0, RAM_SIZE);
	memset(&q, 0, sizeof(q));
	q.max_size = 256;
	virtq_reset(&q);
	CHECK(q.size == 256 && q.msix_vector == VIRTIO_MSI_NO_VECTOR);
	q.desc_gpa = DESC, q.avail_gpa = AVAIL, q.used_gpa = USED;
	q.size = 6;
	CHECK(virtq_setup(&q, &mem, 0) == -EINVAL);
	q.size = 512;
	CHECK(virtq_setup(&q, &mem, 0) == -EINVAL);
	q.size = 0;
	CHECK(virtq_setup(&q, &mem, 0) == -EINVAL);
	q.size = 8;
	q.desc_gpa = DESC + 8;
	CHECK(virtq_setup(&q, &mem, 0) == -EINVAL);
	q.desc_gpa = DESC;
	q.used_gpa = USED + 2;
	CHECK(virtq_setup(&q, &mem, 0) == -EINVAL);
	q.used_gpa = RAM_SIZE - 16;
	CHECK(virtq_setup(&q, &mem, 0) == -EINVAL);
	q.used_gpa = USED;
	CHECK(virtq_setup(&q, &mem, 0) == 0 && q.ready);
	CHECK(virtq_pop(&q, &req) == 0);
	virtq_reset(&q);
	CHECK(!q.ready && virtq_pop(&q, &req) == 0);
}

static uint16_t *used_event(void) { return &A()->ring[q.size]; }
static uint16_t *avail_event(void) { return (uint16_t *)&U()->ring[q.size]; }

static void test_event_idx(void)
{
	setup(8, VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	virtq_push(&q, 0, 0);
	CHECK(virtq_should_notify(&q));    /* first decision: always */
	virtq_push(&q, 0, 0);
	virtq_push(&q, 0, 0);              /* old 1, new 3 */
	*used_event() = 0;
	CHECK(!virtq_should_notify(&q));
	virtq_push(&q, 0, 0);              /* old 3, new 4: event 3 is in [3,4) */
	*used_event() = 3;
	CHECK(virtq_should_notify(&q));
	virtq_push(&q, 0, 0);
	virtq_push(&q, 0, 0);              /* old 4, new 6 */
	*used_event() = 5;
	CHECK(virtq_should_notify(&q));
	virtq_push(&q, 0, 0);              /* old 6, new 7 */
	*used_event() = 7;
	CHECK(!virtq_should_notify(&q));
	/* across the 16-bit wrap */
	q.used_idx = q.signalled_used = 65535;
	virtq_push(&q, 0, 0);              /* new 0 */
	*used_event() = 65535;
	CHECK(virtq_should_notify(&q));

	/* avail_event follows last_avail when notifications are re-enabled */
	set_desc(D(0), BUF, 16, 0, 0);
	avail_add(0);
	avail_add(0);
	CHECK(virtq_pop(&q, &req) == 1);
	CHECK(virtq_enable_notify(&q));    /* one still pending */
	CHECK(*avail_event() == 1);
	CHECK(virtq_pop(&q, &req) == 1);
	CHECK(!virtq_enable_notify(&q) && *avail_event() == 2);
}

static void test_flags_notify(void)
{
	setup(8, 0);
	virtq_push(&q, 0, 0);
	CHECK(virtq_should_notify(&q));
	A()->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	CHECK(!virtq_should_notify(&q));
	virtq_disable_notify(&q);
	CHECK(U()->flags == VIRTQ_USED_F_NO_NOTIFY);
	CHECK(!virtq_enable_notify(&q) && U()->flags == 0);
	set_desc(D(0), BUF, 16, 0, 0);
	avail_add(0);
	CHECK(virtq_enable_notify(&q));
}

static void test_iov_helpers(void)
{
	uint8_t a[3] = { 1, 2, 3 }, b[5] = { 4, 5, 6, 7, 8 }, out[8] = { 0 };
	struct iovec v[2] = { { a, 3 }, { b, 5 } };
	CHECK(iov_to_buf(v, 2, 2, out, 4) == 4 && out[0] == 3 && out[1] == 4 && out[3] == 6);
	CHECK(iov_to_buf(v, 2, 7, out, 4) == 1 && out[0] == 8);
	CHECK(iov_to_buf(v, 2, 9, out, 4) == 0);
	uint8_t in[4] = { 9, 9, 9, 9 };
	CHECK(iov_from_buf(v, 2, 1, in, 4) == 4 && a[1] == 9 && a[2] == 9 && b[1] == 9 && b[2] == 6);
}

int main(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	mem = (struct guest_mem){ .host = ram, .low_size = RAM_SIZE };
	RUN(test_simple_chain);
	RUN(test_loop);
	RUN(test_chain_longer_than_queue);
	RUN(test_bad_ranges);
	RUN(test_zero_length);
	RUN(test_direction_order);
	RUN(test_head_and_idx);
	RUN(test_wraparound);
	RUN(test_indirect);
	RUN(test_many_indirect_segments);
	RUN(test_setup_checks);
	RUN(test_event_idx);
	RUN(test_flags_notify);
	RUN(test_iov_helpers);
	free(ram);
	return UNIT_DONE();
}
