package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// userNSPair starts a first container with a user namespace of its own
// (mapped as in TestOCIUserNS) running sleep, and returns its ccinit's PID.
func userNSPair(t *testing.T) int {
	t.Helper()
	pid, _ := userNSFirst(t, nil)
	return pid
}

// userNSFirst is userNSPair with change applied to the first container's
// config; it returns its state root too.
func userNSFirst(t *testing.T, change func(*specs.Spec)) (pid int, root string) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("ccinit's entry point is written for amd64")
	}
	bundle, root := ociBundle(t, []string{"sleep", "1000000"}, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
		if change != nil {
			change(s)
		}
	})
	wantExit(t, oci(t, root, "create", "--bundle", bundle, "first"), 0)
	t.Cleanup(func() { oci(t, root, "delete", "--force", "first") })
	wantExit(t, oci(t, root, "start", "first"), 0)
	return ociState(t, root, "first").Pid, root
}

// joinUserNS sets the user namespace of s to the one of pid, and the
// namespaces of types to pid's too.
func joinUserNS(s *specs.Spec, pid int, types ...specs.LinuxNamespaceType) {
	s.Linux.CgroupsPath += "-joined" // ociBundle's is the test's: the first container's
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", pid)})
	for i, n := range s.Linux.Namespaces {
		for _, typ := range types {
			if n.Type == typ {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/%s", pid, nsFile[typ])
			}
		}
	}
}

var nsFile = map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: "net", specs.PIDNamespace: "pid", specs.IPCNamespace: "ipc"}

// nsLink reads /proc/PID/ns/NAME.
func nsLink(t *testing.T, pid int, name string) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, name))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// nsOwner returns the user namespace that owns pid's namespace name, as
// /proc/PID/ns/user reads (NS_GET_USERNS).
func nsOwner(t *testing.T, pid int, name string) string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_USERNS)
	if err != nil {
		t.Fatalf("owner of %s: %v", f.Name(), err)
	}
	defer unix.Close(fd)
	l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestOCIUserNSPath joins the user namespace of a running container by
