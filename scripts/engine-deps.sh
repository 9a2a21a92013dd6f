#!/usr/bin/env bash
# Installs the container engines the engine tests and benchmarks drive, all from
# Debian's packages: podman (with crun and conmon), containerd with ctr and its
# io.containerd.runc.v2 shim, runc, and, with the argument `docker`, docker.io
# (dockerd and its docker CLI at /usr/bin/docker). Idempotent and quiet when
# everything is there.
#
#   scripts/engine-deps.sh [docker]
#
# No service is started: Debian's packages would start containerd and dockerd
# machine-wide where an init system runs them, so after installing, any such
# daemon this script's apt run started is stopped again (the tests and the
# benchmark start private ones). On a machine of the `go` kind that already had
# podman, installing containerd, runc and docker.io took 35 s.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need=()
command -v podman >/dev/null || need+=(podman)
command -v crun >/dev/null || need+=(crun)
command -v conmon >/dev/null || need+=(conmon)
command -v runc >/dev/null || need+=(runc)
{ command -v containerd >/dev/null && command -v ctr >/dev/null &&
	command -v containerd-shim-runc-v2 >/dev/null; } || need+=(containerd)
if [ "${1:-}" = docker ]; then
	# The docker CLI on PATH may be another one (a newer static build in
	# /usr/local/bin); the package's is /usr/bin/docker.
	{ [ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ]; } || need+=(docker.io)
fi
[ ${#need[@]} -eq 0 ] && exit 0

# Daemons already running before the install are not ours to stop.
daemons() { pgrep -x containerd || true; pgrep -x dockerd || true; }
before=$(daemons)
apt_install engine-deps "${need[@]}"
for pid in $(daemons); do
	grep -qx "$pid" <<<"$before" || kill "$pid" 2>/dev/null || true
done
