#!/bin/sh
# tests/bench/systemd_initrd.sh: /init of the initramfs of part systemd: loads virtio_pci and virtio_blk (modules of
# the cloud kernel), mounts /dev/vda read-only and hands over to systemd. Prints SYSTEMD-INITRD start=U end=U
# (guest uptime when /init began and when it switches root).
export PATH=/bin
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
t0=$(cut -d' ' -f1 /proc/uptime)
while read -r m p; do
	# shellcheck disable=SC2086 # parameters as words
	insmod "/mods/$m.ko" $p || echo "initrd: insmod $m failed"
done </mods/order
i=0
while [ ! -b /dev/vda ] && [ $i -lt 1000 ]; do
	sleep 0.01
	i=$((i + 1))
done
mkdir -p /newroot
mount -t ext4 -o ro /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; poweroff -f; }
echo "SYSTEMD-INITRD start=$t0 end=$(cut -d' ' -f1 /proc/uptime)"
umount /proc
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
