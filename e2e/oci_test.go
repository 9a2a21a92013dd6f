package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ociBundle makes a bundle from `ccsuper spec` with its own rootfs copy,
// the command args, no terminal, and change applied to the config. It
// returns the bundle and a private state root.
func ociBundle(t *testing.T, args []string, change func(*specs.Spec)) (bundle, root string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bundle, root = t.TempDir(), t.TempDir()
	wantExit(t, runCCSuper(t, "spec", "--bundle", bundle), 0)
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("ccsuper spec wrote no config: %v", err)
	}
	s.Root.Path = newRootfs(t)
	s.Root.Readonly = false
	s.Process.Terminal = false
	s.Process.Args = args
	// A cgroup of this run's own: the default (/ccsuper/ID) is shared by
	// every run on the machine that names a container alike.
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	s.Linux.CgroupsPath = "/" + token("ccsuper-e2e-") + "-" + filepath.Base(filepath.Dir(bundle))
	if change != nil {
		change(&s)
	}
	if b, err = json.Marshal(s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle, root
}

// oci runs `ccsuper --root root ARGS...` with stdout and stderr in files, as
// engines do: a created container's processes keep them open.
func oci(t *testing.T, root string, args ...string) result {
	t.Helper()
	return runToFiles(t, ccsuper(t, append([]string{"--root", root}, args...)...))
}

// runToFiles runs cmd to its end with its stdout and stderr in files, which
// processes it leaves behind may keep open.
func runToFiles(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "err"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	r := result{code: -1}
	if err := cmd.Run(); cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	} else {
		t.Fatalf("%s: %v", cmd, err)
	}
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	r.stdout, r.stderr = string(o), string(e)
	return r
}

// ociState returns the state of id.
func ociState(t *testing.T, root, id string) specs.State {
	t.Helper()
	r := oci(t, root, "state", id)
	wantExit(t, r, 0)
	var st specs.State
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("state is not JSON: %v\n%s", err, r)
	}
	return st
}

// waitStatus polls the state of id until it is want.
func waitStatus(t *testing.T, root, id string, want specs.ContainerState) specs.State {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := ociState(t, root, id)
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s stayed %s, want %s", id, st.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFileHolds polls until path holds want.
func waitFileHolds(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q in it", path, b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOCILifecycle takes a container from `ccsuper spec`'s config through
// create, start, state, kill and delete, checking that nothing of the
// user's runs before start and nothing is left after delete.
func TestOCILifecycle(t *testing.T) {
	bundle, root := ociBundle(t, []string{"sh", "-c", "echo started $(hostname) > /out; exec sleep 1000"}, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	wantExit(t, oci(t, root, "create", "--bundle", bundle, "--pid-file", pidFile, "c1"), 0)
	st := ociState(t, root, "c1")
	if st.Status != specs.StateCreated || st.ID != "c1" || st.Bundle != bundle || st.Pid <= 0 || st.Version != specs.Version {
		t.Fatalf("state after create: got %+v", st)
	}
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != strconv.Itoa(st.Pid) {
		t.Errorf("pid file: got %q, %v; want %d", b, err, st.Pid)
	}
	out := filepath.Join(bundleRootfs(t, bundle), "out")
	// create has returned, so no ccsuper is left, yet ccinit lives on and
	// the command has not run.
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the command ran before start")
	}
	if !alive(st.Pid) {
		t.Fatal("ccinit did not outlive create")
	}
	wantOneLineError(t, oci(t, root, "create", "--bundle", bundle, "c1"), 125) // the ID is taken
	wantOneLineError(t, oci(t, root, "start", "nope"), 125)

	wantExit(t, oci(t, root, "start", "c1"), 0)
	waitFileHolds(t, out, "started ccontainer")
	if st := ociState(t, root, "c1"); st.Status != specs.StateRunning {
		t.Fatalf("after start: got %s, want running", st.Status)
	}
	wantOneLineError(t, oci(t, root, "start", "c1"), 125)  // started once only
	wantOneLineError(t, oci(t, root, "delete", "c1"), 125) // running: needs --force
	r := oci(t, root, "list", "--format", "json")
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, `"id": "c1"`) || !strings.Contains(r.stdout, `"status": "running"`) {
		t.Errorf("list: got %s", r.stdout)
	}
	r = oci(t, root, "ps", "--format", "json", "c1")
	wantExit(t, r, 0)
	var ps []int
	if err := json.Unmarshal([]byte(r.stdout), &ps); err != nil || len(ps) != 2 {
		t.Errorf("ps: want ccinit and sleep, got %q (%v)", r.stdout, err)
	}

	wantExit(t, oci(t, root, "kill", "c1", "TERM"), 0)
	waitStatus(t, root, "c1", specs.StateStopped)
	wantExit(t, oci(t, root, "delete", "c1"), 0)
	if _, err := os.Stat(filepath.Join(root, "c1")); !os.IsNotExist(err) {
		t.Errorf("state directory left after delete: %v", err)
	}
	wantOneLineError(t, oci(t, root, "state", "c1"), 125)
	cg := bundleSpec(t, bundle).Linux.CgroupsPath
	for _, c := range []string{"memory", "pids", "devices"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c)); err != nil {
			continue // not on this machine
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, cg)); err == nil {
			t.Errorf("cgroup %s left after delete", c)
		}
	}
}

