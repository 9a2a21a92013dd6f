package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/devicefilter"
)

// TestOCIBlockIOWeight makes real OCI cgroups with a block I/O weight. Docker
// sends weight 0 for every container: that is not set, as for runc, and joins
// no blkio hierarchy. A real weight is written where the kernel can weigh and
// otherwise fails with one line naming the field, leaving nothing behind.
func TestOCIBlockIOWeight(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make cgroups")
	}
	path := fmt.Sprintf("/ccsuper-test-blkio-%d", os.Getpid())
	weight := func(w uint16) *specs.LinuxResources {
		return &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: &w, LeafWeight: new(uint16)}}
	}

	g, err := newOCICgroup(path, weight(0), false)
	if err != nil {
		t.Fatalf("weight 0: %v, want it taken as not set", err)
	}
	if _, ok := g.Dirs["blkio"]; ok {
		t.Errorf("weight 0 made a blkio cgroup %s, want none", g.Dirs["blkio"])
	}
	dirs := g.unique()
	if err := g.remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		wantGone(t, d)
	}

	// This kernel's v1 child cgroups weigh through BFQ (blkio.bfq.weight):
	// there is no blkio.weight, which is what Docker hit before.
	g, err = newOCICgroup(path, weight(500), false)
	if err != nil {
		if !strings.Contains(err.Error(), "blockIO.weight") || strings.Contains(err.Error(), "\n") {
			t.Errorf("weight 500 on a kernel that cannot weigh: %q, want one line naming blockIO.weight", err)
		}
		t.Logf("this kernel cannot weigh: %v", err)
		for _, d := range dirs {
			wantGone(t, d)
		}
		return
	}
	defer g.remove()
	dir, _ := g.dir("blkio")
	file, err := weightFile(dir, g.V2)
	if err != nil {
		t.Fatalf("weight 500 taken, but %v", err)
	}
	want := "500"
	if file == "io.weight" {
		want = "default 5046" // 1 + (500-10)*9999/990
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil || !strings.Contains(string(b), want) {
		t.Errorf("%s = %q, %v, want %s", file, b, err, want)
	}
	t.Logf("weight 500 written to %s", file)
}

// TestWeightFileMissing: a cgroup directory with no weight file is one
// clear error naming the field and the files looked for.
func TestWeightFileMissing(t *testing.T) {
	dir := t.TempDir()
	for _, v2 := range []bool{false, true} {
		_, err := weightFile(dir, v2)
		if err == nil || !strings.Contains(err.Error(), "linux.resources.blockIO.weight: this kernel has no block I/O weight") {
			t.Errorf("v2=%v: %v, want the missing-weight error", v2, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "blkio.bfq.weight"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := weightFile(dir, false); err != nil || f != "blkio.bfq.weight" {
		t.Errorf("with blkio.bfq.weight only: %q, %v", f, err)
	}
}

// TestWithDefaultDevices: the default devices are allowed right after the
// config's last rule for all devices, so that "deny all" keeps them and a
// later rule about one of them still counts.
func TestWithDefaultDevices(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	denyAll := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	allowAll := specs.LinuxDeviceCgroup{Allow: true, Type: "a", Access: "rwm"}
	denyNull := specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: n(1), Minor: n(3), Access: "rw"}
	for _, tc := range []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		at    int // where the defaults go
	}{
		{"no rule for all devices: first", []specs.LinuxDeviceCgroup{denyNull}, 0},
		{"after deny all", []specs.LinuxDeviceCgroup{denyAll, denyNull}, 1},
		{"after the last rule for all devices", []specs.LinuxDeviceCgroup{denyAll, denyNull, allowAll, denyNull}, 3},
	} {
		got := withDefaultDevices(tc.rules)
		want := slices.Concat(tc.rules[:tc.at], defaultDevices, tc.rules[tc.at:])
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
	}
	// On v1 as on v2: after "deny all, deny c 1:3 rw", /dev/null may be
	// made but not opened.
	p, err := devicefilter.Emulate(withDefaultDevices([]specs.LinuxDeviceCgroup{denyAll, denyNull}))
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultAllow || !slices.Contains(p.Exceptions, devicefilter.Exception{Type: devicefilter.Char, Major: 1, Minor: 3, Access: devicefilter.Mknod}) {
		t.Errorf("deny all, deny c 1:3 rw: got %+v, want /dev/null for mknod only", p)
	}
}

// TestCPUWeight: shares map onto v2's weights end to end, and shares out of
// v1's range are clamped to it first, as v1 does, instead of wrapping
// around (shares 1 once gave a weight of 7e13).
func TestCPUWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{1: 1, 2: 1, 512: 20, 1024: 39, 262144: 10000, 1 << 40: 10000} {
		if got := cpuWeight(shares); got != want {
			t.Errorf("shares %d: weight %d, want %d", shares, got, want)
		}
	}
	if sharesSet(&specs.LinuxCPU{Shares: new(uint64)}) {
		t.Error("shares 0 taken as set; runc reads 0 as not set")
	}
}

