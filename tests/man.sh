#!/bin/sh
# tests/man.sh: vmm.1 documents exactly the options of vmm --help and vmm run --help, passes mandoc -T lint and renders.
# MAN=FILE checks another page (to try the checks on a broken copy).
cd "$(dirname "$0")/.." || exit 2
V=./vmm
MAN=${MAN:-vmm.1}
T=build/man; mkdir -p $T

# --help: "  -k, --kernel FILE ..." and "      --stats ...": every -x and --word before the text
{ $V --help; $V run --help; } 2>&1 | grep -oE '^ +(-[A-Za-z], )?--[a-z][a-z-]*' | tr -d ',' | tr ' ' '\n' | grep . | sort -u > $T/help
# vmm.1: "documented" is every Fl in an .It head (up to .Xc after .It Xo); "mentioned" is every Fl
# anywhere, and every -x or --word of a vmm command line (or VMM_ARGS=) in a literal display.
awk '
function fl(line, head,   t) {
	while (match(line, /(^|[ .])Fl (\\-)?[A-Za-z][A-Za-z0-9-]*/)) {
		t = substr(line, RSTART, RLENGTH); sub(/^.?Fl /, "", t)
		if (t ~ /^\\-/) t = "--" substr(t, 3); else t = "-" t
		print "mentioned", t
		if (head) print "documented", t
		line = substr(line, RSTART + RLENGTH)
	}
}
/^\.Bd -literal/ { lit = 1; cont = 0; next }
/^\.Ed/ { lit = 0; next }
lit {
	line = $0; gsub(/\\-/, "-", line); gsub(/\\e/, "\\", line)
	n = split(line, w)
	isvmm = cont || w[1] == "vmm" || w[1] ~ /^VMM_ARGS=/
	if (isvmm) for (i = 1; i <= n; i++) {
		x = w[i]; sub(/^VMM_ARGS=/, "", x)
		if (x ~ /^--[a-z][a-z-]*$/ || x ~ /^-[A-Za-z]$/) print "mentioned", x
	}
	cont = isvmm && line ~ /\\$/
	next
}
/^\.It / { head = 1 }
/^\./ { fl($0, head) }
/^\.It / && !/Xo/ { head = 0 }
/^\.Xc/ { head = 0 }
' "$MAN" > $T/man
awk '$1 == "documented" { print $2 }' $T/man | sort -u > $T/documented
awk '$1 == "mentioned" { print $2 }' $T/man | sort -u > $T/mentioned

if [ ! -s $T/help ]; then echo "FAIL man-options-documented: no options parsed from $V --help"
elif [ ! -s $T/documented ]; then echo "FAIL man-options-documented: no options parsed from $MAN"
else
	missing=$(comm -23 $T/help $T/documented | tr '\n' ' ')
	if [ -z "$missing" ]; then echo "PASS man-options-documented"
	else echo "FAIL man-options-documented: in vmm --help but not in $MAN's option list: $missing"; fi
	unknown=$(comm -13 $T/help $T/mentioned | tr '\n' ' ')
	if [ -z "$unknown" ]; then echo "PASS man-options-known"
	else echo "FAIL man-options-known: in $MAN but not in vmm --help: $unknown"; fi
fi

# mandoc -T lint, every level (style too). MANPATH is empty so that the .Xr cross-references are not
# looked up in this host's manual database (its "outdated mandoc.db" notes are about the host).
if command -v mandoc >/dev/null 2>&1; then
	MANPATH=/nonexistent mandoc -T lint "$MAN" > $T/lint 2>&1
	rc=$?
	grep -v 'outdated mandoc.db' $T/lint > $T/lint.page
	if [ $rc -eq 0 ] && [ ! -s $T/lint.page ]; then echo "PASS man-lint"
	else echo "FAIL man-lint: mandoc -T lint $MAN (status $rc): $(head -n 3 $T/lint.page | tr '\n' ' ')"; fi
else
	echo "SKIP man-lint: mandoc not installed (apt-get install mandoc)"
fi

# man -l renders it (groff on Debian): the sections are there and groff has nothing to say
if command -v man >/dev/null 2>&1; then
	MANWIDTH=80 man -l "$MAN" > $T/render 2> $T/render.err
	rc=$?
	if [ $rc -ne 0 ] || [ -s $T/render.err ]; then echo "FAIL man-render: man -l $MAN (status $rc): $(head -c 200 $T/render.err)"
	elif ! grep -q 'EXIT STATUS' $T/render || ! grep -q 'SANDBOX' $T/render; then echo "FAIL man-render: man -l $MAN lacks EXIT STATUS or SANDBOX"
	else echo "PASS man-render"; fi
else
	echo "SKIP man-render: man not installed"
fi
