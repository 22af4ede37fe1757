#!/bin/sh
# tests/guest/run.sh: runs ./vmm on the tiny test guests and hostile loader inputs; prints PASS/FAIL/SKIP per test.
# Usage: sh tests/guest/run.sh [TEST...]   (names below without the "guest-" prefix; default all)
# Env: VMM_BIN (default ./vmm), GUEST_OUT (default build/guest, from tests/guest/Makefile),
#      GUEST_NESTED=0 never boots L1, GUEST_NESTED=1 boots L1 even where /dev/kvm exists.
# Loader tests need no KVM (vmm checks every input before it opens /dev/kvm): they always run here.
# Guest tests need /dev/kvm: run directly where it exists, else all inside one L1 boot
# (tests/nested/lib.sh: QEMU/TCG with nested SVM). Inside L1 this file runs as
# "run.sh --inner DIR VMM" and prefixes its lines with GUEST-RESULT / GUEST-DETAIL.
# POSIX sh and busybox applets only: the same file runs inside L1.

GUEST_TESTS="hello exitcode exitcode-off hang triplefault reset-acpi reset-kbd irq timer echo
bootinfo bootinfo-smp2 bz-hello bz-bootinfo pvh pvh32 mb-elf mb-aout smp2 smp4 hostile hostile-v vblk vblk-thread powerbtn powerbtn-ignored powerbtn-off sandbox-main sandbox-vcpu sandbox-blk sandbox-blk-io sandbox-blk-proc sandbox-net sandbox-net-proc"
BAD_TESTS="empty garbage missing trunc-ehdr trunc-phdr trunc-seg class32 big-endian machine-arm64
type-rel no-load phoff-past-end phoff-wrap phnum-huge phentsize offset-past-end offset-wrap
filesz-gt-memsz memsz-huge memsz-past-ram seg-high seg-hole seg-straddle seg-wrap
bz-trunc-header bz-trunc-setup bz-trunc-kernel bz-boot-flag bz-old-protocol bz-no-64bit
bz-short-header bz-setup-sects bz-syssize-huge bz-init-size-huge bz-pref-wrap
pvh-descsz pvh-namesz pvh-note-past-end pvh-entry-outside entry-outside
elf32-trunc-ehdr elf32-trunc-phdr elf32-phoff-past-end elf32-machine elf32-seg-high elf32-seg-hole
elf32-seg-wrap elf32-memsz-huge elf32-offset-wrap elf32-no-pvh
mb-checksum mb-flags-unknown mb-not-elf mb-aout-order mb-aout-outside-ram mb-aout-load-end
mb-aout-bss-order mb-aout-entry-outside mb-aout-trunc mb-past-8192"

inner=0
if [ "$1" = --inner ]; then
	inner=1; GDIR=$2; VMM=$3; shift 3
else
	cd "$(dirname "$0")/../.." || exit 2
	GDIR=${GUEST_OUT:-build/guest}
	VMM=${VMM_BIN:-./vmm}
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/guest-tests.XXXXXX") || exit 2
trap 'rm -rf "$W"' EXIT
failed=0
why=; skip=

