#!/bin/sh
# tests/nested/pwrbtn_l2.sh: /init of the L2 initramfs for nested-powerbutton: Linux's ACPI button driver sees vmm's power button (GED), L2 powers off on the key.
# shellcheck source=tests/nested/l2_lib.sh
. /l2-lib.sh
load_modules /mods /btnmods
# the input device the ACPI button driver made for PNP0C0C, and its event node
ev=$(awk '/^N: Name="Power Button"/ { b = 1 } b && /^H: Handlers=/ { for (i = 2; i <= NF; i++) if ($i ~ /^event/) { print $i; exit } }' \
	/proc/bus/input/devices)
echo "L2-PWRBTN-READY event=$ev"
[ -n "$ev" ] && dd if="/dev/input/$ev" of=/dev/null bs=24 count=1 2>/dev/null && echo "L2-PWRBTN-PRESSED"
poweroff -f
