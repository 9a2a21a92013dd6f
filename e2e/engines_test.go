package e2e

// What the engine tests (engines_*_test.go) share. Each drives a real
// container engine from Debian's packages — podman, containerd through ctr,
// dockerd through the docker CLI — with each OCI runtime of ociRuntimes in
// turn, the way their users run containers. The engine's storage, state,
// sockets and cgroups are the test's own, its daemons run in a mount
// namespace of their own inside the suite's throwaway host, and everything it
// made is removed at the end; leftovers fail the test.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ociRuntime is one OCI runtime an engine is told to run its containers with.
type ociRuntime struct {
	name string // runc, crun or ccsuper
	path string // absolute path of its binary
	skip string // why the rows with this runtime skip; empty when they run
}

// ccsuperOCIEnv names another ccsuper binary to use as the OCI runtime
// instead of the one the suite built (one built from a branch in progress).
const ccsuperOCIEnv = "CCONTAINER_E2E_OCI_CCSUPER"

// ociRuntimes is the table every engine test runs through: runc and crun,
// the runtimes the engines ship with, and ccsuper, whose rows skip while it
// has no OCI command line (`ccsuper features` fails).
var ociRuntimes = sync.OnceValue(func() []ociRuntime {
	var rts []ociRuntime
	for _, name := range []string{"runc", "crun"} {
		rt := ociRuntime{name: name}
		p, err := exec.LookPath(name)
		if err == nil {
			rt.path, err = filepath.Abs(p)
		}
		if err != nil {
			rt.skip = name + " is not installed (scripts/engine-deps.sh installs it)"
		}
		rts = append(rts, rt)
	}
	return append(rts, ccsuperRuntime())
})

// ccsuperRuntime is ccsuper's row: ccsuper as the suite built it, or as
// ccsuperOCIEnv names it, and why it skips.
func ccsuperRuntime() ociRuntime {
	rt := ociRuntime{name: "ccsuper", path: ccsuperBin}
	if alt := os.Getenv(ccsuperOCIEnv); alt != "" {
		rt.path = alt
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, rt.path, "features")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var features struct {
		OCIVersionMin string `json:"ociVersionMin"`
	}
	if err == nil {
		err = json.Unmarshal(out, &features)
	}
	if err == nil && features.OCIVersionMin == "" {
		err = fmt.Errorf("no ociVersionMin in %q", out)
	}
	if err != nil {
		rt.skip = fmt.Sprintf("ccsuper has no OCI runtime command line yet: `%s features`: %v %s",
			rt.path, err, strings.TrimSpace(stderr.String()))
	}
	return rt
}

// allEnginesEnv turns on the engine tests that need what `make test` does not
// install: docker.io, and crictl, which scripts/engine-deps.sh builds from
// its Go module in minutes. `make test-engines` installs both and sets it.
const allEnginesEnv = "CCONTAINER_E2E_ALL_ENGINES"

// needAllEngines skips the test unless allEnginesEnv is set.
func needAllEngines(t *testing.T) {
	t.Helper()
	if os.Getenv(allEnginesEnv) == "" {
		t.Skipf("`make test-engines` runs this, after installing what it needs (it sets %s=1)", allEnginesEnv)
	}
}

// forEachRuntime runs f as a subtest per OCI runtime, one after the other:
// the engine and its image are set up once for all of them.
func forEachRuntime(t *testing.T, f func(t *testing.T, rt ociRuntime)) {
	for _, rt := range ociRuntimes() {
		t.Run(rt.name, func(t *testing.T) {
			if rt.skip != "" {
				t.Skip(rt.skip)
			}
			f(t, rt)
		})
	}
}

// engineMountNS is the shell an engine, or its daemon, runs under (after
// `unshare --mount --propagation private`): a mount namespace of its own in
// which the cgroup v2 hierarchy of a v1 hybrid is unmounted, as crun refuses
// hybrid cgroups ("drop all controllers from cgroupv2"); on a pure v1 or v2
// host there is nothing to unmount. The mounts the engine makes (overlays,
// the containers' root file systems) live and die in that namespace. "$@" is
// the engine's command line.
const engineMountNS = `! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified || exit 125; exec "$@"`