# ---- reporting ----
say() { if [ $inner = 1 ]; then echo "GUEST-RESULT $*"; else echo "$*"; fi; }
# detail NAME: indented log lines under a FAIL (inside L1 tagged with the test, for the outer run.sh)
detail() { if [ $inner = 1 ]; then sed "s/^/GUEST-DETAIL $1 /"; else sed 's/^/    /'; fi; }
# Reasons accumulate in $why; verdict NAME prints the line and, on failure, the ends of the logs.
verdict() {
	if [ -n "$skip" ]; then
		say "SKIP guest-$1: $skip"
	elif [ -z "$why" ]; then
		say "PASS guest-$1"
	else
		say "FAIL guest-$1: ${why#; }"
		failed=$((failed + 1))
		{ tail -n 8 "$W/$1.out" | sed 's/^/out| /'; tail -n 6 "$W/$1.err" | sed 's/^/err| /'; } 2>/dev/null | detail "$1"
	fi
	why=; skip=
}
selected() { [ -z "$SELECT" ] || case " $SELECT " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---- running vmm ----
# run_vmm NAME SECS ARGS...: one vmm run with --timeout SECS, stdin from $W/NAME.in if it exists;
# status in $st, output in $W/NAME.{out,err}.
run_vmm() {
	rv_n=$1; rv_t=$2; shift 2
	rv_in=/dev/null
	[ -f "$W/$rv_n.in" ] && rv_in=$W/$rv_n.in
	if command -v timeout >/dev/null; then
		# the outer timeout only matters if vmm does not honour --timeout (then st = 137)
		timeout -s KILL $((rv_t + 15)) "$VMM" --timeout "$rv_t" --console stdio "$@" \
			<"$rv_in" >"$W/$rv_n.out" 2>"$W/$rv_n.err"
	else
		"$VMM" --timeout "$rv_t" --console stdio "$@" <"$rv_in" >"$W/$rv_n.out" 2>"$W/$rv_n.err"
	fi
	st=$?
	tr -d '\r' <"$W/$rv_n.out" >"$W/$rv_n.tmp" && mv "$W/$rv_n.tmp" "$W/$rv_n.out"
}
want_exit() {
	[ "$st" = "$1" ] && return 0
	case $st in
	137) why="$why; killed after --timeout + 15 s (vmm ignored --timeout)" ;;
	124) why="$why; exit 124 = --timeout expired (want $1)" ;;
	*) why="$why; exit $st (want $1)" ;;
	esac
	return 1
}
want_line() { grep -qxF "$2" "$W/$1.out" || why="$why; no line '$2'"; }
want_err() { grep -qiE "$2" "$W/$1.err" || why="$why; stderr does not match '$2'"; }
no_guest_fail() {
	l=$(grep -m 1 'guest FAIL' "$W/$1.out")
	[ -z "$l" ] || why="$why; ${l#guest FAIL: }"
}

