/* mem.c: guest RAM: an fd another process can map, backed by 2 MiB pages where the host allows, mapped 2 MiB-aligned. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem.h"

#define HUGE_2M (2ull << 20)

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004u
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21u << 26)
#endif

const char *const ram_backing_names[] = {
	[RAM_HUGETLB] = "hugetlb memfd (2 MiB pages reserved by the host)",
	[RAM_TMPFS_HUGE] = "file on a private tmpfs mounted huge=always (2 MiB pages)",
	[RAM_MEMFD_THP] = "memfd with MADV_HUGEPAGE (shmem_enabled allows 2 MiB pages)",
	[RAM_MEMFD] = "memfd with 4 KiB pages (this host gives shared memory no huge pages)",
};

/* The selected word of /sys/kernel/mm/transparent_hugepage/shmem_enabled ("never" if unknown). */
static void shmem_thp_mode(char *mode, size_t len)
{
	char buf[128] = "";
	int fd = open("/sys/kernel/mm/transparent_hugepage/shmem_enabled", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	char *l = n > 0 ? strchr(buf, '[') : NULL, *r = l ? strchr(l, ']') : NULL;

	if (fd >= 0)
		close(fd);
	snprintf(mode, len, "%.*s", l && r ? (int)(r - l - 1) : 5, l && r ? l + 1 : "never");
}

/* Free 2 MiB hugetlb pages the host has reserved (HugePages_Free with a 2048 kB Hugepagesize). */
static uint64_t hugetlb_free_2m(void)
{
	char buf[4096];
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	const char *f, *s;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	f = strstr(buf, "HugePages_Free:");
	s = strstr(buf, "Hugepagesize:");
	if (!f || !s || strtoull(s + 13, NULL, 10) != 2048)
		return 0;
	return strtoull(f + 15, NULL, 10);
}

static int memfd_sized(unsigned flags, uint64_t size)
{
	int fd = memfd_create("vmm-guest-ram", MFD_CLOEXEC | flags);

	if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_fd(int sock, int fd)
{
	char c = 0;
	struct iovec iov = { &c, 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	memset(&u, 0, sizeof(u));
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char c;
	struct iovec iov = { &c, 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	int fd = -1;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(h), sizeof(int));
	return fd;
}

/*
 * In a child, so vmm's own mount namespace and credentials stay as they are:
 * a private mount namespace (a user namespace too when not root), a tmpfs
 * mounted huge=always, an unnamed file in it, the mount detached at once.
 * The file lives as long as its fd, which comes back over a socketpair.
 */
static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!write(fd, text, strlen(text));
		close(fd);
	}
}

/* Not root: a user namespace where we are root, mapped to who we are. */
static int unshare_as_user(void)
{
	char map[64];
	unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", uid);
	write_file("/proc/self/uid_map", map);
	write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1", gid);
	write_file("/proc/self/gid_map", map);
	return 0;
}

static int tmpfs_huge_child(int sock, uint64_t size)
{
	static const char *const dirs[] = { "/tmp", "/mnt", "/run", "/dev" };
	char opts[64];
	int fd = -1;

	if (unshare(CLONE_NEWNS) < 0 && (errno != EPERM || unshare_as_user() < 0))
		return 1;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)   /* nothing leaks to the host */
		return 1;
	snprintf(opts, sizeof(opts), "huge=always,size=%llu,mode=0700", (unsigned long long)size);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && fd < 0; i++) {
		if (mount("vmm-ram", dirs[i], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
			continue;
		fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		umount2(dirs[i], MNT_DETACH);
	}
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return 1;
	return send_fd(sock, fd) < 0;
}

static int tmpfs_huge(uint64_t size)
{
	int sv[2], fd, status;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	fflush(NULL);   /* the child must not write out our buffered output a second time */
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		_exit(tmpfs_huge_child(sv[1], size));
	}
	close(sv[1]);
	fd = pid > 0 ? recv_fd(sv[0]) : -1;
	close(sv[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	return fd;
}

/* An fd with the best backing from `from` on; -errno if not even a memfd. */
static int ram_open(uint64_t size, enum ram_backing from, enum ram_backing *how)
{
	char mode[32];
	int fd;

	if (from == RAM_HUGETLB && size % HUGE_2M == 0 && hugetlb_free_2m() >= size / HUGE_2M &&
	    (fd = memfd_sized(MFD_HUGETLB | MFD_HUGE_2MB, size)) >= 0) {
		*how = RAM_HUGETLB;
		return fd;
	}
	shmem_thp_mode(mode, sizeof(mode));
	if (from <= RAM_TMPFS_HUGE && strcmp(mode, "never") == 0 && (fd = tmpfs_huge(size)) >= 0) {
		*how = RAM_TMPFS_HUGE;
		return fd;
	}
	*how = strcmp(mode, "never") && strcmp(mode, "deny") ? RAM_MEMFD_THP : RAM_MEMFD;
	fd = memfd_sized(0, size);
	return fd >= 0 ? fd : -errno;
}

void *mem_map_aligned(int fd, uint64_t size, uint64_t off)
{
	/* reserve size + 2 MiB, then put the mapping on the first 2 MiB boundary in it */
	uint8_t *r = mmap(NULL, size + HUGE_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *p;

	if (r == MAP_FAILED)
		return NULL;
	p = (uint8_t *)(((uintptr_t)r + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
	if (mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)off) == MAP_FAILED) {
		int e = errno;
		munmap(r, size + HUGE_2M);
		errno = e;
		return NULL;
	}
	if (p > r)
		munmap(r, (size_t)(p - r));
	munmap(p + size, (size_t)(r + HUGE_2M - p));
	(void)!madvise(p, size, MADV_HUGEPAGE);   /* a no-op unless shmem THP is "advise" or more */
	return p;
}

void *guest_ram_create(uint64_t size, int *fd_out, enum ram_backing *how)
{
	for (enum ram_backing from = RAM_HUGETLB;; from = *how + 1) {
		int fd = ram_open(size, from, how);
		if (fd < 0) {
			errno = -fd;
			return NULL;
		}
		void *p = mem_map_aligned(fd, size, 0);
		if (p) {
			*fd_out = fd;
			return p;
		}
		int err = errno;
		close(fd);
		if (*how == RAM_MEMFD || *how == RAM_MEMFD_THP) {
			errno = err;
			return NULL;
		}
	}
}

/* The kB value of `key` in smaps_rollup text, 0 if absent. */
static uint64_t kb_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

uint64_t guest_ram_huge_kb(int smaps_fd)
{
	char buf[4096];
	ssize_t n;

	if (smaps_fd < 0 || lseek(smaps_fd, 0, SEEK_SET) < 0 || (n = read(smaps_fd, buf, sizeof(buf) - 1)) <= 0)
		return 0;
	buf[n] = 0;
	return kb_field(buf, "ShmemPmdMapped:") + kb_field(buf, "FilePmdMapped:") +
	       kb_field(buf, "Shared_Hugetlb:") + kb_field(buf, "Private_Hugetlb:");
}
