#!/bin/sh
# tests/bench/io_l1.sh: /test.sh in L1 for the I/O benchmarks: fio in L1, then L2 under vmm (base, blk, net) and under QEMU; prints IO-RESULT lines.
# Every part reports on its own: a failure prints "IO-RESULT FAIL what: why" and the next part runs.
# shellcheck disable=SC3043 # local: busybox ash has it
export PATH=/bin:/usr/bin
IMG_MB=256
ROUNDS=3
BUDGET=780
FIO_SECS=5
NET_SECS=5
VMM_MEM=512M
VMM_TIMEOUT=300
QEMU_MACHINE=microvm
APPEND="console=ttyS0 quiet panic=-1"
# shellcheck disable=SC1091 # written by io.sh
[ -f /io.env ] && . /io.env
IMG=/tmp/img

now() { cut -d' ' -f1 /proc/uptime; }
res() { echo "IO-RESULT $*"; }
fail() { res "FAIL $*"; }


# ---- L1 itself: the same fio jobs on the backing file (buffered: tmpfs has no O_DIRECT) ----
l1_fio_job() {
	fio --name="$1" --filename=$IMG --rw="$2" --bs="$3" --iodepth=16 --ioengine=libaio \
		--direct=0 --time_based --runtime="$FIO_SECS" --ramp_time=1 --norandommap --randrepeat=0 \
		--minimal >/tmp/l1fio 2>/tmp/l1fio.err
	st=$?
	case $2 in
	*read) awk -F';' -v n="$1" -v st=$st '{ print "IO-FIO " n " " $7 " " $8 " " st } END { if (NR == 0) print "IO-FIO " n " 0 0 " (st ? st : 99) }' /tmp/l1fio ;;
	*) awk -F';' -v n="$1" -v st=$st '{ print "IO-FIO " n " " $48 " " $49 " " st } END { if (NR == 0) print "IO-FIO " n " 0 0 " (st ? st : 99) }' /tmp/l1fio ;;
	esac
	[ $st = 0 ] || head -n 2 /tmp/l1fio.err | sed 's/^/IO-FIO-ERR: /'
}

l1_fio() {
	{
		l1_fio_job seq-read read 1M
		l1_fio_job seq-write write 1M
		l1_fio_job rand-read randread 4k
		l1_fio_job rand-write randwrite 4k
	} >/tmp/l1.log 2>&1
	cat /tmp/l1.log
	results l1 /tmp/l1.log
}

# results SIDE LOG: IO-FIO and IO-NET lines of LOG as IO-RESULT lines for SIDE.
results() {
	local side log
	side=$1; log=$2
	tr -d '\r' <"$log" | awk -v s="$side" '
		/^IO-FIO / { if ($5 == 0 && $3 > 0) print "IO-RESULT " s " fio " $2 " " $3 " " $4; else print "IO-RESULT FAIL " s " fio " $2 ": fio exit " $5 }
		/^IO-NET / { if ($3 > 0) print "IO-RESULT " s " net " $2 " " $3; else print "IO-RESULT FAIL " s " net " $2 ": iperf3 moved nothing" }'
	tr -d '\r' <"$log" | grep -q '^IO-L2-NODISK' && fail "$side blk: L2 found no virtio disk"
	tr -d '\r' <"$log" | grep -q '^IO-L2-NONET' && fail "$side net: L2 found no eth0"
	tr -d '\r' <"$log" | grep -q '^IO-L2-NOPING' && fail "$side net: L2 cannot ping L1"
	tr -d '\r' <"$log" | grep -q '^IO-L2-MODULES-FAILED' && fail "$side: L2 modules failed to load"
	return 0
}

