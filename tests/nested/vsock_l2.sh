#!/bin/sh
# tests/nested/vsock_l2.sh: /init of the L2 initramfs for nested-vsock: AF_VSOCK both ways with L1 through vmm --vsock, L2-VSOCK-* markers.
# shellcheck source=tests/nested/l2_lib.sh
. /l2-lib.sh

load_modules /mods /vsmods
for d in /sys/bus/virtio/devices/*; do
	[ "$(cat "$d/device" 2>/dev/null)" = 0x0013 ] && echo "L2-VSOCK-DEVICE driver=$(basename "$(readlink "$d/driver")")"
done
i=0
while [ ! -e /dev/vsock ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done

# L1 -> L2: 1 MiB into a listener here; L1 connects once it sees the marker.
socat -u VSOCK-LISTEN:5000 CREATE:/tmp/in &
lpid=$!
sleep 0.5
echo "L2-VSOCK-LISTENING"
i=0
while kill -0 $lpid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
echo "L2-VSOCK-IN-SHA=$(sha256sum </tmp/in | cut -c1-64) bytes=$(wc -c </tmp/in)"

# L2 -> L1: the host is CID 2; L1 listens on 6000.
head -c 1048576 /dev/urandom >/tmp/out
echo "L2-VSOCK-OUT-SHA=$(sha256sum </tmp/out | cut -c1-64)"
if socat -u OPEN:/tmp/out VSOCK-CONNECT:2:6000; then echo "L2-VSOCK-SENT=ok"; else echo "L2-VSOCK-SENT=fail"; fi
grep -i vsock /proc/interrupts | sed 's/^/L2-VSOCK-IRQ: /'
echo "L2-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