// path, as podman does for the containers of a pod with --userns and for
// --userns=container:X: a second container in the first's user and network
// namespaces, with PID, mount, IPC, UTS and cgroup namespaces of its own
// that the joined user namespace owns. Its PID 1 is the entry point's
// clone, which the state names, and which kill and delete reach.
func TestOCIUserNSPath(t *testing.T) {
	first := userNSPair(t)
	out := t.TempDir()
	if err := os.Mkdir(filepath.Join(out, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{out, filepath.Join(out, "m")} {
		if err := os.Chown(d, nsHostBase, nsHostBase); err != nil {
			t.Fatal(err)
		}
	}
	script := `exec > /tmp/out/result 2>&1
echo uid=$(id -u) gid=$(id -g)
cat /proc/self/uid_map
echo pid1=$(cat /proc/1/comm)
hostname joined && echo host=$(hostname)
mount -t tmpfs none /tmp/out/m && echo mounted
echo done
exec sleep 1000000`
	bundle, root := ociBundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
		joinUserNS(s, first, specs.NetworkNamespace)
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_SYS_ADMIN")
		s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_SYS_ADMIN")
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp/out", Type: "bind", Source: out, Options: []string{"rbind"}})
	})
	// Created by a ccsuper with supplementary groups, the host root's,
	// which the joined namespace's root must not keep.
	create := ccsuper(t, "--root", root, "create", "--bundle", bundle, "second")
	create.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{0, 4, 27}}}
	errf, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	create.Stderr = errf // a file: the container keeps its copy
	if err := create.Run(); err != nil {
		msg, _ := os.ReadFile(errf.Name())
		t.Fatalf("create: %v: %s", err, msg)
	}
	t.Cleanup(func() { oci(t, root, "delete", "--force", "second") })
	st := ociState(t, root, "second")
	if st.Status != specs.StateCreated || !alive(st.Pid) {
		t.Fatalf("after create: %+v, ccinit alive %v", st, alive(st.Pid))
	}
	second := st.Pid
	for _, ns := range []string{"user", "net"} {
		if a, b := nsLink(t, first, ns), nsLink(t, second, ns); a != b {
			t.Errorf("%s namespace: the second container's %s, want the first's %s", ns, b, a)
		}
	}
	for _, ns := range []string{"pid", "mnt", "ipc", "uts", "cgroup"} {
		if a, b, host := nsLink(t, first, ns), nsLink(t, second, ns), nsLink(t, os.Getpid(), ns); b == a || b == host {
			t.Errorf("%s namespace: the second container's %s, want its own (first's %s, host's %s)", ns, b, a, host)
		}
		if owner, want := nsOwner(t, second, ns), nsLink(t, first, "user"); owner != want {
			t.Errorf("%s namespace: owned by %s, want the joined %s", ns, owner, want)
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", second))
	if err != nil {
		t.Fatal(err)
	}
	// The state's PID is PID 1 of the new PID namespace, the root of the
	// joined user namespace.
	for _, want := range []string{fmt.Sprintf("NSpid:\t%d\t1\n", second),
		fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", nsHostBase, nsHostBase, nsHostBase, nsHostBase),
		fmt.Sprintf("Gid:\t%d\t%d\t%d\t%d", nsHostBase, nsHostBase, nsHostBase, nsHostBase),
		"Groups:\t \n"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("the second ccinit's /proc/PID/status on the host: want %q in\n%s", want, status)
		}
	}
	wantExit(t, oci(t, root, "start", "second"), 0)
	result := filepath.Join(out, "result")
	waitFileHolds(t, result, "done")
	raw, _ := os.ReadFile(result)
	got := strings.Join(strings.Fields(string(raw)), " ")
	want := fmt.Sprintf("uid=0 gid=0 0 %d %d pid1=ccinit host=joined mounted done", nsHostBase, nsSize)
	if got != want {
		t.Errorf("inside the second container: got %q, want %q", got, want)
	}
	// ccinit starts an exec'd process, in every namespace of its own.
	r := oci(t, root, "exec", "second", "sh", "-c", "id -u; hostname; readlink /proc/self/ns/user")
	wantExit(t, r, 0)
	if want := "0\njoined\n" + nsLink(t, first, "user") + "\n"; r.stdout != want {
		t.Errorf("exec: got %q, want %q", r.stdout, want)
	}
	wantExit(t, oci(t, root, "kill", "second", "KILL"), 0)
	waitStatus(t, root, "second", specs.StateStopped)
	wantExit(t, oci(t, root, "delete", "second"), 0)
	if alive(second) {
		t.Errorf("the second container's ccinit (%d) is still alive after delete", second)
	}
	if !alive(first) {
		t.Errorf("the first container's ccinit (%d) ended with the second", first)
	}
}

// TestOCIUserNSPathPID joins the user and PID namespaces of a running
// container: no new PID namespace, so no clone in ccinit's entry point, and
// ccinit runs as one more process of the first container's PID namespace.
// Then `ccsuper run` of one with a PID namespace of its own, given the
// joined namespace's maps too.
func TestOCIUserNSPathPID(t *testing.T) {
	first := userNSPair(t)
	bundle, root := ociBundle(t, []string{"sh", "-c", "id -u; cat /proc/1/comm"}, func(s *specs.Spec) {
		joinUserNS(s, first, specs.PIDNamespace, specs.IPCNamespace)
	})
	r := oci(t, root, "run", "--bundle", bundle, "third")
	wantExit(t, r, 0)
	// PID 1 of the joined namespace is the first container's ccinit.
	if r.stdout != "0\nccinit\n" {
		t.Errorf("inside: got %q, want uid 0 and the first container's PID 1", r.stdout)
	}
	// With a PID namespace of its own, ccsuper run waits for its PID 1,
	// the entry point's clone, and passes its status on. The config also
	// gives the joined namespace's maps, as containerd and CRI-O do: they
	// match, so they are taken, with a warning.
	bundle, root = ociBundle(t, []string{"sh", "-c", "cat /proc/1/comm; exit 7"}, func(s *specs.Spec) {
		joinUserNS(s, first)
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
	})
	logFile := filepath.Join(t.TempDir(), "log")
	r = oci(t, root, "--log", logFile, "run", "--bundle", bundle, "fourth")
	wantExit(t, r, 7)
	if r.stdout != "ccinit\n" {
		t.Errorf("inside: got %q, want ccinit as PID 1", r.stdout)
	}
	if log, _ := os.ReadFile(logFile); !strings.Contains(string(log), "level=warning") || !strings.Contains(string(log), "they are its own, and ignored") {
		t.Errorf("log: got %q, want a warning about the maps", log)
	}
}

