#!/bin/sh
# tests/fuzz/run.sh: runs every libFuzzer harness for FUZZ_TEST_SECS seconds (default 20) from its seed corpus; one PASS/FAIL/SKIP line each.
# The working corpus is a copy in build/fuzz/work/NAME (fresh each run), or with FUZZ_KEEP=1 build/fuzz/corpus/NAME
# (kept and grown across runs: make fuzz). tests/fuzz/corpus/ is only read. Select harnesses with FUZZ_NAMES="pci uart".
cd "$(dirname "$0")/../.." || exit 2
SECS=${FUZZ_TEST_SECS:-20}
NAMES=${FUZZ_NAMES:-boot virtq virtio_blk pci ioapic virtio_net uart options fuse}
B=build/fuzz
mkdir -p $B

for n in $NAMES; do
	f=$B/fuzz_$n
	if ! command -v clang >/dev/null 2>&1; then
		echo "SKIP fuzz-$n: clang is not installed (apt-get install clang)"; continue
	fi
	if [ ! -x "$f" ]; then
		echo "FAIL fuzz-$n: $f is not built (make fuzzers)"; continue
	fi
	if [ "${FUZZ_KEEP:-0}" = 1 ]; then
		work=$B/corpus/$n
	else
		work=$B/work/$n; rm -rf "$work"
	fi
	mkdir -p "$work"
	[ -d tests/fuzz/corpus/$n ] && cp tests/fuzz/corpus/$n/* "$work"/ 2>/dev/null
	# -timeout: one input running 10 s is a hang; -rss_limit_mb: a leak or runaway allocation
	"$f" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix=$B/crash-$n- "$work" > $B/$n.log 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' $B/$n.log | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' $B/$n.log | tail -1)
	if [ $rc -eq 0 ] && [ -n "$execs" ]; then
		echo "PASS fuzz-$n: $execs execs ($rate/s, $SECS s, corpus $(ls "$work" | wc -l) inputs)"
	else
		art=$(sed -n 's/.*Test unit written to //p' $B/$n.log | tail -1)
		echo "FAIL fuzz-$n: crash, input saved in ${art:-(none)}; log in $B/$n.log (replay: $f ${art:-FILE})"
	fi
done
