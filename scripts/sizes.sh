#!/usr/bin/env bash
# Prints the size of a ccinit binary next to the init processes it replaces:
# tini-static (Debian package tini) and catatonit (Debian package catatonit).
#
#   scripts/sizes.sh CCINIT
#
# Idempotent: it installs tini and catatonit with apt only when they are
# missing, and changes nothing else. A binary is static when readelf shows no
# program interpreter (the check the Makefile applies to our own binaries).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ccinit=${1:?usage: sizes.sh CCINIT}
[ -f "$ccinit" ] || { echo "sizes: $ccinit: no such file (run make build)" >&2; exit 1; }

# catatonit is in /usr/bin on Debian, in podman's libexec dir elsewhere.
find_catatonit() {
	local p
	for p in /usr/bin/catatonit /usr/libexec/podman/catatonit; do
		[ -x "$p" ] && { echo "$p"; return 0; }
	done
	return 1
}

need=()
[ -x /usr/bin/tini-static ] || need+=(tini)
find_catatonit >/dev/null || need+=(catatonit)
command -v readelf >/dev/null || need+=(binutils)
[ ${#need[@]} -eq 0 ] || apt_install sizes "${need[@]}"
catatonit=$(find_catatonit) || { echo "sizes: catatonit not found after installing it" >&2; exit 1; }

has_symbols() { readelf -SW "$1" 2>/dev/null | grep -q '\.symtab'; }

printf '%-12s %10s %9s  %-7s %-8s %s\n' binary bytes KiB linking symbols path
for entry in "ccinit=$ccinit" "tini-static=/usr/bin/tini-static" "catatonit=$catatonit"; do
	name=${entry%%=*}
	path=${entry#*=}
	bytes=$(stat -L -c %s "$path")
	link=dynamic
	is_static "$path" && link=static
	syms=stripped
	has_symbols "$path" && syms=present
	printf '%-12s %10d %9.1f  %-7s %-8s %s\n' "$name" "$bytes" "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1024 }')" "$link" "$syms" "$path"
done
