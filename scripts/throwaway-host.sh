#!/usr/bin/env bash
# Runs a command in a throwaway network and mount namespace that stands in for
# the host: ccsuper's bridges, veths, NAT rules and its state under /run are
# made there and vanish with it; the machine's own network and /run are never
# touched. Used by the benchmarks (the tests do the same in e2e/main_test.go).
#
#   scripts/throwaway-host.sh COMMAND [ARG...]
set -euo pipefail
if [ "${CCONTAINER_THROWAWAY_HOST:-}" != 1 ]; then
	export CCONTAINER_THROWAWAY_HOST=1
	exec unshare --net --mount --propagation private "$0" "$@"
fi
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
ip link set lo up
exec "$@"
