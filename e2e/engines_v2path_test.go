package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// v2PathNS is the shell an engine runs under (as engineMountNS) on the v2
// path: the hybrid host's unified hierarchy bound over /sys/fs/cgroup, which
// is what a pure v2 host looks like to the engine and to ccsuper.
const v2PathNS = `mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup || exit 125; exec "$@"`

// v2PathEngine skips unless the host is a hybrid with a unified hierarchy
// and ccsuper can serve as a runtime, and returns ccsuper's runtime, the
// engine's cgroup parent, its runtime state directory and its directory
// (cleaned up as newEngineDir does).
func v2PathEngine(t *testing.T, engine string) (rt ociRuntime, parent, runDir, dir string) {
	t.Helper()
	if isCgroup2("/sys/fs/cgroup") {
		t.Skip("the host is pure cgroup v2")
	}
	if !isCgroup2("/sys/fs/cgroup/unified") {
		t.Skip("no cgroup2 hierarchy at /sys/fs/cgroup/unified")
	}
	if rt = ccsuperRuntime(); rt.skip != "" {
		t.Skip(rt.skip)
	}
	parent = engineCgroupParent(engine)
	return rt, parent, engineRunDir(t, engine), newEngineDir(t, parent)
}

// unruledNode makes, in dir, a character device node of a major no driver
// can have (the kernel registers none above 511) and that no engine's rules
// name: bound into a container, opening it fails with EPERM when the device
// rules refuse it and with ENXIO when they do not (no capability is
// checked first, unlike /dev/kmsg's CAP_SYSLOG).
func unruledNode(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "unruled")
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(3000, 3))); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEngineContainerdV2Path runs containers through containerd, its runc
// shim and ccsuper where /sys/fs/cgroup is this hybrid host's unified
// hierarchy, bound over it in the daemon's mount namespace (as
// TestCgroupV2Path does for ccsuper alone): what the engine and ccsuper do
// on a pure v2 host, the device rules containerd sends as an eBPF program
// included. The unified hierarchy has no controllers here, so the
// containers ask for no limit: `--cpu-shares 0`, which ctr otherwise sets
// to 1024 (and a v2 host writes as cpu.weight).
func TestEngineContainerdV2Path(t *testing.T) {
	for _, name := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s is not installed (scripts/engine-deps.sh installs it)", name)
		}
	}
	rt, ns, runDir, dir := v2PathEngine(t, "containerd-v2")
	sock := startContainerdUnder(t, dir, "", v2PathNS)
	ctr := func(args ...string) *exec.Cmd {
		return command(t, "ctr", append([]string{"--address", sock, "--namespace", ns}, args...)...)
	}
	archive := filepath.Join(dir, "image.tar")
	wantExit(t, run(t, command(t, "../scripts/mkimage-oci.sh", rootfsTarball(t, dir), containerdImage, archive)), 0)
	wantExit(t, run(t, ctr("images", "import", "--snapshotter", "native", archive)), 0)
	// A node the rules do not allow is bound in.
	node := unruledNode(t, dir)
	runArgs := func(id string, detach bool, args ...string) []string {
		a := []string{"run", "--snapshotter", "native", "--runtime", "io.containerd.runc.v2", "--cpu-shares", "0",
			"--runc-binary", rt.path, "--runc-root", filepath.Join(runDir, "ccsuper"),
			"--mount", "type=bind,src=" + node + ",dst=/unruled,options=bind:ro"}
		if detach {
			a = append(a, "-d", "--log-uri", "file://"+filepath.Join(dir, id+".log"))
		} else {
			a = append(a, "--rm")
		}
		return append(append(a, containerdImage, id), args...)
	}

	// containerd's rules deny every device but the usual ones, and mknod
	// of any other: kmsg (1:11) cannot be made.
	r := run(t, ctr(runArgs("v2rm", false, "sh", "-c",
		`grep "^0::" /proc/self/cgroup; cat /dev/null && echo null-ok; mknod /tmp/k c 1 11 || echo mknod-refused; exit 3`)...))
	wantExit(t, r, 3)
	for _, want := range []string{"0::/" + ns + "/v2rm\n", "null-ok\n", "mknod-refused\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run --rm: want %q in\n%s", want, r)
		}
	}
	if !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("run --rm: want mknod's EPERM in\n%s", r)
	}

	c := "v2d"
	wantExit(t, run(t, ctr(runArgs(c, true, "sleep", "1000")...)), 0)
	t.Cleanup(func() { forceRemoveContainer(t, ctr, c) })
	r = run(t, ctr("task", "exec", "--exec-id", "e1", c, "sh", "-c", "head -c 3 /dev/zero | wc -c; ( : < /unruled ) || exit 4"))
	if r.code != 4 || r.stdout != "3\n" || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("task exec: got %s\nwant 3 bytes of /dev/zero, then the bound node refused (status 4, EPERM)", r)
	}
	wantExit(t, run(t, ctr("task", "kill", "--signal", "SIGKILL", c)), 0)
	waitFor(t, "the task stops", func() bool { return taskStatus(t, ctr, c) == "STOPPED" })
	wantExit(t, run(t, ctr("task", "delete", c)), 0)
	wantExit(t, run(t, ctr("container", "delete", c)), 0)
}