// TestOCIKillCreated: a created container ends on SIGTERM without its
// command ever running, and delete --force removes a created container.
func TestOCIKillCreated(t *testing.T) {
	bundle, root := ociBundle(t, []string{"sh", "-c", "touch /ran"}, nil)
	wantExit(t, oci(t, root, "create", "--bundle", bundle, "k1"), 0)
	wantExit(t, oci(t, root, "kill", "k1"), 0)
	waitStatus(t, root, "k1", specs.StateStopped)
	wantOneLineError(t, oci(t, root, "start", "k1"), 125)
	wantExit(t, oci(t, root, "delete", "k1"), 0)

	wantExit(t, oci(t, root, "create", "--bundle", bundle, "k2"), 0)
	pid := ociState(t, root, "k2").Pid
	wantOneLineError(t, oci(t, root, "delete", "k2"), 125) // not stopped
	wantExit(t, oci(t, root, "delete", "--force", "k2"), 0)
	if alive(pid) {
		t.Errorf("ccinit %d of a deleted created container lives on", pid)
	}
	if _, err := os.Stat(filepath.Join(bundleRootfs(t, bundle), "ran")); err == nil {
		t.Error("the command of a container never started ran")
	}
}

// TestOCIRun: run waits and passes the command's status on, then deletes.
func TestOCIRun(t *testing.T) {
	bundle, root := ociBundle(t, []string{"sh", "-c", "exit 3"}, nil)
	wantExit(t, oci(t, root, "run", "--bundle", bundle, "r1"), 3)
	if _, err := os.Stat(filepath.Join(root, "r1")); !os.IsNotExist(err) {
		t.Errorf("state left after run: %v", err)
	}
	bundle, root = ociBundle(t, []string{"no-such-command"}, nil)
	r := oci(t, root, "run", "--bundle", bundle, "r2")
	wantOneLineError(t, r, 127) // ccinit's: not found
	if _, err := os.Stat(filepath.Join(root, "r2")); !os.IsNotExist(err) {
		t.Errorf("state left after a failed run: %v", err)
	}
}

