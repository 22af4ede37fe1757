#!/bin/sh
# tests/bench/io_l1.sh: /test.sh in L1 for the I/O benchmarks: fio in L1, then L2 under vmm (base, blk, net) and under QEMU; prints IO-RESULT lines.
# Every part reports on its own: a failure prints "IO-RESULT FAIL what: why" and the next part runs.
# shellcheck disable=SC3043 # local: busybox ash has it
export PATH=/bin:/usr/bin
IMG_MB=256
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

(while sleep 30; do echo "L1-ALIVE uptime=$(now)"; done) &
HB=$!

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

# ---- L2 under vmm: io=base (boot, no I/O), blk, net; --stats gives the exit counts ----
vmm_run() {
	local name t0 st
	name=$1
	t0=$(now)
	timeout -s KILL $((VMM_TIMEOUT + 30)) /b/vmm --kernel /b/bzImage --initrd /b/l2.cpio \
		--append "$APPEND io=$name fio_secs=$FIO_SECS net_secs=$NET_SECS" --memory "$VMM_MEM" \
		--disk $IMG --net tap=tap0 --stats --console stdio --timeout "$VMM_TIMEOUT" \
		</dev/null >"/tmp/vmm-$name.log" 2>&1
	st=$?
	tr -d '\r' <"/tmp/vmm-$name.log" | sed "s/^/L2[vmm-$name]| /"
	echo "IO-TIME vmm-$name exit=$st seconds=$(awk "BEGIN{print $(now) - $t0}")"
	[ $st = 0 ] || fail "vmm $name: vmm exit $st"
	tr -d '\r' <"/tmp/vmm-$name.log" | grep -q '^IO-L2-DONE' || { fail "vmm $name: L2 did not finish"; }
	[ "$name" = base ] || results vmm "/tmp/vmm-$name.log"
	# exits and requests, for the per-request exit count
	tr -d '\r' <"/tmp/vmm-$name.log" | sed -n 's/.*exits to userspace: io \([0-9]*\), mmio \([0-9]*\),.* total \([0-9]*\).*/IO-RESULT vmm-'"$name"' exits \3 \1 \2/p'
	tr -d '\r' <"/tmp/vmm-$name.log" | sed -n 's/^virtio-blk .*: requests \([0-9]*\),.*/IO-RESULT vmm-'"$name"' blk-requests \1/p'
	tr -d '\r' <"/tmp/vmm-$name.log" | sed -n 's/^virtio-net .*: requests \([0-9]*\),.*/IO-RESULT vmm-'"$name"' net-requests \1/p'
	return 0
}

# ---- L2 under QEMU on L1's /dev/kvm: the same kernel, initramfs, image and tap ----
qemu_run() {
	local t0 st
	t0=$(now)
	case $QEMU_MACHINE in
	microvm) set -- -M microvm,rtc=on -device virtio-blk-device,drive=d -device virtio-net-device,netdev=n ;;
	*) set -- -M "$QEMU_MACHINE" -device virtio-blk-pci,drive=d -device virtio-net-pci,netdev=n,romfile= ;;
	esac
	# cache=writeback (QEMU's default): cache=none needs O_DIRECT, which tmpfs lacks; vmm is buffered too
	timeout -s KILL $((VMM_TIMEOUT + 30)) qemu-system-x86_64 -accel kvm -cpu host -m "$VMM_MEM" \
		-nodefaults -no-user-config -nographic -serial stdio -no-reboot "$@" \
		-drive if=none,id=d,file=$IMG,format=raw,cache=writeback \
		-netdev tap,id=n,ifname=tap0,script=no,downscript=no \
		-kernel /b/bzImage -initrd /b/l2.cpio \
		-append "$APPEND io=all fio_secs=$FIO_SECS net_secs=$NET_SECS" </dev/null >/tmp/qemu.log 2>&1
	st=$?
	tr -d '\r' <"/tmp/qemu.log" | sed "s/^/L2[qemu-$QEMU_MACHINE]| /"
	echo "IO-TIME qemu exit=$st seconds=$(awk "BEGIN{print $(now) - $t0}")"
	[ $st = 0 ] || fail "qemu ($QEMU_MACHINE): exit $st"
	tr -d '\r' </tmp/qemu.log | grep -q '^IO-L2-DONE' || fail "qemu ($QEMU_MACHINE): L2 did not finish"
	res "qemu machine $QEMU_MACHINE"
	results qemu /tmp/qemu.log
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
	[ -z "$why" ] || fail "setup: ${why#; }"
}

setup
l1_fio
vmm_run base
vmm_run blk
vmm_run net
qemu_run
kill $HB
exit 0