// TestOCIUserNSPathHeld joins a user namespace and another namespace by
// path, held by a process of the test's: a mount namespace the joined user
// namespace owns (ccinit's entry point enters it first, then the user
// namespace, and the container's root is made there); and a network
// namespace the host's user namespace owns, as the host's root makes one
// with CNI (ccsuper's forking thread enters it as the host's root: the
// joined namespace's root could not).
func TestOCIUserNSPathHeld(t *testing.T) {
	first := userNSPair(t)
	for _, tt := range []struct {
		name   string
		holder []string
		typ    specs.LinuxNamespaceType
		file   string
	}{
		{"mount namespace it owns", []string{"nsenter", fmt.Sprintf("--user=/proc/%d/ns/user", first), "--setuid=0", "--setgid=0",
			"unshare", "--mount", "--propagation", "private"}, specs.MountNamespace, "mnt"},
		{"network namespace the host's owns", []string{"unshare", "--net"}, specs.NetworkNamespace, "net"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			argv := append(tt.holder, "sh", "-c", "echo ready; exec sleep 1000000")
			holder := start(t, command(t, argv[0], argv[1:]...))
			holder.waitLine(t, "ready")
			path := fmt.Sprintf("/proc/%d/ns/%s", holder.cmd.Process.Pid, tt.file)
			want, err := os.Readlink(path)
			if err != nil {
				t.Fatal(err)
			}
			bundle, root := ociBundle(t, []string{"sh", "-c", "id -u; readlink /proc/self/ns/" + tt.file + "; cat /proc/1/comm"}, func(s *specs.Spec) {
				joinUserNS(s, first)
				for i, n := range s.Linux.Namespaces {
					if n.Type == tt.typ {
						s.Linux.Namespaces[i].Path = path
					}
				}
			})
			r := oci(t, root, "run", "--bundle", bundle, "held")
			wantExit(t, r, 0)
			if r.stdout != "0\n"+want+"\nccinit\n" {
				t.Errorf("inside: got %q, want uid 0, the namespace %s and ccinit as PID 1", r.stdout, want)
			}
		})
	}
}

// TestOCIUserNSPathCreateFails: a create that fails after the entry point
// cloned PID 1 (a bind's source is missing) leaves no process in the
// joined user namespace but the first container's, and no state.
func TestOCIUserNSPathCreateFails(t *testing.T) {
	first := userNSPair(t)
	bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) {
		joinUserNS(s, first)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp/x", Type: "bind", Source: "/nonexistent-" + token("src"), Options: []string{"rbind"}})
	})
	r := oci(t, root, "run", "--bundle", bundle, "sixth")
	wantOneLineError(t, r, 125)
	joinedLeft(t, first, bundle, root)
}

