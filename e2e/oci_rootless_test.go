package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestOCIRootlessUser runs ccsuper's OCI commands as an ordinary user made by
// the test, with no podman: a bundle the user owns whose config has a user
// namespace mapping the user to 0 (as `runc spec --rootless` writes), state
// in $XDG_RUNTIME_DIR/ccsuper when no --root is given. run passes the
// status through; create, state, start, ps, kill and delete take a
// container through its life, its command the user on the host; what needs
// more than the user has is refused in one line with 125.
func TestOCIRootlessUser(t *testing.T) {
	u := newTestUser(t, false)
	noRunState(t)
	super, _ := rootlessBinaries(t)
	xdg := u.runtimeDir(t)
	rootfs := u.rootfs(t, baseRootfs)
	// bundle writes a bundle of the user's for rootfs from `ccsuper spec`'s
	// config, made rootless as runc's --rootless makes it, then changed.
	bundle := func(args []string, change func(*specs.Spec)) string {
		t.Helper()
		dir := u.ownedDir(t)
		wantExit(t, run(t, u.cmd(t, super, "spec", "--bundle", dir)), 0)
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var s specs.Spec
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		s.Root.Path, s.Root.Readonly = rootfs, false
		s.Process.Terminal, s.Process.Args = false, args
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.uid), Size: 1}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.gid), Size: 1}}
		for i, m := range s.Mounts {
			// Group 5 is not mapped: the kernel refuses devpts's gid=5.
			s.Mounts[i].Options = slices.DeleteFunc(m.Options, func(o string) bool { return o == "gid=5" })
		}
		if change != nil {
			change(&s)
		}
		if b, err = json.Marshal(s); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	// cc runs ccsuper as the user, with env added to its environment.
	cc := func(env []string, args ...string) result {
		t.Helper()
		cmd := u.cmd(t, super, args...)
		cmd.Env = append(cmd.Env, env...)
		return runToFiles(t, cmd)
	}
	withXDG := []string{"XDG_RUNTIME_DIR=" + xdg}
	id := token("rl")

	t.Run("run", func(t *testing.T) {
		b := bundle([]string{"sh", "-c", "id -u; cat /proc/self/uid_map; ip link show lo; ls /dev/null; exit 7"}, nil)
		logFile := filepath.Join(u.ownedDir(t), "log")
		r := cc(withXDG, "--debug", "--log", logFile, "run", "--bundle", b, id+"-run")
		wantExit(t, r, 7)
		// --debug says what rootless skipped: no cgroup, and spec's
		// "deny all" device rule not applied.
		if log, _ := os.ReadFile(logFile); !strings.Contains(string(log), "rootless: no cgroup made") ||
			!strings.Contains(string(log), "device rules are not applied") {
			t.Errorf("the --debug log does not say what was skipped:\n%s", log)
		}
		if f := strings.Fields(r.stdout); len(f) < 4 || f[0] != "0" || f[1] != "0" || f[2] != strconv.Itoa(u.uid) || f[3] != "1" {
			t.Errorf("want uid 0 inside, mapped to %d alone:\n%s", u.uid, r)
		}
		if !strings.Contains(r.stdout, ",UP") || !strings.Contains(r.stdout, "/dev/null") {
			t.Errorf("want lo up and /dev/null:\n%s", r)
		}
	})

	t.Run("lifecycle", func(t *testing.T) {
		b := bundle([]string{"sleep", "1000"}, nil)
		c := id + "-life"
		wantExit(t, cc(withXDG, "create", "--bundle", b, c), 0)
		t.Cleanup(func() { _ = cc(withXDG, "delete", "--force", c) })
		if _, err := os.Stat(filepath.Join(xdg, "ccsuper", c, "state.json")); err != nil {
			t.Fatalf("no state under $XDG_RUNTIME_DIR/ccsuper: %v", err)
		}
		state := func() specs.State {
			t.Helper()
			r := cc(withXDG, "state", c)
			wantExit(t, r, 0)
			var st specs.State
			if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
				t.Fatalf("state: %v\n%s", err, r)
			}
			return st
		}
		if st := state(); st.Status != specs.StateCreated {
			t.Fatalf("after create: %s", st.Status)
		}
		wantExit(t, cc(withXDG, "start", c), 0)
		st := state()
		if st.Status != specs.StateRunning {
			t.Fatalf("after start: %s", st.Status)
		}
		// ps without a cgroup: the processes of the PID namespace.
		var pids []int
		waitFor(t, "ccinit and sleep in ps", func() bool {
			r := cc(withXDG, "ps", "--format", "json", c)
			return r.code == 0 && json.Unmarshal([]byte(r.stdout), &pids) == nil && len(pids) == 2
		})
		if !slices.Contains(pids, st.Pid) {
			t.Errorf("ps gives %v, without ccinit's %d", pids, st.Pid)
		}
		for _, p := range pids {
			if uid := strings.Fields(statusField(t, p, "Uid"))[0]; uid != strconv.Itoa(u.uid) {
				t.Errorf("process %d is uid %s on the host, want the user's %d", p, uid, u.uid)
			}
		}
		wantExit(t, cc(withXDG, "kill", "--all", c, "KILL"), 0)
		waitFor(t, "stopped", func() bool { return state().Status == specs.StateStopped })
		wantExit(t, cc(withXDG, "delete", c), 0)
		if _, err := os.Stat(filepath.Join(xdg, "ccsuper", c)); !os.IsNotExist(err) {
			t.Errorf("state left after delete: %v", err)
		}
	})

	// Resources need a cgroup v2 delegated to the user, with ccsuper started
	// in it: the container's cgroup is made below it. On a pure v2 host
	// (the guest of make test-vm) the limit is the kernel's inside, a
	// unified key overriding the structured one; on a hybrid one (this
	// machine) the unified hierarchy has no controller to delegate, which
	// create says in one line.
	t.Run("delegated cgroup", func(t *testing.T) {
		mnt := cgroup2MountPoint()
		if mnt == "" {
			t.Skip("no cgroup2 hierarchy on this host")
		}
		deleg := delegateCgroup(t, mnt, u)
		limit := int64(40)
		b := bundle([]string{"cat", "/sys/fs/cgroup/pids.max"}, func(s *specs.Spec) {
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
			s.Linux.Resources.Unified = map[string]string{"pids.max": "37"}
		})
		fd, err := unix.Open(deleg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		cmd := u.cmd(t, super, "run", "--bundle", b, id+"-deleg")
		cmd.Env = append(cmd.Env, withXDG...)
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
		r := runToFiles(t, cmd)
		if have := strings.Fields(readCgroupFile(t, mnt, "cgroup.controllers")); !slices.Contains(have, "pids") {
			wantExit(t, r, 125)
			if msg := strings.TrimSpace(r.stderr); strings.Contains(msg, "\n") || !strings.Contains(msg, "pids controller delegated") {
				t.Errorf("want one line naming the pids controller:\n%s", r)
			}
			return
		}
		wantOutput(t, r, "37\n")
		if m, _ := filepath.Glob(filepath.Join(deleg, "ccsuper", id+"-deleg")); len(m) > 0 {
			t.Errorf("the container's cgroup is left: %v", m)
		}
	})

	t.Run("refused", func(t *testing.T) {
		limit := int64(64 << 20)
		for _, tc := range []struct {
			name   string
			env    []string
			change func(*specs.Spec)
			want   string
		}{
			{"no user namespace", withXDG, func(s *specs.Spec) {
				s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UserNamespace })
				s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
			}, "needs a new user namespace"},
			{"a range", withXDG, func(s *specs.Spec) {
				s.Linux.UIDMappings = append(s.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: 1, HostID: 100000, Size: 10})
			}, "only your own ID"},
			{"a memory limit", withXDG, func(s *specs.Spec) {
				s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
			}, "cgroup"},
			{"no XDG_RUNTIME_DIR", nil, nil, "XDG_RUNTIME_DIR"},
			// Without a cgroup nothing would find its processes among
			// the user's others (TestOCIHostPID runs one as root).
			{"no pid namespace", withXDG, hostPID, "needs a cgroup"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := bundle([]string{"true"}, tc.change)
				r := cc(tc.env, "create", "--bundle", b, id+"-refused")
				wantExit(t, r, 125)
				if msg := strings.TrimSpace(r.stderr); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) {
					t.Errorf("want one line with %q:\n%s", tc.want, r)
				}
				if ents, _ := os.ReadDir(filepath.Join(xdg, "ccsuper")); len(ents) > 0 {
					t.Errorf("left in the state directory: %v", ents)
				}
			})
		}
	})
}