# kvm_watch STOPFILE OUT: every 0.5 s until STOPFILE exists, KVM's counters (VM exits of every
# reason, handled in the kernel or not) of the one running VM into OUT: "exits io_exits mmio_exits
# halt_exits". The counters vanish with the VM, so the last sample is what counts; L2 idles for a
# second after its last I/O so that sample has it all. Shell builtins only: the sampling costs little.
# With a third argument, also every non-zero counter as name=value into OUT.all (for the base runs).
kvm_watch() {
	local d a b c h f v all
	while [ ! -e "$1" ]; do
		for d in /sys/kernel/debug/kvm/*-*; do
			# shellcheck disable=SC2015 # any failed read: next
			# (L1's kvm-hold VM has no vCPU: its exits stay 0)
			read -r a <"$d/exits" && [ "$a" -gt 0 ] && read -r b <"$d/io_exits" && read -r c <"$d/mmio_exits" &&
				read -r h <"$d/halt_exits" || continue
			echo "$a $b $c $h" >"$2"
			[ -n "$3" ] || continue
			all=
			for f in "$d"/*; do
				read -r v <"$f" || continue
				case $v in *[!0-9]* | 0 | "") continue ;; esac
				all="$all ${f##*/}=$v"
			done
			# the VM may be going away while this runs: keep the last full sample
			[ -n "$all" ] && [ -e "$d/exits" ] && echo "$all" >"$2.all"
		done 2>/dev/null
		sleep 0.5
	done
}

# dp_watch STOPFILE OUT: every 0.5 s until STOPFILE exists, the largest private memory (kB:
# Private_Clean + Private_Dirty of smaps_rollup, so not the guest RAM it shares) of any device
# process (comm vmm-blk) into OUT.
dp_watch() {
	local p c m max
	max=0
	while [ ! -e "$1" ]; do
		for p in /proc/[0-9]*; do
			{ read -r c <"$p/comm"; } 2>/dev/null || continue   # gone since the glob
			[ "$c" = vmm-blk ] || continue
			m=$(awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }' "$p/smaps_rollup" 2>/dev/null)
			[ "${m:-0}" -gt "$max" ] && max=$m && echo "$max" >"$2"
		done
		sleep 0.5
	done
}

# l2_run SIDE MODE CMD...: one L2 boot (io=MODE) under CMD; log in /tmp/SIDE-MODE.log; IO-RESULT lines.
l2_run() {
	local side mode log t0 st w dw
	side=$1; mode=$2; shift 2
	log=/tmp/$side-$mode.log
	rm -f /tmp/l2.done /tmp/kvm.stat /tmp/kvm.stat.all /tmp/dp.mem
	kvm_watch /tmp/l2.done /tmp/kvm.stat "$([ "$mode" = base ] && echo all)" &
	w=$!
	dw=
	if [ "$side-$mode" = vmm-blk ]; then dp_watch /tmp/l2.done /tmp/dp.mem & dw=$!; fi
	t0=$(now)
	timeout -s KILL $((VMM_TIMEOUT + 30)) "$@" </dev/null >"$log" 2>&1
	st=$?
	touch /tmp/l2.done
	wait $w $dw
	tr -d '\r' <"$log" | sed "s/^/L2[$side-$mode]| /"
	echo "IO-TIME $side-$mode exit=$st seconds=$(awk "BEGIN{print $(now) - $t0}")"
	[ $st = 0 ] || fail "$side $mode: exit $st"
	tr -d '\r' <"$log" | grep -q '^IO-L2-DONE' || fail "$side $mode: L2 did not finish"
	[ "$mode" = base ] || results "$side" "$log"
	if [ -s /tmp/kvm.stat ]; then
		res "$side-$mode kvm $(cat /tmp/kvm.stat)"
	else
		fail "$side $mode: no KVM exit counters (debugfs)"
	fi
	[ -s /tmp/kvm.stat.all ] && res "$side-$mode kvm-all $(cat /tmp/kvm.stat.all)"
	[ -s /tmp/dp.mem ] && res "$side-$mode devproc-private-kb $(cat /tmp/dp.mem)"
	tr -d '\r' <"$log" | sed -n 's/^IO-BLK-REQS \([0-9]*\).*/IO-RESULT '"$side-$mode"' l2-blk-requests \1/p'
	tr -d '\r' <"$log" | sed -n 's/^IO-NET-PKTS \([0-9]*\).*/IO-RESULT '"$side-$mode"' l2-net-packets \1/p'
	# vmm --stats: exits to userspace and virtio requests
	tr -d '\r' <"$log" | sed -n 's/.*exits to userspace: io \([0-9]*\), mmio \([0-9]*\),.* total \([0-9]*\).*/IO-RESULT '"$side-$mode"' exits \3 \1 \2/p'
	tr -d '\r' <"$log" | sed -n 's/^virtio-blk .*: requests \([0-9]*\),.*/IO-RESULT '"$side-$mode"' blk-requests \1/p'
	tr -d '\r' <"$log" | sed -n 's/^virtio-net .*: requests \([0-9]*\),.*/IO-RESULT '"$side-$mode"' net-requests \1/p'
	return 0
}

