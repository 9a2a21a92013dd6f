package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// TestOwnCgroup checks the container's view of cgroups on a pure v2 host: a
// cgroup namespace rooted at its own cgroup, which is mounted read-only on
// its /sys/fs/cgroup with the limits ccsuper wrote (what Go's GOMAXPROCS,
// the JVM and free read), and nothing of the host's hierarchy above it.
// The CPU limit is seen enforced from inside. Without a cgroup of its own
// (no limit, no --stats) the container gets no namespace and an empty
// /sys/fs/cgroup, as before.
func TestOwnCgroup(t *testing.T) {
	if !isCgroup2("/sys/fs/cgroup") {
		t.Skip("needs pure cgroup v2 (make test-vm runs it); a v1 or hybrid host gives the container no cgroup view (docs/cgroups.md)")
	}
	t.Parallel()
	const script = `cat /proc/self/cgroup
cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max
grep -c . /sys/fs/cgroup/cgroup.procs
grep ' /sys/fs/cgroup ' /proc/self/mountinfo | sed -E 's/^([^ ]+ ){5}([^, ]+).* - ([^ ]+) .*/\2 \3/'
ls /sys/fs/cgroup | grep -c '^c[0-9]' || true
echo 1 > /sys/fs/cgroup/pids.max 2>/dev/null || echo read-only`
	t.Run("limits", func(t *testing.T) {
		t.Parallel()
		r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none",
			"--memory", "48m", "--pids-limit", "77", "--cpus", "0.5", "--", "/bin/sh", "-c", script)
		wantExit(t, r, 0)
		want := strings.Join([]string{
			"0::/", // the namespace's root: the container's own cgroup
			strconv.Itoa(48 << 20), "77", "50000 100000",
			"3",          // ccinit, sh and grep, nobody else's
			"ro cgroup2", // the mount's options and type
			"0",          // no other container's cgroup in view
			"read-only",
		}, "\n") + "\n"
		if r.stdout != want {
			t.Errorf("got\n%s\nwant\n%s", r.stdout, want)
		}
	})
	t.Run("cpu.max enforced", func(t *testing.T) {
		t.Parallel()
		// Busy until the kernel has throttled the cgroup at least once,
		// as cpu.max must at a quarter of a CPU; read from inside, where
		// the container's own cpu.stat is. Without the limit the loop
		// never ends, and the run fails at its deadline.
		const busy = `until grep -q '^nr_throttled [1-9]' /sys/fs/cgroup/cpu.stat; do
	i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done
done
echo throttled`
		r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none", "--cpus", "0.25", "--", "/bin/sh", "-c", busy)
		wantExit(t, r, 0)
		if r.stdout != "throttled\n" {
			t.Errorf("got %q, want throttled", r.stdout)
		}
	})
	t.Run("no cgroup", wantEmptyCgroupView)
}

// TestOwnCgroupV1 checks the container's view of its cgroups on a v1 or
// hybrid host (this machine), laid out as Docker does there: a read-only
// tmpfs on /sys/fs/cgroup holding each hierarchy's directory of the
// container, bound read-only, with the limits ccsuper wrote; nothing when the
// container has no cgroup.
func TestOwnCgroupV1(t *testing.T) {
	if isCgroup2("/sys/fs/cgroup") {
		t.Skip("the host is pure cgroup v2: TestOwnCgroup covers it")
	}
	t.Parallel()
	const script = `cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us
grep -c . /sys/fs/cgroup/pids/cgroup.procs
grep ' /sys/fs/cgroup/pids ' /proc/self/mountinfo | sed -E 's/^([^ ]+ ){5}([^, ]+).* - ([^ ]+) .*/\2 \3/'
grep ' /sys/fs/cgroup ' /proc/self/mountinfo | sed -E 's/^([^ ]+ ){5}([^, ]+).* - ([^ ]+) .*/\2 \3/'
ls /sys/fs/cgroup/memory | grep -c '^c[0-9]' || true
echo 1 > /sys/fs/cgroup/pids/pids.max 2>/dev/null || echo read-only
mkdir /sys/fs/cgroup/x 2>/dev/null || echo read-only`
	t.Run("limits", func(t *testing.T) {
		t.Parallel()
		r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none",
			"--memory", "48m", "--pids-limit", "77", "--cpus", "0.5", "--", "/bin/sh", "-c", script)
		wantExit(t, r, 0)
		want := strings.Join([]string{
			strconv.Itoa(48 << 20), "77", "50000",
			"3",         // ccinit, sh and grep, nobody else's
			"ro cgroup", // the container's own pids cgroup, read-only
			"ro tmpfs",  // what holds the hierarchies
			"0",         // no other container's cgroup in view
			"read-only", "read-only",
		}, "\n") + "\n"
		if r.stdout != want {
			t.Errorf("got\n%s\nwant\n%s", r.stdout, want)
		}
	})
	t.Run("no cgroup", wantEmptyCgroupView)
}

// wantEmptyCgroupView checks that a container without a cgroup of its own
// (no limit, no --stats) sees an empty /sys/fs/cgroup.
func wantEmptyCgroupView(t *testing.T) {
	t.Parallel()
	r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none", "--", "/bin/sh", "-c", "ls -A /sys/fs/cgroup | wc -l")
	wantExit(t, r, 0)
	if r.stdout != "0\n" {
		t.Errorf("got %q entries in /sys/fs/cgroup without a cgroup of the container's own, want none", r.stdout)
	}
}
