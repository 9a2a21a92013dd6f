#!/usr/bin/env bash
# exec -d of /bin/true in a running container, as the engines' shims run it
# (`RUNTIME exec --detach --pid-file F --process P ID`, then a wait for the
# PID in F): ccsuper against crun and runc, each in a container of its own,
# interleaved round by round in a shuffled order (bench/execbench). Printed:
# medians of the time until the runtime returned and until the process was
# reaped, and the median round-by-round ratio to crun.
#
#   scripts/bench-exec.sh CCSUPER ROOTFS [ROUNDS]    (as root; needs crun, runc)
#
# BEFORE=OTHER_CCSUPER adds another ccsuper (with its ccinit beside it) to the
# same rounds, for before/after figures of a change. It runs in a throwaway
# mount namespace with a private /run, in which the hybrid host's cgroup2
# mount is detached (crun refuses the hybrid layout).
set -euo pipefail
ccsuper=$(realpath "${1:?usage: bench-exec.sh CCSUPER ROOTFS [ROUNDS]}")
rootfs=$(realpath "${2:?usage: bench-exec.sh CCSUPER ROOTFS [ROUNDS]}")
rounds=${3:-200}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "${BENCH_EXEC_INSIDE:-}" != 1 ]; then
	export BENCH_EXEC_INSIDE=1
	exec unshare --mount --propagation private "$0" "$ccsuper" "$rootfs" "$rounds"
fi
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
if mountpoint -q /sys/fs/cgroup/unified; then umount -l /sys/fs/cgroup/unified; fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$here" && go build -o "$bin/execbench" ./bench/execbench)
contenders=("crun=$(command -v crun)" "runc=$(command -v runc)" "ccsuper=$ccsuper")
if [ -n "${BEFORE:-}" ]; then contenders+=("before=$(realpath "$BEFORE")"); fi
echo "$(uname -r), $(nproc) CPUs; $(crun --version | head -1); $(runc --version | head -1)"
"$bin/execbench" -rootfs "$rootfs" -n "$rounds" "${contenders[@]}"
