# tests/nested/blk_inputs.sh: bad --disk inputs vmm must refuse (exit 2, one line on stderr) before it opens KVM; sourced by blk.sh (host) and blk_l1.sh (L1).
# The caller defines note TEST TEXT and fail TEST TEXT, and sets VMM (the binary), KERNEL (a bzImage) and INPUTS_TEST (the test name).
# shellcheck shell=sh disable=SC3043 # local: dash and busybox ash have it

# bad_input NAME REGEX [vmm args]: exit 2, one line on stderr, matching REGEX. Should vmm boot
# anyway, the kernel has no initrd: it panics and vmm stops within --timeout.
bad_input() {
	local n re s
	n=$1; re=$2; shift 2
	timeout -s KILL 60 "$VMM" --kernel "$KERNEL" --memory 64M --append "console=ttyS0 panic=-1" \
		--console none --timeout 30 "$@" </dev/null >/dev/null 2>"$BLK_INPUTS_DIR/err"
	s=$?
	note "$INPUTS_TEST" "$n: exit $s: $(head -n 1 "$BLK_INPUTS_DIR/err")"
	[ "$s" = 2 ] || fail "$INPUTS_TEST" "$n: exit $s (want 2)"
	[ "$(wc -l <"$BLK_INPUTS_DIR/err")" = 1 ] || fail "$INPUTS_TEST" "$n: $(wc -l <"$BLK_INPUTS_DIR/err") lines on stderr (want 1)"
	grep -qE "$re" "$BLK_INPUTS_DIR/err" || fail "$INPUTS_TEST" "$n: message lacks /$re/"
}

# inputs_all DIR: the checks that need nothing but files in DIR (created; left for the caller).
inputs_all() {
	local d
	d=$1
	BLK_INPUTS_DIR=$d
	mkdir -p "$d" || { fail "$INPUTS_TEST" "cannot create $d"; return; }
	bad_input missing "$d/nope\\.img" --disk "$d/nope.img"
	: >"$d/empty.img"
	bad_input empty "$d/empty\\.img.*empty" --disk "$d/empty.img"
	printf '%100s' '' >"$d/tiny.img"
	bad_input smaller-than-a-sector "$d/tiny\\.img.*empty" --disk "$d/tiny.img"
	bad_input directory "$d.*not a regular file" --disk "$d,ro"
	truncate -s 1M "$d/one.img"
	bad_input twice-in-one-vmm "one\\.img.* in use" --disk "$d/one.img" --disk "$d/one.img"
	bad_input bad-option "unknown option" --disk "$d/one.img,bogus"
	bad_input no-path "no image path" --disk ",ro"
	bad_input long-serial "serial" --disk "$d/one.img,serial=123456789012345678901"
	# tmpfs has no O_DIRECT (before Linux 6.6); elsewhere vmm would accept ,direct
	kv=$(uname -r | awk -F. '{ print $1 * 100 + $2 }')
	if [ "$(stat -f -c %T "$d")" = tmpfs ] && [ "$kv" -lt 606 ]; then
		bad_input direct-on-tmpfs "one\\.img.*direct I/O" --disk "$d/one.img,direct"
	fi
	# a file on a read-only file system (root ignores permission bits): a tmpfs remounted ro
	mkdir -p "$d/rofs"
	if mount -t tmpfs -o size=4m rofs "$d/rofs" 2>/dev/null; then
		truncate -s 1M "$d/rofs/x.img" && mount -o remount,ro "$d/rofs" &&
			bad_input read-only-file "$d/rofs/x\\.img.*ro" --disk "$d/rofs/x.img"
		umount "$d/rofs"
	else
		note "$INPUTS_TEST" "read-only-file: skipped (cannot mount a tmpfs here)"
	fi
}