# ---- guest tests (need /dev/kvm) ----
guest() { run_vmm "$@"; }
t_hello() { guest hello 10 --kernel "$GDIR/hello.elf"; want_exit 0; want_line hello "hello from guest"; }
t_exitcode() {
	guest exitcode 10 --debug-exit --kernel "$GDIR/exitcode.elf"
	want_exit 67   # (0x21 << 1) | 1
	want_line exitcode "exitcode: writing 0x21 to port 0xf4"
}
t_exitcode_off() {   # without --debug-exit the port does nothing: the guest halts until --timeout
	guest exitcode-off 1 --kernel "$GDIR/exitcode.elf"
	want_exit 124
}
t_hang() {
	s0=$(date +%s)
	guest hang 1 --kernel "$GDIR/hang.elf"
	s=$(($(date +%s) - s0))
	want_exit 124
	want_line hang "hang: halting with interrupts off"
	[ "$s" -le 6 ] || why="$why; took $s s for --timeout 1"
}
t_triplefault() {
	guest triplefault 10 --kernel "$GDIR/triplefault.elf"
	want_exit 1
	want_line triplefault "triplefault: empty IDT, ud2"
	want_err triplefault "triple fault|shutdown"
}
t_reset_acpi() { guest reset-acpi 10 --kernel "$GDIR/reset_acpi.elf"; want_exit 0; want_line reset-acpi "reset-acpi: writing 1 to port 0x602"; }
t_reset_kbd() { guest reset-kbd 10 --kernel "$GDIR/reset_kbd.elf"; want_exit 0; want_line reset-kbd "reset-kbd: writing 0xfe to port 0x64"; }
t_irq() {
	guest irq 10 --stats --kernel "$GDIR/irq.elf"
	want_exit 0
	no_guest_fail irq
	want_line irq "irq ok"
	want_line irq "irq level ok"
}
t_timer() {
	guest timer 10 --kernel "$GDIR/timer.elf"
	want_exit 0
	no_guest_fail timer
	want_line timer "timer: one-shot ok"
	want_line timer "timer: periodic ok"
	want_line timer "timer ok"
}
t_echo() {
	printf 'ping from the host\n' >"$W/echo.in"
	guest echo 10 --kernel "$GDIR/echo.elf"
	want_exit 0
	want_line echo "echo: got 'ping from the host'"
}
t_bootinfo() {
	guest bootinfo 10 --kernel "$GDIR/bootinfo.elf" --append "bootinfo-cmdline-check x=1"
	want_exit 0
	no_guest_fail bootinfo
	want_line bootinfo "bootinfo: cmdline 'bootinfo-cmdline-check x=1'"
	want_line bootinfo "bootinfo ok"
}
t_bootinfo_smp2() {   # the second vCPU waits for a SIPI that never comes; the MADT must list both
	guest bootinfo-smp2 10 --cpus 2 --kernel "$GDIR/bootinfo.elf" --append "cpus=2"
	want_exit 0
	no_guest_fail bootinfo-smp2
	want_line bootinfo-smp2 "bootinfo ok"
}
# The same tiny guests in bzImage form (64-bit boot protocol, entry at 1 MiB + 0x200).
t_bz_hello() { guest bz-hello 10 --kernel "$GDIR/hello.bzimage"; want_exit 0; want_line bz-hello "hello from guest"; }
t_bz_bootinfo() {
	guest bz-bootinfo 10 --kernel "$GDIR/bootinfo.bzimage" --append "bootinfo-cmdline-check x=1"
	want_exit 0
	no_guest_fail bz-bootinfo
	want_line bz-bootinfo "bootinfo: cmdline 'bootinfo-cmdline-check x=1'"
	want_line bz-bootinfo "bootinfo: setup header HdrS"
	want_line bz-bootinfo "bootinfo ok"
}
# PVH entry: 32-bit protected mode, EBX = hvm_start_info.
t_pvh() {
	guest pvh 10 --kernel "$GDIR/pvh.elf" --append "pvh-cmdline x=1"
	want_exit 0
	no_guest_fail pvh
	want_line pvh "pvh: cmdline 'pvh-cmdline x=1'"
	want_line pvh "pvh ok"
}
# The same PVH guest linked as ELF32 (EM_386), ending through the debug-exit port.
t_pvh32() {
	guest pvh32 10 --debug-exit --kernel "$GDIR/pvh32.elf" --append "pvh-cmdline x=1"
	want_exit 101   # (0x32 << 1) | 1
	no_guest_fail pvh32
	want_line pvh32 "pvh: cmdline 'pvh-cmdline x=1'"
	want_line pvh32 "pvh ok"
}
# Multiboot: EAX, info flags, command line, modules (the initrd is module 0), mmap; the guest
# writes 0x20 + its module count to the debug-exit port.
t_mb_elf() {
	printf 'initrd-bytes\n' >"$W/mb-initrd"
	printf 'module-one\n' >"$W/mb-mod1"
	guest mb-elf 10 --debug-exit --kernel "$GDIR/mb.elf" --append "mb-cmdline x=1" \
		--initrd "$W/mb-initrd" --module "$W/mb-mod1,mod-arg y=2" --module "$W/mb-mod1"
	want_exit 71   # ((0x20 + 3) << 1) | 1
	no_guest_fail mb-elf
	want_line mb-elf "mb: cmdline 'mb-cmdline x=1'"
	want_line mb-elf "mb: loader 'vmm'"
	want_line mb-elf "mb: module 0x0 string '$W/mb-initrd' bytes 'initrd-bytes'"
	want_line mb-elf "mb: module 0x1 string 'mod-arg y=2' bytes 'module-one'"
	want_line mb-elf "mb: module 0x2 string '$W/mb-mod1' bytes 'module-one'"
	want_line mb-elf "mb ok"
}
t_mb_aout() {
	printf 'aout-module\n' >"$W/mb-aout-mod"
	guest mb-aout 10 --debug-exit --kernel "$GDIR/mb-aout.bin" --append "mb-aout-cmdline" \
		--module "$W/mb-aout-mod,aout arg"
	want_exit 67   # ((0x20 + 1) << 1) | 1
	no_guest_fail mb-aout
	want_line mb-aout "mb: cmdline 'mb-aout-cmdline'"
	want_line mb-aout "mb: module 0x0 string 'aout arg' bytes 'aout-module'"
	want_line mb-aout "mb ok"
}
t_smp() {
	guest "smp$1" 20 --cpus "$1" --kernel "$GDIR/smp.elf" --append "cpus=$1"
	want_exit 0
	no_guest_fail "smp$1"
	want_line "smp$1" "smp: APs up: 0x$(($1 - 1))"
	want_line "smp$1" "smp ok"
}
t_smp2() { t_smp 2; }
t_smp4() { t_smp 4; }
t_hostile() {
	s0=$(date +%s)
	guest hostile 20 --kernel "$GDIR/hostile.elf"
	s=$(($(date +%s) - s0))
	want_exit 0
	no_guest_fail hostile
	want_line hostile "hostile: rep outsb ok"
	want_line hostile "hostile ok"
	# 1500 bad IOAPIC accesses: guest warnings must be rate limited (vmm allows 10 a second)
	nl=$(wc -l <"$W/hostile.err")
	[ "$nl" -le $((12 * (s + 2))) ] || why="$why; $nl lines on stderr in $s s for 1500 bad IOAPIC accesses (not rate limited?)"
}
# SIGTERM: vmm sends the ACPI power button; `sig_run NAME SECS ARGS...` starts vmm in the
# background, waits for the guest's first line, sends SIGTERM and waits (st = exit status, s = seconds).
sig_run() {
	sr_n=$1; sr_t=$2; shift 2
	"$VMM" --timeout "$sr_t" --console stdio "$@" </dev/null >"$W/$sr_n.out" 2>"$W/$sr_n.err" &
	sr_pid=$!
	i=0
	while [ $i -lt 100 ] && ! grep -q . "$W/$sr_n.out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
	s0=$(date +%s)
	kill -TERM $sr_pid
	wait $sr_pid
	st=$?
	s=$(($(date +%s) - s0))
	tr -d '\r' <"$W/$sr_n.out" >"$W/$sr_n.tmp" && mv "$W/$sr_n.tmp" "$W/$sr_n.out"
}
t_powerbtn() {
	sig_run powerbtn 20 --kernel "$GDIR/powerbtn.elf"
	want_exit 0
	want_line powerbtn "powerbtn: pressed"
	want_err powerbtn "SIGTERM: pressing the guest's power button"
}
# a guest that ignores the button is stopped after --shutdown-timeout: 128+15
t_powerbtn_ignored() {
	sig_run powerbtn-ignored 20 --shutdown-timeout 1 --kernel "$GDIR/hang.elf"
	want_exit 143
	want_err powerbtn-ignored "did not power off within 1 s"
	[ "$s" -le 5 ] || why="$why; took $s s for --shutdown-timeout 1"
}
t_powerbtn_off() {   # --shutdown-timeout 0: SIGTERM stops the guest at once, as before
	sig_run powerbtn-off 20 --shutdown-timeout 0 --kernel "$GDIR/powerbtn.elf"
	want_exit 143
	grep -q 'pressed' "$W/powerbtn-off.out" && why="$why; the button was pressed anyway"
}
# The same under -vv, where every unclaimed MMIO and port access is a log line: still rate limited.
t_hostile_v() {
	s0=$(date +%s)
	guest hostile-v 20 -v -v --kernel "$GDIR/hostile.elf"
	s=$(($(date +%s) - s0))
	want_exit 0
	want_line hostile-v "hostile ok"
	want_err hostile-v "unclaimed MMIO read 0xd0000000"
	nl=$(grep -c 'unclaimed' "$W/hostile-v.err")
	[ "$nl" -le $((12 * (s + 2))) ] || why="$why; $nl unclaimed-access lines in $s s for 1000+ accesses (not rate limited)"
}
# virtio-blk: I/O through a 4 KiB disk, then broken rings (NEEDS_RESET + config interrupt, recovery by reset).
# vblk: the disk in a device process (the default); vblk-thread: in vmm's own threads.
vblk_run() {
	name=$1; shift
	if ! "$VMM" --help 2>&1 | grep -q -- --disk; then
		skip="vmm has no --disk option"
		return
	fi
	printf 'vmm test disk: sector 0\n' >"$W/disk.img"
	dd if=/dev/zero bs=512 count=7 2>/dev/null >>"$W/disk.img"
	guest "$name" 30 --stats --kernel "$GDIR/vblk.elf" --disk "$W/disk.img" "$@"
	want_exit 0
	no_guest_fail "$name"
	want_line "$name" "vblk: sector 0 starts 'vmm test disk: '"
	want_line "$name" "vblk: io ok"
	want_line "$name" "vblk ok"
	dd if="$W/disk.img" bs=512 skip=1 count=1 2>/dev/null | grep -q "written by the vblk guest" ||
		why="$why; sector 1 of the disk file does not hold what the guest wrote"
	# queue notifications must reach the device through its ioeventfd, not an MMIO exit
	n=$(sed -n 's/.*notifications [0-9]* (\([0-9]*\) via MMIO exits).*/\1/p' "$W/$name.err")
	[ "${n:-0}" = 0 ] || why="$why; $n queue notifications came through MMIO exits (no ioeventfd?)"
}
t_vblk() {
	vblk_run vblk
	grep -q "virtio-blk.*restarts 0" "$W/vblk.err" || why="$why; --stats shows no device process (restarts 0)"
	# the disk's lock ends with vmm, not a moment later with its device process: a second vmm
	# on the same disk right after is not refused
	guest vblk-again 10 --kernel "$GDIR/hello.elf" --disk "$W/disk.img"
	[ "$st" = 0 ] || why="$why; a vmm started at once on the same disk exited $st: $(head -n 1 "$W/vblk-again.err")"
}
t_vblk_thread() {
	vblk_run vblk-thread --device-isolation thread
	! grep -q "restarts" "$W/vblk-thread.err" || why="$why; --device-isolation thread still made a device process"
}

