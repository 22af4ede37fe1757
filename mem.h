/* mem.h: guest RAM backing: an fd that other processes can map, huge-page backed where the host allows. */
#ifndef MEM_H
#define MEM_H

#include <stdint.h>

/* How guest RAM is backed, best first (ram_backing_names says it in words for -v). */
enum ram_backing { RAM_HUGETLB, RAM_TMPFS_HUGE, RAM_MEMFD_THP, RAM_MEMFD };
extern const char *const ram_backing_names[];

/*
 * An fd of `size` bytes for guest RAM, the best backing this host allows:
 * hugetlb 2 MiB pages when the host has enough reserved and free; else, when
 * shmem_enabled is "never" (no huge pages for memfds), a file on a private
 * tmpfs mounted huge=always (made in a forked child, so vmm's own namespaces
 * stay as they are); else a memfd. Never touches the memory. Returns the fd
 * (close-on-exec) and sets *how, or -errno.
 */
int guest_ram_open(uint64_t size, enum ram_backing *how);
/*
 * Map all of fd shared, read-write, at a 2 MiB-aligned address (so KVM can use
 * large pages), with MADV_HUGEPAGE. NULL on failure (errno set).
 */
void *guest_ram_map(int fd, uint64_t size);
/* kB of this process's shared and file memory mapped with huge pages, from an open /proc/self/smaps_rollup. */
uint64_t guest_ram_huge_kb(int smaps_fd);

#endif
