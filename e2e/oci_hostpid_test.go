package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hostPID removes the config's PID namespace, as `docker run --pid=host`,
// `podman run --pid host` and Kubernetes' hostPID do: the container is in
// the runtime's PID namespace (the suite's is the machine's).
func hostPID(s *specs.Spec) {
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.PIDNamespace })
}

// waitPrefix waits until the process has printed a line starting with
// prefix, and returns the rest of it.
func (p *proc) waitPrefix(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				p.mu.Unlock()
				return rest
			}
		}
		p.mu.Unlock()
		select {
		case <-p.update:
		case <-p.eof:
			r := p.wait(t)
			t.Fatalf("%s ended before printing %q\n%s", p.cmd, prefix, r)
		case <-deadline:
			t.Fatalf("%s did not print %q within %s", p.cmd, prefix, timeout)
		}
	}
}

// pinProcess opens a pidfd on pid and checks, after, that the process is
// in the cgroup cg: a PID taken by another process since it was read is
// refused. The pidfd is closed at the end of the test.
func pinProcess(t *testing.T, pid int, cg string) int {
	t.Helper()
	fd, err := tryPin(t, pid, cg)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// tryPin is pinProcess, with an error for a process gone or not in cg.
func tryPin(t *testing.T, pid int, cg string) (int, error) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil || !strings.Contains(string(b), ":"+cg+"\n") {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("process %d is not in the container's cgroup %s: %q %v", pid, cg, b, err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd, nil
}

// waitExited waits until each pinned process has exited (its pidfd is
// readable), and fails naming those that did not.
func waitExited(t *testing.T, fds map[int]int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pid, fd := range fds {
		for {
			ms := int(time.Until(deadline) / time.Millisecond)
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, max(ms, 0))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				t.Fatalf("process %d (%q) of the container lives on", pid, strings.ReplaceAll(string(b), "\x00", " "))
			}
			break
		}
	}
}

// containerPids returns the PIDs ps lists for container id.
func containerPids(t *testing.T, root, id string) []int {
	t.Helper()
	r := oci(t, root, "ps", "--format", "json", id)
	wantExit(t, r, 0)
	var ps []int
	if err := json.Unmarshal([]byte(r.stdout), &ps); err != nil {
		t.Fatalf("ps: %v\n%s", err, r)
	}
	return ps
}

// wantCgroupGone fails unless the container's cgroup cg is gone from every
// v1 hierarchy and the unified one.
func wantCgroupGone(t *testing.T, cg string) {
	t.Helper()
	for _, c := range []string{"pids", "freezer", "memory", "devices", ""} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, cg)); err == nil {
			t.Errorf("cgroup %s left in %s", cg, filepath.Join("/sys/fs/cgroup", c))
		}
	}
}

