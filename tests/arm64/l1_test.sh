#!/bin/sh
# tests/arm64/l1_test.sh: /test.sh inside the arm64 L1: one t_NAME function per test, each printing one
# "NESTED-RESULT PASS|FAIL|SKIP arm64-NAME[: why]" line for run.sh (lib.sh l1_suite, l1_verdict).
# shellcheck disable=SC2317,SC3043 # the t_* functions are called as "t_$t"; local: busybox ash has it
# /arm64.env sets TESTS, VMM_MEM, VMM_TIMEOUT (seconds per vmm run), L2_APPEND and PROBE_EXITS.
# In L1: /kvm_probe, /vmm (the arm64 vmm, if given), /l2/Image and /l2/initrd.cpio (with /vmm).
# A new test: a t_NAME function here (NAME's dashes become underscores), NAME in run.sh's ALL.
TESTS="kvm-probe vmm smp2 blk net timeout run"
VMM_MEM=256M
VMM_TIMEOUT=120
L2_APPEND="console=ttyS0 quiet panic=-1"
PROBE_EXITS=1000
[ -f /arm64.env ] && . /arm64.env

now() { cut -d' ' -f1 /proc/uptime; }

# vmm_run NAME TEST CPUS [VMM ARGS...]: one vmm run of L2 (test=TEST on its command line);
# status in $st, output in /tmp/NAME.log, relayed live as "L2[NAME]| " lines.
vmm_run() {
	local name test cpus t0 tp
	name=$1; test=$2; cpus=$3; shift 3
	t0=$(now)
	echo "NESTED-START $name uptime=$t0"
	: >"/tmp/$name.log"
	# tail, not a pipe, so that nothing vmm leaves behind can hold the test up; the outer
	# timeout only matters if vmm does not honour --timeout
	(tail -f "/tmp/$name.log" & echo $! >/tmp/tail.pid; wait) | tr -d '\r' | sed "s/^/L2[$name]| /" &
	tp=$!
	timeout -s KILL $((VMM_TIMEOUT + 30)) /vmm --kernel /l2/Image --initrd /l2/initrd.cpio \
		--append "$L2_APPEND test=$test" --memory "$VMM_MEM" --cpus "$cpus" \
		--console stdio --timeout "$VMM_TIMEOUT" "$@" </dev/null >"/tmp/$name.log" 2>&1 &
	wait $!
	st=$?
	sleep 1   # tail -f polls once a second
	kill "$(cat /tmp/tail.pid)"
	wait "$tp"
	echo "NESTED-TIME $name exit=$st seconds=$(awk "BEGIN{print $(now) - $t0}")"
}

# Reasons accumulate in $why; verdict prints the result line.
want_exit() { [ "$st" = "$1" ] || why="$why; exit $st (want $1$(exit_meaning "$st"))"; }
exit_meaning() {
	case $1 in
	0) echo ': guest powered off' ;;
	1) echo ': vmm runtime failure' ;;
	2) echo ': vmm rejected its input' ;;
	3) echo ': guest panicked' ;;
	124) echo ': --timeout expired' ;;
	137) echo ': killed, vmm ignored --timeout' ;;
	esac
}
want_line() { tr -d '\r' <"/tmp/$1.log" | grep -qx "$2" || why="$why; no '$2'"; }
# The value after KEY= (or after KEY if it ends in a space) on the marker lines of test $1.
marker() {
	local k
	case $2 in *' ') k=$2 ;; *) k="$2=" ;; esac
	tr -d '\r' <"/tmp/$1.log" | sed -n "s/^$k//p"
}
# L2's init ran at all? Otherwise every other marker is missing too: say only that.
reached() {
	tr -d '\r' <"/tmp/$1.log" | grep -q "L2-INIT-REACHED" && return 0
	why="$why; L2 init not reached"
	return 1
}
verdict() {
	[ -f "/tmp/$1.log" ] && marker "$1" 'L2-KERN-WARN: ' | head -n 5 | sed "s/^/NESTED-NOTE arm64-$1: /"
	if [ -z "$why" ]; then
		echo "NESTED-RESULT PASS arm64-$1"
	else
		echo "NESTED-RESULT FAIL arm64-$1: ${why#; }"
		failed=$((failed + 1))
	fi
	why=
}
skip() { echo "NESTED-RESULT SKIP arm64-$1: $2"; }

# The bare KVM program: MMIO exit, exit round trips, PSCI SYSTEM_OFF (tests/arm64/kvm_probe.c).
t_kvm_probe() {
	[ -c /dev/kvm ] || { why="no /dev/kvm in L1"; verdict kvm-probe; return; }
	[ -x /kvm_probe ] || { skip kvm-probe "no /kvm_probe in L1"; return; }
	timeout -s KILL 120 /kvm_probe -n "$PROBE_EXITS" >/tmp/kvm-probe.log 2>&1
	st=$?
	sed 's/^/probe| /' /tmp/kvm-probe.log
	want_exit 0
	grep -q '^KVM-PROBE OK ' /tmp/kvm-probe.log ||
		why="$why; $(grep -m1 '^KVM-PROBE FAIL' /tmp/kvm-probe.log || echo 'no KVM-PROBE line')"
	sed -n 's/^KVM-PROBE \(OK\|INFO\) /NESTED-NOTE arm64-kvm-probe: /p' /tmp/kvm-probe.log
	verdict kvm-probe
}

# A Linux boot to L2's init: its modules, CPUs, a clean power-off.
check_boot() {
	want_exit 0
	reached "$1" || return
	want_line "$1" "L2-MODULES-FAILED=0"
	want_line "$1" "L2-CPUS=$2"
	want_line "$1" "L2-DONE.*"
}
t_vmm() {
	[ -x /vmm ] || { skip vmm "no arm64 vmm binary"; return; }
	vmm_run vmm boot 1
	check_boot vmm 1
	verdict vmm
}

