/* virtio/proc.h: device processes (a spawner that forks sandboxed vhost-user back-ends) and --serve-vhost-user. */
#ifndef VIRTIO_PROC_H
#define VIRTIO_PROC_H

#include "virtio.h"

#define VMM_MAX_DISKS 8

/*
 * Fork the spawner (call before /dev/kvm is opened, while vmm has no other
 * thread): it keeps the disks' fds, vmm closes them. chans[i] is disk i's
 * channel to it; stats[i] the counters disk i's device processes add to, in
 * a page only vmm and they map. 0 or -errno.
 */
int devproc_start(struct blk **blks, unsigned n, bool no_sandbox, int *chans,
		  struct virtio_stats **stats) MUST_CHECK;
/*
 * A new back-end process for the disk on chan (killing the old one first):
 * its connected vhost-user socket, or -errno. *why says how the old one ended
 * ("1234 was killed by signal 9 (SIGKILL)"); *pid (if not NULL) the new process.
 */
int devproc_spawn(int chan, char *why, size_t whylen, pid_t *pid);
/* --serve-vhost-user: serve disk on a listening socket at path, for one front-end. Exit status. */
int devproc_serve(const char *path, const char *disk, bool no_sandbox);

#endif
