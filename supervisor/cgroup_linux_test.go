package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests make real cgroups, machine-wide: every name carries the test
// process's PID, and every cgroup is removed at the end.

// cgroup2Root returns where the unified hierarchy is mounted: /sys/fs/cgroup
// on a pure v2 host, /sys/fs/cgroup/unified on a hybrid one.
func cgroup2Root(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make cgroups")
	}
	for _, d := range []string{cgroupFS, filepath.Join(cgroupFS, "unified")} {
		if isCgroup2(d) {
			return d
		}
	}
	t.Skip("no cgroup2 hierarchy mounted")
	return ""
}

// v1Layout returns the host's v1 hierarchies, or skips on a pure v2 host.
func v1Layout(t *testing.T) cgroupLayout {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make cgroups")
	}
	l, err := detectCgroups(cgroupFS)
	if err != nil {
		t.Fatal(err)
	}
	if l.v2 != "" || len(l.v1) == 0 {
		t.Skip("no cgroup v1 hierarchies on this host")
	}
	return l
}

// startIn starts a shell running script, cloned into the v2 cgroup g when
// it has a directory descriptor, and returns its PID.
func startIn(t *testing.T, g *cgroup, script string) int {
	t.Helper()
	attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{}}
	if fd := g.cloneInto(); fd >= 0 {
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, fd
	}
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", script}, attr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		_, _ = unix.Wait4(pid, nil, 0, nil)
	})
	return pid
}

// wait4 waits for pid and returns its status.
func wait4(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	return ws
}

func wantGone(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: got %v, want it removed", dir, err)
	}
}

