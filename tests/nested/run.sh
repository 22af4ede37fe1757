#!/bin/sh
# tests/nested/run.sh: the nested suite: one L1 boot (QEMU/TCG, nested SVM) runs ./vmm on L1's /dev/kvm for each test.
# Usage: sh tests/nested/run.sh [TEST...]   (tests: l1-kvm bzimage pvh smp2 highmem panic net; default all)
#        net is net.sh's test (net_l1.sh, net_l2.sh) in this L1 boot: one boot fewer than net.sh on its own.
# Env: VMM_BIN (default ./vmm, e.g. ./vmm-debug), NESTED_VERBOSE=1 shows L1's console; VMM_TIMEOUT (s per vmm run, default 120), VMM_MEM (256M),
#      L2_APPEND (console=ttyS0 quiet panic=-1), L1_MEM (MB, 6144), NESTED_LOG (where the full L1
#      console goes, default build/nested/l1.log).
# shellcheck disable=SC3043 # local: dash and busybox ash have it
cd "$(dirname "$0")/../.." || exit 2
NESTED_LIB=tests/nested/lib.sh
. tests/nested/lib.sh

ALL="l1-kvm bzimage pvh smp2 highmem panic net"
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
case " $run " in *" net "*)
	if ! IPERF3=$(command -v iperf3); then
		echo "SKIP nested-net: iperf3 missing (apt-get install iperf3)"
		run=$(echo "$run" | sed 's/\(^\| \)net\( \|$\)/ /; s/^ //; s/ $//')
	fi ;;
esac
[ -n "$run" ] || exit 0

l2_images || { for t in $run; do echo "FAIL nested-$t: could not build the L2 images"; done; exit 1; }
L1_STALL=${L1_STALL:-150}   # l1_test.sh prints a heartbeat every 30 s
L1_LOG=$NB/l1-$$.log
FINAL=${NESTED_LOG:-$NB/l1.log}
R=$(mktemp -d "$NB/results.XXXXXX") || exit 1
trap 'rm -rf "$R"' EXIT
# net: net_l2.sh as /init of the L2 image, with iperf3; iperf3 in L1 too
if [ -n "$IPERF3" ]; then
	mkdir -p "$R/net-l2"
	# shellcheck disable=SC2046,SC2015 # one word per pair; any failure is the one message
	cp tests/nested/net_l2.sh "$R/net-l2/init" && chmod 755 "$R/net-l2/init" &&
		stage_pairs "$R/net-l2" $(tool_files "$IPERF3" /bin/iperf3) &&
		(cd "$R/net-l2" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$R/net-l2x.cpio" &&
		cat "$L2_INITRD" "$R/net-l2x.cpio" >"$R/net-l2.cpio" ||
		{ echo "FAIL nested-net: could not stage iperf3"; exit 1; }
	rm -rf "$R/net-l2" "$R/net-l2x.cpio"
	NET_PAIRS="$R/net-l2.cpio:/l2/initrd-net.cpio tests/nested/net_l1.sh:/net/test.sh $(tool_files "$IPERF3" /bin/iperf3 | tr '\n' ' ')"
fi

# boot_l1 TESTS: one L1 boot running those tests; its console in $L1_LOG, status in $l1st.
boot_l1() {
	local tests n ok
	tests=$1
	{
		echo "TESTS='$tests'"
		echo "VMM_TIMEOUT=$VMM_TIMEOUT"
		[ -n "$VMM_MEM" ] && echo "VMM_MEM='$VMM_MEM'"
		[ -n "$L2_APPEND" ] && echo "L2_APPEND='$L2_APPEND'"
	} >"$NB/nested-$$.env"
	set -- "$NB/nested-$$.env:/nested.env" tests/nested/l1_test.sh:/test.sh \
		"$L2_BZIMAGE:/l2/bzImage" "$L2_VMLINUX:/l2/vmlinux" "$L2_INITRD:/l2/initrd.cpio"
	[ -x "$VMM_BIN" ] && set -- "$@" "$VMM_BIN:/vmm"
	# shellcheck disable=SC2086 # one word per pair
	case " $tests " in *" net "*) set -- "$@" $NET_PAIRS ;; esac
	ok=1
	l1_initramfs "$NB/l1-$$.cpio" "$@" || ok=0
	rm -f "$NB/nested-$$.env"
	[ $ok = 1 ] || return 1
	n=$(echo "$tests" | wc -w)
	case " $tests " in *" net "*) n=$((n + 2)) ;; esac   # net boots L2 twice, with twice the timeout
	if [ "${NESTED_VERBOSE:-0}" = 1 ]; then
		l1_run -t $((90 + n * (VMM_TIMEOUT + 40))) "$NB/l1-$$.cpio"
	else
		l1_run -t $((90 + n * (VMM_TIMEOUT + 40))) "$NB/l1-$$.cpio" >/dev/null
	fi
	l1st=$?
	rm -f "$NB/l1-$$.cpio"
}

