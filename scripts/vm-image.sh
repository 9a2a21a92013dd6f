#!/usr/bin/env bash
# Builds the guest image of `make test-vm`: an initramfs holding a static
# busybox, ccsuper and ccinit, the e2e test binary with the files it reads
# (rootfs-overlay/, e2e/testdata/), the devicefilter package's test binary, the kernel modules the containers' network
# and --overlay need, and scripts/vm-init.sh as /init.
#
#   scripts/vm-image.sh OUTDIR [KERNEL]
#
# KERNEL is a kernel image under /boot (default: the newest vmlinuz-*); the
# modules come from /lib/modules of the same version, as Debian's
# linux-image-amd64 installs them. Writes OUTDIR/initrd.gz and prints the
# kernel's path on stdout. Needs Go, busybox-static, cpio and kmod.
set -euo pipefail

out=${1:?usage: vm-image.sh OUTDIR [KERNEL]}
kernel=${2:-$(ls -v /boot/vmlinuz-* 2>/dev/null | tail -n 1)}
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"

[ -n "$kernel" ] && [ -r "$kernel" ] || { echo "vm-image: no kernel in /boot (apt-get install linux-image-amd64)" >&2; exit 1; }
ver=${kernel##*/vmlinuz-}
mods=/lib/modules/$ver
[ -d "$mods" ] || { echo "vm-image: no $mods for $kernel" >&2; exit 1; }
is_static /bin/busybox || { echo "vm-image: /bin/busybox is not static (apt-get install busybox-static)" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$out/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,newroot,cc/bin,src/e2e}

# Our binaries, static, built as the Makefile builds them.
cd "$here"
CGO_ENABLED=0 go build -trimpath -o "$root/cc/bin/" ./cmd/ccsuper
CGO_ENABLED=0 go build -trimpath -ldflags='-E main.entry' -o "$root/cc/bin/" ./cmd/ccinit
CGO_ENABLED=0 go test -c -trimpath -o "$root/cc/bin/e2e.test" ./e2e
CGO_ENABLED=0 go test -c -trimpath -o "$root/cc/bin/devicefilter.test" ./devicefilter
cp -a rootfs-overlay "$root/src/"
cp -a e2e/testdata "$root/src/e2e/"
install -m 0755 scripts/vm-init.sh "$root/init"

install -m 0755 /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list-full); do
	[ "$applet" = bin/busybox ] || ln -sfn /bin/busybox "$root/$applet"
done

# The modules, in the order insmod needs them (dependencies first), each
# once: veth and bridge for the container network, overlay for --overlay,
# nftables' NAT chain and masquerade for --nat, fuse for the OCI tests'
# /dev/fuse (a device node whose driver is missing cannot be opened).
: >"$root/etc/modules.order"
for m in veth bridge overlay nft_chain_nat nft_masq fuse; do
	modprobe --show-depends -S "$ver" "$m" | while read -r cmd ko _; do
		[ "$cmd" = insmod ] || continue # "builtin NAME": nothing to load
		# A CPU's accelerated variant (crc32c-intel) refuses TCG's CPU
		# (ENODEV); the generic one beside it does the same work.
		case $ko in */arch/x86/crypto/*) continue ;; esac
		grep -qxF "$ko" "$root/etc/modules.order" && continue
		mkdir -p "$root$(dirname "$ko")"
		cp "$ko" "$root$ko"
		echo "$ko" >>"$root/etc/modules.order"
	done
done

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out/initrd.gz"
echo "$kernel"
