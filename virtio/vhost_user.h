/* virtio/vhost_user.h: the vhost-user protocol (QEMU docs/interop/vhost-user.rst): messages, the back-end that serves one of our devices, the front-end that hands a device's rings to a back-end. */
#ifndef VHOST_USER_H
#define VHOST_USER_H

#include "virtio.h"

enum vu_req {
	VU_GET_FEATURES = 1, VU_SET_FEATURES = 2, VU_SET_OWNER = 3, VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5, VU_SET_LOG_BASE = 6, VU_SET_LOG_FD = 7, VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9, VU_SET_VRING_BASE = 10, VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12, VU_SET_VRING_CALL = 13, VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15, VU_SET_PROTOCOL_FEATURES = 16, VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18, VU_GET_CONFIG = 24, VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31, VU_SET_INFLIGHT_FD = 32, VU_RESET_DEVICE = 34,
	VU_GET_MAX_MEM_SLOTS = 36,
};

#define VU_VERSION              1
#define VU_FLAG_REPLY           (1u << 2)
#define VU_FLAG_NEED_REPLY      (1u << 3)
#define VU_F_PROTOCOL_FEATURES  30       /* a virtio feature bit vhost-user borrows */
#define VU_PF_MQ                0
#define VU_PF_REPLY_ACK         3
#define VU_PF_CONFIG            9
#define VU_PF_INFLIGHT_SHMFD    12
#define VU_VRING_NOFD           (1u << 8)
#define VU_MAX_FDS              8
#define VU_CONFIG_MAX           256      /* what QEMU sends at most */

struct vu_region { uint64_t gpa, size, ua, mmap_off; };

struct vu_msg {
	uint32_t req, flags, size;
	union {
		uint64_t u64;
		struct { uint32_t index, num; } state;
		struct { uint32_t index, flags; uint64_t desc, used, avail, log; } addr;
		struct { uint32_t n, padding; struct vu_region r[GM_MAX_REGIONS]; } mem;
		struct { uint32_t offset, size, flags; uint8_t data[VU_CONFIG_MAX]; } config;
		struct { uint64_t mmap_size, mmap_off; uint16_t nqueues, queue_size; } inflight;   /* 24 bytes on the wire, as QEMU sends it */
	} u;                    /* on the wire right after the 12-byte header */
};
#define VU_HDR 12

/*
 * Receive one message: header, payload (at most sizeof(u)), up to VU_MAX_FDS
 * fds (close-on-exec; the rest of fds[] is -1). 1 on success, 0 on a clean
 * end of stream, -errno on error (-EPROTO for a malformed message).
 */
int vu_recv(int sock, struct vu_msg *m, int fds[VU_MAX_FDS], int *nfds) MUST_CHECK;
/* Send header + m->size bytes of payload with nfds fds. 0 or -errno. */
int vu_send(int sock, const struct vu_msg *m, const int *fds, int nfds) MUST_CHECK;

/*
 * Back-end: serve device d (from virtio_dev_new, its ops->start already
 * called) on the connected socket until the front-end hangs up: returns 0
 * then, or -errno if the device thread failed. Runs virtio_dev_run (which
 * enters d's sandbox role) on the calling thread.
 */
int vu_serve(struct virtio_dev *d, int sock);

/* Front-end. */
enum vu_type { VU_TYPE_BLK, VU_TYPE_NET, VU_TYPE_FS };

/*
 * How a front-end gets a new back-end when the old one is gone (a device
 * process): respawn() returns the new connected socket or -errno (-ESHUTDOWN:
 * vmm is ending, say nothing) and fills *why with how the old one ended
 * ("killed by signal 9 (SIGKILL)"). NULL for
 * an external back-end, whose end stops the VM.
 */
struct vu_respawn {
	int (*respawn)(void *arg, char *why, size_t whylen);
	void *arg;
	bool exit_on_crash;     /* --on-device-crash exit */
	struct virtio_stats *stats;   /* the device process counts here (memory both map) */
};

/*
 * Attach a vhost-user device to the VM: handshake on `sock` (features,
 * protocol features, queue count, config space); the guest sees a virtio-pci
 * device of `type` whose rings the back-end serves. `label` names it in
 * messages. Fatal (EXIT_USAGE) if the back-end does not answer as vhost-user
 * or lacks what the type needs. fs_tag (virtio-fs only, else NULL): the
 * front-end makes the config space with this tag instead of asking the
 * back-end (virtiofsd has none). Same call order as virtio_dev_create.
 */
struct virtio_dev *vu_attach(struct vm *vm, int sock, enum vu_type type, const char *label,
			     const struct vu_respawn *rs, const char *fs_tag);
/* How a device process ended, from its wait status: "was killed by signal 9 (SIGKILL)". */
void vu_describe_status(int status, char *buf, size_t len);
/* Restarts of this front-end's back-end so far (--stats). */
unsigned vu_restarts(const struct virtio_dev *d);

#endif
