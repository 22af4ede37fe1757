#!/bin/sh
# tests/arm64/l2_init.sh: /init of the arm64 level-2 initramfs (lib.sh l2_images with NESTED_ARCH=arm64):
# does what test= on the kernel command line asks, printing L2-* markers, like tests/nested/l2_init.sh.
# shellcheck source=tests/nested/l2_lib.sh
. /l2-lib.sh

report_boot() {
	echo "L2-CPUS=$(grep -c ^processor /proc/cpuinfo)"
	echo "L2-MEMTOTAL-KB=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"
	echo "L2-CPUS-ONLINE=$(cat /sys/devices/system/cpu/online)"
	echo "L2-CPU-FEATURES: $(grep -m1 '^Features' /proc/cpuinfo | sed 's/^Features[[:space:]]*: *//')"
	dmesg | grep -E 'psci: (PSCIv|SMC Calling|Using)' | sed 's/^\[[^]]*\] */L2-PSCI: /'
	dmesg | grep -E 'GIC(v[0-9])?:|ITS' | head -n 8 | sed 's/^\[[^]]*\] */L2-GIC: /'
	echo "L2-CONSOLE: $(cut -d' ' -f1 /proc/consoles | tr '\n' ' ')"
	# not failures by themselves, but worth a look
	dmesg | grep -E -B1 'WARNING: CPU|BUG:|Oops|Fatal' | grep -v '^--$' | sed 's/^/L2-KERN-WARN: /'
	for d in /sys/bus/virtio/devices/*; do
		[ -e "$d/device" ] && echo "L2-VIRTIO: $(basename "$d") device=$(cat "$d/device") driver=$(basename "$(readlink "$d/driver" 2>/dev/null)")"
	done
	for b in /sys/block/vd*; do
		[ -e "$b" ] && echo "L2-BLOCK: $(basename "$b") sectors=$(cat "$b/size") ro=$(cat "$b/ro")"
	done
	for n in /sys/class/net/eth*; do
		[ -e "$n" ] && echo "L2-NET: $(basename "$n") mac=$(cat "$n/address")"
	done
}

load_modules
t=$(cmdline_arg test boot)
echo "L2-TEST=$t"
case $t in
boot)
	report_boot ;;
blk)
	# the first disk: its size and the sha256 of its first MiB
	report_boot
	[ -b /dev/vda ] && echo "L2-VDA-SHA256=$(head -c 1048576 /dev/vda | sha256sum | cut -d' ' -f1)" ;;
blkrw)
	# a file system on the first disk, a file written and read back, and a pattern at 8 MiB for L1
	report_boot
	grep -E 'ITS-MSI.*virtio' /proc/interrupts | sed 's/^ *[0-9]*: *//; s/^/L2-MSI: /'
	if [ -b /dev/vda ] && mke2fs -q /dev/vda 32768 >/tmp/mkfs 2>&1 && mkdir -p /mnt && mount -t ext2 /dev/vda /mnt 2>>/tmp/mkfs; then
		dd if=/dev/urandom of=/mnt/f bs=1M count=4 2>/dev/null
		a=$(sha256sum </mnt/f | cut -d' ' -f1)
		umount /mnt && mount -t ext2 /dev/vda /mnt && b=$(sha256sum </mnt/f | cut -d' ' -f1)
		umount /mnt
		[ -n "$a" ] && [ "$a" = "$b" ] && echo "L2-FS-OK $a"
	else
		sed 's/^/L2-MKFS: /' /tmp/mkfs
	fi
	dd if=/dev/urandom of=/tmp/pat bs=1M count=2 2>/dev/null
	dd if=/tmp/pat of=/dev/vda bs=1M seek=8 conv=fsync 2>/dev/null && echo "L2-PATTERN-SHA256=$(sha256sum </tmp/pat | cut -d' ' -f1)" ;;
net)
	# eth0 = 10.0.2.2/24, the tap's end in L1 is 10.0.2.1
	report_boot
	grep -E 'ITS-MSI.*virtio' /proc/interrupts | sed 's/^ *[0-9]*: *//; s/^/L2-MSI: /'
	ip link set eth0 up && ip addr add 10.0.2.2/24 dev eth0 && ping -c 3 -W 5 10.0.2.1 >/tmp/ping 2>&1 && echo "L2-PING-OK"
	tail -n 2 /tmp/ping | sed 's/^/L2-PING: /'
	# 16 MiB to L1's nc, timed
	t0=$(cut -d' ' -f1 /proc/uptime)
	dd if=/dev/zero bs=1M count=16 2>/dev/null | nc -w 5 10.0.2.1 5001 && echo "L2-SENT-OK seconds=$(awk "BEGIN{print $(cut -d' ' -f1 /proc/uptime) - $t0}")" ;;
hang)
	echo "L2-HANGING"
	while :; do sleep 3600; done ;;
panic)
	echo "L2-PANIC-TRIGGER"
	echo c >/proc/sysrq-trigger
	echo "L2-PANIC-DID-NOT-HAPPEN" ;;
shell)
	setsid cttyhack sh ;;
*)
	echo "L2-UNKNOWN-TEST $t" ;;
esac
echo "L2-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
