#!/bin/sh
# tests/nested/l1_init.sh: /init of the level-1 initramfs: loads kvm-amd nested=1 (arm64: KVM is built in), runs /test.sh, powers off.
export PATH=/bin
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /tmp && mount -t tmpfs tmp /tmp

# /mods/order: "name [params]" per line, dependencies first (built by lib.sh).
while read -r m params; do
	[ -n "$m" ] || continue
	# shellcheck disable=SC2086 # params are words
	insmod "/mods/$m.ko" $params || echo "L1-INSMOD-FAIL $m"
done </mods/order

kvm=no; [ -c /dev/kvm ] && kvm=yes
case $(uname -m) in
aarch64)
	# KVM is built in: its mode (VHE, nVHE, protected nVHE) from its boot message
	mode=$(dmesg | sed -n 's/.*kvm \[[0-9]*\]: \(.*\) mode initialized successfully.*/\1/p' | head -n 1 | tr ' ' _)
	echo "L1-READY kvm=$kvm mode=${mode:-none} uptime=$(cut -d' ' -f1 /proc/uptime)" ;;
*)
	nested=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null || echo none)
	echo "L1-READY kvm=$kvm nested=$nested uptime=$(cut -d' ' -f1 /proc/uptime)" ;;
esac

if [ -x /test.sh ]; then
	/test.sh
	st=$?
elif [ -e /interactive ]; then
	setsid cttyhack sh
	st=0
else
	echo "L1: no /test.sh in the initramfs"
	st=126
fi
echo "L1-EXIT=$st"
sync
poweroff -f