// TestOCIUserNSPathUndumpable: until start, a created container's ccinit in
// a joined user namespace still holds the host's: the create caller's
// stdout and stderr, the exec FIFO, the host's root and the bundle as its
// working directory. A process of the joined namespace with CAP_SYS_PTRACE
// there, in the same PID namespace (a pod's sibling), must not reach them
// through /proc: ccinit stays undumpable (CVE-2016-9962's lesson).
func TestOCIUserNSPathUndumpable(t *testing.T) {
	first, firstRoot := userNSFirst(t, func(s *specs.Spec) {
		c := s.Process.Capabilities
		c.Bounding = append(c.Bounding, "CAP_SYS_PTRACE")
		c.Effective = append(c.Effective, "CAP_SYS_PTRACE")
		c.Permitted = append(c.Permitted, "CAP_SYS_PTRACE")
	})
	bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) {
		joinUserNS(s, first, specs.PIDNamespace)
	})
	wantExit(t, oci(t, root, "create", "--bundle", bundle, "second"), 0)
	t.Cleanup(func() { oci(t, root, "delete", "--force", "second") })
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ociState(t, root, "second").Pid))
	if err != nil {
		t.Fatal(err)
	}
	var inside string // the second ccinit's PID in the first's PID namespace
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "NSpid:" {
			inside = f[len(f)-1]
		}
	}
	script := `p=/proc/` + inside + `; cat $p/comm; grep -q CapPrm $p/status && echo status; ` +
		`for f in fd/0 fd/1 fd/2 root cwd exe; do readlink $p/$f >/dev/null 2>&1 && echo reached $f; done; ` +
		`(: < $p/fd/1) 2>/dev/null && echo opened fd/1; ls $p/root/ >/dev/null 2>&1 && echo listed root; ` +
		`cat $p/environ >/dev/null 2>&1 && echo read environ; cat $p/cmdline >/dev/null && echo cmdline`
	r := oci(t, firstRoot, "exec", "first", "sh", "-c", script)
	wantExit(t, r, 0)
	// comm, status and cmdline are anyone's; the rest is the host's.
	if r.stdout != "ccinit\nstatus\ncmdline\n" {
		t.Errorf("from the first container, with CAP_SYS_PTRACE: got %q, want ccinit's comm, status and cmdline only", r.stdout)
	}
}

// pidWays are the entry point's two ways with a joined user namespace: a
// new PID namespace (a clone), or the PID namespace joined too (none).
var pidWays = []struct {
	name string
	join []specs.LinuxNamespaceType
}{
	{"new PID namespace", nil},
	{"PID namespace joined", []specs.LinuxNamespaceType{specs.PIDNamespace}},
}

// joinedLeft fails the test if the config's cgroup of bundle, the state
// root, or a process in the user namespace of first but the first
// container's two is left after a failed create.
func joinedLeft(t *testing.T, first int, bundle, root string) {
	t.Helper()
	if ents, _ := os.ReadDir(root); len(ents) > 0 {
		t.Errorf("left in the state root: %v", ents)
	}
	cg := bundleSpec(t, bundle).Linux.CgroupsPath
	for _, c := range []string{"memory", "pids", "devices", "unified"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, cg)); err == nil {
			t.Errorf("cgroup %s left", c)
		}
	}
	ns := nsLink(t, first, "user")
	var in []string
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/user")
	for _, p := range procs {
		if l, err := os.Readlink(p); err == nil && l == ns {
			in = append(in, strings.Split(p, "/")[2])
		}
	}
	if len(in) != 2 {
		t.Errorf("processes in the joined user namespace: %v, want the first container's two", in)
	}
}

