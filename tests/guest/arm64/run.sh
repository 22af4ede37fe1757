#!/bin/sh
# tests/guest/arm64/run.sh: runs ./vmm-arm64 on the tiny arm64 test guests (tests/guest/arm64/) and on
# bad kernel inputs; prints one PASS/FAIL/SKIP line per test, each named arm64-NAME.
# Usage: sh tests/guest/arm64/run.sh [NAME...]   (names without the "arm64-" prefix; default all)
# Env: VMM_ARM64 (default ./vmm-arm64), VMM_X86 (default ./vmm), GUEST_ARM64_OUT (default
#      build/guest-arm64, from tests/guest/arm64/Makefile), ARM64_NESTED=0 never boots L1,
#      QEMU_USER (default qemu-aarch64-static, or none where this host is arm64).
# Host tests need no KVM (vmm checks every input and builds the device tree before it opens
# /dev/kvm): on an x86 host they run vmm-arm64 under qemu-user. Guest tests need arm64 KVM: run
# directly on an arm64 host with /dev/kvm, else all inside one arm64 L1 boot (tests/nested/lib.sh
# with NESTED_ARCH=arm64: qemu-system-aarch64 TCG with EL2, KVM in L1). Inside L1 this file runs
# as "run.sh --inner DIR VMM NAME..." and prints NESTED-RESULT / NESTED-NOTE lines for l1_suite.
# POSIX sh and busybox applets only: the same file runs inside L1.

GUEST_TESTS="hello hello-smp4 exitcode exitcode-off psci-reset panic hang hang-smp2 sigterm bootinfo bootinfo-initrd
smp2 smp4 timer echo hostile hostile-v"
HOST_TESTS="dtb dtb-debug-exit dtb-x86 bad-empty bad-missing bad-dir bad-not-image bad-trunc-header
bad-trunc-magic bad-gzip bad-too-big bad-size-wrap bad-text-offset bad-size-below-file bad-initrd-too-big
image-size-0"

inner=0
if [ "$1" = --inner ]; then
	inner=1; GDIR=$2; VMM=$3; shift 3
else
	cd "$(dirname "$0")/../../.." || exit 2
	GDIR=${GUEST_ARM64_OUT:-build/guest-arm64}
	# on an arm64 host the native build is ./vmm
	case $(uname -m) in aarch64|arm64) VMM=${VMM_ARM64:-./vmm} ;; *) VMM=${VMM_ARM64:-./vmm-arm64} ;; esac
fi
SELECT=$*
W=$(mktemp -d "${TMPDIR:-/tmp}/arm64-guest-tests.XXXXXX") || exit 2
trap 'rm -rf "$W"' EXIT
failed=0
why=; skip=