// TestOCIRefusesWithLog: a config asking for what ccsuper cannot do fails
// create with one line, a JSON line in --log as engines read it, and
// nothing left behind.
func TestOCIRefusesWithLog(t *testing.T) {
	bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) { s.Process.ApparmorProfile = "x" })
	log := filepath.Join(t.TempDir(), "log.json")
	r := oci(t, root, "--log", log, "--log-format", "json", "create", "--bundle", bundle, "f1")
	wantOneLineError(t, r, 125)
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var line map[string]string
	if err := json.Unmarshal(b, &line); err != nil || line["level"] != "error" || !strings.Contains(line["msg"], "AppArmor") {
		t.Errorf("log: got %q (%v)", b, err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("left in the state root: %v", ents)
	}
}

// TestOCIConfig checks parts of a config from inside: capabilities,
// rlimits, user and groups, the masks, a read-only path, sysctl, devices
// and a bind mount.
func TestOCIConfig(t *testing.T) {
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `exec > /result 2>&1
grep CapEff /proc/self/status
ulimit -n
id -u; id -g; id -G
[ -c /proc/keys ] && echo keys-masked
echo x > /proc/sys/kernel/hostname 2>/dev/null || echo sys-read-only
cat /proc/sys/net/ipv4/ip_forward
ls -l /dev/fuse
cat /data/f
echo done`
	bundle, root := ociBundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{10, 20}}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 123, Hard: 456}}
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "rwm"})
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "ro"}})
	})
	wantExit(t, oci(t, root, "run", "--bundle", bundle, "cfg"), 0)
	got, err := os.ReadFile(filepath.Join(bundleRootfs(t, bundle), "result"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"CapEff:\t0000000020000420", "\n123\n", "keys-masked", "\n0\n0\n0 10 20\n", "sys-read-only", "\n1\n",
		"crw-rw-rw-", "10,", "229", "from the host", "done",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("inside the container: want %q in\n%s", want, got)
		}
	}
}

// bundleRootfs returns the rootfs a bundle's config names.
func bundleRootfs(t *testing.T, bundle string) string {
	t.Helper()
	return bundleSpec(t, bundle).Root.Path
}