// noRunState fails the test at its end if /run/ccsuper, root's default
// state directory, appeared during it: a rootless ccsuper never writes
// under /run. (Another test of the suite may have made it before.)
func noRunState(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/run/ccsuper"); err == nil {
		return
	}
	t.Cleanup(func() {
		if _, err := os.Stat("/run/ccsuper"); err == nil {
			t.Error("/run/ccsuper appeared: a rootless ccsuper wrote under /run")
		}
	})
}

// runtimeDir makes the user's XDG_RUNTIME_DIR, /run/user/UID as
// systemd-logind makes it (on the suite's own /run), and removes it at the
// end. The path is short: conmon waits 20 s when the socket paths it makes
// under it pass a socket address's length (docs/rootless.md).
func (u testUser) runtimeDir(t *testing.T) string {
	t.Helper()
	dir := fmt.Sprintf("/run/user/%d", u.uid)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeTree(dir); err != nil {
			t.Error(err)
		}
	})
	return dir
}

// TestOCIRootlessHostRootDevices runs ccsuper as root of a user namespace
// mapping 0 to the host's 0 (`unshare -U -r -m`, as systemd's
// PrivateUsers=yes does): rootless, so no device rules can be applied, yet a
// container with no user namespace of its own would run as the host's uid 0.
// With device rules in the config it is refused in one line; without, it
// runs, and a device node its rootfs holds does not open (the rootfs is
// nodev) while the /dev nodes ccinit binds do.
func TestOCIRootlessHostRootDevices(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare")
	}
	noDevGID := func(s *specs.Spec) {
		for i, m := range s.Mounts {
			// Group 5 is not mapped: the kernel refuses devpts's gid=5.
			s.Mounts[i].Options = slices.DeleteFunc(m.Options, func(o string) bool { return o == "gid=5" })
		}
	}
	unshared := func(root string, args ...string) result {
		t.Helper()
		return runToFiles(t, command(t, "unshare", append([]string{"-U", "-r", "-m", "--", ccsuperBin, "--root", root}, args...)...))
	}

	t.Run("device rules refused", func(t *testing.T) {
		bundle, root := ociBundle(t, []string{"true"}, noDevGID)
		if s := bundleSpec(t, bundle); s.Linux.Resources == nil || len(s.Linux.Resources.Devices) == 0 {
			t.Fatal("ccsuper spec's config has no device rules")
		}
		r := unshared(root, "run", "--bundle", bundle, token("hostroot-dev"))
		wantOneLineError(t, r, 125)
		if !strings.Contains(r.stderr, "uid 0 would be the host's uid 0") {
			t.Errorf("want the refusal's cause:\n%s", r)
		}
		if ents, _ := os.ReadDir(root); len(ents) > 0 {
			t.Errorf("the refused create left %v in the state root", ents)
		}
	})

	t.Run("rootfs nodev", func(t *testing.T) {
		bundle, root := ociBundle(t, []string{"sh", "-c",
			"cat /nulln && echo rootfs-node-opened; cat /dev/null && echo dev-null-opened; exit 0"},
			func(s *specs.Spec) {
				noDevGID(s)
				s.Linux.Resources = nil
			})
		// A node made by the host's root in the rootfs: /dev/null's numbers.
		if err := unix.Mknod(filepath.Join(bundleRootfs(t, bundle), "nulln"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		r := unshared(root, "run", "--bundle", bundle, token("hostroot-nodev"))
		wantExit(t, r, 0)
		if strings.Contains(r.stdout, "rootfs-node-opened") {
			t.Errorf("a device node of the rootfs opened (rootfs not nodev):\n%s", r)
		}
		if !strings.Contains(r.stdout, "dev-null-opened") {
			t.Errorf("the bound /dev/null did not open:\n%s", r)
		}
	})

	t.Run("v1 root shown empty", func(t *testing.T) {
		// ccsuper in a v1 hierarchy's root (the test's own cgroup, on
		// this hybrid host): the container sees an empty directory, not
		// the host's tree.
		own, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(own), ":pids:/\n") {
			t.Skip("not in the pids hierarchy's root")
		}
		var st unix.Statfs_t
		if unix.Statfs("/sys/fs/cgroup/pids", &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			t.Skip("no v1 pids hierarchy")
		}
		bundle, root := ociBundle(t, []string{"sh", "-c", "ls -A /sys/fs/cgroup/pids | wc -l"}, func(s *specs.Spec) {
			noDevGID(s)
			s.Linux.Resources = nil
			// No cgroup namespace, as podman on a v1 host (cgroupns=host).
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace })
		})
		r := unshared(root, "run", "--bundle", bundle, token("hostroot-v1"))
		wantExit(t, r, 0)
		if strings.TrimSpace(r.stdout) != "0" {
			t.Errorf("the container lists %s entries of the host's pids hierarchy, want none:\n%s", strings.TrimSpace(r.stdout), r)
		}
	})
}

