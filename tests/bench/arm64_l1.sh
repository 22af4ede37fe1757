#!/bin/sh
# tests/bench/arm64_l1.sh: /test.sh of the arm64 L1 of `make bench ARCH=arm64` (tests/bench/arm64.sh):
# vmm-arm64 against qemu-system-aarch64 -M virt (KVM) and the bare-KVM floor, in one arm64 L1.
# Files in /b: vmm, kvm_probe, stopwatch, exit.img (tests/bench/exit_arm64.S), Image (the arm64 cloud
# kernel), initrd.cpio (busybox + tests/bench/boot_l2.sh), blk.cpio (busybox, virtio modules,
# tests/bench/arm64_blk_l2.sh), bench.env; QEMU at /usr/bin/qemu-system-aarch64 with its libraries.
# Every result line starts with "BENCH "; arm64.sh computes the medians and ratios. Rows that are
# compared run interleaved (one run each per round), as tests/bench/boot_l1.sh does for x86.
# Env (bench.env): START_RUNS (20), BOOT_RUNS (7), PARTS ("start boot exits blk"), START_DONE, BOOT_DONE,
#   PARTS_DONE (what an earlier L1 that stalled finished).
# shellcheck disable=SC3043,SC2317 # local: busybox ash has it; part_* are called by name
export PATH="/bin:/usr/bin:$PATH"
D=/b
START_RUNS=20
BOOT_RUNS=7
PARTS="start boot exits blk"
START_DONE=0
BOOT_DONE=0
PARTS_DONE=
# shellcheck disable=SC1091 # written by arm64.sh
[ -f "$D/bench.env" ] && . "$D/bench.env"
# vmm's console is its 16550 UART (ttyS0), QEMU virt's the PL011 (ttyAMA0)
VAPPEND="console=ttyS0 quiet panic=-1"
QAPPEND="console=ttyAMA0 quiet panic=-1"
MARK=L2-INIT-REACHED
TMP=/tmp/bench.$$
mkdir -p "$TMP"

now() { cut -d' ' -f1 /proc/uptime; }
res() { echo "BENCH $*"; }
# sw LABEL SECS [stopwatch options] -- COMMAND...: one timed run, its line as a result
sw() {
	local l t
	l=$1; t=$2; shift 2
	timeout -s KILL $((t + 30)) "$D/stopwatch" -n 1 -l "$l" -t "$t" "$@" | sed 's/^/BENCH /'
}

QEMU="qemu-system-aarch64 -M virt,gic-version=3 -accel kvm -cpu host -smp 1 -nodefaults -no-user-config -no-reboot"
res "where $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
res "qemu-version $(qemu-system-aarch64 --version | head -n 1 | tr ' ' _)"
res "vmm-backing $("$D/vmm" -v --kernel "$D/exit.img" --memory 64M --console none 2>&1 | sed -n 's/.*guest RAM: //p' | head -n 1)"

# ---- start-up: the Image that powers off at once, and the bare-KVM floor ----
part_start() {
	local i
	echo "bench: start-up, $START_RUNS rounds $(date)"
	i=$START_DONE
	while [ "$i" -lt "$START_RUNS" ]; do
		sw start-vmm-64M 30 -- "$D/vmm" --kernel "$D/exit.img" --memory 64M --console none
		sw start-vmm 30 -- "$D/vmm" --kernel "$D/exit.img" --console none
		sw start-vmm-nosandbox 30 -- "$D/vmm" --kernel "$D/exit.img" --memory 64M --console none --no-sandbox
		# kvm_probe: a VM, 2 MiB, one vCPU, one MMIO exit, PSCI SYSTEM_OFF (no GIC)
		sw start-floor 30 -- "$D/kvm_probe" -n 1
		# the same with 64 MiB and a GICv3 + ITS made and initialised as vmm does
		sw start-floor-gic 30 -- "$D/kvm_probe" -n 1 -m 64 -g
		# shellcheck disable=SC2086 # words
		sw start-qemu 30 -- $QEMU -m 64M -display none -kernel "$D/exit.img"
		i=$((i + 1))
		res "done start-round $i"
	done
	# where vmm's start-up goes (vmm -v: ms since exec at each phase), 9 runs for medians
	for i in 1 2 3 4 5 6 7 8 9; do
		res "start-vmm-phases $("$D/vmm" -v --kernel "$D/exit.img" --memory 64M --console none 2>&1 | sed -n 's/^vmm: \[ *\([0-9.]*\) ms\] \(.*\)/\1 \2|/p' | tr '\n' ' ')"
	done
}

# ---- boot: Linux to /init and power-off, both VMMs, interleaved ----
part_boot() {
	local i
	echo "bench: boot, $BOOT_RUNS rounds $(date)"
	i=$BOOT_DONE
	while [ "$i" -lt "$BOOT_RUNS" ]; do
		sw boot-vmm 300 -m "$MARK" -k uptime -- "$D/vmm" --kernel "$D/Image" --initrd "$D/initrd.cpio" \
			--append "$VAPPEND" --memory 256M --cpus 1 --timeout 300
		# shellcheck disable=SC2086 # words
		sw boot-qemu 300 -m "$MARK" -k uptime -- $QEMU -m 256 -nographic -serial stdio \
			-kernel "$D/Image" -initrd "$D/initrd.cpio" -append "$QAPPEND"
		i=$((i + 1))
		res "done boot-round $i"
	done
}