// bundleSpec reads bundle's config.json.
func bundleSpec(t *testing.T, bundle string) specs.Spec {
	t.Helper()
	var s specs.Spec
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// alive reports whether pid runs (not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// TestOCIExec runs processes in a running container: the argv form with
// its status passed on, a process.json as another user, and a detached one
// whose proxy (the pid file's PID) passes signals on and, killed, takes the
// process with it.
func TestOCIExec(t *testing.T) {
	bundle, root := ociBundle(t, []string{"sleep", "1000"}, nil)
	wantExit(t, oci(t, root, "create", "--bundle", bundle, "x1"), 0)
	t.Cleanup(func() { oci(t, root, "delete", "--force", "x1") })
	wantExit(t, oci(t, root, "start", "x1"), 0)

	r := oci(t, root, "exec", "x1", "sh", "-c", "echo in $(hostname); exit 7")
	wantExit(t, r, 7)
	if r.stdout != "in ccontainer\n" {
		t.Errorf("exec output: got %q", r.stdout)
	}
	for range 10 {
		// A process that ends at once can be reaped before ccinit
		// answers: the answer must still come first.
		wantExit(t, oci(t, root, "exec", "x1", "true"), 0)
	}
	wantOneLineError(t, oci(t, root, "exec", "x1", "no-such-command"), 127)
	wantOneLineError(t, oci(t, root, "exec", "nope", "true"), 125)

	proc := specs.Process{Args: []string{"sh", "-c", "id -u; id -g; grep CapEff /proc/self/status"}, Cwd: "/tmp",
		User: specs.User{UID: 1000, GID: 1000}, Env: []string{"PATH=/bin:/usr/bin"}}
	b, _ := json.Marshal(proc)
	pf := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(pf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r = oci(t, root, "exec", "--process", pf, "x1")
	wantExit(t, r, 0)
	if r.stdout != "1000\n1000\nCapEff:\t0000000000000000\n" {
		t.Errorf("exec --process: got %q", r.stdout)
	}

	// Signals to exec itself, sent the moment the process is ready: exec
	// catches them before it asks for the process.
	for _, tc := range forwardedSignals {
		if tc.sig == unix.SIGUSR2 || tc.sig == unix.SIGTERM {
			wantTrapped(t, ccsuper(t, "--root", root, "exec", "x1", "/bin/sh", "-c", trapScript(tc.name)), tc.name, tc.sig)
		}
	}

	pidFile := filepath.Join(t.TempDir(), "pid")
	// A detached exec starts its proxy before it asks ccinit for the
	// process: one that fails leaves no proxy behind, and no pid file.
	wantOneLineError(t, oci(t, root, "exec", "-d", "--pid-file", pidFile, "x1", "no-such-command"), 127)
	wantOneLineError(t, oci(t, root, "exec", "-d", "--pid-file", pidFile, "nope", "true"), 125)
	if left := processesOf(ccsuperBin); len(left) > 0 {
		t.Fatalf("failed detached execs left %v", left)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("failed detached execs wrote the pid file (%v)", err)
	}
	// The proxy catches every signal before its PID is in the pid file: a
	// SIGUSR1 sent the moment exec returns reaches the process (sleep dies
	// of it) instead of being dropped by a Go program not yet asking for it.
	for _, sig := range []unix.Signal{unix.SIGUSR1, unix.SIGUSR2} {
		wantExit(t, oci(t, root, "exec", "-d", "--pid-file", pidFile, "x1", "sleep", "1000"), 0)
		proxy := readPid(t, pidFile)
		if err := unix.Kill(proxy, sig); err != nil {
			t.Fatal(err)
		}
		waitGone(t, proxy)
		waitPids(t, root, "x1", 2) // ccinit and its sleep: the exec'd sleep died of it
	}

	wantExit(t, oci(t, root, "exec", "-d", "--pid-file", pidFile, "x1", "sleep", "1000"), 0)
	proxy := readPid(t, pidFile)
	if !alive(proxy) {
		t.Fatal("the detached proxy is gone")
	}
	waitPids(t, root, "x1", 3) // ccinit, sleep, the exec'd sleep
	if err := unix.Kill(proxy, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitPids(t, root, "x1", 2) // the TERM reached the exec'd sleep
	waitGone(t, proxy)

	wantExit(t, oci(t, root, "exec", "-d", "--pid-file", pidFile, "x1", "sleep", "1000"), 0)
	waitPids(t, root, "x1", 3)
	if err := unix.Kill(readPid(t, pidFile), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitPids(t, root, "x1", 2) // the proxy's death took the process with it
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return pid
}

// waitPids waits until container id has n processes.
func waitPids(t *testing.T, root, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := oci(t, root, "ps", "--format", "json", id)
		var ps []int
		_ = json.Unmarshal([]byte(r.stdout), &ps)
		if len(ps) == n {
			return
		}
		if time.Now().After(deadline) {
			var what []string
			for _, pid := range ps {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				what = append(what, fmt.Sprintf("%d %q", pid, strings.ReplaceAll(string(b), "\x00", " ")))
			}
			t.Fatalf("container %s has processes %v, want %d", id, what, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGone waits until pid has exited.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d lives on", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOCIDeviceUnderDenyAll: a device of linux.devices is made and opened
// even when the device rules deny everything else (`ccsuper spec`'s rules
// do), as with runc; another node stays denied.
func TestOCIDeviceUnderDenyAll(t *testing.T) {
	bundle, root := ociBundle(t, []string{"sh", "-c", "exec > /result 2>&1; ls -l /dev/fuse; : < /dev/fuse && echo opened; mknod /dev/other c 10 237 || echo denied"}, func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_MKNOD")
		s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_MKNOD")
		s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_MKNOD")
	})
	wantExit(t, oci(t, root, "run", "--bundle", bundle, "dev"), 0)
	got, err := os.ReadFile(filepath.Join(bundleRootfs(t, bundle), "result"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"crw-rw-rw-", "opened", "denied"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("inside the container: want %q in\n%s", want, got)
		}
	}
}

// TestOCIExecLongRoot runs exec under a state directory too long for a unix
// socket address, as Docker's default root with a 64-hex ID is: the exec
// socket is bound and reached through its directory's descriptor. Only
// its owner may connect, and an exec'd process gets no descriptor of the
// request's beyond its stdio.
func TestOCIExecLongRoot(t *testing.T) {
	bundle, root := ociBundle(t, []string{"sleep", "1000"}, nil)
	root = filepath.Join(root, "var/run/docker/runtime-ccsuper/moby", strings.Repeat("r", 40))
	id := strings.Repeat("0123456789abcdef", 4)
	sock := filepath.Join(root, id, "exec.sock")
	if len(sock) <= 107 {
		t.Fatalf("%s is %d bytes: not past the 107-byte limit", sock, len(sock))
	}
	wantExit(t, oci(t, root, "create", "--bundle", bundle, id), 0)
	t.Cleanup(func() { oci(t, root, "delete", "--force", id) })
	wantExit(t, oci(t, root, "start", id), 0)
	r := oci(t, root, "exec", id, "sh", "-c", "echo long; exit 5")
	wantExit(t, r, 5)
	if r.stdout != "long\n" {
		t.Errorf("exec output: got %q", r.stdout)
	}
	// The exec'd process has its stdio and nothing else of ccinit's or
	// of the request's (a stray copy of an engine's pipe keeps it open).
	pidFile := filepath.Join(t.TempDir(), "pid")
	wantExit(t, oci(t, root, "exec", "-d", "--pid-file", pidFile, id, "sleep", "999"), 0)
	waitPids(t, root, id, 3)
	init := ociState(t, root, id).Pid
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", init, init))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range strings.Fields(string(kids)) {
		if cmd, _ := os.ReadFile("/proc/" + k + "/cmdline"); string(cmd) != "sleep\x00999\x00" {
			continue
		}
		found = true
		ents, err := os.ReadDir("/proc/" + k + "/fd")
		if err != nil {
			t.Fatal(err)
		}
		var fds []string
		for _, e := range ents {
			fds = append(fds, e.Name())
		}
		if strings.Join(fds, " ") != "0 1 2" {
			t.Errorf("the exec'd process has descriptors %v, want 0 1 2", fds)
		}
	}
	if !found {
		t.Errorf("no exec'd sleep 999 among ccinit's children %q", kids)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode() != fs.ModeSocket|0o600 {
		t.Errorf("exec socket: %v, %v, want a socket of mode 600", fi.Mode(), err)
	}
	wantExit(t, oci(t, root, "delete", "--force", id), 0)
	if _, err := os.Stat(filepath.Join(root, id)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state directory after delete: %v", err)
	}
}

// TestOCICreateFailsInCcinit: when ccinit's own setup fails, the reason
// reaches ccsuper over the ready pipe, and create says it where an engine
// looks: once on stderr and as a JSON error line in --log. Engines throw
// ccinit's stderr away at that stage. A mount target under a file fails
// before "go", while ccsuper is still at its own steps; a working directory
// that is a file fails after it, while ccsuper waits for "ready".
func TestOCICreateFailsInCcinit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*specs.Spec)
		want   string
	}{
		{"mount target under a file", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/passwd/sub", Type: "tmpfs", Source: "tmpfs"})
		}, `/etc/passwd/sub`},
		{"working directory is a file", func(s *specs.Spec) { s.Process.Cwd = "/etc/passwd" },
			`working directory "/etc/passwd": mkdir: not a directory`},
		{"ccinit gone before go", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/passwd/sub", Type: "tmpfs", Source: "tmpfs"})
			// Until ccinit has failed and is a zombie: "go" then finds
			// its socket closed, an error of ccsuper's own that must
			// give way to ccinit's reason.
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", waitZombieHook}}}}
		}, `/etc/passwd/sub`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle, root := ociBundle(t, []string{"true"}, tc.change)
			for _, cmd := range []string{"create", "run"} {
				log := filepath.Join(t.TempDir(), "log.json")
				r := oci(t, root, "--log", log, "--log-format", "json", cmd, "--bundle", bundle, "c1")
				wantOneLineError(t, r, 125)
				if !strings.HasPrefix(r.stderr, "ccsuper: create: ccinit: ") || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("%s: stderr %q: want ccinit's reason (%q) in ccsuper's line", cmd, r.stderr, tc.want)
				}
				b, err := os.ReadFile(log)
				if err != nil {
					t.Fatal(err)
				}
				var line map[string]string
				if err := json.Unmarshal(b, &line); err != nil || line["level"] != "error" ||
					!strings.Contains(line["msg"], "ccinit: ") || !strings.Contains(line["msg"], tc.want) || line["time"] == "" {
					t.Errorf("%s: log %q (%v): want one error line with ccinit's reason %q", cmd, b, err, tc.want)
				}
				if ents, _ := os.ReadDir(root); len(ents) != 0 {
					t.Errorf("%s: left in the state root: %v", cmd, ents)
				}
			}
		})
	}
}

