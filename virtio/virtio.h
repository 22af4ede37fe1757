/* virtio/virtio.h: virtio 1.2 devices: the split virtqueue, the virtio-pci modern transport with MSI-X, the device ops and the device entry points. */
#ifndef VIRTIO_H
#define VIRTIO_H

#include <stdio.h>
#include <sys/uio.h>

#include "../dev/pci.h"
#include "../vmm.h"

/* Feature bits (virtio 1.2 section 6). */
#define VIRTIO_F_INDIRECT_DESC  28
#define VIRTIO_F_EVENT_IDX      29
#define VIRTIO_F_VERSION_1      32
#define VIRTIO_BIT(b)           (1ull << (b))

/* Device status bits. */
#define VIRTIO_S_ACKNOWLEDGE    0x01
#define VIRTIO_S_DRIVER         0x02
#define VIRTIO_S_DRIVER_OK      0x04
#define VIRTIO_S_FEATURES_OK    0x08
#define VIRTIO_S_NEEDS_RESET    0x40
#define VIRTIO_S_FAILED         0x80

#define VIRTIO_MSI_NO_VECTOR    0xFFFF
#define VIRTIO_MAX_QUEUES       16
#define VIRTQ_MAX_SIZE          1024   /* largest queue a device may offer */
#define VIRTQ_MAX_SEGS          1024   /* iovecs per chain (direct + indirect) */
#define VIRTIO_CONFIG_MAX       0x1000 /* bytes of device config space at most */

/* Split ring layout (virtio 1.2 2.7). */
#define VIRTQ_DESC_F_NEXT       1
#define VIRTQ_DESC_F_WRITE      2
#define VIRTQ_DESC_F_INDIRECT   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY  1

struct virtq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct virtq_avail { uint16_t flags, idx, ring[]; /* then used_event */ };
struct virtq_used_elem { uint32_t id, len; };
struct virtq_used { uint16_t flags, idx; struct virtq_used_elem ring[]; /* then avail_event */ };

struct virtio_dev;

/*
 * Requests in flight, kept in memory that outlives the process serving the
 * queue (vhost-user's inflight buffer, split-ring layout of QEMU's
 * docs/interop/vhost-user.rst), so that a new process can redo them.
 */
struct vq_inflight_desc {
	uint8_t inflight;          /* 1 from pop to push (head descriptors only) */
	uint8_t padding[5];
	uint16_t next;             /* the last batch of pushes, a list from last_batch_head */
	uint64_t counter;          /* pop order */
};
struct vq_inflight {
	uint64_t features;
	uint16_t version;          /* 1; 0: not yet initialised */
	uint16_t desc_num;         /* = the queue size */
	uint16_t last_batch_head;
	uint16_t used_idx;         /* used->idx after the last completed push */
	struct vq_inflight_desc desc[];
};
/* Bytes of one queue's inflight region for a queue of `size`. */
#define VQ_INFLIGHT_BYTES(size) ((sizeof(struct vq_inflight) + 16ull * (size) + 63) & ~63ull)

/*
 * One split virtqueue. The driver-facing fields (size .. enabled) are written by
 * the transport on vCPU threads while the queue is disabled; the ring fields
 * are set by virtq_setup and then used only by the device thread.
 */
struct virtq {
	struct virtio_dev *dev;     /* NULL in unit tests: errors only mark the queue broken */
	unsigned index;
	uint16_t max_size;          /* what the device offers */
	uint16_t size;              /* queue_size as set by the driver */
	uint16_t msix_vector;
	bool enabled;
	gpa_t desc_gpa, avail_gpa, used_gpa;
	int kick_efd;               /* the queue's ioeventfd (device thread reads it) */
	int call_efd, err_efd;      /* vhost-user back-end: interrupt and error eventfds, or -1 */

