package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// devRule is a device cgroup rule; a negative number is "*".
func devRule(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: &major, Minor: &minor, Access: access}
}

// engineDeviceRules are the device rules Docker sends for every container
// (deny all, mknod of anything, the usual devices, tun), then user's;
// containerd's are the same without the mknod rule.
func engineDeviceRules(user ...specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"},
		devRule(true, "c", -1, -1, "m"), devRule(true, "b", -1, -1, "m"),
		devRule(true, "c", 1, 3, "rwm"), devRule(true, "c", 1, 8, "rwm"), devRule(true, "c", 1, 7, "rwm"),
		devRule(true, "c", 5, 0, "rwm"), devRule(true, "c", 1, 5, "rwm"), devRule(true, "c", 1, 9, "rwm"),
		devRule(true, "c", 5, 1, "rwm"), devRule(true, "c", 136, -1, "rwm"), devRule(true, "c", 5, 2, "rwm"),
		devRule(true, "c", 10, 200, "rwm")}
	return append(rules, user...)
}

// deviceScript tries, inside the container, what the rules of
// deviceConfig allow and refuse.
const deviceScript = `exec > /result 2>&1
mkdir -p /tmp
cat /dev/null; echo "null read $?"
echo x > /dev/null; echo "null write $?"
mknod /tmp/n c 1 3 && echo "null mknod ok"
cat /tmp/n; echo "made null read $?"
cat /hostnull; echo "bound null read $?"
echo "zero $(head -c 5 /dev/zero | wc -c)"
mknod /tmp/z c 1 5 && echo "made zero $(head -c 3 /tmp/z | wc -c)"
mknod /tmp/u c 3000 3 && cat /tmp/u; echo "unruled read $?"
echo x > /dev/full
echo done`

// deviceConfig gives a container the rules engines send with one of the
// user's: /dev/null may be made but neither read nor written. The host's
// /dev/null is bound in too, and the container may make device nodes.
func deviceConfig(s *specs.Spec) {
	s.Linux.Resources = &specs.LinuxResources{Devices: engineDeviceRules(devRule(false, "c", 1, 3, "rw"))}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hostnull", Type: "bind", Source: "/dev/null", Options: []string{"bind"}})
	c := s.Process.Capabilities
	c.Bounding, c.Effective, c.Permitted = append(c.Bounding, "CAP_MKNOD"), append(c.Effective, "CAP_MKNOD"), append(c.Permitted, "CAP_MKNOD")
}

// wantDeviceResult checks what deviceScript found.
func wantDeviceResult(t *testing.T, bundle string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundleRootfs(t, bundle), "result"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		"can't open '/dev/null': Operation not permitted", "null read 1",
		"can't create /dev/null: Operation not permitted", "null write 1",
		"null mknod ok", "can't open '/tmp/n': Operation not permitted", "made null read 1",
		"can't open '/hostnull': Operation not permitted", "bound null read 1",
		"zero 5", "made zero 3",
		// A major no driver has: ENXIO if the rules let the open through.
		"can't open '/tmp/u': Operation not permitted", "unruled read 1",
		"No space left on device", // /dev/full is allowed: the write reaches it
		"done",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("inside the container: want %q in\n%s", want, got)
		}
	}
}

// TestOCIDeviceRules takes a container with the device rules and resources
// engines send through create, start and delete: a device the rules refuse
// gives EPERM however it got into the container (the default /dev/null, a
// node made inside, the host's bound in), the others work, and the limits
// are in the kernel's files before start. On this hybrid machine the rules
// go to the v1 devices cgroup; on a pure v2 host (the guest of make
// test-vm) they are an eBPF program on the container's cgroup.
func TestOCIDeviceRules(t *testing.T) {
	bundle, root := ociBundle(t, []string{"sh", "-c", deviceScript}, func(s *specs.Spec) {
		deviceConfig(s)
		// As Docker sends them for --memory 64m --cpus 0.5 --pids-limit
		// 200 --cpu-shares 512: swap twice the memory, no blkio weight
		// (0).
		limit, swap, pids, shares, quota, period := int64(64<<20), int64(128<<20), int64(200), uint64(512), int64(50000), uint64(100000)
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &swap}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
		s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: &shares, Quota: &quota, Period: &period}
		s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{Weight: new(uint16)}
	})
	path := bundleSpec(t, bundle).Linux.CgroupsPath
	wantExit(t, oci(t, root, "create", "--bundle", bundle, "dev"), 0)
	t.Cleanup(func() { oci(t, root, "delete", "--force", "dev") })

	v2 := isCgroup2("/sys/fs/cgroup")
	files := map[string]string{"memory/" + path + "/memory.limit_in_bytes": "67108864", "pids/" + path + "/pids.max": "200",
		"cpu/" + path + "/cpu.shares": "512", "cpu/" + path + "/cpu.cfs_quota_us": "50000"}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
		files["memory/"+path+"/memory.memsw.limit_in_bytes"] = "134217728"
	}
	if v2 {
		files = map[string]string{path + "/memory.max": "67108864", path + "/memory.swap.max": "67108864",
			path + "/pids.max": "200", path + "/cpu.weight": "20", path + "/cpu.max": "50000 100000"}
	}
	for f, want := range files {
		if got := readCgroupFile(t, "/sys/fs/cgroup", f); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	wantExit(t, oci(t, root, "start", "dev"), 0)
	waitStatus(t, root, "dev", specs.StateStopped)
	wantDeviceResult(t, bundle)
	wantExit(t, oci(t, root, "delete", "dev"), 0)
	for _, h := range []string{"", "memory", "pids", "cpu", "devices"} {
		if v2 != (h == "") {
			continue
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, path)); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left after delete (%v)", filepath.Join(h, path), err)
		}
	}
}

// TestOCIDeviceRulesV2Path runs the container of TestOCIDeviceRules where
// /sys/fs/cgroup is this hybrid host's unified hierarchy, bound over it in
// a mount namespace of the run's own (as TestCgroupV2Path does): the v2
// path, an eBPF program on the container's cgroup, here. The unified
// hierarchy has no controller here, so the rules are the only resources.
func TestOCIDeviceRulesV2Path(t *testing.T) {
	if isCgroup2("/sys/fs/cgroup") {
		t.Skip("the host is pure cgroup v2: TestOCIDeviceRules runs the v2 path")
	}
	if !isCgroup2("/sys/fs/cgroup/unified") {
		t.Skip("no cgroup2 hierarchy at /sys/fs/cgroup/unified")
	}
	bundle, root := ociBundle(t, []string{"sh", "-c", deviceScript}, deviceConfig)
	path := bundleSpec(t, bundle).Linux.CgroupsPath
	script := `mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec "$@"`
	r := run(t, command(t, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
		ccsuperBin, "--root", root, "run", "--bundle", bundle, "devv2"))
	wantExit(t, r, 0)
	wantDeviceResult(t, bundle)
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/unified", path)); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left after the run (%v)", path, err)
	}
	// What was just seen to work is what features says.
	r = runCCSuper(t, "features")
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, `"io.github.ccontainer.cgroup.v2.devices": "ebpf"`) {
		t.Errorf("features does not list the v2 device rules:\n%s", r.stdout)
	}
}
