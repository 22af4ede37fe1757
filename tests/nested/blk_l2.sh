#!/bin/sh
# tests/nested/blk_l2.sh: /init of the L2 initramfs for nested-blk: blk=ro|main|flush|flaky|boot on the command line picks the run; prints L2-BLK-* markers.
# shellcheck source=tests/nested/l2_lib.sh
. /l2-lib.sh
mkdir -p /mnt
ln -sf /proc/mounts /etc/mtab

load_modules

RUN=main
VDB=
# shellcheck disable=SC2013 # words of one line
for w in $(cat /proc/cmdline); do
	case $w in
	blk=*) RUN=${w#*=} ;;
	blk_vdb=1) VDB=1 ;;   # flush: a second disk to write
	esac
done
echo "L2-BLK-RUN=$RUN"

up() { cut -d' ' -f1 /proc/uptime; }
ok() { if "$@"; then echo ok; else echo "fail($?)"; fi; }

# Wait for the disks, then one line per disk: size in sectors, serial, ro, discard limit.
disks() {
	i=0
	while [ ! -e "/sys/block/$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	for d in /sys/block/vd*; do
		[ -e "$d" ] || continue
		echo "L2-BLK-DEV $(basename "$d") size=$(cat "$d/size") serial=$(cat "$d/serial" 2>/dev/null)" \
			"ro=$(cat "$d/ro") discard_max=$(cat "$d/queue/discard_max_bytes")" \
			"cache=$(tr ' ' _ <"$d/queue/write_cache")"
	done
	for d in /sys/bus/virtio/devices/*; do
		[ "$(cat "$d/device" 2>/dev/null)" = 0x0002 ] && echo "L2-BLK-FEATURES $(basename "$d")=$(cat "$d/features")"
	done
}

# vdb attached read-only: reads right, writes and discards refused; a little I/O on vda.
run_ro() {
	disks vdb
	echo "L2-BLK-RO-SUM=$(sha256sum /dev/vdb | cut -d' ' -f1)"
	echo "L2-BLK-RO-WRITE=$(ok dd if=/data of=/dev/vdb bs=4096 count=1 oflag=direct conv=notrunc 2>/tmp/err)"
	sed 's/^/L2-BLK-RO-ERR: /' /tmp/err
	echo "L2-BLK-RO-DISCARD=$(ok blkdiscard /dev/vdb 2>/tmp/err)"
	sed 's/^/L2-BLK-RO-ERR: /' /tmp/err
	# the small-I/O baseline for the exit count: 10 MiB read
	echo "L2-BLK-SMALL-IO=$(ok dd if=/dev/vda of=/dev/null bs=1M count=10 iflag=direct 2>/dev/null)"
}

# ext4 on vda: three files, their sums after a remount; 64 MiB written then trimmed; fio on vdb.
run_main() {
	disks vdb
	t=$(up)
	echo "L2-BLK-MKFS=$(ok /usr/sbin/mkfs.ext4 -q -F -L vmmtest /dev/vda)"
	mount -t ext4 /dev/vda /mnt || echo "L2-BLK-MOUNT=fail"
	head -c 1048576 /data >/mnt/f1
	cp /data /mnt/f2
	tail -c +1048577 /data | head -c 12345 >/mnt/f3
	sync
	umount /mnt
	mount -t ext4 -o ro /dev/vda /mnt
	for f in f1 f2 f3; do echo "L2-BLK-SUM-$f=$(sha256sum /mnt/$f | cut -d' ' -f1)"; done
	umount /mnt
	echo "L2-BLK-MKFS-SECONDS=$(awk "BEGIN{print $(up) - $t}")"

	mount -t ext4 /dev/vda /mnt
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do cat /data; done >/mnt/big
	sync
	echo "L2-BLK-DISCARD-WRITTEN $(du -k /mnt/big | cut -f1)"
	sleep 3   # L1 measures the image's allocated blocks now
	rm /mnt/big
	sync
	fstrim -v /mnt >/tmp/trim 2>&1
	echo "L2-BLK-FSTRIM=$?"
	sed 's/^/L2-BLK-FSTRIM: /' /tmp/trim
	umount /mnt
	sync

	t=$(up)
	# 4-16 KiB blocks: single- and multi-page requests, a third of the 4 KiB-only run's requests (time in L1)
	/usr/bin/fio --name=verify --filename=/dev/vdb --rw=randwrite --bsrange=4k-16k --iodepth=16 \
		--ioengine=libaio --direct=1 --size="${FIO_SIZE:-32M}" --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --thread >/tmp/fio 2>&1
	echo "L2-BLK-FIO=$?"
	grep -E 'err=|IOPS=|verify|error|fail' /tmp/fio | head -n 12 | sed 's/^/L2-BLK-FIO: /'
	echo "L2-BLK-FIO-SECONDS=$(awk "BEGIN{print $(up) - $t}")"

	# WRITE_ZEROES on what fio wrote: [0,8M) without unmap (fallocate -z), [8M,16M) with unmap
	# (-p: no fallback to plain writes in the kernel); [16M,32M) must keep fio's data
	echo "L2-BLK-ZERO-MAX=$(cat /sys/block/vdb/queue/write_zeroes_max_bytes)"
	echo "L2-BLK-KEEP-SUM=$(dd if=/dev/vdb bs=1M skip=16 count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
	echo "L2-BLK-ZERO-Z=$(ok /usr/bin/fallocate -z -o 0 -l 8M /dev/vdb)"
	echo "L2-BLK-ZERO-P=$(ok /usr/bin/fallocate -p -o 8M -l 8M /dev/vdb)"
	echo "L2-BLK-ZERO-SUM=$(dd if=/dev/vdb bs=1M count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
	grep -E 'virtio[0-9]+-(req|config)' /proc/interrupts | sed 's/  */ /g;s/^/L2-BLK-IRQ: /'
}

# 4 MiB buffered, fsync, marker: L1 SIGKILLs vmm on the marker and checks the image.
run_flush() {
	if [ -n "$VDB" ]; then disks vdb; else disks vda; fi
	# the last visible sector, also flushed: the 100 bytes past it must stay as they were
	dd if=/data of=/dev/vda bs=512 count=1 conv=notrunc seek=$(($(cat /sys/block/vda/size) - 1)) 2>/dev/null
	# buffered writes, then fsync(): the kernel writes the dirty pages back and sends a FLUSH
	if dd if=/data of=/dev/vda bs=1M seek=1 conv=notrunc,fsync 2>/tmp/err &&
		{ [ -z "$VDB" ] || dd if=/data of=/dev/vdb bs=1M conv=notrunc,fsync 2>>/tmp/err; }; then
		echo "L2-BLK-FSYNCED uptime=$(up)"
	else
		echo "L2-BLK-FSYNC-FAILED"
		sed 's/^/L2-BLK-ERR: /' /tmp/err
	fi
	sleep 120   # L1 kills vmm before this ends
	echo "L2-BLK-NOT-KILLED"
}

# flaky.sh: mkfs.ext4 and file writes on vda and vdb at once, read back after a remount; L2-BLK-FLAKY=ok.
# Both disks busy together: the part of the main run where the level-2 triple fault was seen.
fs_disk() {
	/usr/sbin/mkfs.ext4 -q -F "/dev/$1" || return 1
	mkdir -p "/mnt/$1" && mount -t ext4 "/dev/$1" "/mnt/$1" || return 2
	head -c 1048576 /data >"/mnt/$1/f1"
	cp /data "/mnt/$1/f2"
	for i in 1 2 3 4 5 6; do cat /data; done >"/mnt/$1/big"
	sync
	umount "/mnt/$1" && mount -t ext4 -o ro "/dev/$1" "/mnt/$1" || return 3
	[ "$(sha256sum <"/mnt/$1/f2")" = "$(sha256sum </data)" ] || return 4
	[ "$(head -c 4194304 "/mnt/$1/big" | sha256sum)" = "$(sha256sum </data)" ] || return 5
	umount "/mnt/$1"
}
run_flaky() {
	disks vdb
	t=$(up)
	fs_disk vda & a=$!
	fs_disk vdb & b=$!
	wait $a; ra=$?
	wait $b; rb=$?
	if [ $ra = 0 ] && [ $rb = 0 ]; then echo "L2-BLK-FLAKY=ok"; else echo "L2-BLK-FLAKY=fail(vda $ra, vdb $rb)"; fi
	echo "L2-BLK-FLAKY-SECONDS=$(awk "BEGIN{print $(up) - $t}")"
}

case $RUN in
ro) run_ro ;;
main) run_main ;;
flush) run_flush ;;
flaky) run_flaky ;;
boot) ;;   # flaky.sh FLAKY_WORK=boot: booting is the whole run
*) echo "L2-BLK-UNKNOWN-RUN $RUN" ;;
esac
dmesg | grep -iE 'virtio|vd[a-z]|blk|ext4|I/O error' | grep -iE 'warn|error|fail|bug' | sed 's/^/L2-KERN-WARN: /'
dmesg | grep -E 'WARNING:|BUG:|Oops' | grep -v hw-vuln | sed 's/^/L2-KERN-WARN: /'
echo "L2-DONE uptime=$(up)"
sync
poweroff -f
