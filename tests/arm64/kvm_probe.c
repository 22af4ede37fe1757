/* tests/arm64/kvm_probe.c: the smallest arm64 KVM user: proves /dev/kvm works (in the nested L1)
 * and measures the bare-KVM floor, with no vmm involved.
 * One VM, 2 MiB of RAM at 0x40000000, one vCPU (PSCI 0.2) running hand-encoded AArch64 code:
 *   1. a 64-bit store of 42 to 0x09010000 (no memory there): KVM_EXIT_MMIO, that address and value;
 *      re-entered with immediate_exit, the store completes and PC is on the loop after it;
 *   2. N stores in a loop (-n N, default 1000): the time per MMIO exit round trip;
 *   3. PSCI SYSTEM_OFF (hvc #0, x0 = 0x84000008): KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_SHUTDOWN.
 * Prints "KVM-PROBE OK value=42 ..." and exits 0, or "KVM-PROBE FAIL: why" and exits 1.
 * For `make bench ARCH=arm64`'s floor rows: -m MB gives the VM MB MiB of RAM (default 2), -g also a
 * GICv3 and its ITS (at vmm's addresses, initialised once the vCPU exists, as vmm does).
 * Build: arm64/musl-gcc -O2 -o build/arm64/kvm_probe tests/arm64/kvm_probe.c */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RAM_BASE 0x40000000ULL
#define RAM_SIZE_DEFAULT (2UL << 20)
#define GIC_DIST 0x08000000ULL  /* vmm's arm64/machine.h */
#define GIC_ITS 0x08080000ULL
#define GIC_REDIST 0x080A0000ULL
#define MMIO_ADDR 0x09010000ULL
#define VALUE 42
#define RUN_LIMIT_S 30

/* Guest code, by offset into RAM (objdump of the same assembly agrees). */
#define CODE_STORE 0x000 /* movz x1, #0x0901, lsl #16; movz x0, #42; str x0, [x1]; b . */
#define CODE_OFF 0x100   /* movz w0, #8; movk w0, #0x8400, lsl #16; hvc #0; b . */
#define CODE_LOOP 0x200  /* str x0, [x1]; b <the str> */
static const uint32_t code_store[] = { 0xd2a12021, 0xd2800540, 0xf9000020, 0x14000000 };
static const uint32_t code_off[] = { 0x52800100, 0x72b08000, 0xd4000002, 0x14000000 };
static const uint32_t code_loop[] = { 0xf9000020, 0x17ffffff };

#define REG_PC (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pc))

static int vcpu;
static struct kvm_run *run;

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("KVM-PROBE FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static uint64_t get_pc(void)
{
	uint64_t pc = 0;
	struct kvm_one_reg r = { .id = REG_PC, .addr = (uintptr_t)&pc };

	if (ioctl(vcpu, KVM_GET_ONE_REG, &r) < 0)
		fail("KVM_GET_ONE_REG pc: %s", strerror(errno));
	return pc;
}

static void set_pc(uint64_t pc)
{
	struct kvm_one_reg r = { .id = REG_PC, .addr = (uintptr_t)&pc };

	if (ioctl(vcpu, KVM_SET_ONE_REG, &r) < 0)
		fail("KVM_SET_ONE_REG pc: %s", strerror(errno));
}

/* A KVM device (GICv3, ITS) and an attribute of it. */
static int create_dev(int vm, uint32_t type, const char *what)
{
	struct kvm_create_device d = { .type = type };

	if (ioctl(vm, KVM_CREATE_DEVICE, &d) < 0)
		fail("KVM_CREATE_DEVICE %s: %s", what, strerror(errno));
	return (int)d.fd;
}

static void set_attr(int fd, uint32_t group, uint64_t attr, const void *val, const char *what)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uintptr_t)val };

	if (ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0)
		fail("KVM_SET_DEVICE_ATTR %s: %s", what, strerror(errno));
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* KVM_RUN until an exit; a guest that never exits is stopped by SIGALRM after RUN_LIMIT_S. */
static void run_vcpu(const char *what)
{
	alarm(RUN_LIMIT_S);
	if (ioctl(vcpu, KVM_RUN, 0) < 0) {
		if (errno == EINTR)
			fail("%s: no exit within %d s (guest PC 0x%llx)", what, RUN_LIMIT_S, (unsigned long long)get_pc());
		fail("%s: KVM_RUN: %s", what, strerror(errno));
	}
	alarm(0);
}

/* Finish what the last exit left pending (the MMIO store) without running the guest, as the
 * KVM API asks before userspace changes registers. */
static void complete_pending(void)
{
	run->immediate_exit = 1;
	if (ioctl(vcpu, KVM_RUN, 0) == 0 || errno != EINTR)
		fail("KVM_RUN with immediate_exit: want EINTR, got %s", strerror(errno));
	run->immediate_exit = 0;
}

static void want_mmio(const char *what, uint64_t value)
{
	uint64_t data = 0;

	if (run->exit_reason != KVM_EXIT_MMIO)
		fail("%s: exit reason %u, want KVM_EXIT_MMIO (%u); guest PC 0x%llx", what, run->exit_reason,
		     KVM_EXIT_MMIO, (unsigned long long)get_pc());
	memcpy(&data, run->mmio.data, sizeof(data));
	if (run->mmio.phys_addr != MMIO_ADDR || !run->mmio.is_write || run->mmio.len != 8 || data != value)
		fail("%s: MMIO %s of %u bytes at 0x%llx, value %llu; want a write of 8 bytes at 0x%llx, value %llu", what,
		     run->mmio.is_write ? "write" : "read", run->mmio.len, (unsigned long long)run->mmio.phys_addr,
		     (unsigned long long)data, (unsigned long long)MMIO_ADDR, (unsigned long long)value);
}