// TestOCIRootlessKillAllJoinedPidNS runs two rootless containers with no
// cgroup in one user namespace mapping 0 to 0, B in A's PID namespace,
// joined by path (podman's --pid container:A): ps B lists B's processes
// alone, and kill --all B KILL ends B and leaves A running. ps A, whose
// namespace A made, lists every process in it, B's too.
func TestOCIRootlessKillAllJoinedPidNS(t *testing.T) {
	for _, tool := range []string{"unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip("no " + tool)
		}
	}
	holder := exec.Command("unshare", "-U", "-r", "-m", "sleep", "1000")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	// The holder's maps are written before it execs sleep.
	waitFileHolds(t, fmt.Sprintf("/proc/%d/comm", holder.Process.Pid), "sleep\n")
	in := func(root string, args ...string) result {
		t.Helper()
		return runToFiles(t, command(t, "nsenter", append([]string{"-t", strconv.Itoa(holder.Process.Pid), "-U", "-m", "--",
			ccsuperBin, "--root", root}, args...)...))
	}
	rootless := func(s *specs.Spec) {
		s.Linux.Resources = nil // no cgroup; device rules would be refused here
		for i, m := range s.Mounts {
			s.Mounts[i].Options = slices.DeleteFunc(m.Options, func(o string) bool { return o == "gid=5" })
		}
	}
	bundleA, root := ociBundle(t, []string{"sleep", "1000"}, rootless)
	a, b := token("joinpid-a"), token("joinpid-b")
	wantExit(t, in(root, "create", "--bundle", bundleA, a), 0)
	wantExit(t, in(root, "start", a), 0)
	t.Cleanup(func() { _ = in(root, "delete", "--force", a) })
	stA := waitStatus(t, root, a, specs.StateRunning)
	bundleB, _ := ociBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
		rootless(s)
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.PIDNamespace {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/pid", stA.Pid)
			}
		}
	})
	wantExit(t, in(root, "create", "--bundle", bundleB, b), 0)
	wantExit(t, in(root, "start", b), 0)
	t.Cleanup(func() { _ = in(root, "delete", "--force", b) })
	stB := waitStatus(t, root, b, specs.StateRunning)
	waitPids(t, root, b, 2)
	ps := func(id string) []string {
		t.Helper()
		r := in(root, "ps", "--format", "json", id)
		wantExit(t, r, 0)
		var pids []int
		if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil {
			t.Fatalf("ps %s: %v\n%s", id, err, r)
		}
		var comms []string
		for _, p := range pids {
			c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
			comms = append(comms, fmt.Sprintf("%d:%s", p, strings.TrimSpace(string(c))))
		}
		return comms
	}
	if got := ps(b); len(got) != 2 || !slices.Contains(got, fmt.Sprintf("%d:ccinit", stB.Pid)) {
		t.Errorf("ps %s: want its ccinit and sleep alone, got %v", b, got)
	}
	if got := ps(a); len(got) != 4 {
		t.Errorf("ps %s: want both ccinits and sleeps of its namespace, got %v", a, got)
	}
	wantExit(t, in(root, "kill", "--all", b, "KILL"), 0)
	waitStatus(t, root, b, specs.StateStopped)
	if st := ociState(t, root, a); st.Status != specs.StateRunning {
		t.Fatalf("kill --all %s reached %s: %s", b, a, st.Status)
	}
	if got := ps(a); len(got) != 2 {
		t.Errorf("ps %s after B's end: want its ccinit and sleep, got %v", a, got)
	}
}

