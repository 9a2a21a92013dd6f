#!/usr/bin/env bash
# Installs the container engines the engine tests and benchmarks drive, all from
# Debian's packages: podman (with crun and conmon), containerd with ctr and its
# io.containerd.runc.v2 shim, and runc; with the argument `all` also docker.io
# (dockerd and its docker CLI at /usr/bin/docker) and crictl, the CRI client
# that plays kubelet (Debian 12 has no package of it: it is built from its Go
# module, sigs.k8s.io/cri-tools, into /usr/local/bin) with the CNI plugins its
# pods' network is made by (containernetworking-plugins). Idempotent and quiet
# when everything is there.
#
#   scripts/engine-deps.sh [all]
#
# No service is started: where an init system runs them, Debian's packages
# would start containerd and dockerd machine-wide, so any such daemon that this
# script's apt run started is stopped again (the tests and the benchmark start
# private ones). On a machine of the `go` kind that already had podman,
# installing containerd, runc and docker.io took 35 s.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The crictl release this was tested with; it speaks CRI v1, as containerd 1.6 does.
crictl_version=v1.34.0

need=()
command -v podman >/dev/null || need+=(podman)
command -v crun >/dev/null || need+=(crun)
command -v conmon >/dev/null || need+=(conmon)
command -v runc >/dev/null || need+=(runc)
{ command -v containerd >/dev/null && command -v ctr >/dev/null &&
	command -v containerd-shim-runc-v2 >/dev/null; } || need+=(containerd)
if [ "${1:-}" = all ]; then
	# The docker CLI on PATH may be another one (a newer static build in
	# /usr/local/bin); the package's is /usr/bin/docker.
	{ [ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ]; } || need+=(docker.io)
	# Where e2e/engines_cri_test.go looks for them (criCNIBin).
	for plugin in bridge host-local loopback; do
		[ -x "/usr/lib/cni/$plugin" ] || { need+=(containernetworking-plugins); break; }
	done
fi

if [ ${#need[@]} -gt 0 ]; then
	# Daemons already running before the install are not ours to stop.
	daemons() { pgrep -x containerd || true; pgrep -x dockerd || true; }
	before=$(daemons)
	apt_install engine-deps "${need[@]}"
	for pid in $(daemons); do
		grep -qx "$pid" <<<"$before" || kill "$pid" 2>/dev/null || true
	done
fi

if [ "${1:-}" = all ] && ! command -v crictl >/dev/null; then
	echo "engine-deps: building crictl $crictl_version from its Go module" >&2
	GOBIN=/usr/local/bin CGO_ENABLED=0 "${GO:-go}" install "sigs.k8s.io/cri-tools/cmd/crictl@$crictl_version"
fi