	/* live ring state, device thread only (under the device lock) */
	const struct guest_mem *mem;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	bool ready, broken, event_idx, indirect;
	uint16_t last_avail;        /* next avail entry to consume */
	uint16_t used_idx;          /* our copy of used->idx */
	uint16_t signalled_used;    /* used idx at the last notification decision */
	bool signalled_valid;
	struct vq_inflight *inflight;   /* shared in-flight record, or NULL */
	uint64_t inflight_counter;
	uint16_t *resubmit;         /* heads to serve again before the avail ring (recovery) */
	unsigned nresubmit, resubmit_pos;
};

/* One popped chain: out[] (driver -> device) first, then in[] (device -> driver). */
struct virtq_req {
	uint16_t head;
	unsigned nout, nin;
	size_t out_bytes, in_bytes;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/*
 * Validate the driver's ring configuration (size a power of two <= max_size,
 * alignment 16/2/4, the three areas inside RAM) and make the queue ready,
 * negotiating event_idx/indirect from `features`. -EINVAL if the driver got it
 * wrong (the caller decides what that means for the device).
 */
int virtq_setup(struct virtq *q, const struct guest_mem *mem, uint64_t features) MUST_CHECK;
/* Forget the ring (device reset); the driver-facing fields go back to their defaults. */
void virtq_reset(struct virtq *q);
/*
 * After virtq_setup, with q->inflight set (a new process takes over a ring):
 * complete the record of the last batch the old one pushed, then queue every
 * head still in flight, oldest first, to be popped again before the avail
 * ring, and continue the avail ring after them. Returns the number queued,
 * or -ENOMEM.
 */
int virtq_recover(struct virtq *q) MUST_CHECK;
/*
 * Take the next available chain into *req as iovecs into guest memory.
 * 1: got one; 0: ring empty; -EINVAL: the driver broke a rule (the queue is
 * now broken and, with a device, DEVICE_NEEDS_RESET is raised). Device thread only.
 */
int virtq_pop(struct virtq *q, struct virtq_req *req) MUST_CHECK;
/* Return chain `head` with `len` bytes written into its in[] buffers. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);
/* Return n chains at once: the driver sees all of them or none (one used->idx store). */
void virtq_push_n(struct virtq *q, const struct virtq_used_elem *e, unsigned n);
/* Whether the driver wants an interrupt for what was pushed since the last call (EVENT_IDX or flags). */
bool virtq_should_notify(struct virtq *q);
/*
 * Kick suppression. A process callback drains like this, so that no kick is
 * lost and a batch costs one interrupt:
 *     do {
 *             virtq_disable_notify(q);
 *             while ((r = virtq_pop(q, req)) > 0) { serve; virtq_push(q, req->head, len); }
 *             if (r < 0) return;          (the device already needs a reset)
 *             virtio_notify(dev, q);
 *     } while (virtq_enable_notify(q));
 * disable: ask the driver not to kick while we drain (flags; with EVENT_IDX
 * the stale avail_event does the same). enable: ask for kicks again (flags or
 * avail_event = last_avail); true if buffers arrived meanwhile.
 */
void virtq_disable_notify(struct virtq *q);
bool virtq_enable_notify(struct virtq *q) MUST_CHECK;

/* iovec helpers: copy between a flat buffer and iov[0..n) starting `skip` bytes in; return bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);

/* ---- devices ---- */

/*
 * What a device type provides. Callbacks marked (vCPU) run under vm->io_lock
 * and the device lock; (device) run on the device's I/O thread under the device
 * lock, never concurrently with a reset.
 */
struct virtio_ops {
	const char *name;          /* "virtio-blk" */
	uint16_t device_id;        /* virtio device id: 1 net, 2 blk */
	uint32_t pci_class;        /* e.g. 0x018000 */
	uint64_t features;         /* device-specific offers; the transport adds VERSION_1, EVENT_IDX, INDIRECT_DESC */
	unsigned nqueues;
	uint32_t kernel_queues;    /* queues the host kernel serves (vhost): their kicks are not read here */
	uint16_t queue_size;       /* max size offered for each queue (power of two <= VIRTQ_MAX_SIZE) */
	uint32_t config_len;       /* bytes of device config space */
	int sandbox_role;          /* enum sb_role the device thread enters (sandbox/sandbox.h) */
	/* (vCPU) read/write device config; off+len <= config_len is checked by the transport. */
	void (*config_read)(struct virtio_dev *d, unsigned off, void *buf, unsigned len);
	void (*config_write)(struct virtio_dev *d, unsigned off, const void *buf, unsigned len);
	/* (device) queue q was kicked, or the driver just became DRIVER_OK. */
	void (*process)(struct virtio_dev *d, struct virtq *q);
	/* (vCPU) the driver reset the device: drop in-flight state, without waiting for it. Optional. */
	void (*reset)(struct virtio_dev *d);
	/*
	 * (vCPU) true while work from before the last reset may still write guest
	 * memory; device_status reads non-zero until then (virtio 1.2 4.1.4.3.2:
	 * the driver waits for 0). Optional.
	 */
	bool (*resetting)(struct virtio_dev *d);
	/* (vCPU) DRIVER_OK was set. Optional. */
	void (*activate)(struct virtio_dev *d);
	/*
	 * (main) virtio_start, just before the device thread is created, with all
	 * signals blocked: create helper threads (each calls sandbox_enter first
	 * thing unless --no-sandbox). Optional. 0 or -errno (message printed).
	 */
	int (*start)(struct virtio_dev *d);
	/* (main) --stats: append ", name value" fields to the device's line. Optional. */
	void (*stats)(struct virtio_dev *d, FILE *f);
};

/* Counters for --stats (relaxed atomics: written by device threads). */
struct virtio_stats {
	atomic_ullong requests;     /* chains completed */
	atomic_ullong bytes;        /* payload bytes moved */
	atomic_ullong irqs;         /* queue interrupts signalled */
	atomic_ullong config_irqs;  /* config interrupts signalled */
	atomic_ullong kicks;        /* notifications taken from the ioeventfds */
	atomic_ullong kicks_exit;   /* of which came through an MMIO exit (slow path) */
};

#define VIRTIO_MAX_WATCH 4
typedef void virtio_watch_fn(struct virtio_dev *d, void *arg);

struct virtio_dev {
	struct vm *vm;               /* NULL in a vhost-user back-end */
	bool no_sandbox;
	bool backend;                /* served over vhost-user (a device process or --serve-vhost-user) */
	bool quit;                   /* virtio_dev_run returns */
	/* The transport raises a queue's interrupt (q) or the config interrupt (NULL); false if none went out. */
	bool (*raise)(struct virtio_dev *d, struct virtq *q);
	/* Something the device cannot go on without failed: stop the VM (or the device process) with code. */
	void (*stop)(struct virtio_dev *d, int code);
	const struct virtio_ops *ops;
	void *priv;                  /* the device type's state */
	char name[48];               /* "virtio-blk 00:02.0" */
	const char *label;           /* e.g. the disk path, for messages */
	struct pci_dev pci;
	struct msix msix;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	pthread_mutex_t lock;        /* device thread vs reset/status changes */
	pthread_t thread;
	bool started;
	int sandbox_fd;              /* the device thread's own fd for its role's ioctls (net: the tap), or -1 */
	int epfd;
	struct { int fd; uint32_t events; virtio_watch_fn *fn; void *arg; } watch[VIRTIO_MAX_WATCH];
	int nwatch;
	bool ioeventfd_any_len;

