/* tests/fuzz/fuzz_virtq.c: libFuzzer harness for the split-virtqueue walker: the input is the guest's ring memory. */
/*
 * Build: clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *        tests/fuzz/fuzz_virtq.c virtio/virtq.c io.c log.c -o build/fuzz_virtq
 * Every iovec of every chain popped is read and written whole, so ASan catches
 * any range the walker let through that is not inside the fake guest RAM.
 */
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

#define RAM_SIZE (64u << 10)

/* virtq.c reports through the transport when the queue has a device; here it has none. */
void virtio_dev_fail(struct virtio_dev *d, const char *why) { (void)d; (void)why; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static uint8_t *ram;
	static struct virtq_req req;
	struct virtq q;
	struct guest_mem mem;

	if (n < 4)
		return 0;
	if (!ram)
		ram = aligned_alloc(4096, RAM_SIZE);
	memset(&q, 0, sizeof(q));
	q.max_size = 256;
	virtq_reset(&q);
	q.size = (uint16_t)(1u << (data[0] % 9));
	q.desc_gpa = 0;
	q.avail_gpa = 0x1000 + (data[1] & 0x3E);
	q.used_gpa = 0x2000 + (data[2] & 0x3C);
	/* input: 4 config bytes, the avail ring, the descriptor table, then RAM from 0x3000 */
	size_t alen = 6 + 2u * q.size, dlen = 16u * q.size, off = 4;
	memset(ram, 0, RAM_SIZE);
	memcpy(ram + q.avail_gpa, data + off, n - off < alen ? n - off : alen);
	off += n - off < alen ? n - off : alen;
	memcpy(ram + q.desc_gpa, data + off, n - off < dlen ? n - off : dlen);
	off += n - off < dlen ? n - off : dlen;
	memcpy(ram + 0x3000, data + off, n - off < RAM_SIZE - 0x3000 ? n - off : RAM_SIZE - 0x3000);
	mem = (struct guest_mem){ .host = ram, .low_size = RAM_SIZE };
	if (virtq_setup(&q, &mem, (data[3] & 1 ? VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) : 0) |
				  (data[3] & 2 ? VIRTIO_BIT(VIRTIO_F_EVENT_IDX) : 0)) < 0)
		return 0;
	q.last_avail = q.used_idx = (uint16_t)((data[3] >> 2) * 1000u);
	for (int i = 0; i < 300; i++) {
		if (virtq_pop(&q, &req) <= 0)
			break;
		size_t total = 0;
		for (unsigned k = 0; k < req.nout + req.nin; k++) {
			volatile uint8_t *p = req.iov[k].iov_base;
			p[0] ^= p[req.iov[k].iov_len - 1];
			p[req.iov[k].iov_len - 1] ^= p[0];
			total += req.iov[k].iov_len;
		}
		if (total != req.out_bytes + req.in_bytes)
			__builtin_trap();
		virtq_push(&q, req.head, (uint32_t)req.in_bytes);
		(void)virtq_should_notify(&q);
		if (i % 7 == 0)
			(void)virtq_enable_notify(&q);
	}
	return 0;
}