# ---- reporting ----
say() {
	if [ $inner = 1 ]; then
		case $1 in PASS|FAIL|SKIP) echo "NESTED-RESULT $*" ;; *) echo "$*" ;; esac
	else
		echo "$*"
	fi
}
# detail NAME: log lines under a FAIL (inside L1 as NESTED-NOTE lines, which l1_verdict shows)
detail() { if [ $inner = 1 ]; then sed "s/^/NESTED-NOTE arm64-$1: /"; else sed 's/^/    /'; fi; }
verdict() {
	if [ -n "$skip" ]; then
		say SKIP "arm64-$1: $skip"
	elif [ -z "$why" ]; then
		say PASS "arm64-$1"
	else
		say FAIL "arm64-$1: ${why#; }"
		failed=$((failed + 1))
		{ tail -n 12 "$W/$1.out" | sed 's/^/out| /'; tail -n 8 "$W/$1.err" | sed 's/^/err| /'; } 2>/dev/null | detail "$1"
	fi
	why=; skip=
}
selected() { [ -z "$SELECT" ] || case " $SELECT " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# run_vmm NAME SECS ARGS...: one vmm run with --timeout SECS, stdin from $W/NAME.in if it exists;
# status in $st, output in $W/NAME.{out,err}.
run_vmm() {
	rv_n=$1; rv_t=$2; shift 2
	rv_in=/dev/null
	[ -f "$W/$rv_n.in" ] && rv_in=$W/$rv_n.in
	# the outer timeout only matters if vmm does not honour --timeout (then st = 137);
	# QEMU_RUN: empty, or qemu-user (a word)
	# shellcheck disable=SC2086
	timeout -s KILL $((rv_t + 30)) $QEMU_RUN "$VMM" --timeout "$rv_t" --console stdio "$@" \
		<"$rv_in" >"$W/$rv_n.out" 2>"$W/$rv_n.err"
	st=$?
	tr -d '\r' <"$W/$rv_n.out" >"$W/$rv_n.tmp" && mv "$W/$rv_n.tmp" "$W/$rv_n.out"
}
want_exit() {
	[ "$st" = "$1" ] && return 0
	case $st in
	137) why="$why; killed after --timeout + 30 s (vmm ignored --timeout)" ;;
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
# vmm itself must not report a failure of its own on a test that passes (a vCPU error, a register dump)
no_vmm_error() {
	l=$(grep -m 1 -iE 'vmm: .*(fail|error|unexpected|cannot|registers)' "$W/$1.err")
	[ -z "$l" ] || why="$why; vmm said: $l"
}

# ---- guest tests (need arm64 KVM) ----
t_hello() {
	run_vmm hello 30 --kernel "$GDIR/hello.img"
	want_exit 0
	want_line hello "hello from the arm64 guest"
	[ "$(wc -l <"$W/hello.out")" -eq 1 ] || why="$why; $(wc -l <"$W/hello.out") lines on stdout (want 1)"
	no_vmm_error hello
}
# vCPUs 1-3 stay off (no CPU_ON): vmm must still end at the guest's SYSTEM_OFF, at once
t_hello_smp4() {
	s0=$(date +%s)
	run_vmm hello-smp4 30 --cpus 4 --kernel "$GDIR/hello.img"
	s=$(($(date +%s) - s0))
	want_exit 0
	want_line hello-smp4 "hello from the arm64 guest"
	[ "$s" -le 15 ] || why="$why; took $s s to end with 3 vCPUs off"
	no_vmm_error hello-smp4
}
t_exitcode() {
	run_vmm exitcode 30 --debug-exit --kernel "$GDIR/exitcode.img"
	want_exit 85   # (42 << 1) | 1
	want_line exitcode "exitcode: writing 42 to debug-exit"
	grep -q 'still running' "$W/exitcode.out" && why="$why; the guest ran on after the debug-exit write"
}
t_exitcode_off() {   # without --debug-exit the register is unclaimed MMIO: the guest powers off (0)
	run_vmm exitcode-off 30 --kernel "$GDIR/exitcode.img"
	want_exit 0
	want_line exitcode-off "exitcode: still running: no debug-exit device"
}
t_psci_reset() {
	run_vmm psci-reset 30 --kernel "$GDIR/psci_reset.img"
	want_exit 0
	want_line psci-reset "psci-reset: SYSTEM_RESET"
	no_guest_fail psci-reset
}
t_hang() {
	s0=$(date +%s)
	run_vmm hang 2 --kernel "$GDIR/hang.img"
	s=$(($(date +%s) - s0))
	want_exit 124
	want_line hang "hang: wfi with interrupts masked"
	[ "$s" -le 20 ] || why="$why; took $s s for --timeout 2"
}
t_hang_smp2() {   # --timeout with a vCPU that was never started
	s0=$(date +%s)
	run_vmm hang-smp2 2 --cpus 2 --kernel "$GDIR/hang.img"
	s=$(($(date +%s) - s0))
	want_exit 124
	want_line hang-smp2 "hang: wfi with interrupts masked"
	[ "$s" -le 20 ] || why="$why; took $s s for --timeout 2"
}
t_panic() {
	run_vmm panic 30 --kernel "$GDIR/panic.img"
	want_exit 3
	want_line panic "panic: pvpanic features 0x3"
	want_line panic "panic: writing PANICKED"
	want_err panic "pvpanic: guest panicked"
	no_guest_fail panic
}
# SIGTERM: arm64 has no power button yet; vmm stops the guest at once (128 + 15), not after --shutdown-timeout
t_sigterm() {
	$QEMU_RUN "$VMM" --timeout 60 --shutdown-timeout 30 --console stdio --kernel "$GDIR/hang.img" \
		</dev/null >"$W/sigterm.out" 2>"$W/sigterm.err" &
	pid=$!
	i=0
	while [ $i -lt 300 ] && ! grep -q . "$W/sigterm.out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
	s0=$(date +%s)
	kill -TERM $pid
	wait $pid
	st=$?
	s=$(($(date +%s) - s0))
	want_exit 143
	want_line sigterm "hang: wfi with interrupts masked"
	want_err sigterm "no power button"
	[ "$s" -le 15 ] || why="$why; took $s s to stop (no power button: at once)"
}
t_echo() {
	printf 'ping arm64\n' >"$W/echo.in"
	run_vmm echo 60 --kernel "$GDIR/echo.img"
	want_exit 0
	no_guest_fail echo
	want_line echo "echo: got 'ping arm64'"
}
t_bootinfo() {
	run_vmm bootinfo 30 --memory 256M --kernel "$GDIR/bootinfo.img" --append "bootinfo-cmdline x=1"
	want_exit 0
	no_guest_fail bootinfo
	want_line bootinfo "bootinfo: CurrentEL 0x1"
	want_line bootinfo "bootinfo: loaded at 0x40080000"
	want_line bootinfo "bootinfo: memory 0x40000000 size 0x10000000"
	want_line bootinfo "bootinfo: cpus 1"
	want_line bootinfo "bootinfo: bootargs 'bootinfo-cmdline x=1'"
	want_line bootinfo "bootinfo ok"
}
t_bootinfo_initrd() {
	printf 'arm64-initrd-bytes\n' >"$W/initrd"
	run_vmm bootinfo-initrd 30 --memory 128M --cpus 3 --kernel "$GDIR/bootinfo.img" --initrd "$W/initrd"
	want_exit 0
	no_guest_fail bootinfo-initrd
	want_line bootinfo-initrd "bootinfo: memory 0x40000000 size 0x8000000"
	want_line bootinfo-initrd "bootinfo: cpus 3"
	want_line bootinfo-initrd "bootinfo: initrd 'arm64-initrd-bytes'"
	want_line bootinfo-initrd "bootinfo ok"
}
t_smp() {
	run_vmm "smp$1" 60 --debug-exit --cpus "$1" --kernel "$GDIR/smp.img"
	want_exit $((($1 << 1) | 1))
	no_guest_fail "smp$1"
	want_line "smp$1" "smp: the device tree lists $1 cpus"
	want_line "smp$1" "smp: cpus up: $1"
}
t_smp2() { t_smp 2; }
t_smp4() { t_smp 4; }
t_timer() {
	run_vmm timer 60 --debug-exit --kernel "$GDIR/timer.img"
	want_exit 7   # 3 interrupts: (3 << 1) | 1
	no_guest_fail timer
	want_line timer "timer: interrupts 3, spurious 0"
	want_line timer "timer ok"
}
t_hostile() {
	s0=$(date +%s)
	run_vmm hostile 240 --stats --debug-exit --kernel "$GDIR/hostile.img"
	s=$(($(date +%s) - s0))
	want_exit 0
	no_guest_fail hostile
	for l in "hostile: unclaimed MMIO ok" "hostile: UART ok" "hostile: exit devices ok" "hostile: pci ok" \
		"hostile: gic ok" "hostile: hypercalls ok" "hostile: accesses without a syndrome ok" \
		"hostile: jumps outside RAM ok" "survived"; do
		want_line hostile "$l"
	done
	# thousands of bad accesses: vmm's guest warnings must be rate limited (10 a second)
	nl=$(wc -l <"$W/hostile.err")
	[ "$nl" -le $((12 * (s + 2))) ] || why="$why; $nl lines on stderr in $s s (not rate limited?)"
	want_err hostile "0xa000000 that KVM cannot decode .*external abort injected"
	# --stats: no port I/O on arm64, thousands of MMIO exits, the 6 undecodable ones as "other"
	l=$(grep 'exits to userspace' "$W/hostile.err")
	case $l in *" io 0, mmio "*) ;; *) why="$why; --stats: '$l' (want io 0)" ;; esac
	n=$(echo "$l" | sed -n 's/.* mmio \([0-9]*\),.*/\1/p')
	[ "${n:-0}" -ge 1000 ] || why="$why; --stats counts ${n:-no} MMIO exits (want 1000 or more)"
	n=$(echo "$l" | sed -n 's/.* other \([0-9]*\),.*/\1/p')
	[ "${n:-0}" -ge 6 ] || why="$why; --stats counts ${n:-no} other exits (want the 6 undecodable accesses)"
	echo "took $s s" >>"$W/hostile.err"
}
# The same under -vv, where every unclaimed MMIO access is a log line: still rate limited.
t_hostile_v() {
	s0=$(date +%s)
	run_vmm hostile-v 240 -v -v --debug-exit --kernel "$GDIR/hostile.img"
	s=$(($(date +%s) - s0))
	want_exit 0
	no_guest_fail hostile-v
	want_line hostile-v "survived"
	want_err hostile-v "unclaimed MMIO (read|write)"
	nl=$(grep -c 'unclaimed' "$W/hostile-v.err")
	[ "$nl" -le $((12 * (s + 2))) ] || why="$why; $nl unclaimed-access lines in $s s (not rate limited)"
}

