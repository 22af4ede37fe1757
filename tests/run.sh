#!/bin/sh
# tests/run.sh: runs every test suite and prints the final "N passed, N failed, N skipped".
# Each suite prints one line per test: "PASS name", "FAIL name[: why]" or "SKIP name: why".
# Select suites with TESTS="unit guest nested arm64" (default: all). FUZZ_TEST_SECS: seconds per fuzz harness.
cd "$(dirname "$0")/.." || exit 2
LOG=build/test.log
mkdir -p build
: > "$LOG"
SUITES=${TESTS:-unit tsan cli fuzz guest nested arm64}
times=

run_suite() {
	echo "== $1" | tee -a "$LOG"
	shift
	"$@" 2>&1 | tee -a "$LOG"
}

for s in $SUITES; do
	t0=$(date +%s)
	case $s in
	unit)
		for t in build/unit/test_*; do
			[ -x "$t" ] || continue
			echo "== unit/$(basename "$t")" | tee -a "$LOG"
			"$t" > build/unit.out 2>&1
			rc=$?
			tee -a "$LOG" < build/unit.out
			# a test binary that crashed without printing FAIL must still count
			if [ $rc -ne 0 ] && ! grep -q "^FAIL" build/unit.out; then
				echo "FAIL $(basename "$t"): exited with status $rc" | tee -a "$LOG"
			fi
		done ;;
	tsan)   # the unit tests again under ThreadSanitizer: one line per binary, a data race fails it
		echo "== tsan" | tee -a "$LOG"
		for t in build/tsan/test_*; do
			[ -x "$t" ] || continue
			n=$(basename "$t")
			TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$t" > "build/tsan-$n.log" 2>&1
			rc=$?
			case $rc in
			0) echo "PASS tsan-$n" ;;
			66) echo "FAIL tsan-$n: data race, see build/tsan-$n.log"
			    grep -m1 -A6 'WARNING: ThreadSanitizer' "build/tsan-$n.log" | sed 's/^/    /' ;;
			*) echo "FAIL tsan-$n: exited with status $rc, see build/tsan-$n.log" ;;
			esac | tee -a "$LOG"
		done ;;
	cli)    run_suite cli sh tests/cli.sh
		run_suite boundary sh tests/boundary.sh
		run_suite man sh tests/man.sh
		run_suite install sh tests/install.sh ;;
	fuzz)   run_suite fuzz sh tests/fuzz/run.sh ;;
	guest)  run_suite guest sh tests/guest/run.sh ;;
	nested)
		# nested-net runs in run.sh's L1 boot (net.sh alone would boot its own)
		run_suite nested sh tests/nested/run.sh
		[ -f tests/nested/blk.sh ] && run_suite nested-blk sh tests/nested/blk.sh
		run_suite nested-vsock sh tests/nested/vsock.sh
		run_suite nested-powerbutton sh tests/nested/pwrbtn.sh
		run_suite nested-vhost-user sh tests/nested/vhost_user.sh
		run_suite nested-run sh tests/nested/vmmrun.sh ;;
	arm64)  # arm64 guests on this x86 host: vmm-arm64's host-side checks under qemu-user and the tiny
		# guests in an arm64 L1 under QEMU/TCG (this runner also builds vmm-arm64, which make test
		# does not), then kvm_probe and ./vmm-arm64 booting Linux in another L1
		run_suite arm64-guest sh tests/guest/arm64/run.sh
		run_suite arm64 sh tests/arm64/run.sh ;;
	esac
	times="$times $s $(($(date +%s) - t0)) s,"
done

p=$(grep -c '^PASS' "$LOG"); f=$(grep -c '^FAIL' "$LOG"); s=$(grep -c '^SKIP' "$LOG")
# Suites that boot a level-1 Linux rerun what an environment failure hit (L1's own oops, stall,
# no boot, no L1-EXIT: tests/nested/lib.sh l1_env) and say so in one "note: NAME: environment
# failure (...), retry I of 2" line each; a failure that persists is a FAIL like any other.
e=$(grep -c '^note: [^ ]*: environment failure' "$LOG")
echo
grep '^FAIL' "$LOG"
grep '^note: [^ ]*: environment failure' "$LOG"
echo "time per suite:${times%,}"
echo "environment retries: $e (L1 failures not counted as ours)"
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
