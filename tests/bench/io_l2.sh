#!/bin/sh
# tests/bench/io_l2.sh: /init of the L2 initramfs for the I/O benchmarks: io=base|blk|net|all picks the work; prints IO-* lines.
# Output is kept short on purpose: each byte on the serial console is a port-I/O exit, and the
# exit count per request is one of the results.
export PATH=/bin
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /tmp && mount -t tmpfs tmp /tmp
# Every marker line has the same length, and every run prints the same number of them (pad), so
# the serial port's exits cancel out when the base run's counts are subtracted.
say() { printf '%-63.63s\n' "$*"; }
pad() { n=$1; while [ "$n" -gt 0 ]; do say IO-L2-PAD; n=$((n - 1)); done; }
say "IO-L2-INIT uptime=$(cut -d' ' -f1 /proc/uptime)"

fails=0
while read -r m params; do
	[ -n "$m" ] || continue
	# shellcheck disable=SC2086 # params are words
	insmod "/mods/$m.ko" $params 2>/dev/null || fails=$((fails + 1))
done </mods/order
# microvm's devices are virtio-mmio, described by ACPI (LNRO0005)
insmod /mods/virtio_mmio.ko 2>/dev/null
[ $fails = 0 ] || echo "IO-L2-MODULES-FAILED=$fails"

IO=base; FIO_SECS=5; NET_SECS=5; PEER=192.168.77.1; SELF=192.168.77.2
# shellcheck disable=SC2013 # words of one line
for w in $(cat /proc/cmdline); do
	case $w in
	io=*) IO=${w#*=} ;;
	fio_secs=*) FIO_SECS=${w#*=} ;;
	net_secs=*) NET_SECS=${w#*=} ;;
	esac
done

# The first virtio disk, waited for (5 s): both the base run and the I/O runs do this.
DISK=
i=0
while [ $i -lt 50 ]; do
	for d in /sys/block/vd*; do [ -e "$d" ] && DISK=/dev/${d##*/} && break; done
	[ -n "$DISK" ] && break
	sleep 0.1; i=$((i + 1))
done
[ -n "$DISK" ] || echo "IO-L2-NODISK"
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /sys/class/net/eth0 ] || echo "IO-L2-NONET"

ENGINE=libaio
/usr/bin/fio --enghelp 2>/dev/null | grep -q libaio || ENGINE=psync

# fio_job NAME RW BS: one short job on $DISK; prints "IO-FIO NAME kib_per_s iops" (read or write side).
fio_job() {
	/usr/bin/fio --name="$1" --filename="$DISK" --rw="$2" --bs="$3" --iodepth=16 --ioengine=$ENGINE \
		--direct=1 --time_based --runtime="$FIO_SECS" --ramp_time=1 --norandommap --randrepeat=0 \
		--minimal >/tmp/fio 2>/tmp/fio.err
	st=$?
	case $2 in
	*read) awk -F';' -v n="$1" -v st=$st '{ printf "%-63.63s\n", "IO-FIO " n " " $7 " " $8 " " st } END { if (NR == 0) print "IO-FIO " n " 0 0 " (st ? st : 99) }' /tmp/fio ;;
	*) awk -F';' -v n="$1" -v st=$st '{ printf "%-63.63s\n", "IO-FIO " n " " $48 " " $49 " " st } END { if (NR == 0) print "IO-FIO " n " 0 0 " (st ? st : 99) }' /tmp/fio ;;
	esac
	[ $st = 0 ] || head -n 2 /tmp/fio.err | sed 's/^/IO-FIO-ERR: /'
}

# requests the block layer completed on $DISK (reads + writes + discards + flushes)
blk_reqs() { awk '{ print $1 + $5 + $12 + $16 }' "/sys/block/${DISK#/dev/}/stat"; }

run_blk() {
	[ -n "$DISK" ] || { pad 6; return; }
	say "IO-L2-ENGINE=$ENGINE disk=$DISK"
	r0=$(blk_reqs)
	fio_job seq-read read 1M
	fio_job seq-write write 1M
	fio_job rand-read randread 4k
	fio_job rand-write randwrite 4k
	say "IO-BLK-REQS $(($(blk_reqs) - r0))"
}

# iperf SECS [-R]: the receiver's rate in Mbit/s
iperf() {
	secs=$1; shift
	iperf3 -c "$PEER" -t "$secs" -f m "$@" >/tmp/iperf 2>&1 || { echo 0; return; }
	awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") r = $(i - 1) } END { print r + 0 }' /tmp/iperf
}

# packets through eth0, both ways
pkts() { echo $(($(cat /sys/class/net/eth0/statistics/rx_packets) + $(cat /sys/class/net/eth0/statistics/tx_packets))); }

run_net() {
	[ -e /sys/class/net/eth0 ] || { pad 6; return; }
	ip link set lo up
	ip link set eth0 up
	ip addr add "$SELF/24" dev eth0
	ping -c 1 -W 5 "$PEER" >/dev/null 2>&1 || ping -c 1 -W 5 "$PEER" >/dev/null 2>&1 || echo "IO-L2-NOPING"
	p0=$(pkts)
	say "IO-NET tx $(iperf "$NET_SECS")"
	say "IO-NET rx $(iperf "$NET_SECS" -R)"
	say "IO-NET-PKTS $(($(pkts) - p0))"
}

# six marker lines in each of base, blk and net
case $IO in
blk) run_blk ;;
net) run_net; pad 3 ;;
all) run_blk; run_net ;;
*) pad 6 ;;
esac
# L1 samples KVM's per-VM exit counters every 0.5 s and they vanish with the VM: an idle second
# after the last I/O, so the last sample has all of it
sleep 1
say "IO-L2-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
