#!/usr/bin/env bash
# Start-to-exit of a container running /bin/true, rootless against root,
# interleaved: every round runs each contender once, in a shuffled order, and
# the report gives each one's median and its ratio to root's ccsuper with
# --net none measured in the same run (docs/rootless.md).
#
#   sudo scripts/bench-rootless.sh CCSUPER ROUNDS
#
# Contenders: ccsuper as root (--net none); ccsuper as an ordinary user
# with a /etc/subuid range (newuidmap, ccinit exec'd twice) and without one
# (a single mapping), both --net none; the same user's bwrap --unshare-user;
# with BENCH_PODMAN=1, rootless podman --rootfs (network none), which here
# waited out conmon's 20 s exit timeout on every run (docs/rootless.md). The user is made here with
# useradd and removed at the end, with everything it owned.
set -euo pipefail

super=$(realpath "${1:?usage: bench-rootless.sh CCSUPER ROUNDS}")
rounds=${2:-100}
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
[ "$(id -u)" = 0 ] || { echo "bench-rootless: run as root (it makes the users)" >&2; exit 1; }
# crun (podman's runtime) refuses a v1 hybrid host (docs/rootless.md): every
# contender runs in a mount namespace of the script's own where the empty v2
# hierarchy is unmounted. Rootless podman also waits out a 20 s timeout for
# its container's exit unless / is a shared mount: it is made one there, in
# peer groups of that namespace's own (it was made private first).
if [ -z "${BENCH_ROOTLESS_NS:-}" ]; then
	exec unshare --mount --propagation private env BENCH_ROOTLESS_NS=1 "$0" "$@"
fi
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
mount --make-rshared /
command -v bwrap >/dev/null || apt_install bench-rootless bubblewrap
command -v podman >/dev/null || apt_install bench-rootless podman
command -v newuidmap >/dev/null || apt_install bench-rootless uidmap

work=$(mktemp -d /tmp/ccontainer-bench-rootless.XXXXXX)
chmod 711 "$work"
ranged=ccbench$$r
single=ccbench$$s
cleanup() {
	# Rootless podman leaves a pause process (catatonit) per user.
	for p in $(pgrep -u "$ranged"); do kill -KILL "$p" 2>/dev/null || true; done
	userdel "$ranged" 2>/dev/null || true
	userdel "$single" 2>/dev/null || true
	rm -rf "$work" "/tmp/ccontainer-$(id -u "$ranged" 2>/dev/null || echo x)" \
		"/tmp/ccontainer-$(id -u "$single" 2>/dev/null || echo x)"
}
trap cleanup EXIT
useradd --no-create-home --shell /usr/sbin/nologin --user-group "$ranged"
useradd --no-create-home --shell /usr/sbin/nologin --user-group -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$single"

# Binaries and a busybox rootfs for each user, owned by it.
mkdir -p "$work/bin"
cp "$super" "$work/bin/ccsuper"
cp "$(dirname "$super")/ccinit" "$work/bin/ccinit"
chmod 755 "$work/bin" "$work/bin/"*
for u in root "$ranged" "$single"; do
	"$here/scripts/mkrootfs-busybox.sh" "$work/$u/rootfs" "$work/bin/ccinit" >/dev/null
	chown -R "$u:" "$work/$u"
	mkdir -p "$work/$u/run" && chown "$u:" "$work/$u/run" && chmod 700 "$work/$u/run"
done

as() { # as USER CMD...: run CMD as USER, with a runtime directory of its own
	local u=$1; shift
	setpriv --reuid "$u" --regid "$u" --clear-groups -- \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work/$u" XDG_RUNTIME_DIR="$work/$u/run" "$@"
}
declare -A cmd
cmd[root]="$work/bin/ccsuper --rootfs $work/root/rootfs --net none -t=false -- /bin/true"
cmd[rootless-range]="as $ranged $work/bin/ccsuper --rootfs $work/$ranged/rootfs --net none -t=false -- /bin/true"
cmd[rootless-single]="as $single $work/bin/ccsuper --rootfs $work/$single/rootfs --net none -t=false -- /bin/true"
cmd[bwrap-userns]="as $ranged bwrap --unshare-user --unshare-pid --unshare-net --unshare-ipc --unshare-uts --bind $work/$ranged/rootfs / --proc /proc --dev /dev /bin/true"
[ -z "${BENCH_PODMAN:-}" ] || cmd[podman-rootless]="as $ranged podman --cgroup-manager=cgroupfs --events-backend=none run --rm --cgroups=disabled --network=none --log-driver=none --rootfs $work/$ranged/rootfs /bin/true"

names=("${!cmd[@]}")
for n in "${names[@]}"; do # each must work before it is timed
	if ! out=$(eval "${cmd[$n]}" </dev/null 2>&1); then
		echo "bench-rootless: $n fails: $out" >&2
		exit 1
	fi
done
for ((r = 0; r < rounds; r++)); do
	for n in $(printf '%s\n' "${names[@]}" | shuf); do
		t0=$(date +%s%N)
		eval "${cmd[$n]}" </dev/null >/dev/null 2>&1
		t1=$(date +%s%N)
		echo "$n $(((t1 - t0) / 1000))" >>"$work/times"
	done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
base=$(awk '$1=="root"{print $2}' "$work/times" | median)
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs, $rounds rounds interleaved (shuffled), /bin/true, medians"
for n in root rootless-single rootless-range bwrap-userns podman-rootless; do
	[ -n "${cmd[$n]:-}" ] || continue
	m=$(awk -v n="$n" '$1==n{print $2}' "$work/times" | median)
	awk -v n="$n" -v m="$m" -v b="$base" 'BEGIN {printf "%-16s %9.2f ms  %5.2fx root\n", n, m/1000, m/b}'
done
