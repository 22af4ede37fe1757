#!/bin/sh
# tests/bench/systemd_root.sh ROOT: sets up a Debian bookworm tree (mmdebstrap minbase + systemd-sysv, udev) for part
# systemd of `make bench`: a normal boot to multi-user.target, then bench-ready (systemd_ready.sh) reports the boot
# times on the console and powers off. Run by run.sh on the tree mmdebstrap made (on the host, as root).
# The same image boots under both VMMs; nothing here depends on which.
set -e
R=$1
S=$(cd "$(dirname "$0")" && pwd)
# a fixed machine id: every boot a normal one, not a first boot (mmdebstrap leaves the file empty)
echo 5e7bd1c0a5e7bd1c0a5e7bd1c0a5e7bd > "$R/etc/machine-id"
echo bench >"$R/etc/hostname"
# the initramfs (systemd_initrd.sh) mounts /dev/vda read-only; systemd checks it and remounts it rw, as Debian does
printf '/dev/vda / ext4 errors=remount-ro 0 1\n' >"$R/etc/fstab"
# boot to multi-user.target (Debian's default.target is graphical.target, which adds nothing here but a step)
ln -sf /lib/systemd/system/multi-user.target "$R/etc/systemd/system/default.target"
# no logins: no getty on tty1, none on the serial console (the getty generator would add it for console=ttyS0)
ln -sf /dev/null "$R/etc/systemd/system/getty.target"
mkdir -p "$R/etc/systemd/system-generators"
ln -sf /dev/null "$R/etc/systemd/system-generators/systemd-getty-generator"
# apt, dpkg and file-system maintenance timers: not part of a boot (and there is no network)
rm -f "$R"/etc/systemd/system/timers.target.wants/*
# the root has no kernel modules (the initramfs loads virtio's): binfmt_misc needs autofs, a module
ln -sf /dev/null "$R/etc/systemd/system/proc-sys-fs-binfmt_misc.automount"
# bench-ready: started with multi-user.target, waits until the boot is finished, reports, powers off
install -m 755 "$S/systemd_ready.sh" "$R/usr/local/sbin/bench-ready"
cat >"$R/etc/systemd/system/bench-ready.service" <<'UNIT'
[Unit]
Description=Report the boot time and power off (vmm bench)
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/bench-ready

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/bench-ready.service "$R/etc/systemd/system/multi-user.target.wants/bench-ready.service"
