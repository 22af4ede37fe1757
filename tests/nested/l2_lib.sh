#!/bin/sh
# tests/nested/l2_lib.sh: /l2-lib.sh in the level-2 initramfs, sourced first by every L2 /init: the
# file systems, the console, L2-INIT-REACHED, cmdline_arg and load_modules.
# shellcheck disable=SC3043 # local: busybox ash has it
export PATH=/bin
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /tmp && mount -t tmpfs tmp /tmp
echo "L2-INIT-REACHED uptime=$(cut -d' ' -f1 /proc/uptime)"

# The value of key=VALUE on the kernel command line, or $2.
cmdline_arg() {
	for w in $(cat /proc/cmdline); do
		case $w in "$1"=*) echo "${w#*=}"; return ;; esac
	done
	echo "$2"
}

# load_modules [DIR...]: the modules of each DIR (default /mods) in DIR/order's dependency order;
# a later DIR may repeat one of an earlier DIR's, loaded once. A failure is printed, never hidden.
load_modules() {
	local dir m params fails
	[ $# -gt 0 ] || set -- /mods
	fails=0
	for dir in "$@"; do
		while read -r m params; do
			[ -n "$m" ] || continue
			[ "$dir" != "$1" ] && [ -d "/sys/module/$m" ] && continue
			# shellcheck disable=SC2086 # params are words
			insmod "$dir/$m.ko" $params || { echo "L2-INSMOD-FAIL $m"; fails=$((fails + 1)); }
		done <"$dir/order"
	done
	echo "L2-MODULES-FAILED=$fails"
}
