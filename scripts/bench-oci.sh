#!/usr/bin/env bash
# The OCI path against runc and crun: create, start and delete --force of a
# container running /bin/true from one bundle (`ccsuper spec`'s config, the
# busybox rootfs), as an engine does it, with each runtime's own state
# directory; and ccsuper's own path (`ccsuper --rootfs ... --net none`) for
# the cost of the OCI split. Interleaved round by round in a shuffled order;
# printed: each one's median wall time and the median of its round-by-round
# ratio to ccsuper's OCI path.
#
#   scripts/bench-oci.sh CCSUPER ROOTFS [ROUNDS]    (as root; needs runc, crun)
#
# BEFORE=OTHER_CCSUPER adds another ccsuper's OCI path (with its ccinit
# beside it) to the same rounds, for before/after figures of a change.
#
# It runs in a throwaway mount namespace with a private /run, in which the
# hybrid host's cgroup2 mount is detached (crun refuses the hybrid layout).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ccsuper=$(realpath "${1:?usage: bench-oci.sh CCSUPER ROOTFS [ROUNDS]}")
rootfs=$(realpath "${2:?usage: bench-oci.sh CCSUPER ROOTFS [ROUNDS]}")
rounds=${3:-100}
if [ "${BENCH_OCI_INSIDE:-}" != 1 ]; then
	export BENCH_OCI_INSIDE=1
	exec unshare --mount --propagation private "$0" "$ccsuper" "$rootfs" "$rounds"
fi
before=${BEFORE:+$(realpath "$BEFORE")}
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
if mountpoint -q /sys/fs/cgroup/unified; then umount -l /sys/fs/cgroup/unified; fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bundle=$out/bundle
mkdir -p "$bundle"
"$ccsuper" spec --bundle "$bundle"
# The same config for all three: /bin/true, no terminal, the rootfs where it
# is, and an ociVersion crun 1.8 accepts.
sed -i -e 's|"terminal": true|"terminal": false|' -e 's|"sh"|"/bin/true"|' \
	-e "s|\"path\": \"rootfs\"|\"path\": \"$rootfs\"|" -e 's|"ociVersion": "[^"]*"|"ociVersion": "1.0.2"|' \
	"$bundle/config.json"

contenders=("ccsuper" "runc" "crun" "ccsuper --rootfs")
if [ -n "$before" ]; then contenders+=("ccsuper before"); fi
lifecycle() { # lifecycle RUNTIME: create, start, delete --force one container
	local rt=$1 id=b$RANDOM$RANDOM root=/run/bench-${1//\//_}
	"$rt" --root "$root" create --bundle "$bundle" "$id" </dev/null >/dev/null &&
		"$rt" --root "$root" start "$id" &&
		"$rt" --root "$root" delete --force "$id"
}
run() { # run I: one container of contender I, its wall time in microseconds
	local t0=$EPOCHREALTIME
	case $1 in
	0) lifecycle "$ccsuper" ;;
	1) lifecycle runc ;;
	2) lifecycle crun ;;
	3) "$ccsuper" --rootfs "$rootfs" --net none -- /bin/true ;;
	4) lifecycle "$before" ;;
	esac || { echo "bench-oci: ${contenders[$1]} failed" >&2; return 1; }
	local t1=$EPOCHREALTIME
	echo $(((${t1/./} - ${t0/./})))
}

for ((r = -5; r < rounds; r++)); do # 5 rounds of warm-up
	for i in $(shuf -i 0-$((${#contenders[@]} - 1))); do
		us=$(run "$i") || exit 1
		((r >= 0)) && echo "$r $i $us" >>"$out/samples"
	done
done

echo "$(date -u +%F) $(uname -r) $(nproc) CPUs; $rounds rounds; $(runc --version | head -1); $(crun --version | head -1)"
printf '%-18s %12s %26s\n' "" "median wall" "median ratio to ccsuper"
for i in "${!contenders[@]}"; do
	wall=$(awk -v i="$i" '$2 == i {print $3}' "$out/samples" | median)
	ratio=$(awk -v i="$i" '{t[$1, $2] = $3} END {for (r = 0; (r, i) in t; r++) print t[r, i] / t[r, 0]}' "$out/samples" | median)
	printf '%-18s %9.2f ms %25.2fx\n' "${contenders[i]}" "$(echo "$wall / 1000" | bc -l)" "$ratio"
done