# ---- L2 under vmm: io=base (boot, no I/O), blk, net; side vmm (disks in device processes, the
# default) or, with a second argument "thread", side vmmt (--device-isolation thread) ----
vmm_run() {
	local side iso
	side=vmm; iso=process
	[ "$2" = thread ] && side=vmmt && iso=thread
	l2_run $side "$1" /b/vmm --device-isolation $iso --kernel /b/bzImage --initrd /b/l2.cpio \
		--append "$APPEND io=$1 fio_secs=$FIO_SECS net_secs=$NET_SECS" --memory "$VMM_MEM" \
		--disk $IMG --net tap=tap0 --stats --console stdio --timeout "$VMM_TIMEOUT"
}

# ---- L2 under QEMU on L1's /dev/kvm: the same kernel, initramfs, image and tap ----
qemu_run() {
	local mode
	mode=$1; shift
	case $QEMU_MACHINE in
	microvm) set -- -M microvm,rtc=on -device virtio-blk-device,drive=d -device virtio-net-device,netdev=n ;;
	*) set -- -M "$QEMU_MACHINE" -device virtio-blk-pci,drive=d -device virtio-net-pci,netdev=n,romfile= ;;
	esac
	# cache=writeback (QEMU's default): cache=none needs O_DIRECT, which tmpfs lacks; vmm is buffered too
	l2_run qemu "$mode" qemu-system-x86_64 -accel kvm -cpu host -m "$VMM_MEM" \
		-nodefaults -no-user-config -nographic -serial stdio -no-reboot "$@" \
		-drive if=none,id=d,file=$IMG,format=raw,cache=writeback \
		-netdev tap,id=n,ifname=tap0,script=no,downscript=no \
		-kernel /b/bzImage -initrd /b/l2.cpio \
		-append "$APPEND io=$mode fio_secs=$FIO_SECS net_secs=$NET_SECS"
}

setup() {
	local why
	why=
	dd if=/dev/zero of=$IMG bs=1M count="$IMG_MB" 2>/dev/null || why="$why; cannot write $IMG"
	ip link set lo up
	ip tuntap add dev tap0 mode tap 2>/dev/null || tunctl -t tap0 >/dev/null 2>&1 || why="$why; cannot create tap0"
	echo 1 >/proc/sys/net/ipv6/conf/tap0/disable_ipv6 2>/dev/null
	ip addr add 192.168.77.1/24 dev tap0
	ip link set tap0 up
	iperf3 -s -D -B 192.168.77.1 >/tmp/iperf3-server.log 2>&1 || why="$why; iperf3 server did not start"
	[ -c /dev/kvm ] || why="$why; no /dev/kvm in L1"
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	[ -z "$why" ] || fail "setup: ${why#; }"
}

# One round: L1's fio, then vmm and QEMU alternately (base in the first round only: boot exits
# are steady). Another round only if it fits before BUDGET seconds of L1 uptime, judged by the last.
round() {
	local m
	echo "IO-ROUND $1 uptime=$(now)"
	l1_fio
	for m in $2 blk net; do
		vmm_run "$m"
		[ "$m" = blk ] && vmm_run blk thread
		qemu_run "$m"
	done
}

setup
res "qemu machine $QEMU_MACHINE"
n=1; t=$(now)
round 1 base
while [ $n -lt "$ROUNDS" ]; do
	last=$(awk "BEGIN{print $(now) - $t}")
	awk "BEGIN{exit !($(now) + $last < $BUDGET)}" || { echo "IO-RESULT NOTE only $n of $ROUNDS rounds fit in ${BUDGET}s of L1 uptime"; break; }
	n=$((n + 1)); t=$(now)
	round $n ""
done
res "rounds $n"
exit 0
