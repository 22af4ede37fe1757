/* virtio/proc.h: device processes (a spawner that forks sandboxed vhost-user back-ends) and --serve-vhost-user. */
#ifndef VIRTIO_PROC_H
#define VIRTIO_PROC_H

#include "vhost_user.h"

#define VMM_MAX_DEVPROCS 24   /* 8 disks, 8 taps and 8 exports */

/* What one device process serves: a disk (VU_TYPE_BLK), a tap (VU_TYPE_NET) or an export (VU_TYPE_FS). */
struct devproc_dev {
	enum vu_type type;
	struct blk *blk;
	struct net *net;
	struct fs *fs;
};

/* Open and check a --disk, --net or --share spec (fatal, EXIT_USAGE, naming it if bad). */
struct devproc_dev devproc_open(enum vu_type type, const char *spec);
/* The disk's path, the tap's name or the export's directory. */
const char *devproc_label(const struct devproc_dev *dv);

/*
 * Fork the spawner (call before /dev/kvm is opened, while vmm has no other
 * thread): it keeps the devices' fds (disks, taps), vmm closes them. chans[i]
 * is device i's channel to it; stats[i] the counters device i's processes add
 * to, in a page only vmm and they map. 0 or -errno.
 */
int devproc_start(const struct devproc_dev *devs, unsigned n, bool no_sandbox, int *chans,
		  struct virtio_stats **stats) MUST_CHECK;
/*
 * A new back-end process for the device on chan (killing the old one first):
 * its connected vhost-user socket, or -errno. *why says how the old one ended
 * ("1234 was killed by signal 9 (SIGKILL)"); *pid (if not NULL) the new process.
 */
int devproc_spawn(int chan, char *why, size_t whylen, pid_t *pid);
/*
 * vmm is ending: the spawner kills its device processes, waits for them and
 * closes the disks and taps; returns once it has (at most 5 s), so that a
 * disk's lock is free when vmm exits. Call from the main thread (it uses
 * close, poll and read only).
 */
void devproc_stop(void);
/* --serve-vhost-user: serve the --disk, --net or --share `spec` on a listening socket at path, for one front-end. Exit status. */
int devproc_serve(const char *path, enum vu_type type, const char *spec, bool no_sandbox);

#endif
