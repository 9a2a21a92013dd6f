#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine that has Go and gcc:
# a static busybox for the test rootfs, readelf for the static check, the peers
# ccinit is compared with (tini-static, from the tini package, and catatonit),
# podman for ccinit as its --init-path (about 40 s to install here), and tmux
# for the terminal tests; for the rootless tests newuidmap and newgidmap
# (uidmap), pasta (passt) and setpriv (util-linux), and slirp4netns (rootless
# podman 4.3's default network, TestEnginePodmanRootless); and for the guest of
# `make test-vm` (vm/), qemu and Debian's kernel, without their recommends (a
# GUI, firmware, AppArmor: 38 packages instead of 179). Idempotent and quiet
# when everything is there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need=()
{ [ -x /bin/busybox ] && is_static /bin/busybox; } || need+=(busybox-static)
command -v readelf >/dev/null || need+=(binutils)
command -v unshare >/dev/null || need+=(util-linux)
command -v tini-static >/dev/null || need+=(tini)
command -v catatonit >/dev/null || need+=(catatonit)
command -v podman >/dev/null || need+=(podman)
command -v tmux >/dev/null || need+=(tmux)
[ -x /usr/bin/newuidmap ] && [ -x /usr/bin/newgidmap ] || need+=(uidmap)
[ -x /usr/bin/pasta ] || need+=(passt)
command -v slirp4netns >/dev/null || need+=(slirp4netns)
command -v setpriv >/dev/null || need+=(util-linux)
vm=()
command -v qemu-system-x86_64 >/dev/null || vm+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*' >/dev/null || vm+=(linux-image-amd64)
command -v cpio >/dev/null || vm+=(cpio)

[ ${#need[@]} -eq 0 ] || apt_install test-deps "${need[@]}"
[ ${#vm[@]} -eq 0 ] || apt_install test-deps --no-install-recommends "${vm[@]}"
