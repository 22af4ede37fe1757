#!/bin/sh
# tests/arm64/l2_init.sh: /init of the arm64 level-2 initramfs (lib.sh l2_images with NESTED_ARCH=arm64):
# does what test= on the kernel command line asks, printing L2-* markers, like tests/nested/l2_init.sh.
# shellcheck source=tests/nested/l2_lib.sh
. /l2-lib.sh

# The value of key=VALUE on the kernel command line, or $2.
cmdline_arg() {
	for w in $(cat /proc/cmdline); do
		case $w in "$1"=*) echo "${w#*=}"; return ;; esac
	done
	echo "$2"
}

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
