package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// unifiedRefused checks that a create of a config with the unified map u
// fails with one line holding want, exit 125, and leaves neither the
// container's state nor its cgroup in any of dirs (cgroup hierarchies).
// ccsuperIn runs ccsuper with its arguments.
func unifiedRefused(t *testing.T, ccsuperIn func(args ...string) result, u map[string]string, want string, dirs ...string) {
	t.Helper()
	bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Linux.Resources.Unified = u
	})
	path := bundleSpec(t, bundle).Linux.CgroupsPath
	r := ccsuperIn("--root", root, "create", "--bundle", bundle, "uni")
	if r.code == 0 {
		ccsuperIn("--root", root, "delete", "--force", "uni")
	}
	wantOneLineError(t, r, 125)
	t.Logf("unified %q: %s", u, strings.TrimSpace(r.stderr))
	if !strings.Contains(r.stderr, want) {
		t.Errorf("unified %q: got %q, want %q in it", u, r.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(root, "uni")); !os.IsNotExist(err) {
		t.Errorf("unified %q: state left after the refusal (%v)", u, err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, path)); !os.IsNotExist(err) {
			t.Errorf("unified %q: cgroup %s left after the refusal (%v)", u, filepath.Join(d, path), err)
		}
	}
}

// TestOCIUnified takes linux.resources.unified on a pure cgroup v2 host (the
// guest of make test-vm), as the kubelet sends it on every container of a
// v2 node: memory.oom.group and a pids.max that overrides the structured
// pids limit are in the container's cgroup after create, the container
// runs, and delete removes the cgroup. Bad keys are refused in one line,
// exit 125, leaving nothing: a controller the cgroup does not enable, a
// file the kernel does not have, a path, a core file ccsuper owns.
func TestOCIUnified(t *testing.T) {
	if !isCgroup2("/sys/fs/cgroup") {
		t.Skip("needs a pure cgroup v2 host (make test-vm); TestOCIUnifiedV1 and TestOCIUnifiedV2Path run here")
	}
	bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) {
		limit := int64(100)
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
		s.Linux.Resources.Unified = map[string]string{"memory.oom.group": "1", "pids.max": "37"}
	})
	path := bundleSpec(t, bundle).Linux.CgroupsPath
	wantExit(t, oci(t, root, "create", "--bundle", bundle, "uni"), 0)
	t.Cleanup(func() { oci(t, root, "delete", "--force", "uni") })
	for f, want := range map[string]string{"memory.oom.group": "1", "pids.max": "37"} {
		if got := readCgroupFile(t, "/sys/fs/cgroup", filepath.Join(path, f)); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	wantExit(t, oci(t, root, "start", "uni"), 0)
	waitStatus(t, root, "uni", specs.StateStopped)
	wantExit(t, oci(t, root, "delete", "uni"), 0)
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", path)); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left after delete (%v)", path, err)
	}

	host := func(args ...string) result { return runToFiles(t, ccsuper(t, args...)) }
	if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && strings.Contains(string(b), "hugetlb") {
		unifiedRefused(t, host, map[string]string{"hugetlb.2MB.max": "0"}, "the hugetlb controller is not enabled", "/sys/fs/cgroup")
	} else {
		t.Log("no hugetlb controller on this host: the not-enabled case is TestOCIUnifiedV2Path's")
	}
	unifiedRefused(t, host, map[string]string{"pids.max": "10", "pids.nosuch": "1"}, `"pids.nosuch": the kernel has no such file`, "/sys/fs/cgroup")
	unifiedRefused(t, host, map[string]string{"pids.max": "many"}, `"pids.max": write "many" to /sys/fs/cgroup`+path, "/sys/fs/cgroup")
	unifiedRefused(t, host, map[string]string{"../x": "1"}, `"../x": a key is a file name`, "/sys/fs/cgroup")
	unifiedRefused(t, host, map[string]string{"cgroup.procs": "1"}, `"cgroup.procs": refused`, "/sys/fs/cgroup")
}

// TestOCIUnifiedV1: on a v1 or hybrid host (this machine) the container's
// cgroup is in v1 hierarchies, where the unified map means nothing: a
// non-empty one is refused in one line, exit 125, before any cgroup is
// made, as runc refuses it.
func TestOCIUnifiedV1(t *testing.T) {
	if isCgroup2("/sys/fs/cgroup") {
		t.Skip("the host is pure cgroup v2: TestOCIUnified runs")
	}
	host := func(args ...string) result { return runToFiles(t, ccsuper(t, args...)) }
	var dirs []string
	for _, h := range []string{"pids", "memory", "cpu", "unified"} {
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", h))
	}
	unifiedRefused(t, host, map[string]string{"memory.oom.group": "1"}, "linux.resources.unified (memory.oom.group) needs cgroup v2", dirs...)
	// A bad key is refused as such, on any host.
	unifiedRefused(t, host, map[string]string{"cgroup.kill": "1"}, `"cgroup.kill": refused, it would kill`, dirs...)
}

// TestOCIUnifiedV2Path runs the v2 code on this hybrid host: its unified
// hierarchy bound over /sys/fs/cgroup in a mount namespace of each
// command's own (as TestOCIDeviceRulesV2Path does). There it has no
// controller enabled: a core file is written and read back, and
// memory.oom.group (the kubelet's key) is refused as its controller not
// enabled, leaving nothing.
func TestOCIUnifiedV2Path(t *testing.T) {
	if isCgroup2("/sys/fs/cgroup") {
		t.Skip("the host is pure cgroup v2: TestOCIUnified runs the v2 path")
	}
	if !isCgroup2("/sys/fs/cgroup/unified") {
		t.Skip("no cgroup2 hierarchy at /sys/fs/cgroup/unified")
	}
	const v2 = "/sys/fs/cgroup/unified"
	inNS := func(args ...string) result {
		script := `mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec "$@"`
		return runToFiles(t, command(t, "unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", ccsuperBin}, args...)...))
	}
	bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Linux.Resources.Unified = map[string]string{"cgroup.max.descendants": "5", "cgroup.max.depth": "2"}
	})
	path := bundleSpec(t, bundle).Linux.CgroupsPath
	wantExit(t, inNS("--root", root, "create", "--bundle", bundle, "uni"), 0)
	t.Cleanup(func() { inNS("--root", root, "delete", "--force", "uni") })
	for f, want := range map[string]string{"cgroup.max.descendants": "5", "cgroup.max.depth": "2"} {
		if got := readCgroupFile(t, v2, filepath.Join(path, f)); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	wantExit(t, inNS("--root", root, "start", "uni"), 0)
	waitStatus(t, root, "uni", specs.StateStopped)
	wantExit(t, inNS("--root", root, "delete", "uni"), 0)
	if _, err := os.Stat(filepath.Join(v2, path)); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left after delete (%v)", path, err)
	}

	unifiedRefused(t, inNS, map[string]string{"cgroup.max.depth": "2", "memory.oom.group": "1"}, `"memory.oom.group": the memory controller is not enabled`, v2)
	unifiedRefused(t, inNS, map[string]string{"nosuch": "1"}, `"nosuch": the kernel has no such file`, v2)
}