// TestOCICgroupKillAll: the cgroup of a container without a PID namespace of
// its own is where its processes are found and killed (sharedpid_linux.go).
// A shell forking sleeps as fast as it can is killed with every child it
// made: none is left in the cgroup once killAll returns, the cgroup is
// removed, and the shell died of SIGKILL. On a v1 host the cgroup is in the
// freezer hierarchy too, which the kill freezes first and thaws after; on
// v2 SIGKILL is cgroup.kill, and kill --all's TERM freezes with
// cgroup.freeze (tested in the unified hierarchy, which a hybrid host has
// with no controller: neither file needs one).
func TestOCICgroupKillAll(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make cgroups")
	}
	t.Run("v1", func(t *testing.T) {
		v1Layout(t)
		path := fmt.Sprintf("/ccsuper-test-killall-%d", os.Getpid())
		g, err := newOCICgroup(path, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.remove() })
		if _, err := os.Stat(filepath.Join(cgroupFS, "freezer")); err == nil && g.Dirs["freezer"] == "" {
			t.Errorf("v1 cgroup %v of a shared PID namespace: want the freezer hierarchy too", g.Dirs)
		}
		forkAndKill(t, g)
	})
	t.Run("v2", func(t *testing.T) {
		root := cgroup2Root(t)
		g := &ociCgroup{V2: true, Dirs: map[string]string{}, fd: -1}
		if err := g.makeV2(root, fmt.Sprintf("/ccsuper-test-killall-%d", os.Getpid()), []string{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.remove() })
		forkAndKill(t, g)
	})
}

// forkAndKill starts a shell forking sleeps in g, kills g, and checks that
// nothing is left and g is removed.
func forkAndKill(t *testing.T, g *ociCgroup) {
	t.Helper()
	dirs := g.unique()
	// The shell moves itself into each directory, then forks (a bounded
	// count: nothing else limits it here).
	script := `for d; do echo $$ > "$d/cgroup.procs" || exit 1; done; echo in; i=0; while [ $i -lt 2000 ]; do sleep 1000 & i=$((i+1)); done; wait`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, dirs...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if _, err := out.Read(make([]byte, 3)); err != nil {
		t.Fatalf("the shell did not join the cgroup: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids, err := g.procs()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shell made %d processes in its cgroup, want 10 or more", len(pids))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g.V2 || g.Dirs["freezer"] != "" {
		// One round does it: cgroup.kill, or a freeze-kill-thaw in
		// which no fork can complete. Nothing signals them again while
		// the cgroup empties.
		if err := g.signalAll(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitEmpty(t, g)
	}
	if err := g.killAll(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil || len(b) != 0 {
			t.Errorf("%s holds %q (%v) after killAll, want nothing", d, b, err)
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the shell ended with %v, want SIGKILL", err)
	}
	if f := g.Dirs["freezer"]; f != "" && !g.V2 {
		if b, _ := os.ReadFile(filepath.Join(f, "freezer.state")); strings.TrimSpace(string(b)) != "THAWED" {
			t.Errorf("freezer.state %q after killAll, want THAWED", b)
		}
	}
	if g.V2 {
		// kill --all's freeze, thawed after: an empty cgroup freezes
		// and thaws like any.
		if err := g.signalAll(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(g.Dirs[""], "cgroup.freeze")); strings.TrimSpace(string(b)) != "0" {
			t.Errorf("cgroup.freeze %q after kill --all, want 0", b)
		}
	}
	if err := g.remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		wantGone(t, d)
	}
}

// waitEmpty waits until g and the cgroups below it hold no process.
func waitEmpty(t *testing.T, g *ociCgroup) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids, err := g.procs()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes left in the cgroup after one SIGKILL round, none signalled since", len(pids))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOCICgroupKillAllBelow: the cgroups below a container's are killed with
// it when ccsuper made the container's cgroup, and not when the config
// joined an existing one, whose cgroups below may be others'; a v1 cgroup
// below that froze itself is thawed, so that its processes die.
func TestOCICgroupKillAllBelow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make cgroups")
	}
	v1Layout(t)
	if _, err := os.Stat(filepath.Join(cgroupFS, "freezer")); err != nil {
		t.Skip("no v1 freezer hierarchy")
	}
	path := fmt.Sprintf("/ccsuper-test-below-%d", os.Getpid())
	g, err := newOCICgroup(path, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.remove() })
	if len(g.Joined) != 0 {
		t.Fatalf("a cgroup newOCICgroup made: Joined %v", g.Joined)
	}
	sub := filepath.Join(g.killDir(), "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Rmdir(sub) })
	start := func() *exec.Cmd {
		cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && echo in && exec sleep 1000`, "sh", sub)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// A frozen process dies of SIGKILL only once thawed.
			_ = writeCgroup(sub, "freezer.state", "THAWED")
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		if _, err := out.Read(make([]byte, 3)); err != nil {
			t.Fatalf("the shell did not join %s: %v", sub, err)
		}
		return cmd
	}

	// Joined: another's process below is left alone.
	other := start()
	joined := *g
	joined.Joined = joined.unique()
	if err := joined.killAll(); err != nil {
		t.Fatal(err)
	}
	// Exited or not, without reaping it (a zombie would still take a
	// signal).
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, other.Process.Pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if info.Signo != 0 {
		t.Fatalf("killAll of a joined cgroup killed a process in a cgroup below it")
	}
	_ = other.Process.Kill()
	_ = other.Wait()

	// Made: the process below dies, frozen by its own cgroup or not.
	cmd := start()
	if err := writeCgroup(sub, "freezer.state", "FROZEN"); err != nil {
		t.Fatal(err)
	}
	if err := g.killAll(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the process below ended with %v, want SIGKILL", err)
	}
	// Removed with the cgroups below it, which ccsuper made.
	if err := g.remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range g.unique() {
		wantGone(t, d)
	}
}
