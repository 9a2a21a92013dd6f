package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestOrphanStorm makes hundreds of orphans inside a container and checks
// that ccinit, their new parent, reaps every one of them while the command is
// still running.
func TestOrphanStorm(t *testing.T) {
	t.Parallel()
	const orphans = 300
	// Each orphan is the inner subshell of ( ( ... ) & ): the outer one exits
	// at once, so the inner one is re-parented to PID 1. It waits until that
	// has happened (bounded), writes its parent's PID to /dev/shm/storm, then
	// exits and becomes a zombie that only ccinit can reap. The command waits
	// until every orphan has reported, then looks for zombies in
	// /proc/*/stat until there are none (bounded again: ccinit may not have
	// reaped the last ones yet, but it must reap them eventually).
	script := fmt.Sprintf(`
ppid() { read -r s < /proc/self/stat; s=${s##*) }; s=${s#* }; p=${s%%%% *}; }
: > /dev/shm/storm
for i in $(seq %d); do
	( ( ppid; n=0; while [ "$p" != 1 ] && [ $n -lt 500 ]; do sleep 0.01; n=$((n+1)); ppid; done; echo "$p" >> /dev/shm/storm ) & )
done
n=0
while [ "$(wc -l < /dev/shm/storm)" -lt %d ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
echo "orphans $(wc -l < /dev/shm/storm)"
echo "reparented $(grep -c '^1$' /dev/shm/storm)"
n=0
while :; do
	z=
	for d in /proc/[0-9]*; do
		read -r s 2>/dev/null < "$d/stat" || continue
		s=${s##*) }
		[ "${s%%%% *}" = Z ] && z="$z ${d#/proc/}"
	done
	[ -z "$z" ] || [ $n -ge 100 ] && break
	sleep 0.1; n=$((n+1))
done
echo "zombies${z:- none}"
`, orphans, orphans)
	r := runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script)
	wantExit(t, r, 0)
	want := fmt.Sprintf("orphans %d\nreparented %d\nzombies none\n", orphans, orphans)
	if r.stdout != want {
		t.Errorf("got\n%s\nwant\n%s", r.stdout, want)
	}
	if strings.TrimSpace(r.stderr) != "" {
		t.Errorf("got stderr %q, want nothing", r.stderr)
	}
}

// TestLeftoverIgnoringTERM checks that when the command exits, a process it
// left behind that ignores SIGTERM is killed after the grace period, and that
// the container exits with the command's status, not the leftover's.
func TestLeftoverIgnoringTERM(t *testing.T) {
	t.Parallel()
	// The command exits only once the leftover ignores SIGTERM (the
	// ignored disposition survives exec), so the grace period and SIGKILL
	// are certainly needed.
	const script = `
(trap "" TERM; echo > /dev/shm/ready; exec sleep 1000) &
while [ ! -e /dev/shm/ready ]; do sleep 0.01; done
echo leaving
exit 4
`
	r := runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script)
	wantExit(t, r, 4)
	if r.stdout != "leaving\n" {
		t.Errorf("got stdout %q, want %q", r.stdout, "leaving\n")
	}
}