# ---- exits per virtio-blk request: KVM's per-VM counters (debugfs) around a 64 MiB dd in L2 ----
# kvm_sample: " name=value..." of the running VM's counters (the per-VM directory with the most exits:
# QEMU's probe VM, if any, is gone by then)
KSTATS="exits mmio_exit_user mmio_exit_kernel wfi_exit_stat hvc_exit_stat signal_exits halt_wakeup"
kvm_sample() {
	local d best bx x f v out
	best=; bx=-1
	for d in /sys/kernel/debug/kvm/*-*; do
		[ -e "$d/exits" ] || continue
		read -r x <"$d/exits" 2>/dev/null || continue
		[ "$x" -gt "$bx" ] && { bx=$x; best=$d; }
	done
	[ -n "$best" ] || return 1
	out=
	for f in $KSTATS; do
		read -r v <"$best/$f" 2>/dev/null || v=-1
		out="$out $f=$v"
	done
	echo "$out"
}

# blk_run LABEL CMD...: one L2 run of arm64_blk_l2.sh on a fresh 96 MiB disk; a sample of the
# counters at each L2-BLK-MARK line ("BENCH blk-LABEL-sampleN ..."), then the L2's request counts
blk_run() {
	local l pid n c s st
	l=$1; shift
	rm -f "$TMP/blk.img" && dd if=/dev/zero of="$TMP/blk.img" bs=1M count=0 seek=96 2>/dev/null
	timeout -s KILL 300 "$@" </dev/null >"$TMP/blk-$l.log" 2>&1 &
	pid=$!
	n=0
	while kill -0 "$pid" 2>/dev/null; do
		c=$(tr -d '\r' <"$TMP/blk-$l.log" | grep -c '^L2-BLK-MARK$')
		if [ "$c" -gt "$n" ]; then
			n=$c
			s=$(kvm_sample) || s=" none"
			res "blk-$l-sample$n$s"
		fi
		sleep 0.2
	done
	wait "$pid"
	st=$?
	res "blk-$l status=$st marks=$n $(tr -d '\r' <"$TMP/blk-$l.log" | sed -n 's/^L2-BLK-STAT //p' | tail -n 1)"
	tr -d '\r' <"$TMP/blk-$l.log" | sed -n "s/^L2-MSI: /BENCH blk-$l-msi: /p;s/^L2-BLK-FAIL/BENCH blk-$l-fail/p;s/^vmm: \(exits to userspace\)/BENCH blk-$l-stats: \1/p;s/^\(virtio-blk\)/BENCH blk-$l-stats: \1/p"
	[ "$n" -ge 3 ] || tr -d '\r' <"$TMP/blk-$l.log" | grep -v '^$' | tail -n 8 | sed "s|^|bench: blk-$l: |"
}

# ---- exits per Linux boot: one boot of each with the per-VM counters sampled every 0.2 s (they vanish
# with the VM: the L2 idles 1 s before it powers off, bench_idle=1, so the last sample has the boot) ----
exits_run() {
	local l pid s last v0
	l=$1; shift
	v0=$(vmstat_sample)
	timeout -s KILL 300 "$@" </dev/null >"$TMP/exits-$l.log" 2>&1 &
	pid=$!
	last=
	while kill -0 "$pid" 2>/dev/null; do
		s=$(kvm_sample) && last=$s
		sleep 0.2
	done
	wait "$pid"
	res "exits-$l status=$? $last"
	res "exits-$l-l1vmstat$(vmstat_sample | awk -v a="$v0" 'BEGIN { n = split(a, x, " ") } { for (i = 1; i <= NF; i++) { split($i, kv, "="); split(x[i], kv0, "="); printf " %s=%d", kv[1], kv[2] - kv0[2] } }')"
}
# L1's page fault, huge page and compaction counters (does a VMM's guest RAM cost L1 work?)
vmstat_sample() {
	awk '$1 ~ /^(pgfault|thp_fault_alloc|thp_fault_fallback|compact_stall|compact_fail|pgmajfault)$/ { printf "%s=%s ", $1, $2 }' /proc/vmstat
}

part_exits() {
	echo "bench: exits per boot $(date)"
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	[ -d /sys/kernel/debug/kvm ] || { res "exits-FAIL no /sys/kernel/debug/kvm"; return; }
	exits_run vmm "$D/vmm" --kernel "$D/Image" --initrd "$D/initrd.cpio" --append "$VAPPEND bench_idle=1" \
		--memory 256M --cpus 1 --timeout 280
	# shellcheck disable=SC2086 # words
	exits_run qemu $QEMU -m 256 -nographic -serial stdio \
		-kernel "$D/Image" -initrd "$D/initrd.cpio" -append "$QAPPEND bench_idle=1"
}

part_blk() {
	echo "bench: exits per virtio-blk request $(date)"
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	[ -d /sys/kernel/debug/kvm ] || { res "blk-FAIL no /sys/kernel/debug/kvm"; return; }
	blk_run vmm "$D/vmm" --kernel "$D/Image" --initrd "$D/blk.cpio" --append "$VAPPEND" \
		--memory 256M --cpus 1 --timeout 280 --disk "$TMP/blk.img" --stats
	# shellcheck disable=SC2086 # words
	blk_run qemu $QEMU -m 256 -nographic -serial stdio \
		-drive "file=$TMP/blk.img,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0 \
		-kernel "$D/Image" -initrd "$D/blk.cpio" -append "$QAPPEND"
	rm -f "$TMP/blk.img"
}

# L1's kernel messages on the console (a stall in L1 shows up in the log)
echo 7 >/proc/sys/kernel/printk
t0=$(now)
for p in $PARTS; do
	case " $PARTS_DONE " in *" $p "*) continue ;; esac
	"part_$p"
	res "done part $p"
done
res "time seconds=$(awk "BEGIN{print int($(now) - $t0)}")"
rm -rf "$TMP"
exit 0