int main(int argc, char **argv)
{
	struct kvm_userspace_memory_region slot;
	struct kvm_vcpu_init init;
	struct sigaction sa;
	int kvm, vm, ipa, mmap_size, loops = 1000, opt, i, gic = 0, gic_fd = -1, its_fd = -1;
	unsigned long ram_size = RAM_SIZE_DEFAULT;
	double t0, t_vm, t_first, t_loop, t_off;
	uint64_t pc;
	uint8_t *ram;

	while ((opt = getopt(argc, argv, "n:m:g")) != -1) {
		if (opt == 'g')
			gic = 1;
		else if (opt == 'm' && atoi(optarg) >= 2 && atoi(optarg) <= 4096)
			ram_size = (unsigned long)atoi(optarg) << 20;
		else if (opt != 'n' || (loops = atoi(optarg)) < 1) {
			fprintf(stderr, "usage: %s [-n MMIO_EXITS] [-m RAM_MB] [-g]\n", argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
	sigaction(SIGALRM, &sa, NULL);

	t0 = now_us();
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		fail("open /dev/kvm: %s", strerror(errno));
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		fail("KVM API version %d, want %d", ioctl(kvm, KVM_GET_API_VERSION, 0), KVM_API_VERSION);
	ipa = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0 && errno == EINVAL && ipa > 0) /* no default IPA size here: ask for the largest */
		vm = ioctl(kvm, KVM_CREATE_VM, KVM_VM_TYPE_ARM_IPA_SIZE(ipa));
	if (vm < 0)
		fail("KVM_CREATE_VM: %s", strerror(errno));

	ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		fail("mmap %lu bytes: %s", ram_size, strerror(errno));
	memcpy(ram + CODE_STORE, code_store, sizeof(code_store));
	memcpy(ram + CODE_OFF, code_off, sizeof(code_off));
	memcpy(ram + CODE_LOOP, code_loop, sizeof(code_loop));
	slot = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = RAM_BASE, .memory_size = ram_size, .userspace_addr = (uintptr_t)ram
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		fail("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));

	if (gic) {
		uint64_t dist = GIC_DIST, redist = GIC_REDIST, its = GIC_ITS;

		gic_fd = create_dev(vm, KVM_DEV_TYPE_ARM_VGIC_V3, "GICv3");
		set_attr(gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist, "distributor address");
		set_attr(gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist, "redistributor address");
		its_fd = create_dev(vm, KVM_DEV_TYPE_ARM_VGIC_ITS, "GICv3 ITS");
		set_attr(its_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &its, "ITS address");
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		fail("KVM_CREATE_VCPU: %s", strerror(errno));
	memset(&init, 0, sizeof(init));
	if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		fail("KVM_ARM_PREFERRED_TARGET: %s", strerror(errno));
	init.features[0] |= 1U << KVM_ARM_VCPU_PSCI_0_2;
	if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0)
		fail("KVM_ARM_VCPU_INIT (target %u, PSCI 0.2): %s", init.target, strerror(errno));
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(*run))
		fail("KVM_GET_VCPU_MMAP_SIZE: %d", mmap_size);
	run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		fail("mmap kvm_run: %s", strerror(errno));
	if (gic) {
		set_attr(gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL, "GICv3 initialisation");
		set_attr(its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL, "ITS initialisation");
	}
	printf("KVM-PROBE INFO api=%d target=%u ipa_bits=%d max_vcpus=%d\n", KVM_API_VERSION, init.target, ipa,
	       ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS));

	/* 1: one store, its MMIO exit, then PC past it */
	set_pc(RAM_BASE + CODE_STORE);
	t_vm = now_us();
	run_vcpu("store");
	t_first = now_us();
	want_mmio("store", VALUE);
	complete_pending();
	pc = get_pc();
	if (pc != RAM_BASE + CODE_STORE + 12)
		fail("after the MMIO store, PC 0x%llx, want 0x%llx", (unsigned long long)pc,
		     (unsigned long long)(RAM_BASE + CODE_STORE + 12));

	/* 2: MMIO exit round trips (x0, x1 still hold 42 and the address) */
	set_pc(RAM_BASE + CODE_LOOP);
	t_loop = now_us();
	for (i = 0; i < loops; i++) {
		run_vcpu("store loop");
		want_mmio("store loop", VALUE);
	}
	t_loop = now_us() - t_loop;
	complete_pending();

	/* 3: PSCI SYSTEM_OFF */
	set_pc(RAM_BASE + CODE_OFF);
	t_off = now_us();
	run_vcpu("PSCI SYSTEM_OFF");
	t_off = now_us() - t_off;
	if (run->exit_reason != KVM_EXIT_SYSTEM_EVENT)
		fail("PSCI SYSTEM_OFF: exit reason %u, want KVM_EXIT_SYSTEM_EVENT (%u); guest PC 0x%llx", run->exit_reason,
		     KVM_EXIT_SYSTEM_EVENT, (unsigned long long)get_pc());
	if (run->system_event.type != KVM_SYSTEM_EVENT_SHUTDOWN)
		fail("PSCI SYSTEM_OFF: system event type %u, want KVM_SYSTEM_EVENT_SHUTDOWN (%u)", run->system_event.type,
		     KVM_SYSTEM_EVENT_SHUTDOWN);

	printf("KVM-PROBE OK value=%d mmio=0x%llx psci=shutdown setup_us=%.0f first_exit_us=%.0f mmio_exits=%d "
	       "per_exit_us=%.1f off_us=%.0f\n",
	       VALUE, (unsigned long long)MMIO_ADDR, t_vm - t0, t_first - t_vm, loops, t_loop / loops, t_off);
	return 0;
}
