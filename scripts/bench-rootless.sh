#!/usr/bin/env bash
# Start-to-exit of a container running /bin/true, rootless against root,
# interleaved: every round runs each contender once, in a shuffled order, and
# the report gives each one's median and its ratio to root's ccsuper with
# --net none measured in the same run (docs/rootless.md).
#
#   sudo scripts/bench-rootless.sh CCSUPER ROUNDS
#
# Contenders: ccsuper as root (--net none); ccsuper as an ordinary user
# with a /etc/subuid range (newuidmap; ccinit exec'd twice, its Go runtime
# started once) and without one (a single mapping), both --net none; the
# same user's bwrap --unshare-user; with BENCH_PODMAN=1, rootless podman
# --rootfs (network none) with crun and with ccsuper as its runtime (on this
# v1 host rootless podman makes no cgroup; --cgroups=disabled, which podman
# refuses for a runtime it does not know, is not given to either); with
# BENCH_BASE=OTHER_CCSUPER (and its ccinit beside it), the range user's
# start with that other build too, as range-base: an old build against a
# new one in the same run. Every contender, root's too, is started through
# the same setpriv and env. The users are made here with useradd and
# removed at the end, with everything they owned.
set -euo pipefail

super=$(realpath "${1:?usage: bench-rootless.sh CCSUPER ROUNDS}")
rounds=${2:-100}
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
[ "$(id -u)" = 0 ] || { echo "bench-rootless: run as root (it makes the users)" >&2; exit 1; }
# crun (podman's runtime) refuses a v1 hybrid host (docs/rootless.md): every
# contender runs in a mount namespace of the script's own where the empty v2
# hierarchy is unmounted. / is made a shared mount there, in peer groups of
# that namespace's own (it was made private first), as podman expects.
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
# /run is a tmpfs of this namespace's own, as on most hosts, with the users'
# runtime directories (XDG_RUNTIME_DIR) in it where systemd-logind puts
# them, /run/user/UID. Root's state (/run/ccsuper) is then no other run's:
# on the machine's /run, root's median rose from 11 to 37 ms over three runs
# while the rootless ones held at 17 (other engineers' containers). The
# users' state is on a tmpfs too: on this machine's ext4 /tmp, a rootless
# start's three /etc files took 1.7 to 2.3 ms (0.17 ms for root's). And the
# path is short: rootless podman keeps conmon's sockets under it, in a
# directory named by the container's 64-digit ID; under $work (52
# characters) they passed the 108-byte limit of a socket's path, and every
# podman run waited out its 20 s timeout for the container's exit.
mount -t tmpfs -o mode=755 ccbench-run /run
ranged=ccbench$$r
single=ccbench$$s
cleanup() {
	# Rootless podman leaves a pause process (catatonit) per user.
	# userdel refuses a user with a process left: wait for them to go.
	for p in $(pgrep -u "$ranged"); do kill -KILL "$p" 2>/dev/null || true; done
	for ((i = 0; i < 100; i++)); do pgrep -u "$ranged" >/dev/null || break; sleep 0.1; done
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
if [ -n "${BENCH_BASE:-}" ]; then
	mkdir -p "$work/base"
	cp "$BENCH_BASE" "$work/base/ccsuper"
	cp "$(dirname "$BENCH_BASE")/ccinit" "$work/base/ccinit"
	chmod 755 "$work/base" "$work/base/"*
fi
for u in root "$ranged" "$single"; do
	"$here/scripts/mkrootfs-busybox.sh" "$work/$u/rootfs" "$work/bin/ccinit" >/dev/null
	chown -R "$u:" "$work/$u"
	rt=/run/user/$(id -u "$u")
	mkdir -p "$rt" && chown "$u:" "$rt" && chmod 700 "$rt"
done

declare -A uid
for u in root "$ranged" "$single"; do uid[$u]=$(id -u "$u"); done
# as USER CMD...: run CMD as USER, with a runtime directory of its own. Root's
# contender goes through it too, so that every one pays for setpriv and env.
as() {
	local u=$1; shift
	setpriv --reuid "$u" --regid "$u" --clear-groups -- \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work/$u" XDG_RUNTIME_DIR="/run/user/${uid[$u]}" "$@"
}
declare -A cmd
cmd[root]="as root $work/bin/ccsuper --rootfs $work/root/rootfs --net none -t=false -- /bin/true"
cmd[rootless-range]="as $ranged $work/bin/ccsuper --rootfs $work/$ranged/rootfs --net none -t=false -- /bin/true"
[ -z "${BENCH_BASE:-}" ] || cmd[range-base]="as $ranged $work/base/ccsuper --rootfs $work/$ranged/rootfs --net none -t=false -- /bin/true"
cmd[rootless-single]="as $single $work/bin/ccsuper --rootfs $work/$single/rootfs --net none -t=false -- /bin/true"
cmd[bwrap-userns]="as $ranged bwrap --unshare-user --unshare-pid --unshare-net --unshare-ipc --unshare-uts --bind $work/$ranged/rootfs / --proc /proc --dev /dev /bin/true"
podman="as $ranged podman --cgroup-manager=cgroupfs --events-backend=none"
podrun="run --rm --network=none --log-driver=none --rootfs $work/$ranged/rootfs /bin/true"
if [ -n "${BENCH_PODMAN:-}" ]; then
	cmd[podman-crun]="$podman --runtime crun $podrun"
	cmd[podman-ccsuper]="$podman --runtime $work/bin/ccsuper $podrun"
fi

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
base=$(awk '$1=="root"{print $2}' "$work/times" | median)
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs, $rounds rounds interleaved (shuffled), /bin/true, medians"
for n in root rootless-single rootless-range range-base bwrap-userns podman-crun podman-ccsuper; do
	[ -n "${cmd[$n]:-}" ] || continue
	m=$(awk -v n="$n" '$1==n{print $2}' "$work/times" | median)
	awk -v n="$n" -v m="$m" -v b="$base" 'BEGIN {printf "%-16s %9.2f ms  %5.2fx root\n", n, m/1000, m/b}'
done