// waitZombieHook is a hook that waits until the container's PID (from the
// state on its stdin) has exited (reaped by ccsuper, or a zombie), at most a
// generous minute.
const waitZombieHook = `pid=$(sed 's/.*"pid":\([0-9]*\).*/\1/'); i=0
while [ -e /proc/$pid ] && [ "$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)" != Z ]; do
	i=$((i+1)); [ $i -gt 6000 ] && exit 1; sleep 0.01
done`

// runningSleep creates and starts a container running sleep, deleted when
// the test ends, and returns its state root and ID.
func runningSleep(t *testing.T, name string) (root, id string) {
	t.Helper()
	bundle, root := ociBundle(t, []string{"sleep", "1000"}, nil)
	id = token(name)
	wantExit(t, oci(t, root, "create", "--bundle", bundle, id), 0)
	t.Cleanup(func() { oci(t, root, "delete", "--force", id) })
	wantExit(t, oci(t, root, "start", id), 0)
	return root, id
}

// TestOCIExecSignalDeath: the detached exec's proxy, which the engines'
// shims wait on as the exec'd process, dies of the signal that killed the
// process, SIGABRT and SIGSEGV too (the Go runtime would exit 2 for them,
// taking them for its own crash), without a core file. The test is the
// proxy's subreaper, as conmon is, to see its status.
func TestOCIExecSignalDeath(t *testing.T) {
	root, id := runningSleep(t, "sigdeath")
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) }()
	pidFile := filepath.Join(t.TempDir(), "pid")
	for _, sig := range []unix.Signal{unix.SIGABRT, unix.SIGSEGV, unix.SIGTERM} {
		_ = os.Remove(pidFile)
		// The sh waits for a line that the test writes once it holds the
		// proxy's PID: it then kills itself.
		wantExit(t, oci(t, root, "exec", "-d", "--pid-file", pidFile, id, "sh", "-c",
			fmt.Sprintf("while [ ! -e /tmp/go-%d ]; do sleep 0.05; done; kill -%d $$", sig, sig)), 0)
		proxy := readPid(t, pidFile)
		wantExit(t, oci(t, root, "exec", id, "touch", fmt.Sprintf("/tmp/go-%d", sig)), 0)
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(proxy, &ws, 0, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				t.Fatalf("%v: wait for the proxy %d: %v", sig, proxy, err)
			}
			break
		}
		if !ws.Signaled() || ws.Signal() != sig || ws.CoreDump() {
			t.Errorf("%v: the proxy ended with status %#x (exited %v %d, signaled %v %v, core %v), want death by %v, no core",
				sig, uint32(ws), ws.Exited(), ws.ExitStatus(), ws.Signaled(), ws.Signal(), ws.CoreDump(), sig)
		}
	}
	// A SIGPIPE the engine sends the proxy is the process's (it was
	// dropped once): the sh's trap exits 9.
	wantExit(t, oci(t, root, "exec", "-d", "--pid-file", pidFile, id, "sh", "-c",
		"trap 'exit 9' PIPE; touch /tmp/trapped; while :; do sleep 0.05; done"), 0)
	proxy := readPid(t, pidFile)
	for deadline := time.Now().Add(timeout); oci(t, root, "exec", id, "test", "-e", "/tmp/trapped").code != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the sh never set its trap")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := unix.Kill(proxy, unix.SIGPIPE); err != nil {
		t.Fatal(err)
	}
	var ws unix.WaitStatus
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if n, err := unix.Wait4(proxy, &ws, unix.WNOHANG, nil); n == proxy || (err != nil && !errors.Is(err, unix.EINTR)) {
			break
		}
		if time.Now().After(deadline) {
			_ = unix.Kill(proxy, unix.SIGKILL)
			t.Fatal("SIGPIPE: the proxy did not end (the signal dropped)")
		}
	}
	if !ws.Exited() || ws.ExitStatus() != 9 {
		t.Errorf("SIGPIPE: the proxy ended with status %#x, want exit 9 (the process's trap)", uint32(ws))
	}
}

