/* vmm.c: the main pipeline: options, inputs, VM, boot, devices, vCPUs, sandbox, run, exit status. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "vm.h"
#include "options.h"
#include "sandbox/sandbox.h"
#include "virtio/proc.h"
#include "virtio/vhost_user.h"
#include "kvm.h"
#include "vcpu.h"
#include "arch.h"
#include "dev/dev.h"
#include "dev/pci.h"
#include "virtio/virtio.h"
#include "run.h"

#define MIN_MEMORY (16ull << 20)

/* Parse the command line; help, version, the sandbox lists and bad usage end here. */
static void parse_options(struct options *o, int argc, char **argv)
{
	char err[512];

	switch (options_parse(o, argc, argv, err, sizeof(err))) {
	case OPT_RUN:
		return;
	case OPT_SERVE:
		_exit(devproc_serve(o->serve, o->ndisks ? VU_TYPE_BLK : o->nnets ? VU_TYPE_NET : VU_TYPE_FS,
				    o->ndisks ? o->disks[0] : o->nnets ? o->nets[0] : o->shares[0], o->no_sandbox));
	case OPT_HELP:
		fputs(o->run ? options_run_usage_text : options_usage_text, stdout);
		exit(0);
	case OPT_VERSION:
		printf("vmm %s\n", VMM_VERSION);
		exit(0);
	case OPT_PRINT_SANDBOX:
		sandbox_print(stdout);
		exit(0);
	case OPT_USAGE:
		break;
	}
	fprintf(stderr, "vmm: %s\nTry 'vmm --help' for more information.\n", err);
	exit(EXIT_USAGE);
}

/* The host's limit for --memory: physical RAM plus swap. */
static void check_memory_size(uint64_t size)
{
	struct sysinfo si;
	if (size < MIN_MEMORY)
		fatal(EXIT_USAGE, "--memory %" PRIu64 "K: at least %lluM is needed",
		      size >> 10, MIN_MEMORY >> 20);
	if (size & 0xFFF)
		fatal(EXIT_USAGE, "--memory %" PRIu64 ": not a multiple of 4K (4096 bytes)", size);
	if (sysinfo(&si) == 0) {
		uint64_t host = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
		if (size > host)
			fatal(EXIT_USAGE, "--memory %" PRIu64 "M: more than this host has (%" PRIu64 "M)",
			      size >> 20, host >> 20);
	}
}

/* Disks and taps, opened and checked before the VM exists. */
struct inputs {
	struct blk *disks[ARRAY_SIZE(((struct options *)0)->disks)];
	struct net *nets[ARRAY_SIZE(((struct options *)0)->nets)];
	int vhost_user[ARRAY_SIZE(((struct options *)0)->vhost_user)];
	struct vsock *vsock;
	/* device processes (unless --device-isolation thread): the disks, then the taps */
	struct devproc_dev procs[VMM_MAX_DEVPROCS];
	int proc_chan[VMM_MAX_DEVPROCS];                  /* each one's channel to the spawner */
	struct virtio_stats *proc_stats[VMM_MAX_DEVPROCS];   /* counters shared with it */
	unsigned nprocs;
};

/* --vhost-user SOCKET,type=...: connect now, so a wrong path is a usage error before KVM. */
static int connect_unix(const char *spec)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t len = (size_t)(strstr(spec, ",type=") - spec);
	int s;

	if (len >= sizeof(a.sun_path))
		fatal(EXIT_USAGE, "--vhost-user %s: socket path too long", spec);
	memcpy(a.sun_path, spec, len);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		fatal_errno(EXIT_USAGE, "--vhost-user %s: cannot connect to %s", spec, a.sun_path);
	return s;
}

