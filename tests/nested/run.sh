#!/bin/sh
# tests/nested/run.sh: the nested suite: one L1 boot (QEMU/TCG, nested SVM) runs ./vmm on L1's /dev/kvm for each test.
# Usage: sh tests/nested/run.sh [TEST...]   (tests: l1-kvm bzimage pvh smp2 highmem panic; default all)
# Env: VMM_BIN (default ./vmm, e.g. ./vmm-debug), NESTED_VERBOSE=1 shows L1's console; VMM_TIMEOUT (s per vmm run, default 120), VMM_MEM (256M),
#      L2_APPEND (console=ttyS0 quiet panic=-1), L1_MEM (MB, 6144), NESTED_LOG (where the full L1
#      console goes, default build/nested/l1.log).
cd "$(dirname "$0")/../.." || exit 2
NESTED_LIB=tests/nested/lib.sh
. tests/nested/lib.sh

ALL="l1-kvm bzimage pvh smp2 highmem panic"
TESTS=${*:-$ALL}
VMM_TIMEOUT=${VMM_TIMEOUT:-120}
VMM_BIN=${VMM_BIN:-./vmm}
# vmm refuses more guest RAM than its host has: highmem's 5 GiB guest needs a large L1.
L1_MEM=${L1_MEM:-6144}; export L1_MEM

if ! why=$(nested_check); then
	for t in $TESTS; do echo "SKIP nested-$t: $why"; done
	exit 0
fi

# Without ./vmm the vmm tests fail here; L1 still boots to check the harness itself.
run=
for t in $TESTS; do
	if [ "$t" != l1-kvm ] && [ ! -x "$VMM_BIN" ]; then
		echo "FAIL nested-$t: $VMM_BIN missing (run make)"
	else
		run="$run $t"
	fi
done
run=${run# }
[ -n "$run" ] || exit 1

l2_images || { for t in $run; do echo "FAIL nested-$t: could not build the L2 images"; done; exit 1; }
{
	echo "TESTS='$run'"
	echo "VMM_TIMEOUT=$VMM_TIMEOUT"
	[ -n "$VMM_MEM" ] && echo "VMM_MEM='$VMM_MEM'"
	[ -n "$L2_APPEND" ] && echo "L2_APPEND='$L2_APPEND'"
} >"$NB/nested-$$.env"
set -- "$NB/nested-$$.env:/nested.env" tests/nested/l1_test.sh:/test.sh \
	"$L2_BZIMAGE:/l2/bzImage" "$L2_VMLINUX:/l2/vmlinux" "$L2_INITRD:/l2/initrd.cpio"
[ -x "$VMM_BIN" ] && set -- "$@" "$VMM_BIN:/vmm"
ok=1
l1_initramfs "$NB/l1-$$.cpio" "$@" || ok=0
rm -f "$NB/nested-$$.env"
if [ $ok = 0 ]; then
	for t in $run; do echo "FAIL nested-$t: could not build the L1 initramfs"; done
	exit 1
fi

n=$(echo "$run" | wc -w)
L1_LOG=$NB/l1-$$.log
L1_STALL=${L1_STALL:-150}   # l1_test.sh prints a heartbeat every 30 s
if [ "${NESTED_VERBOSE:-0}" = 1 ]; then
	l1_run -t $((90 + n * (VMM_TIMEOUT + 40))) "$NB/l1-$$.cpio"
else
	l1_run -t $((90 + n * (VMM_TIMEOUT + 40))) "$NB/l1-$$.cpio" >/dev/null
fi
l1st=$?
rm -f "$NB/l1-$$.cpio"
mv "$L1_LOG" "${NESTED_LOG:-$NB/l1.log}"
L1_LOG=${NESTED_LOG:-$NB/l1.log}

log=$(tr -d '\r' <"$L1_LOG" | sed 's/.*\(NESTED-RESULT \|NESTED-NOTE \|NESTED-TIME \|L1-READY \)/\1/')
failed=0
for t in $run; do
	line=$(echo "$log" | sed -n "s/^NESTED-RESULT \(\(PASS\|FAIL\) nested-$t\(:.*\)\{0,1\}\)$/\1/p" | tail -n 1)
	[ -n "$line" ] || line="FAIL nested-$t: no result (L1 status $l1st$([ $l1st = 125 ] && echo ': L1 died or timed out'), last L1 heartbeat: $(echo "$log" | grep -a -o 'L1-ALIVE uptime=[0-9.]*' | tail -n 1 | cut -d= -f2)s; see $L1_LOG)"
	echo "$line"
	echo "$log" | sed -n "s/^NESTED-NOTE nested-$t: /    note: /p"
	case $line in
	FAIL*)
		failed=$((failed + 1))
		# the last lines of that test's L2 console, to show where it stopped
		echo "$log" | sed -n "s/^L2\[$t\]| /    /p" | tail -n 12 ;;
	esac
done
echo "    $(echo "$log" | sed -n 's/^NESTED-TIME /time: /p;s/^L1-READY /L1: /p' | tr '\n' ' ')"
[ "$failed" -eq 0 ]
