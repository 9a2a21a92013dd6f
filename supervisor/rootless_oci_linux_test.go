package supervisor

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestOCIRootless runs OCIRootless in this test binary started again
// (ociRootlessHelper): as the host's root, it is not rootless; as root of a
// user namespace mapping 0 to 0 alone (`unshare -U -r`), or every ID to
// itself (whose uid_map reads as the initial namespace's), it is.
func TestOCIRootless(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, tc := range []struct {
		name string
		uns  bool
		size int
		want string
	}{
		{"host's root", false, 0, "false"},
		{"0 mapped to 0", true, 1, "true"},
		{"every ID to itself", true, 1<<32 - 1, "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "CCSUPER_TEST_OCIROOTLESS=1")
			if tc.uns {
				m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: tc.size}}
				cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, UidMappings: m, GidMappings: m}
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("OCIRootless() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestOCIRoot(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name     string
		rootless bool
		env      map[string]string
		want     string
		fail     bool
	}{
		{"root", false, map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"}, "/run/ccsuper", false},
		{"rootless", true, map[string]string{"XDG_RUNTIME_DIR": "/run/user/1003"}, "/run/user/1003/ccsuper", false},
		{"rootless, no XDG_RUNTIME_DIR", true, nil, "", true},
		{"rootless, relative XDG_RUNTIME_DIR", true, map[string]string{"XDG_RUNTIME_DIR": "run/user/1003"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OCIRoot(tc.rootless, env(tc.env))
			if (err != nil) != tc.fail || got != tc.want {
				t.Errorf("got %q, %v; want %q, failing %v", got, err, tc.want, tc.fail)
			}
			if err != nil && (strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--root")) {
				t.Errorf("error %q: want one line naming --root", err)
			}
		})
	}
}

func TestResourcesAsked(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	u64 := func(n uint64) *uint64 { return &n }
	u16 := func(n uint16) *uint16 { return &n }
	major := int64(1)
	for _, tc := range []struct {
		name string
		r    *specs.LinuxResources
		want bool
	}{
		{"none", nil, false},
		{"empty (rootless podman's)", &specs.LinuxResources{}, false},
		{"device rules only", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: &major}}}, false},
		{"pids limit 0 (none)", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}}, false},
		{"cpu shares 0 (none)", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(0)}}, false},
		{"blkio weight 0 (none)", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(0)}}, false},
		{"pids limit", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(100)}}, true},
		{"memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}}, true},
		{"cpu quota", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000)}}, true},
		{"cpuset", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}}, true},
		{"hugepages (refused later)", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resourcesAsked(tc.r); got != tc.want {
				t.Errorf("resourcesAsked = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestV1View(t *testing.T) {
	const hybrid = "12:pids:/user.slice/u\n5:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice/u/s.scope\n0::/user.slice/u/s.scope\n"
	all := func(string) bool { return true }
	got := v1View([]byte(hybrid), all)
	want := []string{
		"/sys/fs/cgroup/pids/user.slice/u:pids",
		"/sys/fs/cgroup/cpu,cpuacct/user.slice:cpu,cpuacct",
		"/sys/fs/cgroup/systemd/user.slice/u/s.scope:systemd",
		"/sys/fs/cgroup/unified/user.slice/u/s.scope:unified",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	// A hierarchy not mounted (the hybrid's unified, unmounted for crun)
	// is left out.
	got = v1View([]byte(hybrid), func(d string) bool { return !strings.Contains(d, "/unified/") })
	if !slices.Equal(got, want[:3]) {
		t.Errorf("without unified: got %q", got)
	}
	// ccsuper in a hierarchy's root: an empty directory, not the tree.
	if got := v1View([]byte("4:memory:/\n"), all); !slices.Equal(got, []string{":memory"}) {
		t.Errorf("in the root: got %q, want an empty view", got)
	}
	if got := v1View([]byte("bad\n3:x/y:/z\n"), all); got != nil {
		t.Errorf("malformed lines: got %q, want none", got)
	}
}

// nsMembers refuses a "container" whose ccinit is in ccsuper's own PID
// namespace (a PID reused by a process of the host's), and lists nothing
// for a PID whose start time is not ccinit's.
func TestNSMembersOwnNamespace(t *testing.T) {
	start, err := startTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	st := containerState{ID: "x", Pid: os.Getpid(), PidStart: start, OwnPidNS: true}
	if fds, err := nsMembers(st); err == nil || len(fds) != 0 {
		t.Errorf("nsMembers of a process in our own namespace: %d members, err %v; want refused", len(fds), err)
	}
	st.PidStart++
	if fds, err := nsMembers(st); err != nil || len(fds) != 0 {
		t.Errorf("nsMembers of a reused PID: %d members, err %v; want none", len(fds), err)
	}
}
