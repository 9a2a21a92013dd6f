#!/usr/bin/env bash
# Installs the peers the benchmark suite compares ccontainer with, from
# Debian's packages, when they are missing. A peer that cannot be installed
# is reported here and skipped by the suite with a note in the report, never
# silently.
#
#   bench/peers.sh
#
# Idempotent: it only asks apt for what is missing. It starts nothing (the
# suite starts and stops its own Docker engine).
set -uo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

# command:package, for every peer the suite can use.
peers=(
	unshare:util-linux bwrap:bubblewrap crun:crun runc:runc systemd-nspawn:systemd-container
	podman:podman conmon:conmon dockerd:docker.io containerd:containerd
	tini-static:tini catatonit:catatonit dumb-init:dumb-init
	sysbench:sysbench iperf3:iperf3 ping:iputils-ping ip:iproute2 tar:tar
)
need=()
for p in "${peers[@]}"; do
	command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
done
if [ ${#need[@]} -eq 0 ]; then
	echo "peers: all installed" >&2
	exit 0
fi
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
# One package at a time, so one that is unavailable does not keep the others out.
for pkg in "${need[@]}"; do
	apt_install peers "$pkg" || echo "peers: NOTE: could not install $pkg; the suite skips what needs it" >&2
done
for p in "${peers[@]}"; do
	command -v "${p%%:*}" >/dev/null || echo "peers: NOTE: ${p%%:*} (${p#*:}) is still missing; skipped" >&2
done
exit 0
