#!/usr/bin/env bash
# What each hardening layer adds to a container's start: ccsuper runs
# /bin/true (--net none, so the network is out of the figures) under five
# configurations that add one layer at a time, interleaved round by round in
# a shuffled order. Printed for each: the median wall time, and the median of
# its round-by-round differences to --privileged (robust to the machine's
# speed drifting between rounds, which the difference of medians is not).
#
#   scripts/bench-harden.sh CCSUPER ROOTFS [ROUNDS]    (as root)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ccsuper=${1:?usage: bench-harden.sh CCSUPER ROOTFS [ROUNDS]}
rootfs=${2:?usage: bench-harden.sh CCSUPER ROOTFS [ROUNDS]}
rounds=${3:-200}

# name|flags: each adds one layer to the one before.
contenders=(
	"privileged|--privileged"
	"+masks|--cap-add ALL --seccomp=unconfined --new-privileges"
	"+caps|--seccomp=unconfined --new-privileges"
	"+no_new_privs|--seccomp=unconfined"
	"+seccomp (default)|"
)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # run FLAGS: one container, its wall time in microseconds on stdout
	local t0=$EPOCHREALTIME
	# shellcheck disable=SC2086 # FLAGS are words
	"$ccsuper" --rootfs "$rootfs" --net none $1 -- /bin/true
	local t1=$EPOCHREALTIME
	echo $(((${t1/./} - ${t0/./})))
}

for ((r = -10; r < rounds; r++)); do # 10 rounds of warm-up
	for i in $(shuf -i 0-$((${#contenders[@]} - 1))); do
		us=$(run "${contenders[i]#*|}")
		((r >= 0)) && echo "$r $i $us" >>"$out/samples"
	done
done


echo "$(date -u +%F) $(uname -r) $(nproc) CPUs, $rounds rounds of ccsuper --net none FLAGS -- /bin/true"
printf '%-20s %14s %28s\n' "" "median wall" "median diff to privileged"
for i in "${!contenders[@]}"; do
	wall=$(awk -v i="$i" '$2 == i {print $3}' "$out/samples" | median)
	# Contender i's time less --privileged's in the same round.
	diff=$(awk -v i="$i" '{t[$1, $2] = $3} END {for (r = 0; (r, i) in t; r++) print t[r, i] - t[r, 0]}' "$out/samples" | median)
	printf '%-20s %11.2f ms %25.2f ms\n' "${contenders[i]%%|*}" "$(echo "$wall / 1000" | bc -l)" "$(echo "$diff / 1000" | bc -l)"
done
