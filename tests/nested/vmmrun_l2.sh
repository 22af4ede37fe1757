#!/bin/sh
# tests/nested/vmmrun_l2.sh: /init of the L2 initramfs for nested-run-fs-qemu: QEMU's vhost-user-fs-pci in front of vmm --serve-vhost-user --share; mounts tag qt, prints L2-FSQ-* markers.
# shellcheck source=tests/nested/l2_lib.sh
. /l2-lib.sh
load_modules /mods /fsmods
mkdir -p /mnt
if mount -t virtiofs qt /mnt; then
	echo "L2-FSQ-MOUNTED"
	echo "L2-FSQ-MANIFEST $(sh /mnt/manifest.sh /mnt/tree | sha256sum | cut -c1-64)"
	echo "written by QEMU's guest" >/mnt/fsq-written && mkdir /mnt/fsq-dir && mv /mnt/fsq-written /mnt/fsq-dir/f && echo "L2-FSQ-WROTE"
	umount /mnt && echo "L2-FSQ-UMOUNTED"
fi
sync
poweroff -f