static void open_inputs(struct vm *vm, struct inputs *in)
{
	for (int i = 0; i < vm->opt.ndisks; i++)
		in->disks[i] = virtio_blk_open(vm->opt.disks[i]);
	for (int i = 0; i < vm->opt.nnets; i++)
		in->nets[i] = virtio_net_open(vm->opt.nets[i]);
	in->vsock = vm->opt.vsock ? virtio_vsock_open(vm->opt.vsock) : NULL;
	for (int i = 0; i < vm->opt.nvhost_user; i++)
		in->vhost_user[i] = connect_unix(vm->opt.vhost_user[i]);
	for (int i = 0; i < vm->opt.ndisks && !vm->opt.isolation_thread; i++)
		in->procs[in->nprocs++] = (struct devproc_dev){ .type = VU_TYPE_BLK, .blk = in->disks[i] };
	for (int i = 0; i < vm->opt.nnets && !vm->opt.isolation_thread; i++)
		in->procs[in->nprocs++] = (struct devproc_dev){ .type = VU_TYPE_NET, .net = in->nets[i] };
	/* an export is always served by a device process: only it may open files there */
	for (int i = 0; i < vm->opt.nshares; i++)
		in->procs[in->nprocs++] = devproc_open(VU_TYPE_FS, vm->opt.shares[i]);
	/* before /dev/kvm is opened: no device process can inherit a KVM fd */
	if (in->nprocs) {
		int r = devproc_start(in->procs, in->nprocs, vm->opt.no_sandbox, in->proc_chan, in->proc_stats);
		if (r < 0)
			fatal(EXIT_RUNTIME, "cannot start the device processes: %s", strerror(-r));
	}
}

static int respawn_dev(void *arg, char *why, size_t len)
{
	return devproc_spawn(*(int *)arg, why, len, NULL);
}

/* Device process i's first back-end, behind a virtio-pci front-end. */
static void attach_proc(struct vm *vm, struct inputs *in, unsigned i, const char *opt, const char *spec,
			const char *label)
{
	struct vu_respawn rs = { respawn_dev, &in->proc_chan[i], vm->opt.crash_exit, in->proc_stats[i] };
	int sock = devproc_spawn(in->proc_chan[i], NULL, 0, NULL);

	if (sock < 0)
		fatal(EXIT_RUNTIME, "%s %s: cannot start its device process: %s", opt, spec, strerror(-sock));
	vu_attach(vm, sock, in->procs[i].type, label, &rs, NULL);
}

/* The PCI devices in slot order: disks, --vhost-user devices, taps, vsock. */
static void attach_devices(struct vm *vm, struct inputs *in)
{
	unsigned p = 0;

	for (int i = 0; i < vm->opt.ndisks; i++) {
		if (vm->opt.isolation_thread)
			virtio_blk_attach(vm, in->disks[i]);
		else
			attach_proc(vm, in, p++, "--disk", vm->opt.disks[i], virtio_blk_path(in->disks[i]));
	}
	for (int i = 0; i < vm->opt.nvhost_user; i++)
		vu_attach(vm, in->vhost_user[i], vm->opt.vhost_user_type[i], vm->opt.vhost_user[i], NULL,
			  vm->opt.vhost_user_tag[i]);
	for (int i = 0; i < vm->opt.nnets; i++) {
		if (vm->opt.isolation_thread)
			virtio_net_attach(vm, in->nets[i]);
		else
			attach_proc(vm, in, p++, "--net", vm->opt.nets[i], virtio_net_ifname(in->nets[i]));
	}
	for (int i = 0; i < vm->opt.nshares; i++, p++)
		attach_proc(vm, in, p, "--share", vm->opt.shares[i], devproc_label(&in->procs[p]));
	if (in->vsock)
		virtio_vsock_attach(vm, in->vsock);
}

static void create_devices(struct vm *vm, struct console *con, struct inputs *in)
{
	arch_devices_create(vm, con);
	if (pci_init(vm) < 0)
		fatal(EXIT_RUNTIME, "cannot create the PCI bus");
	attach_devices(vm, in);
}

static void start_vcpus(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++) {
		int r = pthread_create(&vm->vcpu[i].thread, NULL, vcpu_thread, &vm->vcpu[i]);
		if (r)
			fatal(EXIT_RUNTIME, "cannot start vCPU thread %d: %s", i, strerror(r));
	}
}

/* Signals that end the VM; blocked in every thread and read through a signalfd. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

static int make_timer(unsigned secs)
{
	if (!secs)
		return -1;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec its = { .it_value = { .tv_sec = secs } };
	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0)
		fatal_errno(EXIT_RUNTIME, "--timeout: timerfd");
	return fd;
}

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * A signal ends the VM with 128+N, except the first SIGTERM with a
 * --shutdown-timeout where the guest has a power button (arch_power_button): it presses it and sets *deadline
 * for the hard stop (a second SIGTERM stops at once).
 */
