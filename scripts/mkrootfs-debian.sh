#!/usr/bin/env bash
# Builds a Debian bookworm rootfs for the benchmarks: debootstrap --variant=minbase
# plus sysbench, iputils-ping and iperf3, the files of rootfs-overlay/, and
# ccinit at /sbin/ccinit. Progress goes to stderr as it works.
#
#   scripts/mkrootfs-debian.sh ROOTFS CCINIT [MIRROR]
#
# Idempotent: a rootfs that is complete (it has the marker file written as the
# last step) is only refreshed (overlay, ccinit); one left half-built by an
# interrupted run is removed and built again. It installs debootstrap with apt
# when it is missing.
set -euo pipefail

rootfs=${1:?usage: mkrootfs-debian.sh ROOTFS CCINIT [MIRROR]}
ccinit=${2:?usage: mkrootfs-debian.sh ROOTFS CCINIT [MIRROR]}
mirror=${3:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")/.." && pwd)
ccinit=$(realpath "$ccinit")
extra=sysbench,iputils-ping,iperf3
marker=etc/ccontainer-bench-rootfs

. "$here/scripts/lib.sh"
say() { echo "rootfs-debian: $*" >&2; }

command -v debootstrap >/dev/null || apt_install rootfs-debian debootstrap

if [ -e "$rootfs" ] && [ ! -f "$rootfs/$marker" ]; then
	# A half-built tree would make debootstrap fail or, worse, succeed on a
	# mix; nothing in it is ours to keep.
	say "removing the unfinished $rootfs from an earlier run"
	rm -rf --one-file-system "$rootfs"
fi

if [ ! -f "$rootfs/$marker" ]; then
	start=$(date +%s)
	say "debootstrap bookworm (minbase, + $extra) into $rootfs from $mirror; about a minute"
	# debootstrap's own log goes to the terminal line by line ("I: Retrieving ...",
	# "I: Unpacking ...", "I: Configuring ..."), which is the progress.
	debootstrap --variant=minbase --include="$extra" bookworm "$rootfs" "$mirror" 2>&1 |
		sed -u 's/^/rootfs-debian: /' >&2
	# The package cache is only useful to a second debootstrap: drop it.
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb
	echo "bookworm minbase + $extra, $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$rootfs/$marker"
	say "debootstrap done in $(($(date +%s) - start)) s"
fi

# Only what Debian lacks: its own passwd, group and profile stay.
cp -an "$here/rootfs-overlay/." "$rootfs/"
if ! cmp -s "$ccinit" "$rootfs/sbin/ccinit"; then
	install -m 0755 "$ccinit" "$rootfs/sbin/ccinit.new" && mv -f "$rootfs/sbin/ccinit.new" "$rootfs/sbin/ccinit"
fi
say "$rootfs ready ($(cat "$rootfs/$marker"); $(du -sh --one-file-system "$rootfs" | cut -f1))"