// TestCgroupV2 runs the v2 code on the unified hierarchy: make a cgroup for
// accounting, clone a process straight into it, read its CPU time, remove
// it. Limits are tested where the host hands controllers to v2; elsewhere
// (a hybrid host) asking for one must fail cleanly.
func TestCgroupV2(t *testing.T) {
	root := cgroup2Root(t)
	layout := cgroupLayout{v2: root}
	name := fmt.Sprintf("test-v2-%d", os.Getpid())
	g, err := newCgroup(layout, name, Limits{}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.remove(); err != nil {
			t.Error(err)
		}
		wantGone(t, filepath.Join(root, cgroupParent, name))
	}()
	pid := startIn(t, g, "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0::/" + cgroupParent + "/" + name; !strings.Contains(string(b), want+"\n") {
		t.Errorf("process cloned into the cgroup is in\n%swant %s", b, want)
	}
	if ws := wait4(t, pid); ws.ExitStatus() != 0 {
		t.Fatalf("busy loop: %v", ws)
	}
	u := g.usage()
	if !u.HasCPU || u.CPUUser+u.CPUSystem == 0 {
		t.Errorf("usage %+v after a busy loop, want CPU time", u)
	}
	t.Logf("usage on %s: %s", root, u)

	lim := Limits{Memory: 64 << 20, CPUQuota: 0.5, Pids: 20}
	have, _ := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	limName := name + "-limits"
	lg, err := newCgroup(layout, limName, lim, false)
	if !strings.Contains(string(have), "memory") {
		if err == nil || !strings.Contains(err.Error(), "not available") {
			t.Errorf("limits without controllers in %s: got %v, want an error saying so", root, err)
		}
		wantGone(t, filepath.Join(root, cgroupParent, limName))
		t.Logf("limits on v2 not testable here: %s hands down no controllers (%q)", root, strings.TrimSpace(string(have)))
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer lg.remove()
	for file, want := range map[string]string{"memory.max": "67108864", "cpu.max": "50000 100000", "pids.max": "20"} {
		if got, _ := os.ReadFile(filepath.Join(lg.dirs[""], file)); strings.TrimSpace(string(got)) != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

// TestCgroupV1Place makes a v1 cgroup with a limit and moves a process in.
func TestCgroupV1Place(t *testing.T) {
	layout := v1Layout(t)
	name := fmt.Sprintf("test-v1-%d", os.Getpid())
	g, err := newCgroup(layout, name, Limits{Pids: 50}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.remove(); err != nil {
			t.Error(err)
		}
		for _, d := range g.unique() {
			wantGone(t, d)
		}
	}()
	pid := startIn(t, g, "exec sleep 100")
	if err := g.place(pid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := ":pids:/" + cgroupParent + "/" + name + "\n"; !strings.Contains(string(b), want) {
		t.Errorf("placed process is in\n%swant %s", b, want)
	}
	if got, err := os.ReadFile(filepath.Join(g.dirs["pids"], "pids.max")); err != nil || string(got) != "50\n" {
		t.Errorf("pids.max = %q, %v, want 50", got, err)
	}
	// remove kills what is still inside before removing.
	if err := g.remove(); err != nil {
		t.Fatal(err)
	}
	if ws := wait4(t, pid); ws.Signal() != unix.SIGKILL {
		t.Errorf("process left in the cgroup ended %v, want killed", ws)
	}
}

// TestReclaimCgroups checks that reclaim removes the cgroup of a dead
// supervisor, killing its process, and leaves those of a live supervisor and
// of another PID namespace alone, on v2 and v1.
func TestReclaimCgroups(t *testing.T) {
	root := cgroup2Root(t)
	layouts := map[string]cgroupLayout{"v2": {v2: root}}
	if l, err := detectCgroups(cgroupFS); err == nil && l.v2 == "" {
		layouts["v1"] = l
	}
	ns, err := pidNamespace()
	if err != nil {
		t.Fatal(err)
	}
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	// Our own PID with a start time that is not ours: a dead owner.
	dead := owner{PID: me.PID, Start: me.Start + 1}
	for v, layout := range layouts {
		t.Run(v, func(t *testing.T) {
			mk := func(o owner, ns uint64) *cgroup {
				g, err := newCgroup(layout, cgroupName(o, ns), Limits{}, true)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = g.remove() })
				return g
			}
			stale, live, foreign := mk(dead, ns), mk(me, ns), mk(dead, ns+1)
			pid := startIn(t, stale, "exec sleep 100")
			if err := stale.place(pid); err != nil {
				t.Fatal(err)
			}
			if err := reclaimCgroups(layout, ns); err != nil {
				t.Fatal(err)
			}
			for _, d := range stale.unique() {
				wantGone(t, d)
			}
			if ws := wait4(t, pid); ws.Signal() != unix.SIGKILL {
				t.Errorf("process in the stale cgroup ended %v, want killed", ws)
			}
			for _, g := range []*cgroup{live, foreign} {
				for _, d := range g.unique() {
					if _, err := os.Stat(d); err != nil {
						t.Errorf("reclaim removed %s, which is not stale: %v", d, err)
					}
				}
			}
		})
	}
}

// BenchmarkCgroupOverhead measures what Run adds to a container's life when
// it makes a cgroup: make it (with its limits), put a process in, read the
// usage, remove it once the process is gone. Starting and reaping the
// process are not timed. It reports the median of each variant, interleaved
// round by round in a fresh random order, as a figure robust to a noisy
// machine.
//
//	go test ./supervisor -run '^$' -bench CgroupOverhead -benchtime 300x
func BenchmarkCgroupOverhead(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to make cgroups")
	}
	host, err := detectCgroups(cgroupFS)
	if err != nil {
		b.Fatal(err)
	}
	type variant struct {
		name   string
		layout cgroupLayout
		limits Limits
		stats  bool
	}
	prefix := map[bool]string{true: "v2", false: "v1"}[host.v2 != ""]
	vs := []variant{
		{prefix + "-stats", host, Limits{}, true},
		{prefix + "-limits", host, Limits{Memory: 256 << 20, CPUQuota: 1, Pids: 1000}, false},
	}
	if host.v2 == "" {
		if root := filepath.Join(cgroupFS, "unified"); isCgroup2(root) {
			// The hybrid's controller-less cgroup2: what v2 costs without
			// controllers, with the clone into the cgroup.
			vs = append(vs, variant{"v2-accounting", cgroupLayout{v2: root}, Limits{}, true})
		}
	}
	samples := make([][]time.Duration, len(vs))
	n := 0
	for b.Loop() {
		for _, i := range rand.Perm(len(vs)) {
			v := vs[i]
			n++
			t0 := time.Now()
			g, err := newCgroup(v.layout, fmt.Sprintf("bench-%d-%d", os.Getpid(), n), v.limits, v.stats)
			if err != nil {
				b.Fatal(err)
			}
			d := time.Since(t0)
			attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{}}
			if fd := g.cloneInto(); fd >= 0 {
				attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, fd
			}
			pid, err := syscall.ForkExec("/bin/true", []string{"true"}, attr)
			if err != nil {
				b.Fatal(err)
			}
			t0 = time.Now()
			err = g.place(pid)
			d += time.Since(t0)
			if err != nil && !errors.Is(err, unix.ESRCH) {
				b.Fatal(err)
			}
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
				b.Fatal(err)
			}
			t0 = time.Now()
			_ = g.usage()
			err = g.remove()
			d += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			samples[i] = append(samples[i], d)
		}
	}
	for i, v := range vs {
		slices.Sort(samples[i])
		b.ReportMetric(float64(samples[i][len(samples[i])/2].Microseconds())/1000, v.name+"-ms")
	}
}

func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