# The sandbox stops each forbidden call in each thread role with a message naming it
# (vmm --sandbox-selftest ROLE:CALL makes the role's first thread try CALL once it is sandboxed;
# ioctl-fd: a request the role allows, on an fd its rule is not bound to; tkill: another thread).
t_sandbox() {
	role=$1; shift
	for call in open execve socket ptrace ioctl ioctl-fd tkill write-file; do
		guest "sandbox-$role-$call" 10 --kernel "$GDIR/hang.elf" --sandbox-selftest "$role:$call" "$@"
		case $call in open|write-file) sys=openat ;; ioctl-fd) sys=ioctl ;; *) sys=$call ;; esac
		[ "$st" = 1 ] || why="$why; $call: exit $st (want 1): $(grep -v '^vmm: sandbox: ' "$W/sandbox-$role-$call.err" | head -n 1)"
		grep -q "vmm: sandbox: $role thread made forbidden syscall $sys (" "$W/sandbox-$role-$call.err" ||
			why="$why; $call: no 'sandbox: $role thread made forbidden syscall $sys' message"
		[ $call != ioctl-fd ] || grep -q "forbidden syscall ioctl (16), request 0x[0-9a-f]* on fd [0-9]" \
			"$W/sandbox-$role-$call.err" || why="$why; ioctl-fd: the message names no request and fd"
	done
	[ ! -e /tmp/vmm-sandbox-selftest ] || why="$why; a sandboxed thread created a file"
}
t_sandbox_main() { t_sandbox main; }
t_sandbox_vcpu() { t_sandbox vcpu; }
# blk, net: the device threads of --device-isolation thread; blk-io: the workers, here in a device
# process (the default); blk-proc, net-proc: a device process's vhost-user thread. A device process the
# sandbox stops is replaced, at most 5 times a minute, so vmm exits 1 either way.
t_sandbox_blk() { dd if=/dev/zero of="$W/sb.img" bs=1k count=64 2>/dev/null; t_sandbox blk --disk "$W/sb.img" --device-isolation thread; }
t_sandbox_blk_io() { dd if=/dev/zero of="$W/sb.img" bs=1k count=64 2>/dev/null; t_sandbox blk-io --disk "$W/sb.img"; }
t_sandbox_blk_proc() {
	dd if=/dev/zero of="$W/sb.img" bs=1k count=64 2>/dev/null
	t_sandbox blk-proc --disk "$W/sb.img"
	sandbox_restarts blk-proc virtio-blk
}
t_sandbox_net() { t_sandbox net --net tap=vmmsb0 --device-isolation thread; }
t_sandbox_net_proc() { t_sandbox net-proc --net tap=vmmsb0; sandbox_restarts net-proc virtio-net; }
# A device process the sandbox stopped is reported as such and replaced, 5 times, then vmm stops.
sandbox_restarts() {
	e="$W/sandbox-$1-socket.err"
	n=$(grep -c "^vmm: $2 .*: device process [0-9]* was stopped by its sandbox (a forbidden system call); restarted it" "$e")
	[ "$n" = 5 ] || why="$why; socket: $n 'stopped by its sandbox ...; restarted it' lines (want 5)"
	grep -q "was stopped by its sandbox (a forbidden system call); restarted 5 times within a minute already; stopping the VM" "$e" ||
		why="$why; socket: no 'stopping the VM' line after 5 restarts"
}

