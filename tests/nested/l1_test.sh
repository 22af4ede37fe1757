#!/bin/sh
# tests/nested/l1_test.sh: /test.sh inside L1: runs /vmm on L1's /dev/kvm once per test and prints NESTED-RESULT lines for run.sh.
# shellcheck disable=SC2317 # the t_* functions are called as "t_$t"
# /nested.env sets TESTS (names below), VMM_MEM, VMM_TIMEOUT (seconds per vmm run) and L2_APPEND.
# net runs /net/test.sh (net_l1.sh) with L2's net image /l2/initrd-net.cpio.
TESTS="l1-kvm bzimage pvh smp2 panic"
VMM_MEM=256M
VMM_TIMEOUT=120
L2_APPEND="console=ttyS0 quiet panic=-1"
[ -f /nested.env ] && . /nested.env

now() { cut -d' ' -f1 /proc/uptime; }

# vmm_run NAME TEST KERNEL CPUS: one vmm run; status in $st, output in /tmp/NAME.log (echoed with a prefix).
vmm_run() {
	t0=$(now)
	echo "NESTED-START $1 uptime=$t0"
	: >"/tmp/$1.log"
	# Live output, so a hang shows where it stopped; tail, not a pipe, so that nothing
	# vmm leaves behind can hold the test up. The outer timeout only matters if vmm does
	# not honour --timeout.
	(tail -f "/tmp/$1.log" & echo $! >/tmp/tail.pid; wait) | tr -d '\r' | sed "s/^/L2[$1]| /" &
	tp=$!
	timeout -s KILL $((VMM_TIMEOUT + 30)) /vmm --kernel "$3" --initrd /l2/initrd.cpio \
		--append "$L2_APPEND test=$2" --memory "$VMM_MEM" --cpus "$4" \
		--console stdio --timeout "$VMM_TIMEOUT" </dev/null >"/tmp/$1.log" 2>&1 &
	wait $!
	st=$?
	sleep 1   # tail -f polls once a second
	kill "$(cat /tmp/tail.pid)"
	wait "$tp"
	echo "NESTED-TIME $1 exit=$st seconds=$(awk "BEGIN{print $(now) - $t0}")"
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
	[ -f "/tmp/$1.log" ] && marker "$1" 'L2-KERN-WARN: ' | head -n 5 | sed "s/^/NESTED-NOTE nested-$1: /"
	if [ -z "$why" ]; then
		echo "NESTED-RESULT PASS nested-$1"
	else
		echo "NESTED-RESULT FAIL nested-$1: ${why#; }"
		failed=$((failed + 1))
	fi
	why=
}

# A Linux boot to init with x2APIC on and no ACPI complaints.
check_boot() {
	want_exit 0
	reached "$1" || return
	want_line "$1" "L2-MODULES-FAILED=0"
	want_line "$1" "L2-CPUS=$2"
	[ "$(marker "$1" L2-X2APIC)" = on ] || why="$why; x2APIC not on"
	n=$(marker "$1" L2-ACPI-ERRORS)
	[ "$n" = 0 ] || why="$why; ${n:-no count of} ACPI errors/warnings, first: $(marker "$1" 'L2-ACPI-ERR: ' | head -n 1)"
	want_line "$1" "L2-DONE.*"
}

t_l1_kvm() {
	[ -c /dev/kvm ] || why="$why; no /dev/kvm in L1"
	n=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null)
	[ "$n" = 1 ] || why="$why; kvm_amd nested=$n"
	verdict l1-kvm
}
t_bzimage() { vmm_run bzimage boot /l2/bzImage 1; check_boot bzimage 1; verdict bzimage; }
t_pvh() { vmm_run pvh boot /l2/vmlinux 1; check_boot pvh 1; verdict pvh; }
t_smp2() {
	vmm_run smp2 boot /l2/bzImage 2
	check_boot smp2 2 && want_line smp2 "L2-CPUS-ONLINE=0-1"
	verdict smp2
}
# 5 GiB: 3 GiB below the MMIO hole, 2 GiB above 4 GiB (pages are only allocated as the guest touches them).
t_highmem() {
	m=$VMM_MEM; VMM_MEM=5G
	vmm_run highmem boot /l2/bzImage 1
	VMM_MEM=$m
	check_boot highmem 1
	kb=$(marker highmem L2-MEMTOTAL-KB)
	[ "${kb:-0}" -gt 4500000 ] || why="$why; MemTotal ${kb:-?} kB, want over 4.5 GB"
	verdict highmem
}
t_panic() {
	vmm_run panic panic /l2/bzImage 1
	want_exit 3
	reached panic || { verdict panic; return; }
	want_line panic "L2-PVPANIC=bound"
	want_line panic "L2-PANIC-TRIGGER"
	verdict panic
}

# net.sh's test in this L1: net_l1.sh prints its own NESTED-RESULT line.
t_net() {
	if [ ! -x /net/test.sh ]; then
		why="no /net/test.sh in L1"
		verdict net
		return
	fi
	NET_INITRD=/l2/initrd-net.cpio NET_TIMEOUT=$((VMM_TIMEOUT * 2)) /net/test.sh || failed=$((failed + 1))
}

failed=0
why=
echo "NESTED-PLAN $TESTS"
for t in $TESTS; do
	case $t in
	l1-kvm) t_l1_kvm ;;
	bzimage | pvh | smp2 | highmem | panic | net)
		if [ -x /vmm ]; then "t_$t"; else why="no /vmm in L1"; verdict "$t"; fi ;;
	*) why="unknown test"; verdict "$t" ;;
	esac
done
exit "$failed"
