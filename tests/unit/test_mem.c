/* tests/unit/test_mem.c: guest RAM backing: shareable by fd with another process, 2 MiB-aligned, huge pages where the host allows. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "../../mem.h"

#define SIZE (64ull << 20)

/* A second process maps the same fd: what it writes, we read, and the reverse. */
static void test_shared_with_child(void)
{
	enum ram_backing how;
	int fd = -1;
	uint8_t *p = guest_ram_create(SIZE, &fd, &how);
	CHECK(p != NULL && fd >= 0 && ((uintptr_t)p & ((2u << 20) - 1)) == 0);
	if (!p)
		return;
	p[5 << 20] = 0x11;
	pid_t pid = fork();
	if (pid == 0) {
		uint8_t *q = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		_exit(q == MAP_FAILED || q[5 << 20] != 0x11 ? 1 : (q[SIZE - 1] = 0x22, 0));
	}
	int st = -1;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(p[SIZE - 1] == 0x22);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	munmap(p, SIZE);
	close(fd);
}

static void read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

/* Where the host gives shared memory no THP (shmem_enabled never) the private huge tmpfs must. */
static void test_huge_backing(void)
{
	char mode[256];
	enum ram_backing how;

	int fd = -1;
	read_text("/sys/kernel/mm/transparent_hugepage/shmem_enabled", mode, sizeof(mode));
	uint8_t *p = guest_ram_create(SIZE, &fd, &how);
	CHECK(p != NULL);
	if (!p)
		return;
	if (strstr(mode, "[deny]") || (how == RAM_MEMFD && !strstr(mode, "[never]"))) {
		munmap(p, SIZE);
		close(fd);
		SKIP("this host allows no huge pages for shared memory");
	}
	CHECK(how != RAM_MEMFD);            /* never: the tmpfs way must have worked (we are root or may unshare) */
	memset(p, 1, 8 << 20);              /* touch 8 MiB */
	int smaps = open("/proc/self/smaps_rollup", O_RDONLY);
	uint64_t kb = guest_ram_huge_kb(smaps);
	if (how == RAM_MEMFD_THP && kb == 0) {
		close(smaps);
		SKIP("THP for shmem is advised but the kernel gave none (fragmented memory?)");
	}
	CHECK(how == RAM_HUGETLB || kb >= 4096);
	close(smaps);
	munmap(p, SIZE);
	close(fd);
}

int main(void)
{
	RUN(test_shared_with_child);
	RUN(test_huge_backing);
	return UNIT_DONE();
}