// TestOCIExecDetachedLeaks: a detached exec leaves nothing the engine did
// not ask for. A descriptor the engine passed without close-on-exec (a pipe
// it reads to EOF) is open in neither the proxy nor the process; a pid file
// that cannot be written is 125, and the process and the proxy end.
func TestOCIExecDetachedLeaks(t *testing.T) {
	root, id := runningSleep(t, "execleak")

	t.Run("inherited descriptor", func(t *testing.T) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		null, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer null.Close()
		pidFile := filepath.Join(t.TempDir(), "pid")
		cmd := ccsuper(t, "--root", root, "exec", "-d", "--pid-file", pidFile, id, "sleep", "1000")
		// fd 3 is the proxy's control socket whatever came: the pipe at 4.
		cmd.ExtraFiles = []*os.File{null, pw}
		r := runToFiles(t, cmd)
		pw.Close()
		wantExit(t, r, 0)
		proxy := readPid(t, pidFile)
		defer func() { _ = unix.Kill(proxy, unix.SIGKILL) }()
		var st unix.Stat_t
		if err := unix.Fstat(int(pr.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		pipe := fmt.Sprintf("pipe:[%d]", st.Ino)
		// The process gets 0 to 2 alone, from ccinit: the proxy is
		// where the pipe could live on.
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", proxy))
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", proxy, fd.Name())); l == pipe {
				t.Errorf("the proxy holds the engine's pipe as fd %s", fd.Name())
			}
		}
		// And so the engine's read ends (polled: the pipe is blocking
		// since ExtraFiles took it, and a deadline would not hold).
		pfd := []unix.PollFd{{Fd: int32(pr.Fd()), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, int(timeout/time.Millisecond)); n != 1 || err != nil {
			t.Fatalf("the engine's pipe never read EOF (poll %d, %v)", n, err)
		}
		if n, err := pr.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
			t.Errorf("the engine's pipe: read %d, %v; want EOF", n, err)
		}
	})

	t.Run("pid file fails", func(t *testing.T) {
		waitPids(t, root, id, 2)
		bad := filepath.Join(t.TempDir(), "no-such-dir", "pid")
		wantOneLineError(t, oci(t, root, "exec", "-d", "--pid-file", bad, id, "sleep", "1000"), 125)
		waitPids(t, root, id, 2) // ccinit and its sleep: the exec'd one killed
		if left := processesOf(ccsuperBin); len(left) > 0 {
			t.Errorf("proxies left: %v", left)
		}
	})
}
