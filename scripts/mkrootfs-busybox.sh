#!/usr/bin/env bash
# Builds the default rootfs from Debian's busybox-static: one static busybox,
# a symlink per applet, the files of rootfs-overlay/, and ccinit at /sbin/ccinit.
#
#   scripts/mkrootfs-busybox.sh ROOTFS CCINIT
#
# Idempotent: a second run only refreshes what changed. It installs
# busybox-static with apt when /bin/busybox is missing or not static.
set -euo pipefail

rootfs=${1:?usage: mkrootfs-busybox.sh ROOTFS CCINIT}
ccinit=${2:?usage: mkrootfs-busybox.sh ROOTFS CCINIT}
here=$(cd "$(dirname "$0")/.." && pwd)
ccinit=$(realpath "$ccinit")

. "$here/scripts/lib.sh"

bb=/bin/busybox
if [ ! -x "$bb" ] || ! is_static "$bb"; then
	apt_install mkrootfs busybox-static
fi
is_static "$bb" || { echo "mkrootfs: $bb is not static" >&2; exit 1; }

mkdir -p "$rootfs"
cd "$rootfs"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp proc sys dev var/tmp run home
chmod 1777 tmp var/tmp
chmod 700 root

if ! cmp -s "$bb" bin/busybox; then
	install -m 0755 "$bb" bin/busybox.new && mv -f bin/busybox.new bin/busybox
	# One symlink per applet, where the applet expects to live.
	bin/busybox --list-full | while read -r applet; do
		[ "$applet" = bin/busybox ] && continue
		mkdir -p "$(dirname "$applet")"
		ln -sfn /bin/busybox "$applet"
	done
fi

cp -a "$here/rootfs-overlay/." .
if ! cmp -s "$ccinit" sbin/ccinit; then
	install -m 0755 "$ccinit" sbin/ccinit.new && mv -f sbin/ccinit.new sbin/ccinit
fi
echo "mkrootfs: $rootfs ready ($(bin/busybox | head -1 | cut -d' ' -f1-2))" >&2
