/* mem.h: guest RAM backing: an fd that other processes can map, huge-page backed where the host allows. */
#ifndef MEM_H
#define MEM_H

#include <stdint.h>

/* How guest RAM is backed, best first (ram_backing_names says it in words for -v). */
enum ram_backing { RAM_HUGETLB, RAM_TMPFS_HUGE, RAM_MEMFD_THP, RAM_MEMFD };
extern const char *const ram_backing_names[];

/*
 * Guest RAM of `size` bytes: an fd (close-on-exec) that another process can
 * map, mapped here shared and read-write at a 2 MiB-aligned address (so KVM
 * can use large pages), with the best backing this host allows: hugetlb 2 MiB
 * pages when enough are reserved and free; else, when shmem_enabled is
 * "never" (no huge pages for memfds), a file on a private tmpfs mounted
 * huge=always (made in a forked child, so vmm's own namespaces stay as they
 * are); else a memfd with MADV_HUGEPAGE. Never touches the memory. Sets *fd
 * and *how and returns the mapping, or NULL with errno set.
 */
void *guest_ram_create(uint64_t size, int *fd, enum ram_backing *how);
/*
 * Map [off, off + size) of fd shared and read-write at a 2 MiB-aligned
 * address, so KVM (or, in a device process, the CPU's TLB) can use 2 MiB
 * pages where the file has them. Without MAP_NORESERVE: hugetlb pages are
 * reserved here (or the map fails), never missed later as a SIGBUS. NULL with
 * errno set on failure.
 */
void *mem_map_aligned(int fd, uint64_t size, uint64_t off);
/* kB of this process's shared and file memory mapped with huge pages, from an open /proc/self/smaps_rollup. */
uint64_t guest_ram_huge_kb(int smaps_fd);

#endif
