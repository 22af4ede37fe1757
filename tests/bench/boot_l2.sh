#!/bin/sh
# tests/bench/boot_l2.sh: /init of the L2 initramfs for the boot benchmarks: prints its uptime and powers off at once.
# No modules, no devices: the time measured is the kernel's boot plus the VMM's start and teardown.
# bench_idle=S on the kernel command line idles S seconds first (so that L1's sampling of KVM's
# per-VM exit counters, which vanish with the VM, catches the whole boot).
export PATH=/bin
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
echo "L2-INIT-REACHED uptime=$(cut -d' ' -f1 /proc/uptime)"
# shellcheck disable=SC2013 # words of one line
for w in $(cat /proc/cmdline); do
	case $w in bench_idle=*) sleep "${w#*=}" ;; esac
done
poweroff -f