// TestOCIUserNSPathEntryFails: the entry point's unshare fails in the joined
// user namespace (its max_uts_namespaces is 0: ENOSPC), with and without a
// new PID namespace (a clone or none); and its join of a mount namespace by
// path fails before (the path is a network namespace's: EINVAL). The create
// fails in one line naming the step, before anything acts on the process:
// no createRuntime or prestart hook runs (a hook given ccinit's PID would
// otherwise enter namespaces it was not meant to have, the host's network
// namespace with the PID namespace joined), and nothing is left.
func TestOCIUserNSPathEntryFails(t *testing.T) {
	first := userNSPair(t)
	limit := command(t, "nsenter", "-U", "-t", strconv.Itoa(first), "sh", "-c", "echo 0 > /proc/sys/user/max_uts_namespaces")
	if out, err := limit.CombinedOutput(); err != nil {
		t.Fatalf("max_uts_namespaces=0 in the joined namespace: %v: %s", err, out)
	}
	type failure struct {
		name   string
		change func(*specs.Spec)
		want   string
	}
	var cases []failure
	for _, w := range pidWays {
		cases = append(cases, failure{"unshare, " + w.name, func(s *specs.Spec) { joinUserNS(s, first, w.join...) },
			"make the container's namespaces in the joined user namespace: no space left on device"})
	}
	cases = append(cases, failure{"mount namespace", func(s *specs.Spec) {
		joinUserNS(s, first, specs.PIDNamespace)
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.MountNamespace {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/net", first)
			}
		}
	}, "join a mount namespace: invalid argument"})
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			ran := filepath.Join(t.TempDir(), "hook-ran")
			hook := []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo $0 >> " + ran}}}
			bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) {
				tt.change(s)
				s.Hooks = &specs.Hooks{CreateRuntime: hook, Prestart: hook}
			})
			r := oci(t, root, "create", "--bundle", bundle, "failed")
			wantOneLineError(t, r, 125)
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("got %q, want %q", r.stderr, tt.want)
			}
			if _, err := os.Stat(ran); err == nil {
				t.Error("a hook ran")
			}
			joinedLeft(t, first, bundle, root)
		})
	}
}

// TestOCIUserNSPathNoEntry: a ccinit built without its entry point (plain
// go build) cannot join a user namespace: the create fails in one line that
// says so, with and without a new PID namespace, instead of waiting for a
// join that never comes.
func TestOCIUserNSPathNoEntry(t *testing.T) {
	first := userNSPair(t)
	bin := t.TempDir()
	linkBinary(t, ccsuperBin, filepath.Join(bin, "ccsuper")) // ccinit is looked for next to it
	build := command(t, "go", "build", "-trimpath", "-o", filepath.Join(bin, "ccinit"), "./cmd/ccinit")
	build.Dir = ".." // the module root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	for _, tt := range pidWays {
		t.Run(tt.name, func(t *testing.T) {
			bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) { joinUserNS(s, first, tt.join...) })
			r := runToFiles(t, command(t, filepath.Join(bin, "ccsuper"), "--root", root, "run", "--bundle", bundle, "plain"))
			wantOneLineError(t, r, 125)
			if !strings.Contains(r.stderr, "built without its entry point") {
				t.Errorf("got %q, want it to say ccinit was built without its entry point", r.stderr)
			}
			joinedLeft(t, first, bundle, root)
		})
	}
}

// TestOCIUserNSPathRounds creates and deletes, round after round, a
// container joining the user and PID namespaces of a first one (no clone in
// the entry point) with the joined namespace's maps in its config: ccsuper
// reads the new ccinit's user namespace and maps only once the entry point
// has joined it, never the host's (which a read racing the join found in
// some rounds: "has the uid_map [0 0 4294967295]"), and the exec FIFO is
// the joined root's.
func TestOCIUserNSPathRounds(t *testing.T) {
	first := userNSPair(t)
	want := nsLink(t, first, "user")
	bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) {
		joinUserNS(s, first, specs.PIDNamespace)
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
	})
	for i := 0; i < 60 && !t.Failed(); i++ {
		id := fmt.Sprintf("round%d", i)
		wantExit(t, oci(t, root, "create", "--bundle", bundle, id), 0)
		if got := nsLink(t, ociState(t, root, id).Pid, "user"); got != want {
			t.Errorf("round %d: ccinit's user namespace %s, want the joined %s", i, got, want)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(root, id, "exec.fifo"), &st); err != nil || st.Uid != nsHostBase || st.Gid != nsHostBase {
			t.Errorf("round %d: exec.fifo is %d:%d (%v), want the joined root's %d:%d", i, st.Uid, st.Gid, err, nsHostBase, nsHostBase)
		}
		wantExit(t, oci(t, root, "delete", "--force", id), 0)
	}
}
