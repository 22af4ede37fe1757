/* tests/bench/floor.c: the bare-KVM floor for start-up: one VM, one anonymous memory slot, one vCPU, 7 real-mode instructions, exit. */
/*
 * usage: floor [-m MIB] [-i] [-H]
 * What any VMM must do at the least to run a guest instruction: open /dev/kvm, KVM_CREATE_VM,
 * mmap anonymous guest RAM (MIB, default 64) as slot 0, KVM_CREATE_VCPU, map kvm_run, point
 * the vCPU at the code in real mode and KVM_RUN it. The guest (at 0x1000) is
 *     mov $0xf4,%dx; mov $0x20,%al; add $0x0a,%al; shl $1,%al; inc %al; out %al,(%dx); hlt
 * so the run ends in a KVM_EXIT_IO on port 0xf4 carrying 0x55 (then the process exits 0), the
 * same kind of exit as vmm's and QEMU's debug-exit guest (tests/bench/exit.S). With -i it also
 * creates an in-kernel IRQ chip (KVM_CREATE_IRQCHIP), as a VMM with a kernel APIC does. With -H
 * guest RAM is instead a file on a private tmpfs mounted huge=always (2 MiB pages), mapped
 * shared, as vmm's is (here made in this process after unshare(CLONE_NEWNS); needs root).
 * Status: 0 the guest wrote 0x55 to 0xf4; 1 anything else (a message says what).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

static const unsigned char code[] = {
	0xba, 0xf4, 0x00,   /* mov $0xf4,%dx */
	0xb0, 0x20,         /* mov $0x20,%al */
	0x04, 0x0a,         /* add $0x0a,%al */
	0xd0, 0xe0,         /* shl $1,%al */
	0xfe, 0xc0,         /* inc %al */
	0xee,               /* out %al,(%dx) */
	0xf4,               /* hlt */
};

static int die(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	unsigned long mib = 64;
	int c, irqchip = 0, huge = 0;
	while ((c = getopt(argc, argv, "m:iH")) != -1) {
		switch (c) {
		case 'm': mib = strtoul(optarg, NULL, 0); break;
		case 'i': irqchip = 1; break;
		case 'H': huge = 1; break;
		default: fprintf(stderr, "usage: floor [-m MIB] [-i] [-H]\n"); return 2;
		}
	}
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return die("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return die("KVM_CREATE_VM");
	size_t size = mib << 20;
	unsigned char *ram;
	if (huge) {
		char dir[] = "/tmp/floor.XXXXXX", file[64];
		if (!mkdtemp(dir))
			return die("mkdtemp");
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			return die("unshare");
		if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "huge=always") < 0)
			return die("mount");
		snprintf(file, sizeof(file), "%s/ram", dir);
		int fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || unlink(file) < 0 || ftruncate(fd, (off_t)size) < 0)
			return die("guest RAM file");
		umount2(dir, MNT_DETACH);
		rmdir(dir);
		/* 2 MiB-aligned, so the file's huge pages can be mapped as such */
		unsigned char *r = mmap(NULL, size + (2u << 20), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (r == MAP_FAILED)
			return die("mmap");
		ram = (unsigned char *)(((unsigned long)r + (2u << 20) - 1) & ~((2ul << 20) - 1));
		if (mmap(ram, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
			return die("mmap guest RAM");
	} else {
		ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (ram == MAP_FAILED)
			return die("mmap");
	}
	memcpy(ram + 0x1000, code, sizeof(code));
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = size, .userspace_addr = (unsigned long)ram,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return die("KVM_SET_USER_MEMORY_REGION");
	if (irqchip && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return die("KVM_CREATE_IRQCHIP");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return die("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		return die("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return die("mmap kvm_run");
	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return die("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 0x2 };
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return die("KVM_SET_REGS");
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return die("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT && run->io.port == 0xf4) {
			unsigned char v = *((unsigned char *)run + run->io.data_offset);
			if (v == 0x55)
				return 0;
			fprintf(stderr, "floor: guest wrote 0x%02x, want 0x55\n", v);
			return 1;
		}
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		fprintf(stderr, "floor: unexpected exit reason %u\n", run->exit_reason);
		return 1;
	}
}
