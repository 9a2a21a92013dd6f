package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// containerdImage is the name the image archive gives the suite's rootfs.
const containerdImage = "ccontainer.local/e2e-busybox:latest"

// TestEngineContainerd runs containers through a private containerd 1.6 and
// its ctr client with each OCI runtime: the runtime is containerd's runc
// shim (io.containerd.runc.v2) whose options name the runtime's binary
// (BinaryName) and state directory (Root) — the options a Kubernetes
// RuntimeClass handler's entry in containerd's CRI config sets
// (docs/kubernetes.md). The image is an OCI archive made from the suite's
// rootfs by scripts/mkimage-oci.sh and imported with `ctr images import`.
//
// containerd's root, state, socket and the runtime's state are the test's
// own; the daemon (and so every shim it starts) runs in a mount namespace of
// its own; ctr's namespace is also the containers' cgroup parent, which is
// removed at the end; containers have a network namespace with only lo.
func TestEngineContainerd(t *testing.T) {
	for _, name := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s is not installed (scripts/engine-deps.sh installs it)", name)
		}
	}
	ns := engineCgroupParent("containerd")
	runDir := engineRunDir(t, "containerd")
	dir := newEngineDir(t, ns)
	sock := startContainerd(t, dir, "")
	ctr := func(args ...string) *exec.Cmd {
		return command(t, "ctr", append([]string{"--address", sock, "--namespace", ns}, args...)...)
	}

	archive := filepath.Join(dir, "image.tar")
	wantExit(t, run(t, command(t, "../scripts/mkimage-oci.sh", rootfsTarball(t, dir), containerdImage, archive)), 0)
	wantExit(t, run(t, ctr("images", "import", "--snapshotter", "native", archive)), 0)

	forEachRuntime(t, func(t *testing.T, rt ociRuntime) {
		// --runc-binary and --runc-root are ctr's way to fill the
		// shim's runtime options, BinaryName and Root. The native
		// snapshotter copies the image per container: no overlay mounts.
		runArgs := func(detach bool, id string, flags []string, args ...string) []string {
			a := []string{"run", "--snapshotter", "native", "--runtime", "io.containerd.runc.v2",
				"--runc-binary", rt.path, "--runc-root", filepath.Join(runDir, rt.name)}
			if detach {
				a = append(a, "-d", "--log-uri", "file://"+filepath.Join(dir, id+".log"))
			} else {
				a = append(a, "--rm")
			}
			a = append(append(a, flags...), containerdImage, id)
			return append(a, args...)
		}
		id := func(s string) string { return rt.name + "-" + s }

		t.Run("run --rm passes the exit status and the environment through", func(t *testing.T) {
			r := run(t, ctr(runArgs(false, id("status"), []string{"--env", "GREETING=hello"},
				"sh", "-c", `echo "$GREETING"; exit 3`)...))
			wantExit(t, r, 3)
			if r.stdout != "hello\n" {
				t.Errorf("got stdout %q, want %q", r.stdout, "hello\n")
			}
			if s := taskStatus(t, ctr, id("status")); s != "" {
				t.Errorf("task still listed (%s) after run --rm", s)
			}
		})

		t.Run("the network namespace has only lo", func(t *testing.T) {
			r := withOutput(t, func(i int) result {
				return run(t, ctr(runArgs(false, id(fmt.Sprintf("net%d", i)), nil, "cat", "/proc/net/dev")...))
			})
			onlyLoopback(t, r)
		})

		t.Run("run -d, task exec, ps, metrics, kill, delete", func(t *testing.T) {
			c := id("detached")
			log := filepath.Join(dir, c+".log")
			const script = `trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done`
			wantExit(t, run(t, ctr(runArgs(true, c, nil, "sh", "-c", script)...)), 0)
			t.Cleanup(func() { forceRemoveContainer(t, ctr, c) })
			waitFor(t, "the container prints ready", func() bool { return fileHasLine(log, "ready") })

			r := run(t, ctr("task", "ls"))
			wantExit(t, r, 0)
			pid := 0
			for _, line := range strings.Split(r.stdout, "\n") {
				if f := strings.Fields(line); len(f) == 3 && f[0] == c {
					pid, _ = strconv.Atoi(f[1]) // 0 for a malformed one: the check then fails
				}
			}
			wantRuntimeState(t, rt, filepath.Join(runDir, rt.name, ns), c, pid)

			// Checked without stopping the round trip: the rest of it
			// does not need exec.
			r = withOutput(t, func(i int) result {
				return run(t, ctr("task", "exec", "--exec-id", fmt.Sprintf("e%d", i), c, "sh", "-c", "echo in-exec; exit 4"))
			})
			if r.code != 4 || r.stdout != "in-exec\n" {
				t.Errorf("task exec: got %s\nwant status 4 and stdout in-exec", r)
			}
			for i := range execRepeats {
				if r := run(t, ctr("task", "exec", "--exec-id", fmt.Sprintf("true%d", i), c, "/bin/true")); r.code != 0 {
					t.Errorf("task exec /bin/true, %d of %d: %s", i+1, execRepeats, r)
					break
				}
			}

			// The task's PID 1 (sh), and its sleep at most moments.
			r = run(t, ctr("task", "ps", c))
			wantExit(t, r, 0)
			if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) < 2 || !strings.HasPrefix(lines[0], "PID") {
				t.Errorf("task ps printed\n%s", r.stdout)
			}

			// The shim reads the container's memory cgroup: it is
			// there only if the runtime honoured cgroupsPath.
			r = run(t, ctr("task", "metrics", c))
			wantExit(t, r, 0)
			if !strings.Contains(r.stdout, "memory.usage_in_bytes") && !strings.Contains(r.stdout, "memory.usage") {
				t.Errorf("task metrics has no memory usage\n%s", r)
			}

			// Default signal SIGTERM, which the trap turns into exit 0.
			wantExit(t, run(t, ctr("task", "kill", c)), 0)
			waitFor(t, "the task stops", func() bool { return taskStatus(t, ctr, c) == "STOPPED" })
			if !fileHasLine(log, "got-term") {
				t.Errorf("the container's log has no got-term: SIGTERM did not reach its trap")
			}
			wantExit(t, run(t, ctr("task", "delete", c)), 0)
			wantExit(t, run(t, ctr("container", "delete", c)), 0)
			if s := taskStatus(t, ctr, c); s != "" {
				t.Errorf("task %s still listed (%s) after delete", c, s)
			}
		})

		t.Run("task kill -s SIGKILL ends run with 137", func(t *testing.T) {
			// The trap ignores TERM: only SIGKILL stops it, and ctr
			// run exits with the task's status.
			c := id("killed")
			p := start(t, ctr(runArgs(false, c, nil, "sh", "-c", `trap '' TERM; echo ready; while :; do sleep 0.1; done`)...))
			p.waitLine(t, "ready")
			wantExit(t, run(t, ctr("task", "kill", "--signal", "SIGKILL", c)), 0)
			wantExit(t, p.wait(t), 137)
			if s := taskStatus(t, ctr, c); s != "" {
				t.Errorf("task still listed (%s) after run --rm", s)
			}
		})
	})
}