// TestEnginePodmanV2Path runs a container through podman (cgroupfs
// manager) and ccsuper on the v2 path, as TestEngineContainerdV2Path does
// with containerd: the exit status passed through, podman's own cgroup
// namespace, its device rules as an eBPF program. No limit is asked for
// (the unified hierarchy has no controllers here): `--pids-limit 0`, which
// podman otherwise sets to 2048.
func TestEnginePodmanV2Path(t *testing.T) {
	podmanBin, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (scripts/engine-deps.sh installs it)")
	}
	rt, parent, runDir, dir := v2PathEngine(t, "podman-v2")
	conf := podmanConf(t, dir)
	podman := func(args ...string) result {
		t.Helper()
		argv := append([]string{podmanBin, "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"),
			"--tmpdir", filepath.Join(dir, "tmp"), "--cgroup-manager", "cgroupfs", "--events-backend", "none",
			"--storage-driver", "vfs", "--runtime", rt.path, "--runtime-flag", "root=" + filepath.Join(runDir, "ccsuper")}, args...)
		cmd := engineCommand(t, v2PathNS, argv...)
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
		cmd.Dir = dir
		return run(t, cmd)
	}
	if r := podman("import", rootfsTarball(t, dir), podmanImage); r.code != 0 {
		t.Fatalf("podman import: %s", r)
	}
	r := podman("run", "--rm", "--network", "none", "--cgroup-parent", "/"+parent, "--pids-limit", "0",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "-v", unruledNode(t, dir)+":/unruled:ro", podmanImage,
		"sh", "-c", `grep "^0::" /proc/self/cgroup; cat /dev/null && echo null-ok; ( : < /unruled ) || echo refused; exit 5`)
	wantExit(t, r, 5)
	for _, want := range []string{"0::/\n", "null-ok\n", "refused\n", "can't open /unruled: Operation not permitted"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("podman run: want %q in\n%s", want, r)
		}
	}
}

// TestEngineDockerV2Path runs a container through dockerd (cgroupfs driver)
// and ccsuper on the v2 path, as TestEngineContainerdV2Path does with
// containerd: the exit status passed through, Docker's device rules as an
// eBPF program (mknod of anything allowed, a bound-in node it does not list
// refused).
func TestEngineDockerV2Path(t *testing.T) {
	needDocker(t)
	rt, parent, execRoot, dir := v2PathEngine(t, "docker-v2")
	sock := startDockerdUnder(t, dir, execRoot, parent, v2PathNS, false, nil)
	docker := func(args ...string) result {
		t.Helper()
		cmd := command(t, dockerCLI, append([]string{"--host", "unix://" + sock}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(dir, "cli"))
		return run(t, cmd)
	}
	if r := docker("import", rootfsTarball(t, dir), dockerImage); r.code != 0 {
		t.Fatalf("docker import: %s", r)
	}
	r := docker("run", "--rm", "--runtime", dockerRuntimeName(rt), "--network", "none", "-v", unruledNode(t, dir)+":/unruled:ro",
		dockerImage, "sh", "-c", `cat /dev/null && echo null-ok; mknod /tmp/z c 1 5 && echo mknod-ok; ( : < /unruled ) || echo refused; exit 6`)
	wantExit(t, r, 6)
	for _, want := range []string{"null-ok\n", "mknod-ok\n", "refused\n", "can't open /unruled: Operation not permitted"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("docker run: want %q in\n%s", want, r)
		}
	}
}
