package e2e

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// podmanImage is the name `podman import` gives the suite's rootfs.
const podmanImage = "localhost/ccontainer-e2e-busybox"

// TestEnginePodman runs podman's everyday round trips with each OCI runtime
// as `podman --runtime PATH`: run --rm with an exit status and -e, run -d with
// exec, logs, ps, top, stop, kill and rm, a --memory limit that ends in an
// OOM kill podman reports, and --network none.
//
// podman's storage (vfs: no mounts), run and temporary directories are the
// test's own; each podman command, and so conmon and the runtime, runs in a
// mount namespace of its own (engineMountNS); the containers' cgroups go
// under a parent named for this test, removed at the end.
func TestEnginePodman(t *testing.T) {
	podmanBin, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (scripts/engine-deps.sh installs it)")
	}
	parent := engineCgroupParent("podman")
	dir := newEngineDir(t, parent)
	// Each runtime's state goes under the test's directory, not /run.
	runtimeRoot := func(rt ociRuntime) string { return filepath.Join(dir, "runtime-"+rt.name) }
	podman := func(rt ociRuntime, args ...string) *exec.Cmd {
		argv := []string{podmanBin, "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"),
			"--tmpdir", filepath.Join(dir, "tmp"), "--cgroup-manager", "cgroupfs",
			"--events-backend", "none", "--storage-driver", "vfs"}
		if rt.path != "" {
			argv = append(argv, "--runtime", rt.path, "--runtime-flag", "root="+runtimeRoot(rt))
		}
		return engineCommand(t, engineMountNS, append(argv, args...)...)
	}
	if r := run(t, podman(ociRuntime{}, "import", rootfsTarball(t, dir), podmanImage)); r.code != 0 {
		t.Fatalf("podman import: %s", r)
	}

	cliRoundTrips(t, cliEngine{
		cli:   podman,
		image: podmanImage,
		runFlags: func(ociRuntime) []string {
			return []string{"--cgroup-parent", "/" + parent,
				// Root here lacks CAP_SYS_RESOURCE: podman's default
				// limits cannot be set (GUIDE.md, machine notes).
				"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
		},
		top:         []string{"pid", "args"},
		runtimeRoot: runtimeRoot,
		// conmon 2.1.6 watches v1's memory.oom_control for podman, and on
		// this hybrid host reports no OOM kill with runc or crun either.
		oomReported: false,
	})
}
