package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPodmanInitPath runs ccinit as podman's init (`podman run --init
// --init-path ccinit`) on an image imported from the suite's busybox rootfs:
// ccinit must be the container's PID 1, pass the command's exit status
// through, and forward the signal podman sends PID 1 to the command.
//
// Nothing global is left: podman's storage, run and temporary directories are
// the test's own, its cgroups go under a parent named for this test and
// removed at the end, and the container has no network. /run is already the
// suite's own tmpfs.
func TestPodmanInitPath(t *testing.T) {
	t.Parallel()
	podmanBin, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (scripts/test-deps.sh installs it)")
	}
	dir := t.TempDir()
	parent := fmt.Sprintf("ccontainer-e2e-podman-%d", os.Getpid())
	t.Cleanup(func() {
		removeCgroups(t, parent)
		removeHiddenCgroupDirs(t, parent)
	})
	t.Cleanup(func() {
		// conmon outlives `podman run --rm` for a moment: it runs
		// podman's cleanup of the container once the container is gone.
		deadline := time.Now().Add(timeout)
		for len(processesWithArg(dir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if left := killWithArg(dir); len(left) > 0 {
			t.Errorf("podman left processes: %v", left)
		}
	})

	// podman runs in a mount namespace of its own where the cgroup v2
	// hierarchy of a v1 hybrid is unmounted: crun refuses hybrid cgroups
	// ("drop all controllers from cgroupv2"). On a pure v1 or v2 host there
	// is nothing to unmount. The cgroupfs manager works with or without
	// systemd, and vfs storage mounts nothing.
	const wrapper = `! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified || exit 125; exec "$@"`
	podman := func(args ...string) *exec.Cmd {
		argv := []string{"--mount", "--propagation", "private", "sh", "-c", wrapper, "sh", podmanBin,
			"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"),
			"--tmpdir", filepath.Join(dir, "tmp"), "--cgroup-manager", "cgroupfs",
			"--events-backend", "none", "--storage-driver", "vfs"}
		return command(t, "unshare", append(argv, args...)...)
	}
	runArgs := func(name string, args ...string) []string {
		return append([]string{"run", "--rm", "--name", name, "--init", "--init-path", ccinitBin,
			"--network", "none", "--cgroup-parent", "/" + parent,
			// Root here lacks CAP_SYS_RESOURCE: podman's default
			// limits cannot be set (GUIDE.md, machine notes).
			"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
			"ccontainer-e2e-busybox"}, args...)
	}

	tarball := filepath.Join(dir, "rootfs.tar")
	wantExit(t, run(t, command(t, "tar", "-C", baseRootfs, "-cf", tarball, ".")), 0)
	if r := run(t, podman("import", tarball, "ccontainer-e2e-busybox")); r.code != 0 {
		t.Skipf("podman cannot import an image here: %s", r)
	}

	t.Run("PID 1 is ccinit and the status passes through", func(t *testing.T) {
		const script = `sha256sum /proc/1/exe; tr '\0' ' ' < /proc/1/cmdline; echo; exit 7`
		r := run(t, podman(runArgs("status", "/bin/sh", "-c", script)...))
		wantExit(t, r, 7)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 {
			t.Fatalf("got stdout\n%s\nwant two lines", r.stdout)
		}
		if sum, _, _ := strings.Cut(lines[0], " "); sum != fileSHA256(t, ccinitBin) {
			t.Errorf("PID 1's executable has SHA-256 %s, not ccinit's", sum)
		}
		if !strings.HasSuffix(lines[1], " -- /bin/sh -c "+script) { // the last space went with TrimSpace
			t.Errorf("PID 1's command line %q does not run the command after --", lines[1])
		}
	})

	t.Run("a signal to PID 1 reaches the command", func(t *testing.T) {
		// podman kill signals the container's PID 1 only: the trap
		// runs only if ccinit forwarded it.
		p := start(t, podman(runArgs("signal", "/bin/sh", "-c", `trap 'echo got-usr1; exit 42' USR1; echo ready; while :; do sleep 0.05; done`)...))
		p.waitLine(t, "ready")
		wantExit(t, run(t, podman("kill", "--signal", "USR1", "signal")), 0)
		r := p.wait(t)
		wantExit(t, r, 42)
		if r.stdout != "ready\ngot-usr1\n" {
			t.Errorf("got stdout %q", r.stdout)
		}
	})
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// removeCgroups removes the cgroup directories named parent, and all below
// them, from every hierarchy mounted under /sys/fs/cgroup (v1, v2 and
// hybrid), deepest first.
func removeCgroups(t *testing.T, parent string) {
	t.Helper()
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent) // a constant pattern cannot be malformed
	roots = append(roots, "/sys/fs/cgroup/"+parent)
	var dirs []string
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil // a missing root is fine: not every hierarchy has it
		})
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs))) // children after parents, reversed
	// conmon double-forks, so its exited copy is reparented to the
	// machine's init, which may take seconds to reap it (this VM's init
	// does): until then the zombie keeps the cgroup busy.
	deadline := time.Now().Add(timeout)
	for _, d := range dirs {
		for {
			// cpu and cpuacct may be one hierarchy under two names.
			err := unix.Rmdir(d)
			if errors.Is(err, unix.EBUSY) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if err != nil && !errors.Is(err, unix.ENOENT) {
				t.Errorf("remove cgroup %s: %v", d, err)
			}
			break
		}
	}
}

// removeHiddenCgroupDirs removes what crun made of parent under
// /sys/fs/cgroup/unified while that was unmounted in podman's namespace (see
// the wrapper): plain directories in the host's cgroup tmpfs, hidden under
// the cgroup2 mount on the host, that would otherwise pile up run after run.
func removeHiddenCgroupDirs(t *testing.T, parent string) {
	t.Helper()
	const script = `! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified || exit 1
[ -d /sys/fs/cgroup/unified ] || exit 0
rm -rf "/sys/fs/cgroup/unified/$1"; [ ! -e "/sys/fs/cgroup/unified/$1" ]`
	if r := run(t, command(t, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", parent)); r.code != 0 {
		t.Errorf("remove the hidden cgroup directories of %s: %s", parent, r)
	}
}