	/* common configuration, vCPU side (io_lock) */
	uint64_t offered;            /* all feature bits offered */
	uint64_t driver_features;
	uint32_t dfselect, gfselect;
	uint16_t queue_sel;
	uint16_t config_vector;
	uint8_t status;              /* atomics: the device thread ORs in NEEDS_RESET */
	uint8_t status_at_reset;     /* what device_status reads while ops->resetting */
	uint8_t config_gen;
	uint8_t isr;
	/* --stats counters: own_stats, or for a device process's disk a slot in memory
	 * it shares with vmm (both sides add to it; the process could write nonsense there) */
	struct virtio_stats *stats;
	struct virtio_stats own_stats;
};

/*
 * Create a virtio-pci device (1AF4:1040+id, revision 1, MSI-X with one vector
 * per queue plus config, INTA as a fallback) on bus 0, its 32 KiB 64-bit BAR0
 * assigned and its queue ioeventfds registered. Call after pci_init, after
 * the VM (vm_fd) and the IOAPIC exist. Fatal (EXIT_USAGE) if the bus is full,
 * EXIT_RUNTIME on other failures. `label` names it in messages and stats.
 */
struct virtio_dev *virtio_dev_create(struct vm *vm, const struct virtio_ops *ops, void *priv,
				     const char *label);
/*
 * The transport-independent part of a device: queues with their kick
 * eventfds, the epoll set, the lock. NULL if ops are invalid or out of
 * resources. The caller sets d->raise (and d->vm for the PCI transport).
 */
struct virtio_dev *virtio_dev_new(const struct virtio_ops *ops, void *priv, const char *label);
/* Replace queue qi's kick eventfd (closing the old one); -1 for none. -errno. */
int virtio_set_kick(struct virtio_dev *d, unsigned qi, int fd);
/*
 * The device thread: name it, enter its sandbox role (unless no_sandbox),
 * then serve kicks and watched fds until d->quit. 0, or -errno on failure
 * (message printed).
 */
int virtio_dev_run(struct virtio_dev *d);
/* The n-th virtio device on the bus (slot order), or NULL. */
struct virtio_dev *virtio_dev_get(struct vm *vm, unsigned n);
/*
 * Device thread: complete the batch just pushed on q: signal its MSI-X vector
 * if virtq_should_notify says so. Counts interrupts.
 */
void virtio_notify(struct virtio_dev *d, struct virtq *q);
/* The device config changed: bump config_generation, raise the config vector. Any thread. */
void virtio_config_changed(struct virtio_dev *d);
/* The driver broke a rule: set DEVICE_NEEDS_RESET, raise the config vector, log (rate limited). Any thread. */
void virtio_dev_fail(struct virtio_dev *d, const char *why);
/* Whether the device should process queues now (DRIVER_OK, not failed, not needing reset). */
bool virtio_dev_running(const struct virtio_dev *d);
/*
 * Run what the device thread runs for a kick of queue qi (takes the device
 * lock; does nothing unless running and the queue is ready). Unit tests call
 * it directly instead of starting threads.
 */
void virtio_process_queue(struct virtio_dev *d, unsigned qi);
/*
 * Before virtio_start: also poll fd (EPOLLIN | extra events) on the device
 * thread and call fn(d, arg) under the device lock when it fires (e.g. a tap).
 * -ENOSPC if too many.
 */
int virtio_watch_fd(struct virtio_dev *d, int fd, uint32_t events, virtio_watch_fn *fn, void *arg) MUST_CHECK;

/* Watch `fd` instead of what watch idx watched (a new back-end's socket). 0 or -errno. */
int virtio_watch_replace(struct virtio_dev *d, int idx, int fd) MUST_CHECK;

/*
 * Start one I/O thread per virtio device (after the vCPUs exist, before the
 * main thread enters its sandbox). Each thread blocks all signals and, unless
 * --no-sandbox, calls sandbox_enter(ops->sandbox_role, sandbox_fd) before touching guest
 * memory; if that fails the VM is stopped with EXIT_RUNTIME. -errno on
 * failure, message printed.
 */
int virtio_start(struct vm *vm) MUST_CHECK;
/* --stats: one line per device: requests, bytes, interrupts, notifications. */
void virtio_print_stats(struct vm *vm, FILE *f);

/*
 * virtio-blk from a --disk spec "PATH[,ro][,direct][,serial=ID]" (a raw image
 * file or a block device; ID at most 20 bytes). The image is locked with
 * flock: LOCK_EX, or LOCK_SH with ,ro, so readers can share it. A size that
 * is not a multiple of 512 is rounded down with a warning. A bad spec, an
 * image that cannot be opened (read-only without ,ro; ,direct on a file
 * system without O_DIRECT), that is empty, or that is locked by another
 * process is fatal (EXIT_USAGE) with a message naming it. Same call order as
 * virtio_dev_create.
 */
void virtio_blk_create(struct vm *vm, const char *spec);
/* virtio_blk_create in two steps: open and check the image (no VM needed), then attach it. */
struct blk;
struct blk *virtio_blk_open(const char *spec);
void virtio_blk_attach(struct vm *vm, struct blk *b);
/* The disk as a device of its own, for a vhost-user back-end (its thread's role is blk-proc). */
struct virtio_dev *virtio_blk_backend(struct blk *b);
/* The image's fd (a device process's siblings close it) and its path. */
int virtio_blk_fd(const struct blk *b);
const char *virtio_blk_path(const struct blk *b);

/*
 * virtio-net on a tap from a --net spec "tap=IFNAME[,mac=MAC]": attaches to
 * the tap IFNAME (created if absent; the host configures it) with vnet
 * headers; without mac= the MAC is 52:54:00 plus a hash of IFNAME, the same
 * every run. A bad spec or a tap that cannot be opened is fatal (EXIT_USAGE)
 * with a message naming the interface.
 */
void virtio_net_create(struct vm *vm, const char *spec);
/* virtio_net_create in two steps: open the tap (no VM needed), then attach it. */
struct net;
struct net *virtio_net_open(const char *spec);
void virtio_net_attach(struct vm *vm, struct net *n);
/* The tap as a device of its own, for a vhost-user back-end (its thread's role is net-proc). */
struct virtio_dev *virtio_net_backend(struct net *n);
/* The tap's fd (a device process's siblings close it) and its interface name. */
int virtio_net_fd(const struct net *n);
const char *virtio_net_ifname(const struct net *n);

/*
 * virtio-vsock from a --vsock spec "cid=N" (3 <= N < 2^32-1), served by the
 * host's /dev/vhost-vsock: open it, take the CID (a CID in use by another VM,
 * a missing vhost_vsock module or a bad spec is fatal, EXIT_USAGE, naming the
 * option), then attach the device (same call order as virtio_dev_create).
 */
struct vsock;
struct vsock *virtio_vsock_open(const char *spec);
void virtio_vsock_attach(struct vm *vm, struct vsock *v);

/*
 * virtio-fs (virtio 1.2 5.11) exporting a host directory from a --share spec
 * "HOSTDIR,tag=NAME[,ro]" (NAME 1..36 bytes). A bad spec, or a HOSTDIR that is
 * not an openable directory, is fatal (EXIT_USAGE) naming --share.
 */
struct fs;
struct fs *virtio_fs_open(const char *spec);
/* The export as a device of its own, for a vhost-user back-end (its thread's role is fs-proc). */
struct virtio_dev *virtio_fs_backend(struct fs *f);
/* The export root's fd (O_PATH|O_DIRECTORY), its tag, whether it is read-only, its host path. */
int virtio_fs_fd(const struct fs *f);
const char *virtio_fs_tag(const struct fs *f);
bool virtio_fs_ro(const struct fs *f);
const char *virtio_fs_path(const struct fs *f);
/*
 * The export's tables (nodeids, open files) in memory that outlives the
 * process serving it: a device process's spawner maps virtio_fs_state_bytes()
 * of shared memory, zeroed, once per export; each process it forks for the
 * export calls virtio_fs_use_state before serving, and the one that replaces
 * a dead one takes over every nodeid and fh the guest holds (reopening their
 * files as it needs them). Pages never used cost nothing.
 */
size_t virtio_fs_state_bytes(void);
void virtio_fs_use_state(struct fs *f, void *mem);
/*
 * Serve one FUSE request: out[] holds fuse_in_header + arguments (what the
 * driver wrote), in[] the room for fuse_out_header + reply. Returns the bytes
 * written to in[] (what goes in the used ring): 0 for requests that get no
 * reply (FORGET, BATCH_FORGET, INTERRUPT) or when in[] cannot hold a header.
 * Any bytes are safe. The device thread (or a test) only.
 */
size_t fuse_serve(struct fs *f, const struct iovec *out, unsigned nout, const struct iovec *in, unsigned nin);

#endif