// startContainerd starts a private containerd with its root, state and
// sockets under dir, in a mount namespace of its own (engineMountNS), and
// returns its socket. Plugins that would touch machine-wide paths
// (/opt/containerd) or file systems this test does not use are off; so is
// the CRI plugin (it would look for CNI and a sandbox image) unless cri, a
// config section for it, is given.
func startContainerd(t *testing.T, dir, cri string) string {
	t.Helper()
	return startContainerdUnder(t, dir, cri, engineMountNS)
}

// startContainerdUnder is startContainerd with the daemon's mount
// namespace set up by setup (a script ending as engineMountNS does).
func startContainerdUnder(t *testing.T, dir, cri, setup string) string {
	t.Helper()
	sock := filepath.Join(dir, "containerd.sock")
	disabled := `"io.containerd.internal.v1.opt",`
	if cri == "" {
		disabled = `"io.containerd.grpc.v1.cri", ` + disabled
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [%s
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %q
[ttrpc]
  address = %q
%s`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), disabled, sock, sock+".ttrpc", cri)
	configPath := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, dir, "containerd", setup, []string{"containerd", "--config", configPath}, func() bool {
		return run(t, command(t, "ctr", "--address", sock, "version")).code == 0
	})
	return sock
}

// taskStatus is the status ctr lists for task id (RUNNING, STOPPED, ...),
// "" if there is no such task.
func taskStatus(t *testing.T, ctr func(...string) *exec.Cmd, id string) string {
	t.Helper()
	r := run(t, ctr("task", "ls"))
	wantExit(t, r, 0)
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

// forceRemoveContainer removes container id and its task whatever state they
// are in; after a failure, a running task would keep the test's cgroup busy.
func forceRemoveContainer(t *testing.T, ctr func(...string) *exec.Cmd, id string) {
	t.Helper()
	if taskStatus(t, ctr, id) != "" {
		_ = run(t, ctr("task", "delete", "--force", id))
	}
	_ = run(t, ctr("container", "delete", id)) // gone already when the test passed
}

// fileHasLine reports whether the file at path has line among its lines.
func fileHasLine(path, line string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// withOutput runs attempt (numbered from 0) until its output is not empty,
// at most three times. An engine's client can return a short-lived
// process's status before it has copied the process's output: ctr 1.6 from
// its FIFOs, podman 4.3 through conmon; the status is right and stdout empty,
// with runc and crun alike (seen in make test). That race is the engine's;
// what the runtime did is judged on an attempt whose output arrived.
func withOutput(t *testing.T, attempt func(i int) result) result {
	t.Helper()
	var r result
	for i := range 3 {
		if r = attempt(i); r.stdout != "" {
			return r
		}
		t.Logf("the engine gave no output (attempt %d of 3, status %d): its own race, tried again", i+1, r.code)
	}
	return r
}
