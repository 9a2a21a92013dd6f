#!/usr/bin/env bash
# oci-validate.sh: build the OCI runtime-tools validation programs from the Go
# module proxy and run them against each runtime named, writing a table of
# pass/fail/skip per test program to OUTDIR/table.md (and each program's TAP
# output to OUTDIR/RUNTIME/TEST.tap, its stderr to TEST.err).
#
#   scripts/oci-validate.sh OUTDIR RUNTIME...     (each RUNTIME a command path)
#
# OCI_TESTS="create state ..." runs only those programs; OCI_TABLE_ONLY=1
# only rewrites the table from the results there; OCI_BUILD_ONLY=1 only
# builds the programs (no RUNTIME needed): `make test` does, for the e2e test
# TestOCIValidationSubset, whose network namespace cannot reach the proxy.
#
# The suite lives outside our module (its own go.mod and vendor directory);
# it is fetched with `go mod download` into the module cache and built there,
# with its own vendored dependencies. v0.9.0 does not build with current Go,
# hence the pseudo-version. Every program runs in a throwaway mount namespace
# (scripts/throwaway-host.sh style): crun refuses this machine's hybrid
# cgroups while /sys/fs/cgroup/unified is mounted, so that mount is detached
# there, in the copy, never on the host.
set -eu
. "$(dirname "$0")/lib.sh"
RT_VERSION=${RT_VERSION:-v0.9.1-0.20251114084447-edf4cb3d2116}
out=$1; shift
[ $# -gt 0 ] || [ -n "${OCI_BUILD_ONLY:-}" ] || { echo "usage: $0 OUTDIR RUNTIME..." >&2; exit 2; }
mkdir -p "$out/bin"
out=$(cd "$out" && pwd)

# Build, once per version: the programs, runtimetest (copied into each
# container by the suite, so static) and the rootfs tarball they unpack.
if [ "${OCI_VALIDATE_INSIDE:-}" != 1 ]; then
	for rt in "$@"; do
		case $(basename "$rt") in
		runc | crun) command -v "$rt" >/dev/null || apt_install oci-validate "$(basename "$rt")" ;;
		esac
	done
fi
if [ ! -f "$out/bin/.built-$RT_VERSION" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && printf 'module ocivalidate\ngo 1.24\n' > go.mod &&
		GOFLAGS=-mod=mod go mod download -json "github.com/opencontainers/runtime-tools@$RT_VERSION" > dl.json)
	src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$tmp/dl.json")
	[ -d "$src/validation" ] || { echo "oci-validate: no validation/ in $src" >&2; exit 1; }
	# The module zip has no vendored code: build a writable copy against
	# the versions its go.sum pins, fetched from the proxy.
	cp -r "$src" "$tmp/src" && chmod -R u+w "$tmp/src"
	cd "$tmp/src" && rm -rf vendor
	for d in validation/*/; do
		t=$(basename "$d")
		[ "$t" = util ] && continue
		GOFLAGS=-mod=mod go build -o "$out/bin/$t.t" "./$d"
	done
	GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o "$out/bin/runtimetest" ./cmd/runtimetest
	cp rootfs-amd64.tar.gz "$out/bin/"
	cd - >/dev/null
	touch "$out/bin/.built-$RT_VERSION"
fi
[ -z "${OCI_BUILD_ONLY:-}" ] || exit 0

# Run: each runtime, each program, in the throwaway mount namespace, with a
# tmpfs on /run so that every runtime's state directory is private to it.
if [ "${OCI_VALIDATE_INSIDE:-}" != 1 ]; then
	export OCI_VALIDATE_INSIDE=1
	exec unshare --mount --propagation private "$0" "$out" "$@"
fi
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
# crun refuses a hybrid host while the cgroup2 mount is there; in this copy
# of the mount table it may go (runc and ccsuper use the v1 hierarchies).
if mountpoint -q /sys/fs/cgroup/unified; then umount -l /sys/fs/cgroup/unified; fi
only=${OCI_TESTS:-}
cd "$out/bin"
for rt in "$@"; do
	[ -n "${OCI_TABLE_ONLY:-}" ] && break
	name=$(basename "$rt")
	mkdir -p "$out/$name"
	for t in *.t; do
		t=${t%.t}
		if [ -n "$only" ] && ! printf '%s\n' $only | grep -qx "$t"; then continue; fi
		RUNTIME=$rt timeout 120 "./$t.t" > "$out/$name/$t.tap" 2> "$out/$name/$t.err" || echo "exit $?" >> "$out/$name/$t.err"
	done
done
# classify TAP ERR: prints "STATUS ok notok skip" for one program's output
# and stderr. FAIL: the program exited non-zero (a Fatal: often what it
# checks went wrong before any TAP line), a "not ok", or a plan of nothing
# with an error in its diagnostics; PASS: an ok, or silence and a zero exit
# (process_capabilities_fail passes that way: the runtime refused, as the
# spec wants); SKIP: only skips.
classify() {
	ok=$(grep -Eic '^ok [0-9]+' "$1" || true)
	skip=$(grep -Eic '^ok [0-9]+.*# *skip' "$1" || true)
	nok=$(grep -Eic '^not ok' "$1" || true)
	pass=$((ok - skip))
	if [ "$nok" -gt 0 ] || grep -q '^exit [0-9]' "$2"; then st=FAIL
	elif [ "$pass" -eq 0 ] && grep -q '"error"' "$1"; then st=FAIL
	elif [ "$pass" -gt 0 ] || [ "$skip" -eq 0 ]; then st=PASS
	else st=SKIP; fi
	echo "$st $pass $nok $skip"
}
{
	printf '| test |'; for rt in "$@"; do printf ' %s |' "$(basename "$rt")"; done; echo
	printf '| --- |'; for rt in "$@"; do printf ' --- |'; done; echo
	for f in *.t; do
		t=${f%.t}
		if [ -n "$only" ] && ! printf '%s\n' $only | grep -qx "$t"; then continue; fi
		printf '| %s |' "$t"
		for rt in "$@"; do
			set -- $(classify "$out/$(basename "$rt")/$t.tap" "$out/$(basename "$rt")/$t.err") "$@"
			printf ' %s %s/%s/%s |' "$1" "$2" "$3" "$4"
			shift 4
		done
		echo
	done
	printf '| **programs pass / fail / skip** |'
	for rt in "$@"; do
		p=0; f=0; s=0
		for tap in "$out/$(basename "$rt")"/*.tap; do
			case $(classify "$tap" "${tap%.tap}.err") in
			PASS*) p=$((p+1)) ;; FAIL*) f=$((f+1)) ;; *) s=$((s+1)) ;;
			esac
		done
		printf ' %d / %d / %d |' "$p" "$f" "$s"
	done
	echo
} > "$out/table.md"
cat "$out/table.md"
