#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine that has Go and gcc:
# a static busybox for the test rootfs, and readelf for the static check.
# Idempotent and quiet when everything is there.
set -euo pipefail

need=()
{ [ -x /bin/busybox ] && ! readelf -lW /bin/busybox 2>/dev/null | grep -q 'program interpreter'; } || need+=(busybox-static)
command -v readelf >/dev/null || need+=(binutils)
command -v unshare >/dev/null || need+=(util-linux)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "test-deps: need ${need[*]}; run as root (or: sudo apt-get install ${need[*]})" >&2
	exit 1
fi
echo "test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
	{ apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