guest_file() {
	case $1 in
	smp*) echo smp.img ;;
	exitcode-off) echo exitcode.img ;;
	bootinfo-initrd) echo bootinfo.img ;;
	hostile-v) echo hostile.img ;;
	hello-smp4) echo hello.img ;;
	hang-smp2|sigterm) echo hang.img ;;
	*) echo "$1.img" | tr - _ ;;
	esac
}
run_guest_tests() {
	for t in $GUEST_TESTS; do
		selected "$t" || continue
		if [ ! -s "$GDIR/$(guest_file "$t")" ]; then
			why="$GDIR has no $(guest_file "$t") (make -C tests/guest/arm64)"
		else
			"t_$(echo "$t" | tr - _)"
		fi
		verdict "$t"
	done
}

# ---- host tests: the device tree, bad inputs (no KVM needed) ----
# bad NAME FILE [ARGS...]: vmm-arm64 must exit 2 with one "vmm: --kernel ..." line and no output.
bad() {
	b_n=$1; b_f=$2; shift 2
	run_vmm "$b_n" 10 --kernel "$b_f" "$@"
	want_exit 2
	nl=$(wc -l <"$W/$b_n.err")
	[ "$nl" -eq 1 ] || why="$why; $nl lines on stderr (want 1)"
	[ ! -s "$W/$b_n.out" ] || why="$why; output on stdout"
}
want_msg() { grep -q "^vmm: $2" "$W/$1.err" || why="$why; stderr is not 'vmm: $2...': $(head -n 1 "$W/$1.err")"; }
# patch64 FILE OFFSET VALUE: a little-endian 64-bit field of a copy of hello.img
patch64() {
	p_v=$3; p_s=
	for _ in 1 2 3 4 5 6 7 8; do
		p_s="$p_s$(printf '\\%03o' $((p_v & 255)))"
		p_v=$((p_v >> 8))
	done
	# shellcheck disable=SC2059 # the octal escapes are the format
	printf "$p_s" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
t_bad_empty() { : >"$W/empty.img"; bad bad-empty "$W/empty.img"; want_msg bad-empty "--kernel .*empty"; }
t_bad_missing() { bad bad-missing "$W/does-not-exist.img"; want_msg bad-missing "--kernel .*does-not-exist"; }
t_bad_dir() { mkdir -p "$W/dir.img"; bad bad-dir "$W/dir.img"; want_msg bad-dir "--kernel .*not a regular file"; }
t_bad_not_image() {
	printf 'this is a text file, not an arm64 Image, long enough to hold a header of 64 bytes\n' >"$W/text.img"
	bad bad-not-image "$W/text.img"
	want_msg bad-not-image "--kernel .*not an arm64 Image"
}
t_bad_trunc_header() {
	head -c 40 "$GDIR/hello.img" >"$W/trunc40.img"
	bad bad-trunc-header "$W/trunc40.img"
	want_msg bad-trunc-header "--kernel .*not an arm64 Image"
}
t_bad_trunc_magic() {   # 58 bytes: half of the magic
	head -c 58 "$GDIR/hello.img" >"$W/trunc58.img"
	bad bad-trunc-magic "$W/trunc58.img"
	want_msg bad-trunc-magic "--kernel .*not an arm64 Image"
}
t_bad_gzip() {
	gzip -c "$GDIR/hello.img" >"$W/hello.img.gz"
	bad bad-gzip "$W/hello.img.gz"
	want_msg bad-gzip "--kernel .*gzip"
}
t_bad_too_big() {   # image_size 256 MiB in 256 MiB of RAM
	cp "$GDIR/hello.img" "$W/big.img"
	patch64 "$W/big.img" 16 $((256 << 20))
	bad bad-too-big "$W/big.img" --memory 256M
	want_msg bad-too-big "--kernel .*does not fit in --memory 256M"
}
t_bad_size_wrap() {   # image_size 2^63 + 2^62: text_offset + image_size would wrap
	cp "$GDIR/hello.img" "$W/wrap.img"
	patch64 "$W/wrap.img" 16 -4611686018427387904
	bad bad-size-wrap "$W/wrap.img"
	want_msg bad-size-wrap "--kernel .*does not fit"
}
t_bad_text_offset() {   # text_offset past the end of RAM
	cp "$GDIR/hello.img" "$W/toff.img"
	patch64 "$W/toff.img" 8 $((1 << 40))
	bad bad-text-offset "$W/toff.img" --memory 256M
	want_msg bad-text-offset "--kernel .*does not fit"
}
t_bad_size_below_file() {   # image_size smaller than the file: no Image says that
	cp "$GDIR/hello.img" "$W/small.img"
	patch64 "$W/small.img" 16 4096
	bad bad-size-below-file "$W/small.img"
	want_msg bad-size-below-file "--kernel "
}
t_bad_initrd_too_big() {   # a sparse 80 MiB initrd in 64 MiB of RAM
	dd if=/dev/zero of="$W/big-initrd" bs=1 count=1 seek=$((80 << 20)) 2>/dev/null
	run_vmm bad-initrd-too-big 10 --memory 64M --kernel "$GDIR/hello.img" --initrd "$W/big-initrd"
	want_exit 2
	[ "$(wc -l <"$W/bad-initrd-too-big.err")" -eq 1 ] || why="$why; $(wc -l <"$W/bad-initrd-too-big.err") lines on stderr (want 1)"
	want_msg bad-initrd-too-big "--initrd .*do not fit"
}

# image_size 0: an Image from before Linux 3.17, text_offset 0x80000 by convention: accepted
t_image_size_0() {
	cp "$GDIR/hello.img" "$W/old.img"
	patch64 "$W/old.img" 8 0
	patch64 "$W/old.img" 16 0
	run_vmm image-size-0 10 --kernel "$W/old.img" --dump-dtb "$W/old.dtb"
	want_exit 0
	[ ! -s "$W/image-size-0.err" ] || why="$why; stderr: $(head -n 1 "$W/image-size-0.err")"
	[ -s "$W/old.dtb" ] || why="$why; no device tree written"
}

# The device tree: dtc decompiles it without a warning, and it holds the machine.
# dtb_run NAME ARGS...: --dump-dtb into $W/NAME.dtb, decompiled into $W/NAME.dts.
dtb_run() {
	d_n=$1; shift
	run_vmm "$d_n" 10 --kernel "$GDIR/hello.img" --dump-dtb "$W/$d_n.dtb" "$@"
	want_exit 0 || return 1
	[ ! -s "$W/$d_n.err" ] || why="$why; vmm wrote to stderr: $(head -n 1 "$W/$d_n.err")"
	[ -s "$W/$d_n.dtb" ] || { why="$why; no device tree written"; return 1; }
	dtc -I dtb -O dts -o "$W/$d_n.dts" "$W/$d_n.dtb" 2>"$W/$d_n.dtc" || why="$why; dtc failed"
	[ ! -s "$W/$d_n.dtc" ] || why="$why; dtc: $(head -n 1 "$W/$d_n.dtc")"
	cp "$W/$d_n.dts" "$W/$d_n.out"
	return 0
}
# has NAME PATTERN WHAT: the dts matches the (grep -E) pattern
has() { grep -qE "$2" "$W/$1.dts" || why="$why; no $3"; }
# in_node NAME NODE PATTERN WHAT: a line of node NODE (its own lines, up to its first closing brace) matches
in_node() {
	sed -n "/^[[:space:]]*$2 {/,/};/p" "$W/$1.dts" | grep -qE "$3" || why="$why; $4"
}
t_dtb() {
	command -v dtc >/dev/null || { skip="no dtc (apt-get install device-tree-compiler)"; return; }
	dtb_run dtb --cpus 4 --memory 512M --append "console=ttyS0 dtb-check" || return
	d=dtb
	has $d 'compatible = "linux,dummy-virt"' "root compatible"
	in_node $d 'chosen' 'bootargs = "console=ttyS0 dtb-check";' "/chosen bootargs from --append"
	in_node $d 'chosen' 'stdout-path = "/serial@9000000";' "/chosen stdout-path"
	in_node $d 'memory@40000000' 'reg = <0x00 0x40000000 0x00 0x20000000>;' "memory node of 512 MiB at 0x40000000"
	in_node $d 'memory@40000000' 'device_type = "memory";' "memory device_type"
	n=$(grep -c 'device_type = "cpu";' "$W/$d.dts")
	[ "$n" = 4 ] || why="$why; $n cpu nodes (want 4)"
	for i in 0 1 2 3; do in_node $d "cpu@$i" "reg = <0x0*$i>;" "cpu@$i with reg $i"; done
	n=$(grep -c 'enable-method = "psci";' "$W/$d.dts")
	[ "$n" = 4 ] || why="$why; $n cpus with enable-method psci (want 4)"
	in_node $d 'psci' 'compatible = "arm,psci-1.0.0arm,psci-0.2"' "psci compatible 1.0 and 0.2"
	in_node $d 'psci' 'method = "hvc";' "psci method hvc"
	in_node $d 'interrupt-controller@8000000' 'compatible = "arm,gic-v3";' "gic-v3 node"
	# distributor, then 4 redistributors of 128 KiB from 0x80a0000
	in_node $d 'interrupt-controller@8000000' 'reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0x80000>;' "GICv3 reg for 4 redistributors"
	in_node $d 'interrupt-controller@8000000' 'interrupt-controller;' "interrupt-controller property"
	in_node $d 'msi-controller@8080000' 'compatible = "arm,gic-v3-its";' "gic-v3-its node"
	in_node $d 'msi-controller@8080000' 'msi-controller;' "ITS msi-controller property"
	in_node $d 'msi-controller@8080000' 'phandle = ' "ITS phandle"
	in_node $d 'timer' 'compatible = "arm,armv8-timer";' "armv8 timer"
	in_node $d 'timer' 'interrupts = <0x01 0x0d 0x04 0x01 0x0e 0x04 0x01 0x0b 0x04 0x01 0x0a 0x04>;' "timer PPIs 13 14 11 10"
	in_node $d 'serial@9000000' 'compatible = "ns16550a";' "ns16550a at 0x9000000"
	in_node $d 'serial@9000000' 'reg-shift = <0x00>;' "UART reg-shift 0"
	in_node $d 'pcie@30000000' 'compatible = "pci-host-ecam-generic";' "pci-host-ecam-generic"
	in_node $d 'pcie@30000000' 'reg = <0x00 0x30000000 0x00 0x100000>;' "ECAM reg of bus 0"
	in_node $d 'pcie@30000000' 'msi-map = <0x00 0x02 0x00 0x10000>;' "msi-map to the ITS (phandle 2)"
	in_node $d 'pcie@30000000' 'interrupt-map = ' "PCI interrupt-map"
	in_node $d 'pvpanic@9020000' 'compatible = "qemu,pvpanic-mmio";' "pvpanic-mmio"
	# the ITS's phandle is the one msi-map names
	ph=$(sed -n '/msi-controller@8080000 {/,/};/s/.*phandle = <\(0x[0-9a-f]*\)>;.*/\1/p' "$W/$d.dts")
	[ "$ph" = 0x02 ] || why="$why; the ITS's phandle is '$ph', msi-map names 0x02"
	grep -q 'debug-exit' "$W/$d.dts" && why="$why; a debug-exit node without --debug-exit"
	grep -q 'serial@9001000' "$W/$d.dts" && why="$why; a second UART outside vmm run"
}
t_dtb_debug_exit() {
	command -v dtc >/dev/null || { skip="no dtc (apt-get install device-tree-compiler)"; return; }
	dtb_run dtb-debug-exit --debug-exit || return
	in_node dtb-debug-exit 'debug-exit@9010000' 'reg = <0x00 0x9010000 0x00 0x04>;' "debug-exit node at 0x9010000"
	n=$(grep -c 'device_type = "cpu";' "$W/dtb-debug-exit.dts")
	[ "$n" = 1 ] || why="$why; $n cpu nodes (want 1)"
	in_node dtb-debug-exit 'memory@40000000' 'reg = <0x00 0x40000000 0x00 0x10000000>;' "the default 256 MiB of memory"
}
t_dtb_x86() {   # an x86 guest has ACPI tables: x86 vmm refuses --dump-dtb with status 2
	[ $arm_host = 0 ] || { skip="this host is arm64"; return; }
	X=${VMM_X86:-./vmm}
	[ -x "$X" ] || { skip="no $X (make)"; return; }
	"$X" --kernel "$GDIR/hello.img" --dump-dtb "$W/x86.dtb" </dev/null >"$W/dtb-x86.out" 2>"$W/dtb-x86.err"
	st=$?
	want_exit 2
	want_msg dtb-x86 "--dump-dtb"
	[ ! -e "$W/x86.dtb" ] || why="$why; it wrote $W/x86.dtb"
}
run_host_tests() {
	for t in $HOST_TESTS; do
		selected "$t" || continue
		if [ ! -s "$GDIR/hello.img" ]; then
			why="$GDIR has no hello.img (make -C tests/guest/arm64)"
		else
			"t_$(echo "$t" | tr - _)"
		fi
		verdict "$t"
	done
}

kvm_ok() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# ---- inside L1: guest tests only ----
if [ $inner = 1 ]; then
	QEMU_RUN=
	if ! kvm_ok; then
		for t in $GUEST_TESTS; do selected "$t" && say SKIP "arm64-$t: no /dev/kvm in L1"; done
		exit 0
	fi
	run_guest_tests
	exit "$failed"
fi

# ---- on the host ----
arm_host=0
case $(uname -m) in aarch64|arm64) arm_host=1 ;; esac
if [ $arm_host = 1 ]; then QEMU_RUN=; else QEMU_RUN=${QEMU_USER:-qemu-aarch64-static}; fi
sel_guest=; sel_host=
for t in $GUEST_TESTS; do selected "$t" && sel_guest="$sel_guest $t"; done
for t in $HOST_TESTS; do selected "$t" && sel_host="$sel_host $t"; done
sel_guest=${sel_guest# }

all_say() { for t in $sel_host $sel_guest; do say "$1" "arm64-$t: $2"; done; }
# The guests (incremental) and, unless VMM_ARM64 names one, vmm-arm64: make test builds the x86 vmm only.
if [ $arm_host = 1 ] || command -v aarch64-linux-gnu-gcc >/dev/null; then
	if ! make -s -C tests/guest/arm64 OUT="$(pwd)/$GDIR" >"$W/make.log" 2>&1; then
		all_say FAIL "could not build the guests (make -C tests/guest/arm64)"
		sed 's/^/    /' "$W/make.log" | tail -n 20
		exit 1
	fi
	if [ -z "$VMM_ARM64" ] && [ $arm_host = 0 ]; then
		if ! r=$(sh tests/arm64/fetch.sh 2>&1); then
			[ -x "$VMM" ] || { all_say SKIP "no $VMM and no arm64 sysroot to build it: $r"; exit 0; }
		elif ! make -s ARCH=arm64 vmm-arm64 >"$W/make.log" 2>&1; then
			all_say FAIL "make ARCH=arm64 vmm-arm64 failed"
			sed 's/^/    /' "$W/make.log" | tail -n 20
			exit 1
		fi
	fi
elif [ ! -s "$GDIR/hello.img" ]; then
	all_say SKIP "no aarch64-linux-gnu-gcc to build the guests (apt-get install gcc-aarch64-linux-gnu)"
	exit 0
fi
if [ ! -x "$VMM" ]; then
	all_say FAIL "$VMM missing (make ARCH=arm64)"
	exit 1
fi

# Host tests: vmm-arm64 under qemu-user on x86.
if [ -n "$sel_host" ]; then
	if [ -n "$QEMU_RUN" ] && ! command -v "$QEMU_RUN" >/dev/null; then
		for t in $sel_host; do say SKIP "arm64-$t: no $QEMU_RUN (apt-get install qemu-user-static)"; done
	else
		run_host_tests
	fi
fi
QEMU_RUN=

# Guest tests: directly on arm64 /dev/kvm, else in one arm64 L1 boot, else skipped with the reason.
if [ -z "$sel_guest" ]; then
	:
elif [ $arm_host = 1 ] && kvm_ok && [ "${ARM64_NESTED:-}" != 1 ]; then
	run_guest_tests
elif [ "${ARM64_NESTED:-}" = 0 ] || [ ! -f tests/nested/lib.sh ]; then
	for t in $sel_guest; do say SKIP "arm64-$t: no arm64 /dev/kvm and no nested harness"; done
else
	# shellcheck disable=SC2034 # read by lib.sh
	NESTED_LIB=tests/nested/lib.sh
	NESTED_ARCH=arm64
	# shellcheck source=tests/nested/lib.sh
	. tests/nested/lib.sh
	if [ "${NESTED_ARCH:-x86}" != arm64 ] || ! command -v l1_suite >/dev/null; then
		for t in $sel_guest; do say SKIP "arm64-$t: tests/nested/lib.sh has no arm64 L1 (NESTED_ARCH=arm64)"; done
	elif ! r=$(nested_check); then
		for t in $sel_guest; do say SKIP "arm64-$t: no arm64 KVM here; the arm64 L1 is unusable: $r"; done
	else
		mkdir -p "$NB"
		# shellcheck disable=SC2034 # read by lib.sh
		L1_LOG=$NB/guest-l1.log
		# Every test bounds its own vmm run, so a silent L1 is stuck: the watchdog kills it after
		# L1_STALL seconds (L1's heartbeat, from l1_init.sh, tells a slow test from a stuck L1).
		L1_STALL=${L1_STALL:-300}
		printf '#!/bin/sh\nsh /guest/run.sh --inner /guest /vmm %s\n' "$sel_guest" >"$W/l1-test.sh"
		chmod 755 "$W/l1-test.sh"
		set -- "$W/l1-test.sh:/test.sh" "$VMM:/vmm" tests/guest/arm64/run.sh:/guest/run.sh
		for f in "$GDIR"/*.img; do set -- "$@" "$f:/guest/$(basename "$f")"; done
		if ! l1_initramfs "$W/l1.cpio" "$@" >"$W/l1-build.log" 2>&1; then
			for t in $sel_guest; do say FAIL "arm64-$t: could not build the arm64 L1 initramfs"; done
			sed 's/^/    /' <"$W/l1-build.log"
			exit 1
		fi
		# shellcheck disable=SC2086 # one word per test
		l1_suite arm64 "${ARM64_L1_TIMEOUT:-2400}" "$W/l1.cpio" $sel_guest
		for t in $sel_guest; do
			l1_verdict arm64 "$t" || failed=$((failed + 1))
		done
	fi
fi
[ "$failed" -eq 0 ]
