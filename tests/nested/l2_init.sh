#!/bin/sh
# tests/nested/l2_init.sh: /init of the level-2 initramfs: does what test= on the kernel command line asks, printing L2-* markers.
# shellcheck source=tests/nested/l2_lib.sh
. /l2-lib.sh

report_boot() {
	echo "L2-CPUS=$(grep -c ^processor /proc/cpuinfo)"
	echo "L2-MEMTOTAL-KB=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"
	echo "L2-CPUS-ONLINE=$(cat /sys/devices/system/cpu/online)"
	echo "L2-CPU-FLAGS: $(grep -m1 ^flags /proc/cpuinfo | tr ' ' '\n' |
		grep -E '^(x2apic|hypervisor|avx|avx2|xsave|xsaveopt|xsavec|xsaves|pcid|invpcid|tsc_deadline_timer)$' | tr '\n' ' ')"
	dmesg | grep -E 'x86/fpu: (Enabled|x87|XSAVE)' | sed 's/^/L2-FPU: /'
	dmesg | grep -i x2apic | sed 's/^/L2-DMESG-X2APIC: /'
	if dmesg | grep -qiE 'routing to:? ?(physical |cluster )?x2apic|x2apic enabled|enabled by bios, switching to x2apic'; then
		echo "L2-X2APIC=on"
	else
		echo "L2-X2APIC=off"
	fi
	dmesg | grep -iE 'ACPI.*(error|warn)' | sed 's/^/L2-ACPI-ERR: /'
	echo "L2-ACPI-ERRORS=$(dmesg | grep -ciE 'ACPI.*(error|warn)')"
	# not failures by themselves, but worth a look
	dmesg | grep -E -B1 'WARNING: CPU|BUG:|Oops|Fatal' | grep -v '^--$' | sed 's/^/L2-KERN-WARN: /'
	for d in /sys/bus/virtio/devices/*; do
		[ -e "$d/device" ] && echo "L2-VIRTIO: $(basename "$d") device=$(cat "$d/device") driver=$(basename "$(readlink "$d/driver" 2>/dev/null)")"
	done
}

pvpanic_state() {
	for d in /sys/bus/platform/drivers/pvpanic-mmio/*:*; do
		[ -e "$d" ] && { echo "L2-PVPANIC=bound"; return; }
	done
	echo "L2-PVPANIC=unbound"
}

load_modules
t=$(cmdline_arg test boot)
echo "L2-TEST=$t"
case $t in
boot)
	report_boot ;;
panic)
	pvpanic_state
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