// TestOCIHostPID runs a container in the runtime's PID namespace (no pid
// namespace in the config). It sees the host's processes (one the test
// started), its shell's PID is a host PID whose parent is ccinit (no PID 1:
// state's pid), ps lists ccinit, the shell and its background sleep, exec
// runs in the same PID namespace with /proc's masks and read-only paths as
// configured, `run` passes the command's status on, and the background
// sleep, left running when the command exits, does not outlive the
// container: ccinit, a child subreaper, ends it before it exits itself.
func TestOCIHostPID(t *testing.T) {
	host := start(t, command(t, "sleep", "1000"))
	hostSleep := host.cmd.Process.Pid
	script := fmt.Sprintf(`echo sh $$
[ -d /proc/%d ] && echo sees-host
sleep 1000 & echo bg $!
while [ ! -e /tmp/go ]; do sleep 0.05; done
exit 7`, hostSleep)
	bundle, root := ociBundle(t, []string{"sh", "-c", script}, hostPID)
	cg := bundleSpec(t, bundle).Linux.CgroupsPath
	id := token("hostpid")
	p := start(t, ccsuper(t, "--root", root, "run", "--bundle", bundle, id))
	t.Cleanup(func() { oci(t, root, "delete", "--force", id) })

	sh, err := strconv.Atoi(p.waitPrefix(t, "sh "))
	if err != nil || sh == 1 {
		t.Fatalf("the shell's PID inside is %d (%v), want a host PID", sh, err)
	}
	bg, err := strconv.Atoi(p.waitPrefix(t, "bg "))
	if err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "sees-host")
	bgFD := pinProcess(t, bg, cg)
	pinProcess(t, sh, cg)
	// Pinned: the PID is the sleep's, once it has executed it.
	waitFor(t, fmt.Sprintf("the background PID %d runs sleep 1000", bg), func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", bg))
		return string(b) == "sleep\x001000\x00"
	})

	st := ociState(t, root, id)
	if st.Status != specs.StateRunning {
		t.Fatalf("state: %s, want running", st.Status)
	}
	if ppid := statField(t, sh, 4); ppid != strconv.Itoa(st.Pid) {
		t.Errorf("the shell's parent is %s, want ccinit, state's pid %d", ppid, st.Pid)
	}
	own, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", st.Pid)); ns != own {
		t.Errorf("ccinit's PID namespace is %s, want the runtime's %s", ns, own)
	}
	ps := containerPids(t, root, id)
	for _, want := range []int{st.Pid, sh, bg} {
		if !slices.Contains(ps, want) {
			t.Errorf("ps lists %v, without %d", ps, want)
		}
	}
	if slices.Contains(ps, hostSleep) {
		t.Errorf("ps lists %v, with the host's sleep %d", ps, hostSleep)
	}

	r := oci(t, root, "exec", id, "sh", "-c", `echo $$; readlink /proc/self/ns/pid; cat /proc/self/mountinfo`)
	wantExit(t, r, 0)
	lines := strings.Split(r.stdout, "\n")
	if len(lines) < 2 || lines[0] == "1" || lines[0] == "" || lines[1] != own {
		t.Errorf("exec: got %q, want a host PID and the PID namespace %s", r.stdout, own)
	}
	// The config's masks and read-only paths are on the new proc, which
	// shows the host's PIDs: each masked path this kernel has is a
	// mount point, /proc/sys a read-only one.
	mounts := map[string]string{} // mount point -> options
	for _, l := range lines[min(2, len(lines)):] {
		if f := strings.Fields(l); len(f) > 5 {
			mounts[f[4]] = f[5]
		}
	}
	if o, ok := mounts["/proc/sys"]; !ok || !strings.HasPrefix(o, "ro,") {
		t.Errorf("/proc/sys is mounted %q (%v), want read-only", o, ok)
	}
	for _, m := range bundleSpec(t, bundle).Linux.MaskedPaths {
		if _, err := os.Stat(m); err == nil && strings.HasPrefix(m, "/proc/") {
			if _, ok := mounts[m]; !ok {
				t.Errorf("masked path %s is no mount point in the container", m)
			}
		}
	}

	if err := os.WriteFile(filepath.Join(bundleRootfs(t, bundle), "tmp", "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wantExit(t, p.wait(t), 7)
	waitExited(t, map[int]int{bg: bgFD})
	if _, err := os.Stat(filepath.Join(root, id)); !os.IsNotExist(err) {
		t.Errorf("state left after run: %v", err)
	}
	wantCgroupGone(t, cg)
	if !alive(hostSleep) {
		t.Error("the host's sleep died with the container")
	}
}

// killInitAlone kills the container's ccinit from outside, which leaves the
// container stopped and its other processes running: without a PID
// namespace nothing kills them with it.
func killInitAlone(t *testing.T, root, id string, st specs.State, fds map[int]int) {
	t.Helper()
	if err := unix.Kill(st.Pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExited(t, map[int]int{st.Pid: fds[st.Pid]})
	waitStatus(t, root, id, specs.StateStopped)
	for pid, fd := range fds {
		if n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0); n != 0 && pid != st.Pid {
			t.Errorf("process %d ended with ccinit: want it left for the runtime", pid)
		}
	}
}

// statField returns field n (as proc(5) numbers them) of /proc/PID/stat.
func statField(t *testing.T, pid, n int) string {
	t.Helper()
	f := procStatFields(pid)
	if len(f) < n-2 {
		t.Fatalf("/proc/%d/stat: no field %d in %q", pid, n, f)
	}
	return f[n-3]
}

// TestOCIHostPIDKill ends a container in the runtime's PID namespace each
// way there is, and checks that no process of it survives: kill --all,
// kill KILL (to every process of the cgroup, as runc does, since no PID 1's
// death takes them along), delete --force, kill TERM (ccinit passes it on,
// and ends the rest when the command is gone), and ccinit killed alone from
// outside, whose orphans live on until delete or kill --all kills them. A
// shell forking 400 sleeps as fast as it can is killed to the last by
// delete --force.
func TestOCIHostPIDKill(t *testing.T) {
	// ccinit, the shell, two sleeps.
	const script = "sleep 1000 & sleep 1000 & wait"
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, root, id string, st specs.State, fds map[int]int)
	}{
		{"kill --all", func(t *testing.T, root, id string, _ specs.State, fds map[int]int) {
			wantExit(t, oci(t, root, "kill", "--all", id, "KILL"), 0)
			waitExited(t, fds)
			waitStatus(t, root, id, specs.StateStopped)
			wantExit(t, oci(t, root, "delete", id), 0)
		}},
		{"kill KILL", func(t *testing.T, root, id string, _ specs.State, fds map[int]int) {
			wantExit(t, oci(t, root, "kill", id, "KILL"), 0)
			waitExited(t, fds)
			wantExit(t, oci(t, root, "delete", id), 0)
		}},
		{"delete --force", func(t *testing.T, root, id string, _ specs.State, fds map[int]int) {
			wantExit(t, oci(t, root, "delete", "--force", id), 0)
			waitExited(t, fds)
		}},
		{"kill TERM", func(t *testing.T, root, id string, _ specs.State, fds map[int]int) {
			wantExit(t, oci(t, root, "kill", id, "TERM"), 0)
			waitExited(t, fds)
			wantExit(t, oci(t, root, "delete", id), 0)
		}},
		{"ccinit killed alone, then delete", func(t *testing.T, root, id string, st specs.State, fds map[int]int) {
			killInitAlone(t, root, id, st, fds)
			wantExit(t, oci(t, root, "delete", id), 0)
			waitExited(t, fds)
		}},
		{"ccinit killed alone, then kill --all", func(t *testing.T, root, id string, st specs.State, fds map[int]int) {
			// What containerd's shim does at the end of ccinit of a
			// config without a pid namespace.
			killInitAlone(t, root, id, st, fds)
			wantExit(t, oci(t, root, "kill", "--all", id, "KILL"), 0)
			waitExited(t, fds)
			wantExit(t, oci(t, root, "delete", id), 0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle, root := ociBundle(t, []string{"sh", "-c", script}, hostPID)
			cg := bundleSpec(t, bundle).Linux.CgroupsPath
			id := token("hostpidkill")
			wantExit(t, oci(t, root, "create", "--bundle", bundle, id), 0)
			t.Cleanup(func() { oci(t, root, "delete", "--force", id) })
			wantExit(t, oci(t, root, "start", id), 0)
			waitPids(t, root, id, 4)
			st := ociState(t, root, id)
			fds := map[int]int{}
			for _, pid := range containerPids(t, root, id) {
				fds[pid] = pinProcess(t, pid, cg)
			}
			if _, ok := fds[st.Pid]; !ok || len(fds) != 4 {
				t.Fatalf("ps lists %v, want ccinit %d, the shell and two sleeps", fds, st.Pid)
			}
			tc.end(t, root, id, st, fds)
			if _, err := os.Stat(filepath.Join(root, id)); !os.IsNotExist(err) {
				t.Errorf("state left after delete: %v", err)
			}
			wantCgroupGone(t, cg)
		})
	}

	t.Run("fork loop, delete --force", func(t *testing.T) {
		// Bounded by its count, not by a pids limit: busybox's shell
		// exits when a fork fails, and ccinit would end the rest.
		bundle, root := ociBundle(t, []string{"sh", "-c", "i=0; while [ $i -lt 400 ]; do sleep 1000 & i=$((i+1)); done; wait"}, hostPID)
		cg := bundleSpec(t, bundle).Linux.CgroupsPath
		id := token("hostpidfork")
		wantExit(t, oci(t, root, "create", "--bundle", bundle, id), 0)
		t.Cleanup(func() { oci(t, root, "delete", "--force", id) })
		wantExit(t, oci(t, root, "start", id), 0)
		fds := map[int]int{}
		waitFor(t, "ten processes in the container", func() bool {
			for _, pid := range containerPids(t, root, id) {
				if _, ok := fds[pid]; ok {
					continue
				}
				if fd, err := tryPin(t, pid, cg); err == nil {
					fds[pid] = fd
				}
			}
			return len(fds) >= 10
		})
		wantExit(t, oci(t, root, "delete", "--force", id), 0)
		// delete removed the cgroup, which it cannot while a process is
		// in it: every child of the loop is gone.
		wantCgroupGone(t, cg)
		waitExited(t, fds)
	})
}