static void on_signal(struct vm *vm, int sig, int64_t *deadline)
{
	if (sig == SIGTERM && vm->opt.shutdown_timeout && !*deadline) {
		if (arch_power_button(vm)) {
			fprintf(stderr, "vmm: SIGTERM: pressing the guest's power button; stopping it in %u s if "
				"it is still running\n", vm->opt.shutdown_timeout);
			*deadline = now_ms() + 1000ll * vm->opt.shutdown_timeout;
			return;
		}
		fprintf(stderr, "vmm: SIGTERM: the guest has no power button here: stopping it\n");
	} else if (vm->opt.run) {   /* so that 128+N is not taken for the command's own status */
		fprintf(stderr, "vmm: %s: stopping the guest\n", strsignal(sig));
	}
	vm_request_exit(vm, 128 + sig);
}

/* The main thread: console, signals, timeout. Returns the exit status. */
static int main_loop(struct vm *vm, struct console *con, int sig_fd, int timer_fd)
{
	int space_fd = serial_rx_space_fd(vm->serial);
	int64_t deadline = 0;   /* of a SIGTERM's grace period */

	while (vm_exit_code(vm) < 0) {
		struct pollfd p[5] = {
			{ vm->stop_efd, POLLIN, 0 }, { sig_fd, POLLIN, 0 }, { timer_fd, POLLIN, 0 },
			{ console_wants_input(con) ? con->in_fd : -1, POLLIN, 0 },
			{ space_fd, POLLIN, 0 },
		};
		int64_t left = deadline ? deadline - now_ms() : -1;
		if (deadline && left <= 0) {
			fprintf(stderr, "vmm: the guest did not power off within %u s of SIGTERM: stopping it\n",
				vm->opt.shutdown_timeout);
			vm_request_exit(vm, 128 + SIGTERM);
			break;
		}
		if (poll(p, 5, left > INT_MAX ? INT_MAX : (int)left) < 0 && errno != EINTR)
			fatal_errno(EXIT_RUNTIME, "poll");
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
				on_signal(vm, (int)si.ssi_signo, &deadline);
		}
		if (p[2].revents & POLLIN) {
			fprintf(stderr, "vmm: --timeout %u expired, stopping the guest\n", vm->opt.timeout);
			vm_request_exit(vm, EXIT_TIMEOUT);
		}
		if ((p[3].revents || (p[4].revents & POLLIN)) &&
		    console_pump(con, vm->serial, p[3].revents != 0) < 0)
			vm_request_exit(vm, EXIT_GUEST_OFF);
	}
	return vm_exit_code(vm);
}

/* The process's own memory: /proc/self/status, opened before the sandbox closes paths. */
static void print_memory(int status_fd)
{
	static const char *const keys[] = { "VmHWM:", "RssAnon:", "RssFile:", "RssShmem:" };
	char buf[4096];
	ssize_t n;
	if (status_fd < 0 || lseek(status_fd, 0, SEEK_SET) < 0 ||
	    (n = read(status_fd, buf, sizeof(buf) - 1)) <= 0)
		return;
	buf[n] = 0;
	fputs("vmm: memory:", stderr);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *p = strstr(buf, keys[i]);
		if (p)
			fprintf(stderr, " %.*s %ld kB", (int)strlen(keys[i]) - 1, keys[i],
				strtol(p + strlen(keys[i]), NULL, 10));
	}
	fputs(" (RssShmem is guest RAM the guest touched)\n", stderr);
}

/* How much of guest RAM the host backs with 2 MiB pages (of what the guest touched). */
static void print_huge(struct vm *vm, int smaps_fd)
{
	uint64_t total = (vm->mem.low_size + vm->mem.high_size) >> 10;

	if (vm->mem_backing == RAM_HUGETLB)
		fprintf(stderr, "vmm: guest RAM: %" PRIu64 " kB, all in 2 MiB hugetlb pages\n", total);
	else
		fprintf(stderr, "vmm: guest RAM: %" PRIu64 " kB, %" PRIu64 " kB of it mapped with 2 MiB pages (%s)\n",
			total, guest_ram_huge_kb(smaps_fd), ram_backing_names[vm->mem_backing]);
}