# result T: test T's result block from this boot into $R/T (line, notes, L2 tail under a FAIL);
# status 1 if the boot's environment failure can explain a missing result or a FAIL, which shows
# no earlier in the log than the failure.
result() {
	local line at
	line=$(echo "$log" | sed -n "s/^NESTED-RESULT \(\(PASS\|FAIL\) nested-$1\(:.*\)\{0,1\}\)$/\1/p" | tail -n 1)
	if [ -n "$L1_ENV" ]; then
		at=$(tr -d '\r' <"$L1_LOG" | grep -n "NESTED-RESULT [A-Z]* nested-$1\(:\|$\)" | tail -n 1 | cut -d: -f1)
		case $line in
		"") return 1 ;;
		FAIL*) [ "${at:-0}" -lt "$L1_ENV_LINE" ] || return 1 ;;
		esac
	fi
	[ -n "$line" ] || line="FAIL nested-$1: no result (L1 status $l1st$([ "$l1st" = 125 ] && echo ': L1 died or timed out'), last L1 heartbeat: $(echo "$log" | grep -a -o 'L1-ALIVE uptime=[0-9.]*' | tail -n 1 | cut -d= -f2)s; see $FINAL)"
	{
		echo "$line"
		echo "$log" | sed -n "s/^NESTED-NOTE nested-$1: /    note: /p"
		# the last lines of that test's L2 console, to show where it stopped
		case $line in FAIL*) echo "$log" | sed -n "s/^L2\[$1\]| /    /p" | tail -n 12 ;; esac
	} >"$R/$1"
	return 0
}

# An environment failure (lib.sh l1_env: L1's own oops, stall, no boot, no L1-EXIT) reruns the
# tests it hit in a new L1, at most twice; one that persists is a FAIL that says so.
todo=$run try=0 times=
while [ -n "$todo" ]; do
	if ! boot_l1 "$todo"; then
		for t in $todo; do echo "FAIL nested-$t: could not build the L1 initramfs" >"$R/$t"; done
		break
	fi
	l1_env "$L1_LOG" "$l1st"
	# the latest boot's console is $FINAL, earlier ones $FINAL.boot1, .boot2
	[ $try = 0 ] || mv "$FINAL" "$FINAL.boot$try"
	mv "$L1_LOG" "$FINAL"
	L1_LOG=$FINAL
	log=$(tr -d '\r' <"$L1_LOG" | sed 's/.*\(NESTED-RESULT \|NESTED-NOTE \|NESTED-TIME \|L1-READY \)/\1/')
	times="$times$(echo "$log" | sed -n 's/^NESTED-TIME /time: /p;s/^L1-READY /L1: /p' | tr '\n' ' ')"
	left=
	for t in $todo; do result "$t" || left="$left $t"; done
	todo=${left# }
	[ -n "$todo" ] || break
	if [ $try -ge 2 ]; then
		for t in $todo; do echo "FAIL nested-$t: environment failure persisted after 2 retries: $L1_ENV; see $FINAL" >"$R/$t"; done
		break
	fi
	try=$((try + 1))
	env_note nested "$try" 2 "$L1_ENV; tests rerun: $todo"
	L1_LOG=$NB/l1-$$.log
done

failed=0
for t in $run; do
	cat "$R/$t"
	grep -q '^FAIL' "$R/$t" && failed=$((failed + 1))
done
[ -n "$times" ] && echo "    $times"
[ "$failed" -eq 0 ]
