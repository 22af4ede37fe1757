#!/bin/sh
# tests/bench/run_9p_init.sh: /init of the L2 initramfs for the 9p throughput row of `make bench` (part run):
# loads virtio-pci and 9p (mods/order, lib.sh _stage_modules), mounts the QEMU -virtfs share
# (mount_tag t) at /mnt, runs /run_dd.sh /mnt and powers off.
export PATH=/bin
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
while read -r m params; do
	[ -n "$m" ] || continue
	# shellcheck disable=SC2086 # params are words
	insmod "/mods/$m.ko" $params || echo "RUN-DD-FAIL insmod $m"
done </mods/order
mkdir -p /mnt
# the virtio device may still be probing: a few tries
i=0
until mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 t /mnt 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || { echo "RUN-DD-FAIL mount 9p"; poweroff -f; }
	sleep 0.1
done
sh /run_dd.sh /mnt
umount /mnt
poweroff -f