static void print_stats(struct vm *vm, int status_fd, int smaps_fd)
{
	uint64_t io = 0, mmio = 0, eoi = 0, hlt = 0, other = 0;
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpu[i];
		io += v->exits_io; mmio += v->exits_mmio; eoi += v->exits_eoi;
		hlt += v->exits_hlt; other += v->exits_other;
	}
	fprintf(stderr, "vmm: exits to userspace: io %" PRIu64 ", mmio %" PRIu64 ", ioapic-eoi %"
		PRIu64 ", hlt %" PRIu64 ", other %" PRIu64 ", total %" PRIu64 "\n",
		io, mmio, eoi, hlt, other, io + mmio + eoi + hlt + other);
	virtio_print_stats(vm, stderr);
	print_memory(status_fd);
	print_huge(vm, smaps_fd);
}

int main(int argc, char **argv)
{
	static struct vm vm_storage;
	struct vm *vm = &vm_storage;
	struct console con;
	struct inputs inputs = { 0 };
	static struct run_host run;
	sigset_t sigs;

	/* the guest's /init of a vmm run (not vmm as PID 1 of a container: that has no plan) */
	if (getpid() == 1 && access(RUN_PLAN_PATH, F_OK) == 0)
		run_init();
	parse_options(&vm->opt, argc, argv);
	vmm_verbose = vm->opt.verbose;
	vm->ncpus = vm->opt.cpus;
	if (vm->opt.run)
		run_prepare(&vm->opt, &run);
	check_memory_size(vm->opt.mem_size);
	vm_init(vm);

	/* vmm run without a terminal: the command reads /dev/null, and Ctrl-C stops vmm */
	console_open(&con, vm->opt.run && !run.tty ? "none" : vm->opt.console);
	if (vm->opt.run && !run.tty)
		con.out_fd = STDOUT_FILENO;
	vlog("options parsed");
	open_inputs(vm, &inputs);
	kvm_alloc_memory(vm, vm->opt.mem_size);
	arch_load_guest(vm, &run);

	vlog("guest loaded into RAM");
	kvm_create_vm(vm);
	arch_vm_setup(vm);
	vlog("VM created");
	kvm_register_memory(vm);
	create_devices(vm, &con, &inputs);
	vlog("devices created");
	for (int i = 0; i < vm->ncpus; i++) {
		vcpu_create(vm, i);
		arch_vcpu_setup(&vm->vcpu[i]);
	}
	arch_vcpus_ready(vm);
	vlog("%d vCPUs created", vm->ncpus);

	block_signals(&sigs);
	int sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sig_fd < 0)
		fatal_errno(EXIT_RUNTIME, "signalfd");
	int timer_fd = make_timer(vm->opt.timeout);
	int status_fd = vm->opt.stats ? open("/proc/self/status", O_RDONLY | O_CLOEXEC) : -1;
	int smaps_fd = vm->opt.stats ? open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC) : -1;
	if (vm->opt.no_sandbox)
		fprintf(stderr, "vmm: warning: --no-sandbox: a guest that breaks out of a device has this process's full rights\n");
	else {
		if (sandbox_no_new_privs() < 0)
			fatal_errno(EXIT_RUNTIME, "sandbox: no_new_privs");
		int lr = sandbox_landlock_deny_all();
		if (lr < 0)
			fprintf(stderr, "vmm: warning: sandbox: no Landlock: %s\n", strerror(-lr));
		sandbox_set_fatal_hook(console_restore);
		sandbox_set_fds(vm->vm_fd, con.raw ? STDIN_FILENO : -1);
	}
	vlog("sandboxed; starting threads");
	start_vcpus(vm);
	if (virtio_start(vm) < 0)
		fatal(EXIT_RUNTIME, "cannot start the device threads");
	if (!vm->opt.no_sandbox && sandbox_enter(SB_ROLE_MAIN, -1) < 0)
		fatal(EXIT_RUNTIME, "sandbox: cannot enter the main role");
	int code = main_loop(vm, &con, sig_fd, timer_fd);
	if (vm->opt.run && code == EXIT_GUEST_OFF && !atomic_load(&vm->run_reported)) {
		fprintf(stderr, "vmm run: the guest powered off or rebooted before it gave the command's status\n");
		code = RUN_EXIT_SETUP;
	}
	vlog("guest ended: exit status %d", code);
	devproc_stop();
	console_restore();
	if (vm->opt.stats)
		print_stats(vm, status_fd, smaps_fd);
	fflush(stdout);
	_exit(code & 0xff);
}