// engineCommand returns argv run in a mount namespace of its own, set up by
// the script setup (engineMountNS or a script ending the same way).
func engineCommand(t *testing.T, setup string, argv ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"--mount", "--propagation", "private", "sh", "-c", setup, "sh"}, argv...)
	return command(t, "unshare", args...)
}

// startDaemon starts the daemon name as `sh -c setup sh args...` (setup is
// engineMountNS or a script ending the same way) with its output in
// dir/NAME.log, and waits until ready holds. At the end of the test the daemon is stopped
// (SIGTERM, then SIGKILL past the deadline) and its log printed if the test
// failed.
func startDaemon(t *testing.T, dir, name, setup string, args []string, ready func() bool) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// Not under the suite's deadline: the daemon lives as long as the test.
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", setup, "sh"}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(unix.SIGTERM) // exec'd by sh: the signal reaches the daemon
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(timeout):
			t.Errorf("%s did not stop within %s of SIGTERM", name, timeout)
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log:\n%s", name, b)
			}
		}
	})
	waitFor(t, name+" is ready", ready)
}

// engineRunDir returns /run/e2e-ENGINE-PID, made empty, for the runtimes'
// state (their --root) and an engine's run-time files, and removes it at the
// end of the test, failing it if a process is left with the directory among
// its arguments. /run is the suite's own tmpfs. The path is about as short as
// the engines' own defaults (/run/containerd/runc, /var/run/docker): runtimes
// bind unix sockets under their root, and a socket's path has at most 107
// bytes. The suite's PID keeps the arguments searched for its own: a suite
// run beside it (another checkout's) has the same /run paths in its own
// namespace, and its processes must be neither blamed nor killed. Call it
// before newEngineDir, whose cleanup must run first.
func engineRunDir(t *testing.T, engine string) string {
	t.Helper()
	dir := fmt.Sprintf("/run/e2e-%s-%d", engine, os.Getpid())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range killOursWithArg(dir) {
			t.Errorf("engine left a process running: %s", p)
		}
		if err := removeTree(dir); err != nil {
			t.Error(err)
		}
	})
	return dir
}

// newEngineDir returns the directory that holds everything an engine makes
// (storage, state, sockets, logs), and makes sure that at the end of the test
// nothing the engine started is left: no process with the directory among
// its arguments (daemons, shims, conmon), no process in a cgroup below
// cgroupParent, and no such cgroup. A leftover fails the test, then goes.
//
// Register the daemon's own stop after this: cleanups run last-in first-out.
func newEngineDir(t *testing.T, cgroupParent string) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		removeCgroups(t, cgroupParent)
		removeHiddenCgroupDirs(t, cgroupParent)
	})
	t.Cleanup(func() {
		// A shim or conmon outlives the client for a moment: it reaps
		// the container and cleans up after it.
		deadline := time.Now().Add(timeout)
		for len(processesWithArg(dir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		for _, p := range killWithArg(dir) {
			t.Errorf("engine left a process running: %s", p)
		}
		for _, p := range killCgroupMembers(cgroupParent) {
			t.Errorf("a container's process was left running: %s", p)
		}
	})
	return dir
}

// killCgroupMembers kills every live process in a cgroup at or below parent
// in any hierarchy and returns them as "PID CMDLINE".
func killCgroupMembers(parent string) []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent) // a constant pattern cannot be malformed
	var left []string
	for _, root := range append(roots, "/sys/fs/cgroup/"+parent) {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.Name() != "cgroup.procs" {
				return nil // a missing root is fine: not every hierarchy has it
			}
			b, _ := os.ReadFile(p) // gone with its cgroup: nothing in it
			for _, f := range strings.Fields(string(b)) {
				pid, err := strconv.Atoi(f)
				if err != nil || procState(pid) == "Z" {
					continue // a zombie is dead already; its parent reaps it
				}
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				_ = unix.Kill(pid, unix.SIGKILL) // it may have exited meanwhile
				left = append(left, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
			}
			return nil
		})
	}
	return left
}