# The file a guest test boots.
guest_file() {
	case $1 in
	bz-*) echo "${1#bz-}.bzimage" ;;
	smp[0-9]*) echo smp.elf ;;
	sandbox-*) echo hang.elf ;;
	hostile-v) echo hostile.elf ;;
	vblk-thread) echo vblk.elf ;;
	powerbtn-ignored) echo hang.elf ;;
	powerbtn-off) echo powerbtn.elf ;;
	mb-elf) echo mb.elf ;;
	mb-aout) echo mb-aout.bin ;;
	*) echo "$1" | sed 's/-off$//; s/-smp2$//; s/-/_/g; s/$/.elf/' ;;
	esac
}
# Tests that depend on when an interrupt or an EOI lands. kvm_pvm (a software hypervisor:
# /dev/kvm without VMX/SVM) runs guest CPL0 code in its instruction emulator and lets the guest
# run on between an EOI and vmm's EOI exit (or a routing update): once in about 10-20 runs the
# level-triggered round of `irq` then sees no EOI. Under hardware virtualization (the nested
# L1) these never failed. On kvm_pvm only, such a failure is rerun, at most three times, as an
# environment failure that tests/run.sh counts. (On 2026-12-02 irq failed so in 7 of 20 runs on
# one machine, and in 2 of 8 with the vmm of the commit before this session's work: one rerun
# was not enough; three leave about 1 in 60.)
PVM_TIMING="irq timer vblk vblk-thread"
pvm_retry() {   # TEST TRY
	[ -n "$why" ] && [ -d /sys/module/kvm_pvm ] && case " $PVM_TIMING " in *" $1 "*) ;; *) return 1 ;; esac || return 1
	say "note: guest-$1: environment failure (kvm_pvm interrupt timing: ${why#; }), retry $2 of 3"
	why=
}
run_guest_tests() {
	for t in $GUEST_TESTS; do
		selected "$t" || continue
		if [ ! -s "$GDIR/$(guest_file "$t")" ]; then
			why="$GDIR has no guest for it (make -C tests/guest)"
		else
			"t_$(echo "$t" | tr - _)"
			for try in 1 2 3; do
				pvm_retry "$t" $try || break
				"t_$(echo "$t" | tr - _)"
			done
		fi
		verdict "$t"
	done
}

