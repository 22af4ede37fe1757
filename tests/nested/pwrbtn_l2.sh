#!/bin/sh
# tests/nested/pwrbtn_l2.sh: /init of the L2 initramfs for nested-powerbutton: Linux's ACPI button driver sees vmm's power button (GED), L2 powers off on the key.
export PATH=/bin
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "L2-INIT-REACHED uptime=$(cut -d' ' -f1 /proc/uptime)"
fails=0
for dir in /mods /btnmods; do
	while read -r m params; do
		[ -n "$m" ] || continue
		[ -d "/sys/module/$m" ] && continue
		# shellcheck disable=SC2086 # params are words
		insmod "$dir/$m.ko" $params || { echo "L2-INSMOD-FAIL $m"; fails=$((fails + 1)); }
	done <"$dir/order"
done
echo "L2-MODULES-FAILED=$fails"
# the input device the ACPI button driver made for PNP0C0C, and its event node
ev=$(awk '/^N: Name="Power Button"/ { b = 1 } b && /^H: Handlers=/ { for (i = 2; i <= NF; i++) if ($i ~ /^event/) { print $i; exit } }' \
	/proc/bus/input/devices)
echo "L2-PWRBTN-READY event=$ev"
[ -n "$ev" ] && dd if="/dev/input/$ev" of=/dev/null bs=24 count=1 2>/dev/null && echo "L2-PWRBTN-PRESSED"
poweroff -f