// TestOCIRootlessStateRoot: a rootless ccsuper makes its default state root,
// $XDG_RUNTIME_DIR/ccsuper, mode 0700, and refuses in one line one that is a
// symlink (even to a directory of the user's), another user's, or open to
// others: state.json there names the hooks delete runs.
func TestOCIRootlessStateRoot(t *testing.T) {
	u := newTestUser(t, false)
	noRunState(t)
	super, _ := rootlessBinaries(t)
	xdg := u.runtimeDir(t)
	root := filepath.Join(xdg, "ccsuper")
	list := func() result {
		t.Helper()
		cmd := u.cmd(t, super, "list")
		cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+xdg)
		return runToFiles(t, cmd)
	}
	wantExit(t, list(), 0)
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil || st.Mode&0o7777 != 0o700 || int(st.Uid) != u.uid {
		t.Fatalf("state root not made the user's, 0700: %v, mode %o, owner %d", err, st.Mode&0o7777, st.Uid)
	}
	for _, tc := range []struct {
		name string
		make func() error
	}{
		{"symlink", func() error { return os.Symlink(u.ownedDir(t), root) }},
		{"root's", func() error { return os.Mkdir(root, 0o711) }},
		{"open to others", func() error {
			if err := os.Mkdir(root, 0o755); err != nil {
				return err
			}
			return os.Chown(root, u.uid, u.gid)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.RemoveAll(root); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(); err != nil {
				t.Fatal(err)
			}
			r := list()
			wantOneLineError(t, r, 125)
			if !strings.Contains(r.stderr, "state root") {
				t.Errorf("want the state root named:\n%s", r)
			}
		})
	}
}
