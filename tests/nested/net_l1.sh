#!/bin/sh
# tests/nested/net_l1.sh: /test.sh in L1 for nested-net (net.sh; run.sh runs it as /net/test.sh): tap0 with 192.168.77.1, an iperf3 server, vmm --net tap=tap0, checks on L2's markers and vmm --stats.
VMM_MEM=256M
VMM_TIMEOUT=240
NET_SECS=4
L2_APPEND="console=ttyS0 quiet panic=-1"
# shellcheck disable=SC1091 # written by net.sh
[ -f /nested.env ] && . /nested.env
# run.sh's L1 runs this as its net test: this L2 image there, and a longer timeout than its others
NET_INITRD=${NET_INITRD:-/l2/initrd.cpio}
VMM_TIMEOUT=${NET_TIMEOUT:-$VMM_TIMEOUT}
why=

ip link set lo up
ip tuntap add dev tap0 mode tap 2>/dev/null || tunctl -t tap0 >/dev/null || why="$why; cannot create tap0"
echo 1 >/proc/sys/net/ipv6/conf/tap0/disable_ipv6 2>/dev/null
ip addr add 192.168.77.1/24 dev tap0
ip link set tap0 up
iperf3 -s -D -B 192.168.77.1 >/tmp/iperf3-server.log 2>&1 || why="$why; iperf3 server did not start"

# vmm_net NAME SECS: one L2 run with iperf3 for SECS per direction; status in $st, output in /tmp/NAME.log.
vmm_net() {
	t0=$(cut -d' ' -f1 /proc/uptime)
	timeout -s KILL $((VMM_TIMEOUT + 30)) /vmm --kernel /l2/bzImage --initrd "$NET_INITRD" \
		--append "$L2_APPEND net_secs=$2" --memory "$VMM_MEM" --net tap=tap0 --stats \
		--console stdio --timeout "$VMM_TIMEOUT" </dev/null >"/tmp/$1.log" 2>&1
	st=$?
	tr -d '\r' <"/tmp/$1.log" | sed "s/^/L2[$1]| /"
	echo "NESTED-TIME $1 exit=$st seconds=$(awk "BEGIN{print $(cut -d' ' -f1 /proc/uptime) - $t0}")"
}

# First a run with a ping only, then the same with bulk traffic: MMIO exits must not grow with it.
vmm_net base 0
[ "$st" = 0 ] || why="$why; baseline run: vmm exit $st"
base_mmio=$(tr -d '\r' </tmp/base.log | sed -n 's/.*exits to userspace:.* mmio \([0-9]*\),.*/\1/p')
base_req=$(tr -d '\r' </tmp/base.log | sed -n 's/^virtio-net .*(tap0): requests \([0-9]*\),.*/\1/p')
vmm_net net "$NET_SECS"

log() { tr -d '\r' </tmp/net.log; }
val() { log | sed -n "s/^$1=//p" | tail -n 1; }
note() { echo "NESTED-NOTE nested-net: $*"; }

[ "$st" = 0 ] || why="$why; vmm exit $st"
if log | grep -q L2-INIT-REACHED; then
	[ "$(val L2-MODULES-FAILED)" = 0 ] || why="$why; modules failed to load"
	f=$(val L2-NET-FEATURES)
	# negotiated: CSUM 0, GUEST_CSUM 1, MAC 5, GUEST_TSO4 7, HOST_TSO4 11, MRG_RXBUF 15, STATUS 16, VERSION_1 32
	for b in 0 1 5 7 11 15 16 32; do
		[ "$(echo "$f" | cut -c$((b + 1)))" = 1 ] || why="$why; feature bit $b not negotiated ($f)"
	done
	case $(val L2-NET-MAC) in 52:54:00:*) ;; *) why="$why; MAC '$(val L2-NET-MAC)' not 52:54:00:*" ;; esac
	[ "$(val L2-NET-MTU)" = 1500 ] || why="$why; MTU $(val L2-NET-MTU)"
	[ "$(val L2-NET-CARRIER)" = 1 ] || why="$why; no carrier"
	[ "$(val L2-NET-PING)" = ok ] || why="$why; ping failed"
	[ "$(val L2-NET-PING-BIG)" = ok ] || why="$why; 4000-byte ping failed"
	tx=$(val L2-NET-IPERF-TX); rx=$(val L2-NET-IPERF-RX)
	awk "BEGIN{exit !(${tx:-0} > 0)}" || why="$why; iperf3 L2->L1 moved nothing"
	awk "BEGIN{exit !(${rx:-0} > 0)}" || why="$why; iperf3 L1->L2 moved nothing"
	note "iperf3 L2->L1 ${tx:-?} Mbit/s, L1->L2 ${rx:-?} Mbit/s"
	log | grep -q "^L2-NET-IRQ: .*MSI.*virtio0-input" || why="$why; no MSI-X rx interrupt in L2's /proc/interrupts"
	log | grep -q "^L2-DONE" || why="$why; L2 did not finish"
else
	why="$why; L2 init not reached"
fi
s=$(log | grep "virtio-net .*(tap0)")
[ -n "$s" ] || why="$why; no virtio-net line in --stats"
case $s in *"(0 via MMIO exits)"*) ;; *) why="$why; queue notifications took MMIO exits: $s" ;; esac
note "$s"
mmio=$(log | sed -n 's/.*exits to userspace:.* mmio \([0-9]*\),.*/\1/p')
req=$(log | sed -n 's/^virtio-net .*(tap0): requests \([0-9]*\),.*/\1/p')
note "MMIO exits ${base_mmio:-?} -> ${mmio:-?} while virtio-net requests ${base_req:-?} -> ${req:-?}"
if [ -z "$mmio" ] || [ -z "$base_mmio" ] || [ -z "$req" ] || [ -z "$base_req" ]; then
	why="$why; no exit counts in --stats"
elif [ $((req - base_req)) -lt 1000 ] || [ $((mmio - base_mmio)) -gt $(((req - base_req) / 100)) ]; then
	why="$why; MMIO exits grew by $((mmio - base_mmio)) for $((req - base_req)) more requests"
fi
log | sed -n 's/^L2-KERN-WARN: /kernel: /p' | head -n 3 | while read -r l; do note "$l"; done

if [ -z "$why" ]; then
	echo "NESTED-RESULT PASS nested-net"
	exit 0
fi
echo "NESTED-RESULT FAIL nested-net: ${why#; }"
exit 1
