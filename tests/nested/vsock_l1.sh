#!/bin/sh
# tests/nested/vsock_l1.sh: /test.sh in L1 for nested-vsock: vhost_vsock, vmm --vsock cid=3, 1 MiB each way with socat, a second vmm on the same CID must fail.
VMM_MEM=256M
VMM_TIMEOUT=240
L2_APPEND="console=ttyS0 quiet panic=-1"
# shellcheck disable=SC1091 # written by vsock.sh
[ -f /nested.env ] && . /nested.env
why=
note() { echo "NESTED-NOTE nested-vsock: $*"; }

while read -r m params; do
	[ -n "$m" ] || continue
	# shellcheck disable=SC2086 # params are words
	insmod "/vsmods/$m.ko" $params || why="$why; insmod $m failed"
done </vsmods/order
[ -c /dev/vhost-vsock ] || why="$why; no /dev/vhost-vsock in L1"

socat -u VSOCK-LISTEN:6000 CREATE:/tmp/from-l2 &
head -c 1048576 /dev/urandom >/tmp/to-l2
t0=$(cut -d' ' -f1 /proc/uptime)
timeout -s KILL $((VMM_TIMEOUT + 30)) /vmm --kernel /l2/bzImage --initrd /l2/initrd.cpio \
	--append "$L2_APPEND" --memory "$VMM_MEM" --vsock cid=3 --stats \
	--console /tmp/l2.log --timeout "$VMM_TIMEOUT" </dev/null >/tmp/vmm.out 2>&1 &
vpid=$!
i=0
while ! grep -q L2-VSOCK-LISTENING /tmp/l2.log 2>/dev/null && kill -0 $vpid 2>/dev/null && [ $i -lt 1800 ]; do
	sleep 0.1; i=$((i + 1))
done
if grep -q L2-VSOCK-LISTENING /tmp/l2.log; then
	# the CID is taken: a second vmm must say so and exit 2 before it boots anything
	/vmm --kernel /l2/bzImage --vsock cid=3 --console none --timeout 5 >/tmp/second.out 2>&1
	st2=$?
	[ "$st2" = 2 ] && grep -q "in use" /tmp/second.out || why="$why; a second vmm on CID 3: exit $st2: $(head -c 200 /tmp/second.out)"
	socat -u OPEN:/tmp/to-l2 VSOCK-CONNECT:3:5000 || why="$why; socat L1->L2 failed"
fi
wait $vpid
st=$?
tr -d '\r' </tmp/l2.log | sed 's/^/L2[vsock]| /'
sed 's/^/vmm| /' /tmp/vmm.out
echo "NESTED-TIME vsock exit=$st seconds=$(awk "BEGIN{print $(cut -d' ' -f1 /proc/uptime) - $t0}")"

log() { tr -d '\r' </tmp/l2.log; }
val() { log | sed -n "s/^$1=//p" | tail -n 1; }
[ "$st" = 0 ] || why="$why; vmm exit $st"
if log | grep -q L2-INIT-REACHED; then
	[ "$(val L2-MODULES-FAILED)" = 0 ] || why="$why; L2 modules failed to load"
	log | grep -q "^L2-VSOCK-DEVICE driver=vmw_vsock_virtio_transport" || why="$why; no virtio-vsock device bound in L2"
	want=$(sha256sum </tmp/to-l2 | cut -c1-64)
	case $(val L2-VSOCK-IN-SHA) in "$want bytes=1048576") ;; *) why="$why; L1->L2 data differs: $(val L2-VSOCK-IN-SHA)" ;; esac
	[ "$(val L2-VSOCK-SENT)" = ok ] || why="$why; L2->L1 send failed"
	[ "$(sha256sum </tmp/from-l2 | cut -c1-64)" = "$(val L2-VSOCK-OUT-SHA)" ] || why="$why; L2->L1 data differs"
	log | grep -q "^L2-DONE" || why="$why; L2 did not finish"
	# kicks and interrupts stay in the kernel: vsock traffic adds no exit to userspace
	note "$(sed -n 's/^vmm: exits to userspace: //p' /tmp/vmm.out)"
else
	why="$why; L2 init not reached"
fi
if [ -z "$why" ]; then echo "NESTED-RESULT PASS nested-vsock"; else echo "NESTED-RESULT FAIL nested-vsock:$why" | sed 's/:;/:/'; fi
[ -z "$why" ]
