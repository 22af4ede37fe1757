#!/bin/sh
# tests/nested/net_l2.sh: /init of the L2 initramfs for nested-net: eth0 on virtio-net, ping and iperf3 against L1, L2-NET-* markers.
# shellcheck source=tests/nested/l2_lib.sh
. /l2-lib.sh

load_modules

PEER=192.168.77.1
SELF=192.168.77.2
SECS=${NET_SECS:-4}
# shellcheck disable=SC2013 # words of one line
for w in $(cat /proc/cmdline); do
	case $w in net_secs=*) SECS=${w#*=} ;; esac
done

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
for d in /sys/bus/virtio/devices/*; do
	[ "$(cat "$d/device" 2>/dev/null)" = 0x0001 ] && echo "L2-NET-FEATURES=$(cat "$d/features")"
done
echo "L2-NET-MAC=$(cat /sys/class/net/eth0/address 2>/dev/null)"
echo "L2-NET-MTU=$(cat /sys/class/net/eth0/mtu 2>/dev/null)"
ip link set lo up
ip link set eth0 up
ip addr add "$SELF/24" dev eth0
echo "L2-NET-CARRIER=$(cat /sys/class/net/eth0/carrier 2>/dev/null)"

if ping -c 3 -W 5 "$PEER" >/tmp/ping 2>&1; then echo "L2-NET-PING=ok"; else echo "L2-NET-PING=fail"; fi
sed 's/^/L2-PING: /' /tmp/ping
# fragmented: frames of a whole MTU both ways
if ping -c 2 -W 5 -s 4000 "$PEER" >/dev/null 2>&1; then echo "L2-NET-PING-BIG=ok"; else echo "L2-NET-PING-BIG=fail"; fi

# iperf3 -f m; the receiver's rate in Mbit/s
iperf() {
	iperf3 -c "$PEER" -t "$SECS" -f m "$@" >/tmp/iperf 2>&1
	sed 's/^/L2-IPERF: /' /tmp/iperf | tail -n 4 >&2
	awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") r = $(i - 1) } END { print r + 0 }' /tmp/iperf
}
# net_secs=0: the baseline run, without bulk traffic
if [ "$SECS" -gt 0 ]; then
	echo "L2-NET-IPERF-TX=$(iperf)"
	echo "L2-NET-IPERF-RX=$(iperf -R)"
fi
grep -E 'virtio[0-9]+-(input|output|config)' /proc/interrupts | sed 's/  */ /g;s/^/L2-NET-IRQ: /'
dmesg | grep -iE 'virtio|eth0' | grep -iE 'warn|error|fail|bug' | sed 's/^/L2-KERN-WARN: /'
echo "L2-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
