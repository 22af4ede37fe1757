#!/bin/sh
# tests/nested/vhost_user_l2.sh: /init of the L2 initramfs for nested-vhost-user: vu=idle|fio on the command line picks the run; prints L2-VU-* markers.
#   idle: wait for vda and vdb, say so, stay up vu_idle= seconds (L1 looks at its processes meanwhile), power off.
#   fio:  fio randwrite+verify on vda (L1 may kill the disk's device process meanwhile), then vda's sha256.
#   net:  eth0 up as 192.168.78.2, ping L1 (.1), iperf3 to L1 for vu_secs= s (L1 may kill the tap's device process
#         meanwhile), ping again. idle with vu_net=1 also brings eth0 up and pings, before it idles.
# shellcheck source=tests/nested/l2_lib.sh
. /l2-lib.sh

load_modules

RUN=fio IDLE=10 SIZE=32M NET=0 SECS=8 WAIT=vdb REV=
PEER=192.168.78.1 SELF=192.168.78.2
# shellcheck disable=SC2013 # words of one line
for w in $(cat /proc/cmdline); do
	case $w in
	vu=*) RUN=${w#*=} ;;
	vu_idle=*) IDLE=${w#*=} ;;
	vu_size=*) SIZE=${w#*=} ;;
	vu_net=*) NET=${w#*=} ;;
	vu_secs=*) SECS=${w#*=} ;;
	vu_rev=1) REV=-R ;;
	vu_wait=*) WAIT=${w#*=} ;;
	esac
done
echo "L2-VU-RUN=$RUN"

up() { cut -d' ' -f1 /proc/uptime; }

# wait_disk NAME: up to 10 s for /sys/block/NAME; one line per disk seen.
wait_disk() {
	i=0
	while [ ! -e "/sys/block/$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	for d in /sys/block/vd*; do
		[ -e "$d" ] && echo "L2-VU-DEV $(basename "$d") size=$(cat "$d/size")"
	done
}

# net_up: eth0 (up to 5 s for it) with SELF; L2-VU-NET-MAC/MTU/CARRIER markers.
net_up() {
	i=0
	while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	echo "L2-VU-NET-MAC=$(cat /sys/class/net/eth0/address 2>/dev/null)"
	echo "L2-VU-NET-MTU=$(cat /sys/class/net/eth0/mtu 2>/dev/null)"
	ip link set lo up
	ip link set eth0 up
	ip addr add "$SELF/24" dev eth0
	echo "L2-VU-NET-CARRIER=$(cat /sys/class/net/eth0/carrier 2>/dev/null)"
}
# ping_peer NAME: L2-VU-NAME=ok|fail, ping's summary as L2-VU-NAME: lines.
ping_peer() {
	if ping -c 3 -W 5 "$PEER" >/tmp/ping 2>&1; then echo "L2-VU-$1=ok"; else echo "L2-VU-$1=fail"; fi
	tail -n 2 /tmp/ping | sed "s/^/L2-VU-$1: /"
}

case $RUN in
idle)
	wait_disk "$WAIT"
	# a little I/O on every disk, so all back-ends have served requests
	for d in /sys/block/vd*; do
		d=${d##*/}
		[ -e "/dev/$d" ] && dd if="/dev/$d" of=/dev/null bs=1M count=1 iflag=direct 2>/dev/null && echo "L2-VU-READ $d ok"
	done
	if [ "$NET" = 1 ]; then
		net_up
		ping_peer PING
	fi
	echo "L2-VU-IDLE uptime=$(up)"
	sleep "$IDLE"
	;;
fio)
	wait_disk vda
	if [ -e /sys/block/vda ]; then
		t=$(up)
		echo "L2-VU-FIO-START uptime=$t"
		/usr/bin/fio --name=verify --filename=/dev/vda --rw=randwrite --bsrange=4k-16k --iodepth=16 \
			--ioengine=libaio --direct=1 --size="$SIZE" --verify=crc32c --do_verify=1 \
			--verify_fatal=1 --thread >/tmp/fio 2>&1
		echo "L2-VU-FIO=$?"
		grep -E 'err=|IOPS=|verify|error|fail' /tmp/fio | head -n 12 | sed 's/^/L2-VU-FIO: /'
		echo "L2-VU-FIO-SECONDS=$(awk "BEGIN{print $(up) - $t}")"
		# what L2 reads back, for L1 to compare with the image
		echo "L2-VU-SUM=$(dd if=/dev/vda bs=1M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
	else
		echo "L2-VU-NO-DISK"
	fi
	;;
net)
	# where the kernel is (KASLR): a trace's rip less this, against /proc/kallsyms of a nokaslr boot
	echo "L2-VU-KTEXT $(grep ' _text$' /proc/kallsyms)"
	net_up
	ping_peer PING
	echo "L2-VU-NET-START uptime=$(up)"
	t=$(up)
	# a peer that does not answer fails in 10 s (not the kernel's 2 min of SYN retries); a stalled run is killed
	timeout -s KILL $((SECS + 60)) iperf3 -c "$PEER" $REV -t "$SECS" -f m --connect-timeout 10000 >/tmp/iperf 2>&1
	echo "L2-VU-IPERF=$?"
	echo "L2-VU-IPERF-SECONDS=$(awk "BEGIN{print $(up) - $t}")"
	grep -E 'sender|receiver|error|unable' /tmp/iperf | sed 's/^/L2-VU-IPERF: /'
	# what the client sent, in MBytes (iperf3 says GBytes past 1024 MBytes even with -f m), and the
	# receiver's rate in Mbit/s (-f m)
	echo "L2-VU-IPERF-MBYTES=$(awk '/sender/ { for (i = 2; i <= NF; i++) {
		if ($i == "KBytes") r = $(i - 1) / 1024; if ($i == "MBytes") r = $(i - 1); if ($i == "GBytes") r = $(i - 1) * 1024 } }
		END { print r + 0 }' /tmp/iperf)"
	echo "L2-VU-IPERF-MBITS=$(awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") r = $(i - 1) } END { print r + 0 }' /tmp/iperf)"
	ping_peer PING2
	;;
*) echo "L2-VU-UNKNOWN-RUN $RUN" ;;
esac
dmesg | grep -iE 'virtio|vd[a-z]|blk|I/O error|eth0' | grep -iE 'warn|error|fail|bug' | sed 's/^/L2-KERN-WARN: /'
dmesg | grep -E 'WARNING:|BUG:|Oops' | grep -v hw-vuln | sed 's/^/L2-KERN-WARN: /'
echo "L2-DONE uptime=$(up)"
sync
poweroff -f
