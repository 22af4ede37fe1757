/* kvm.c: the thin KVM layer: ioctl wrappers that name the ioctl, the VM and its memory slots. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvm.h"
#include "vm.h"

long kvm_ioctl_(int fd, unsigned long req, unsigned long arg)
{
	long r;
	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR && req != KVM_RUN);
	return r < 0 ? -errno : r;
}

long kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name)
{
	long r = kvm_ioctl_(fd, req, (unsigned long)arg);
	if (r < 0)
		fprintf(stderr, "vmm: %s: %s\n", name, strerror((int)-r));
	return r;
}

long kvm_check_(int fd, unsigned long req, unsigned long arg, const char *name)
{
	long r = kvm_ioctl_named(fd, req, (void *)arg, name);
	if (r < 0)
		exit(EXIT_RUNTIME);
	return r;
}

void kvm_require_cap(struct vm *vm, long cap, const char *name)
{
	if (kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap) <= 0)
		fatal(EXIT_RUNTIME, "/dev/kvm lacks %s, which vmm needs", name);
}

void kvm_create_vm(struct vm *vm)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		fatal_errno(EXIT_RUNTIME, "/dev/kvm (is KVM available and accessible?)");
	long v = kvm_ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION)
		fatal(EXIT_RUNTIME, "/dev/kvm: API version %ld, vmm needs %d", v, KVM_API_VERSION);
	kvm_require_cap(vm, KVM_CAP_IRQFD, "KVM_CAP_IRQFD");
	kvm_require_cap(vm, KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD");
	kvm_require_cap(vm, KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI");
	kvm_require_cap(vm, KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING");
	kvm_require_cap(vm, KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY");
	long max = kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max > 0 && vm->opt.cpus > max)
		fatal(EXIT_USAGE, "--cpus %d: this host's KVM allows at most %ld", vm->opt.cpus, max);

	vm->vm_fd = (int)kvm_check(vm->kvm_fd, KVM_CREATE_VM, 0);
	vm->run_size = (size_t)kvm_check(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
}

static void add_slot(struct vm *vm, uint32_t slot, gpa_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	kvm_check(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

void kvm_alloc_memory(struct vm *vm, uint64_t size)
{
	vm->mem.low_size = MMIO_HOLE_START < size ? MMIO_HOLE_START : size;
	vm->mem.high_size = size - vm->mem.low_size;
	vm->mem.host = guest_ram_create(size, &vm->mem_fd, &vm->mem_backing);
	if (!vm->mem.host)
		fatal_errno(EXIT_USAGE, "--memory: cannot create %" PRIu64 " bytes of guest RAM", size);
	vlog("guest RAM: %s", ram_backing_names[vm->mem_backing]);
}

void kvm_register_memory(struct vm *vm)
{
	if (vm->mem.low_size)
		add_slot(vm, 0, 0, vm->mem.low_size, vm->mem.host);
	if (vm->mem.high_size)
		add_slot(vm, 1, HIGH_RAM_START, vm->mem.high_size, vm->mem.host + vm->mem.low_size);
}
