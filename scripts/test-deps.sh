#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine that has Go and gcc:
# a static busybox for the test rootfs, and readelf for the static check.
# Idempotent and quiet when everything is there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need=()
{ [ -x /bin/busybox ] && is_static /bin/busybox; } || need+=(busybox-static)
command -v readelf >/dev/null || need+=(binutils)
command -v unshare >/dev/null || need+=(util-linux)
[ ${#need[@]} -eq 0 ] && exit 0

apt_install test-deps "${need[@]}"
