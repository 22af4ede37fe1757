#!/bin/sh
# tests/nested/vhost_user_l2.sh: /init of the L2 initramfs for nested-vhost-user: vu=idle|fio on the command line picks the run; prints L2-VU-* markers.
#   idle: wait for vda and vdb, say so, stay up vu_idle= seconds (L1 looks at its processes meanwhile), power off.
#   fio:  fio randwrite+verify on vda (L1 may kill the disk's device process meanwhile), then vda's sha256.
export PATH=/bin
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /tmp && mount -t tmpfs tmp /tmp
echo "L2-INIT-REACHED uptime=$(cut -d' ' -f1 /proc/uptime)"

fails=0
while read -r m params; do
	[ -n "$m" ] || continue
	# shellcheck disable=SC2086 # params are words
	insmod "/mods/$m.ko" $params || { echo "L2-INSMOD-FAIL $m"; fails=$((fails + 1)); }
done </mods/order
echo "L2-MODULES-FAILED=$fails"

RUN=fio IDLE=10 SIZE=32M
# shellcheck disable=SC2013 # words of one line
for w in $(cat /proc/cmdline); do
	case $w in
	vu=*) RUN=${w#*=} ;;
	vu_idle=*) IDLE=${w#*=} ;;
	vu_size=*) SIZE=${w#*=} ;;
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

case $RUN in
idle)
	wait_disk vdb
	# a little I/O on both, so both back-ends have served requests
	for d in vda vdb; do
		dd if=/dev/$d of=/dev/null bs=1M count=1 iflag=direct 2>/dev/null && echo "L2-VU-READ $d ok"
	done
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
*) echo "L2-VU-UNKNOWN-RUN $RUN" ;;
esac
dmesg | grep -iE 'virtio|vd[a-z]|blk|I/O error' | grep -iE 'warn|error|fail|bug' | sed 's/^/L2-KERN-WARN: /'
dmesg | grep -E 'WARNING:|BUG:|Oops' | grep -v hw-vuln | sed 's/^/L2-KERN-WARN: /'
echo "L2-DONE uptime=$(up)"
sync
poweroff -f
