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
# one VM open all the time: KVM then never toggles virtualization in every CPU, which under TCG
# sometimes freezes L1 at a VM's start or end (tests/nested/kvm_hold.c)
[ $kvm = yes ] && [ -x /bin/kvm-hold ] && /bin/kvm-hold &
case $(uname -m) in
aarch64)
	# KVM is built in: its mode (VHE, nVHE, protected nVHE) from its boot message
	mode=$(dmesg | sed -n 's/.*kvm \[[0-9]*\]: \(.*\) mode initialized successfully.*/\1/p' | head -n 1 | tr ' ' _)
	echo "L1-READY kvm=$kvm mode=${mode:-none} uptime=$(cut -d' ' -f1 /proc/uptime)" ;;
*)
	nested=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null || echo none)
	echo "L1-READY kvm=$kvm nested=$nested uptime=$(cut -d' ' -f1 /proc/uptime)" ;;
esac

# The heartbeat of every L1 (lib.sh's stall watchdog reads it): L1-ALIVE every 30 s, and L1-FROZE
# when a 2 s sleep took 15 s or more. Then L1 as a whole did not run (QEMU at L0 starved or stuck,
# which nothing inside L1 can cause), and a test that timed out meanwhile failed for the
# environment (lib.sh l1_env). At the highest priority and without forks but sleep, so that after a
# freeze it speaks before a test that the freeze failed does.
sh -c 'n=0; read -r last _ </proc/uptime; last=${last%.*}
	while sleep 2; do
		read -r up _ </proc/uptime; up=${up%.*}
		[ $((up - last)) -ge 15 ] && echo "L1-FROZE $((up - last)) s until uptime=$up"
		n=$((n + up - last)); last=$up
		[ $n -ge 30 ] && { n=0; echo "L1-ALIVE uptime=$up"; }
	done' &
hb=$!
renice -n -20 -p $hb >/dev/null

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
kill $hb
echo "L1-EXIT=$st"
sync
poweroff -f