# 2 vCPUs brought up through PSCI CPU_ON.
t_smp2() {
	[ -x /vmm ] || { skip smp2 "no arm64 vmm binary"; return; }
	vmm_run smp2 boot 2
	check_boot smp2 2
	verdict smp2
}

# virtio-blk: ext2 made, written and read back in L2; a pattern L1 finds at 8 MiB; MSI-X through the
# ITS; no queue notification costs an exit (the kicks are ioeventfds).
t_blk() {
	local want got n
	[ -x /vmm ] || { skip blk "no arm64 vmm binary"; return; }
	rm -f /tmp/blk.img && dd if=/dev/zero of=/tmp/blk.img bs=1M count=64 2>/dev/null
	vmm_run blk blkrw 2 --disk /tmp/blk.img --stats
	check_boot blk 2
	grep -q '^L2-FS-OK ' "/tmp/blk.log" || why="$why; ext2 on vda: the file read back differs or mkfs/mount failed"
	want=$(marker blk L2-PATTERN-SHA256)
	got=$(dd if=/tmp/blk.img bs=1M skip=8 count=2 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ -n "$want" ] && [ "$want" = "$got" ] || why="$why; the pattern L2 wrote at 8 MiB is not in the image (L2 ${want:-none}, L1 $got)"
	n=$(tr -d '\r' <"/tmp/blk.log" | grep -c '^L2-MSI: .*ITS-MSI.*virtio')
	[ "$n" -ge 2 ] || why="$why; $n virtio MSI-X vectors through the ITS in /proc/interrupts (want config + a queue)"
	tr -d '\r' <"/tmp/blk.log" | grep -q 'notifications [1-9][0-9]* (0 via MMIO exits)' ||
		why="$why; --stats: $(tr -d '\r' <"/tmp/blk.log" | grep -m1 'virtio-blk' || echo 'no virtio-blk line'): want notifications and none via MMIO exits"
	rm -f /tmp/blk.img
	verdict blk
}

# virtio-net on a tap: ping both ways' replies, and 16 MiB to nc in L1.
t_net() {
	local got
	[ -x /vmm ] || { skip net "no arm64 vmm binary"; return; }
	tunctl -t tap0 >/dev/null 2>&1 || ip tuntap add dev tap0 mode tap 2>/dev/null ||
		{ why="cannot create tap0 in L1"; verdict net; return; }
	ip addr add 10.0.2.1/24 dev tap0 && ip link set tap0 up
	# busybox nc ends at EOF on its stdin: give it one that stays open
	sleep 200 | nc -l -p 5001 >/tmp/net.recv &
	vmm_run net net 1 --net tap=tap0 --stats
	sleep 1
	pkill -f 'nc -l -p 5001' 2>/dev/null; pkill -f 'sleep 200' 2>/dev/null
	check_boot net 1
	want_line net "L2-PING-OK"
	got=$(wc -c </tmp/net.recv)
	[ "$got" = 16777216 ] || why="$why; L1's nc got $got bytes of 16777216"
	tr -d '\r' <"/tmp/net.log" | grep -q '^L2-SENT-OK' || why="$why; L2's nc did not finish"
	n=$(tr -d '\r' <"/tmp/net.log" | grep -c '^L2-MSI: .*ITS-MSI.*virtio')
	[ "$n" -ge 2 ] || why="$why; $n virtio MSI-X vectors through the ITS"
	marker net 'L2-SENT-OK ' | sed 's/^/NESTED-NOTE arm64-net: 16 MiB sent, /'
	ip link del tap0 2>/dev/null
	rm -f /tmp/net.recv
	verdict net
}

# --timeout on a guest that never ends: 124.
t_timeout() {
	local keep
	[ -x /vmm ] || { skip timeout "no arm64 vmm binary"; return; }
	keep=$VMM_TIMEOUT; VMM_TIMEOUT=20
	vmm_run timeout hang 1
	VMM_TIMEOUT=$keep
	want_exit 124
	reached timeout && want_line timeout "L2-HANGING"
	verdict timeout
}

# vmm run: L1's own root through virtio-fs, a command's stdout, stderr and status.
t_run() {
	[ -x /vmm ] || { skip run "no arm64 vmm binary"; return; }
	echo "NESTED-START run uptime=$(now)"
	mkdir -p /tmp/rw && echo data >/tmp/rw/in
	(cd /tmp/rw && timeout -s KILL $((VMM_TIMEOUT + 30)) /vmm run --kernel /l2/Image --rw /tmp/rw -- \
		/bin/sh -c 'echo "out $(cat in) $(uname -m)"; echo err >&2; echo made >new; exit 7' \
		</dev/null >/tmp/run.out 2>/tmp/run.err)
	st=$?
	sed 's/^/L2[run]| /' /tmp/run.out /tmp/run.err
	want_exit 7
	[ "$(cat /tmp/run.out)" = "out data aarch64" ] || why="$why; stdout: '$(head -c 200 /tmp/run.out)'"
	grep -qx err /tmp/run.err || why="$why; no 'err' on stderr"
	[ "$(cat /tmp/rw/new 2>/dev/null)" = made ] || why="$why; the file written in --rw is not in L1"
	rm -rf /tmp/rw
	verdict run
}

failed=0
why=
echo "NESTED-PLAN $TESTS"
for t in $TESTS; do
	f=t_$(echo "$t" | tr - _)
	if command -v "$f" >/dev/null; then
		"$f"
	else
		why="unknown test"; verdict "$t"
	fi
done
exit "$failed"