// TestOCIJoinedCgroupKeepsOthers: a config may name an existing cgroup,
// which the container then joins; what lives in it or in the cgroups below
// it is not the container's. A create that fails after the cgroup is joined
// (here a refused block I/O leaf weight) leaves a process in a cgroup below
// it, or one in it, running, and the cgroups in place, with or without a
// PID namespace of the container's own: a kill of every process of the
// cgroup and those below, done on every removal, killed the first (and so,
// with cgroupsPath /ccsuper, every default container); the removal's kill
// of what kept the joined cgroup busy killed the second.
func TestOCIJoinedCgroupKeepsOthers(t *testing.T) {
	// The process is in each hierarchy the container may use.
	var bases []string
	var st unix.Statfs_t
	for _, c := range []string{"blkio", "devices", "freezer", "pids"} {
		if b := "/sys/fs/cgroup/" + c; unix.Statfs(b, &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC {
			bases = append(bases, b)
		}
	}
	if len(bases) == 0 {
		if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Skip("neither v1 hierarchies nor cgroup v2 at /sys/fs/cgroup")
		}
		bases = []string{"/sys/fs/cgroup"} // pure v2 (the guest of make test-vm)
	}
	for _, own := range []bool{true, false} {
		for _, below := range []bool{true, false} {
			t.Run(fmt.Sprintf("own pid namespace %v, process below %v", own, below), func(t *testing.T) {
				path := "/" + token("ccsuper-e2e-joined")
				var dirs []string
				for _, b := range bases {
					d := filepath.Join(b, path)
					if below {
						d = filepath.Join(d, "other")
					}
					if err := os.MkdirAll(d, 0o755); err != nil {
						t.Fatal(err)
					}
					dirs = append(dirs, d)
					t.Cleanup(func() {
						_ = unix.Rmdir(d)
						_ = unix.Rmdir(filepath.Join(b, path))
					})
				}
				other := start(t, command(t, "sh", append([]string{"-c", `for d; do echo $$ > "$d/cgroup.procs" || exit 1; done; echo in; exec sleep 1000`, "sh"}, dirs...)...))
				other.waitLine(t, "in")
				t.Cleanup(func() { _ = other.cmd.Process.Kill(); _ = other.cmd.Wait() })

				bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) {
					if !own {
						hostPID(s)
					}
					s.Linux.CgroupsPath = path
					leaf := uint16(100)
					s.Linux.Resources = &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: &leaf}}
				})
				r := oci(t, root, "create", "--bundle", bundle, token("joined"))
				if r.code != 125 || !strings.Contains(r.stderr, "leafWeight") {
					t.Fatalf("create: got %s\nwant 125 and a line naming leafWeight", r)
				}
				var info unix.Siginfo
				if err := unix.Waitid(unix.P_PID, other.cmd.Process.Pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
					t.Fatal(err)
				}
				if info.Signo != 0 {
					t.Errorf("the failed create killed the process in %v, not the container's", dirs)
				}
				if entries, _ := os.ReadDir(root); len(entries) != 0 {
					t.Errorf("state left after a failed create: %v", entries)
				}
				for _, d := range dirs {
					if _, err := os.Stat(d); err != nil {
						t.Errorf("the failed create removed %s: %v", d, err)
					}
				}
			})
		}
	}
}