# ---- loader tests: every hostile input exits 2 with one line on stderr, before any guest runs ----
t_bad() {
	b=$1
	f="$GDIR/bad/$b.img"
	[ "$b" = missing ] && f="$GDIR/bad/does-not-exist.img"
	run_vmm "badboot-$b" 5 --kernel "$f"
	want_exit 2
	nl=$(wc -l <"$W/badboot-$b.err")
	[ "$nl" -eq 1 ] || why="$why; $nl lines on stderr (want 1)"
	head -n 1 "$W/badboot-$b.err" | grep -q '^vmm: ' || why="$why; stderr does not start with 'vmm: '"
	[ ! -s "$W/badboot-$b.out" ] || why="$why; the guest produced output"
}
run_bad_tests() {
	for b in $BAD_TESTS; do
		selected "badboot-$b" || continue
		if [ "$b" != missing ] && [ ! -e "$GDIR/bad/$b.img" ]; then
			why="no $GDIR/bad/$b.img (make -C tests/guest)"
		else
			t_bad "$b"
		fi
		verdict "badboot-$b"
	done
}

kvm_ok() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# ---- inside L1: guest tests only ----
if [ $inner = 1 ]; then
	SELECT=$*
	if ! kvm_ok; then
		for t in $GUEST_TESTS; do selected "$t" && say "SKIP guest-$t: no /dev/kvm in L1"; done
		exit 0
	fi
	run_guest_tests
	exit "$failed"
fi