// engineCgroupParent names the cgroup an engine test puts its containers
// under, unique to this run of the suite.
func engineCgroupParent(engine string) string {
	return fmt.Sprintf("ccontainer-e2e-%s-%d", engine, os.Getpid())
}

// rootfsTarball writes the suite's busybox rootfs as a tarball in dir, the
// input of `podman import`, `docker import` and scripts/mkimage-oci.sh.
func rootfsTarball(t *testing.T, dir string) string {
	t.Helper()
	tarball := filepath.Join(dir, "rootfs.tar")
	wantExit(t, run(t, command(t, "tar", "-C", baseRootfs, "-cf", tarball, ".")), 0)
	return tarball
}

// wantRuntimeState checks with the runtime's own `state` command that rt,
// with its state under root, has the container id running as pid: proof
// that the engine did run its container with rt (another runtime's state
// is not one rt can read).
func wantRuntimeState(t *testing.T, rt ociRuntime, root, id string, pid int) {
	t.Helper()
	r := run(t, engineCommand(t, engineMountNS, rt.path, "--root", root, "state", id))
	if r.code != 0 {
		var listing []string
		_ = filepath.WalkDir(root, func(p string, _ os.DirEntry, _ error) error { listing = append(listing, p); return nil })
		t.Fatalf("%s --root %s state %s: %s\nunder the root: %q", rt.name, root, id, r, listing)
	}
	var state struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		PID    int    `json:"pid"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &state); err != nil {
		t.Fatalf("%s state: %v\n%s", rt.name, err, r)
	}
	if state.ID != id || state.Status != "running" || state.PID != pid || pid == 0 {
		t.Errorf("%s state says %+v, want id %s running as PID %d", rt.name, state, id, pid)
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantOutput fails the test unless r exited 0 with stdout want.
func wantOutput(t *testing.T, r result, want string) {
	t.Helper()
	wantExit(t, r, 0)
	if r.stdout != want {
		t.Errorf("got stdout %q, want %q\n%s", r.stdout, want, r)
	}
}

// onlyLoopback fails the test unless the output of `cat /proc/net/dev` in a
// container lists the loopback interface and nothing else.
func onlyLoopback(t *testing.T, r result) {
	t.Helper()
	wantExit(t, r, 0)
	var ifaces []string
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		if name, _, ok := strings.Cut(sc.Text(), ":"); ok {
			ifaces = append(ifaces, strings.TrimSpace(name))
		}
	}
	if len(ifaces) != 1 || ifaces[0] != "lo" {
		t.Errorf("the container has interfaces %q, want only lo\n%s", ifaces, r)
	}
}

// killOursWithArg kills, and returns, the processes with an argument
// containing dir that see this suite's /run. dir is the same path in every
// run of the suite (/run/e2e-ENGINE), and runs in other worktrees, each with
// a /run of its own, go on at the same time: their processes are theirs
// (a kill of them broke their tests, a tmux session among them). Every
// process the engine starts sees this /run, whatever mount or network
// namespace of its own it is in.
func killOursWithArg(dir string) []string {
	var ours unix.Stat_t
	if err := unix.Stat("/run", &ours); err != nil {
		return nil
	}
	var left []string
	for _, p := range processesWithArg(dir) {
		pid, _, _ := strings.Cut(p, " ")
		n, err := strconv.Atoi(pid)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+pid+"/root/run", &st) != nil || st.Dev != ours.Dev {
			continue
		}
		_ = unix.Kill(n, unix.SIGKILL)
		left = append(left, p)
	}
	return left
}
