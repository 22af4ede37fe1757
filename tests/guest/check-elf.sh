#!/bin/sh
# tests/guest/check-elf.sh: checks with readelf that a guest ELF has the layout vmm's plain-ELF64 path loads.
f=$1
die() { echo "check-elf: $f: $*" >&2; exit 1; }
h=$(readelf -h "$f") || die "not an ELF"
echo "$h" | grep -q 'Class:.*ELF64' || die "not ELF64"
echo "$h" | grep -q 'Type:.*EXEC' || die "not ET_EXEC"
echo "$h" | grep -q 'Machine:.*X86-64' || die "not x86-64"
entry=$(echo "$h" | sed -n 's/.*Entry point address: *//p')
[ $((entry)) -ge $((0x100000)) ] || die "entry $entry below 1 MiB"
l=$(readelf -lW "$f")
echo "$l" | grep -qE '^ *(NOTE|INTERP|DYNAMIC)' && die "has a NOTE/INTERP/DYNAMIC program header"
n=0
inside=0
while read -r typ _off va pa fsz msz flags; do
	[ "$typ" = LOAD ] || continue
	[ $((pa)) -ge $((0x100000)) ] || die "PT_LOAD at p_paddr $pa below 1 MiB"
	[ $((fsz)) -le $((msz)) ] || die "PT_LOAD with p_filesz > p_memsz"
	case "$flags" in *E*) [ $((entry)) -ge $((va)) ] && [ $((entry)) -lt $((va + msz)) ] && inside=1 ;; esac
	n=$((n + 1))
done <<EOT
$l
EOT
[ "$n" -ge 1 ] || die "no PT_LOAD"
[ "$inside" = 1 ] || die "entry $entry outside every executable PT_LOAD"
exit 0