# ---- on the host ----
SELECT=$*
sel_guest=
for t in $GUEST_TESTS; do selected "$t" && sel_guest="$sel_guest $t"; done
sel_guest=${sel_guest# }

[ -s "$GDIR/hello.elf" ] || make -s -C tests/guest >/dev/null 2>&1
if [ ! -x "$VMM" ]; then
	for t in $sel_guest; do say "FAIL guest-$t: $VMM missing (run make)"; done
	for b in $BAD_TESTS; do selected "badboot-$b" && say "FAIL guest-badboot-$b: $VMM missing (run make)"; done
	exit 1
fi

run_bad_tests

# Guest tests: directly on /dev/kvm, else in one L1 boot, else skipped with the reason.
if [ -z "$sel_guest" ]; then
	:
elif kvm_ok && [ "${GUEST_NESTED:-}" != 1 ]; then
	run_guest_tests
elif [ "${GUEST_NESTED:-}" = 0 ] || [ ! -f tests/nested/lib.sh ]; then
	for t in $sel_guest; do say "SKIP guest-$t: no /dev/kvm and no nested harness"; done
else
	# shellcheck disable=SC2034 # read by lib.sh to find itself
	NESTED_LIB=tests/nested/lib.sh
	# our own cache and staging folder: the nested suite may be using build/nested right now
	case $GDIR in /*) NB=$GDIR/nested ;; *) NB=$(pwd)/$GDIR/nested ;; esac
	. tests/nested/lib.sh
	if ! why=$(nested_check); then
		for t in $sel_guest; do say "SKIP guest-$t: no /dev/kvm; nested harness unusable: $why"; done
		why=
	else
		set -- "$W/l1-test.sh:/test.sh" "$VMM:/vmm" tests/guest/run.sh:/guest/run.sh
		for f in "$GDIR"/*.elf "$GDIR"/*.bzimage "$GDIR"/*.bin; do set -- "$@" "$f:/guest/$(basename "$f")"; done
		L1_LOG=$NB/guest-l1.log
		# Every test bounds its own vmm run, so a silent L1 is stuck: the watchdog kills it
		# after L1_STALL seconds. An environment failure (lib.sh l1_env: L1's own oops, stall,
		# no boot, no L1-EXIT; seen under TCG: an L1 that never gets going, a rare L1 that stops
		# mid-run) reruns, in a new L1, the tests it can explain: those without a result and
		# those that failed no earlier in the log than it showed. At most twice.
		L1_STALL=${L1_STALL:-240}
		log=; todo=$sel_guest; try=0; envfail=
		while :; do
			printf '#!/bin/sh\nexec sh /guest/run.sh --inner /guest /vmm %s\n' "$todo" >"$W/l1-test.sh"
			chmod 755 "$W/l1-test.sh"
			if ! l1_initramfs "$W/l1.cpio" "$@" >"$W/l1-build.log" 2>&1; then
				for t in $sel_guest; do say "FAIL guest-$t: could not build the L1 initramfs"; done
				sed 's/^/    /' <"$W/l1-build.log"
				exit 1
			fi
			l1_run -t 1500 "$W/l1.cpio" >/dev/null
			l1st=$?
			l1_env "$L1_LOG" "$l1st"
			tr -d '\r' <"$L1_LOG" >"$W/l1.txt"
			left=
			for t in $todo; do
				at=$(grep -n "GUEST-RESULT [A-Z]* guest-$t\(:\|$\)" "$W/l1.txt" | tail -n 1 | cut -d: -f1)
				r=$(grep "GUEST-RESULT [A-Z]* guest-$t\(:\|$\)" "$W/l1.txt" | tail -n 1)
				if [ -n "$L1_ENV" ] && { [ -z "$at" ] || { case $r in *"GUEST-RESULT FAIL "*) true ;; *) false ;; esac && [ "$at" -ge "$L1_ENV_LINE" ]; }; }; then
					left="$left $t"   # this boot's result does not count
				else
					log="$log
$(sed -n "s/.*\(GUEST-RESULT [A-Z]* guest-$t\(:.*\)\{0,1\}\)$/\1/p; s/.*\(GUEST-DETAIL $t .*\)/\1/p" "$W/l1.txt")"
				fi
			done
			todo=${left# }
			[ -n "$todo" ] || break
			if [ $try -ge 2 ]; then
				envfail="environment failure persisted after 2 retries: $L1_ENV"
				break
			fi
			try=$((try + 1))
			cp "$L1_LOG" "$L1_LOG.boot$try"
			env_note guest "$try" 2 "$L1_ENV; tests rerun: $todo"
		done
		for t in $sel_guest; do
			line=$(echo "$log" | sed -n "s/^GUEST-RESULT \(\(PASS\|FAIL\|SKIP\) guest-$t\(:.*\)\{0,1\}\)$/\1/p" | tail -n 1)
			[ -n "$line" ] || [ -z "$envfail" ] || line="FAIL guest-$t: $envfail; see $L1_LOG"
			[ -n "$line" ] || line="FAIL guest-$t: no result from L1 (status $l1st$([ "$l1st" = 125 ] && echo ': L1 died or timed out'); see $L1_LOG)"
			echo "$line"
			case $line in
			FAIL*)
				failed=$((failed + 1))
				echo "$log" | sed -n "s/^GUEST-DETAIL $t /    /p" ;;
			esac
		done
	fi
fi
[ "$failed" -eq 0 ]
