#!/bin/sh
# tests/bench/systemd_ready.sh: /usr/local/sbin/bench-ready in the Debian root of part systemd (bench-ready.service,
# started with multi-user.target): once systemd has finished the boot, prints on the console
#   SYSTEMD-READY uptime=U userspace_start=S finish=F state=STATE   (seconds of guest uptime; S and F are systemd's
#   own UserspaceTimestampMonotonic and FinishTimestampMonotonic, what systemd-analyze time reports)
# then `systemd-analyze time`, the slowest units (`systemd-analyze blame`) as SYSTEMD-BLAME lines, and powers off.
# bench_diag on the kernel command line: also the critical chain and the kernel's log (SYSTEMD-CHAIN, SYSTEMD-DMESG),
# for a look at where the time goes; printed after the figures, so it does not change them.
exec >/dev/console 2>&1
state=$(systemctl is-system-running --wait)
up=$(cut -d' ' -f1 /proc/uptime)
us=$(systemctl show -P UserspaceTimestampMonotonic)
fin=$(systemctl show -P FinishTimestampMonotonic)
echo "SYSTEMD-READY uptime=$up userspace_start=$(awk -v t="$us" 'BEGIN { printf "%.3f", t / 1e6 }') finish=$(awk -v t="$fin" 'BEGIN { printf "%.3f", t / 1e6 }') state=$state"
echo "SYSTEMD-ANALYZE $(systemd-analyze time | head -n 1)"
systemd-analyze blame --no-pager | head -n 12 | sed 's/^ */SYSTEMD-BLAME /'
systemctl --failed --no-legend --plain --no-pager | sed 's/^/SYSTEMD-FAILED /'
if grep -qw bench_diag /proc/cmdline; then
	systemd-analyze critical-chain --no-pager | sed 's/^/SYSTEMD-CHAIN /'
	dmesg | sed 's/^/SYSTEMD-DMESG /'
fi
systemctl poweroff
