/* tests/nested/mapper.c: maps a file shared (vmm's guest RAM, from /proc/PID/fd/N), reads every page, waits to be killed. */
/* The experiment behind nested-vhost-user's VU_MAPPER=1: a process that touches guest RAM only by reading it. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct stat st;
	int fd = argc > 1 ? open(argv[1], O_RDONLY) : -1;
	const volatile unsigned char *p;
	unsigned long sum = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argc > 1 ? argv[1] : "usage: mapper FILE");
		return 1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (off_t o = 0; o < st.st_size; o += 4096)
		sum += p[o];
	printf("mapper: read %lld bytes' pages (sum %lu)\n", (long long)st.st_size, sum);
	fflush(stdout);
	for (;;)
		pause();
}
