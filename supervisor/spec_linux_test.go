package supervisor

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// TestPlanBundleDefault plans `ccsuper spec`'s config and checks what each
// part of it became.
func TestPlanBundleDefault(t *testing.T) {
	p, err := planBundle("/b", DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	o := p.init
	checks := []struct {
		name      string
		got, want any
	}{
		{"rootfs", o.Rootfs, "/b/rootfs"},
		{"read-only", o.ReadOnly, true},
		{"hostname", o.Hostname, DefaultHostname},
		{"args", strings.Join(o.Args, " "), "sh"},
		{"user", o.User, "0:0"},
		{"umask", o.OCI.Umask, "22"},
		{"no_new_privs", o.NoNewPrivs, true},
		{"caps", o.Caps, "0x20000420"},
		{"bounding", o.OCI.Bounding, "0x20000420"},
		{"terminal", p.terminal, true},
		{"clone", p.clone, uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP)},
		{"new net", p.newNet, true},
		{"mounts", len(o.OCI.Mounts), 7},
		{"sysfs read-only", o.OCI.Mounts[5].Flags&unix.MS_RDONLY != 0, true},
		{"/dev data", o.OCI.Mounts[1].Data, "mode=755,size=65536k"},
		{"/dev flags", o.OCI.Mounts[1].Flags, uintptr(unix.MS_NOSUID | unix.MS_STRICTATIME)},
		{"rlimit", o.OCI.Rlimits, []initproc.Rlimit{{Resource: unix.RLIMIT_NOFILE, Soft: 1024, Hard: 1024}}},
		{"masked", len(o.OCI.MaskedPaths), 10},
		{"read-only paths", len(o.OCI.ReadonlyPaths), 5},
		{"enabled", o.OCI.Enabled, true},
		{"no ccinit masks", o.ProcUnmasked, true},
	}
	for _, c := range checks {
		if !equalAny(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func equalAny(a, b any) bool {
	switch a := a.(type) {
	case []initproc.Rlimit:
		bb := b.([]initproc.Rlimit)
		if len(a) != len(bb) {
			return false
		}
		for i := range a {
			if a[i] != bb[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

// TestPlanBundleRefuses: everything ccsuper cannot honour is refused by
// name, never ignored.
func TestPlanBundleRefuses(t *testing.T) {
	u := uint32(5)
	tests := []struct {
		name   string
		change func(*specs.Spec)
		want   string
	}{
		{"version", func(s *specs.Spec) { s.Version = "2.0.0" }, "ociVersion"},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path"},
		{"no process", func(s *specs.Spec) { s.Process = nil }, "process is required"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "process.cwd"},
		{"apparmor", func(s *specs.Spec) { s.Process.ApparmorProfile = "x" }, "AppArmor"},
		{"selinux", func(s *specs.Spec) { s.Process.SelinuxLabel = "x" }, "SELinux"},
		{"bad rlimit", func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_X"}} }, "RLIMIT_X"},
		{"soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2, Hard: 1}}
		}, "above hard"},
		{"bad cap", func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_NOPE"} }, "capabilities"},
		{"effective beyond permitted", func(s *specs.Spec) {
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_SYS_ADMIN")
		}, "effective"},
		{"ambient beyond inheritable", func(s *specs.Spec) { s.Process.Capabilities.Ambient = []string{"CAP_KILL"} }, "ambient"},
		{"oom score", func(s *specs.Spec) { n := 2000; s.Process.OOMScoreAdj = &n }, "oomScoreAdj"},
		{"user namespace without maps", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, "needs a map"},
		{"join user ns with maps without root", func(s *specs.Spec) {
			withUserNSPath(s)
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 1, HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}, "container ID 0"},
		{"join user ns by a relative path", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "ns/user"})
		}, "not absolute"},
		{"idmap with maps in a joined user ns", func(s *specs.Spec) {
			withUserNSPath(s)
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "idmap"},
				UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 5000, Size: 10}}})
		}, "in a user namespace joined by path"},
		{"uid mappings without user ns", func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} }, "need a user namespace"},
		{"root unmapped", func(s *specs.Spec) {
			withUserNS(s)
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 1, HostID: 1000, Size: 10}}
		}, "container ID 0 mapped"},
		{"empty map line", func(s *specs.Spec) {
			withUserNS(s)
			s.Linux.GIDMappings = append(s.Linux.GIDMappings, specs.LinuxIDMapping{ContainerID: 70000, HostID: 1, Size: 0})
		}, "empty"},
		{"map past the last ID", func(s *specs.Spec) {
			withUserNS(s)
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0xffff0000, Size: 0x10000}}
		}, "past the last ID"},
		{"overlapping maps", func(s *specs.Spec) {
			withUserNS(s)
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: 70000, HostID: 100005, Size: 1})
		}, "overlaps"},
		{"idmap without user ns", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "idmap"}})
		}, "needs a user namespace"},
		{"idmap with other maps", func(s *specs.Spec) {
			withUserNS(s)
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind"},
				UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 5000, Size: 10}}})
		}, "other than the container's"},
		{"relative mount ns", func(s *specs.Spec) { s.Linux.Namespaces[4].Path = "proc/1/ns/mnt" }, "not absolute"},
		{"no mount ns", func(s *specs.Spec) {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.MountNamespace })
		}, "mount namespace of the container's own"},
		{"no pid ns, no mount ns", func(s *specs.Spec) {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
				return n.Type == specs.MountNamespace || n.Type == specs.PIDNamespace
			})
		}, "mount namespace of the container's own"},
		{"unknown ns", func(s *specs.Spec) { s.Linux.Namespaces[0].Type = "nope" }, "unknown type"},
		{"duplicate ns", func(s *specs.Spec) { s.Linux.Namespaces[1].Type = specs.PIDNamespace }, "twice"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.panic": "1"} }, "not namespaced"},
		{"sysctl escape", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net/../../x": "1"} }, "bad name"},
		{"seccomp", func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{} }, "seccomp"},
		{"hugetlb", func(s *specs.Spec) {
			s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB"}}
		}, "hugepageLimits"},
		{"realtime", func(s *specs.Spec) { n := int64(5); s.Linux.Resources.CPU = &specs.LinuxCPU{RealtimeRuntime: &n} }, "realtime"},
		{"device outside /dev", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/etc/x", Type: "c"}}
		}, "not under /dev"},
		{"device type", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z", UID: &u}}
		}, "unknown type"},
		{"propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, "rootfsPropagation"},
		{"mount label", func(s *specs.Spec) { s.Linux.MountLabel = "x" }, "SELinux"},
		{"relative mount", func(s *specs.Spec) { s.Mounts[0].Destination = "proc" }, "not absolute"},
		{"idmap of a proc", func(s *specs.Spec) { withUserNS(s); s.Mounts[0].Options = []string{"idmap"} }, "only a bind mount"},
		{"bind with sync", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "sync"}})
		}, "sync"},
		{"bind without source", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Options: []string{"bind"}})
		}, "needs a source"},
		{"separator in path", func(s *specs.Spec) { s.Mounts[0].Destination = "/a\x1fb" }, "control character"},
		{"separator in a startContainer hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true", Args: []string{"a\x1fb"}}}}
		}, "\\x1f"},
		{"zero hook timeout", func(s *specs.Spec) {
			zero := 0
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true", Timeout: &zero}}}
		}, "timeout must be positive"},
		{"relative hook", func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "true"}}} }, "not absolute"},
		{"domainname", func(s *specs.Spec) { s.Domainname = "x" }, "domainname"},
		{"hostname without uts", func(s *specs.Spec) {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UTSNamespace })
		}, "uts"},
	}
	for _, tt := range tests {
		s := DefaultSpec()
		tt.change(s)
		_, err := planBundle("/b", s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

// withUserNS gives s a new user namespace with container IDs 0-65535 mapped to
// 100000 and up.
func withUserNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

// TestPlanBundleUserNS checks the plan of a user namespace: made new with
// the clone, its maps as given, and the idmapped binds marked for ccsuper.
func TestPlanBundleUserNS(t *testing.T) {
	s := DefaultSpec()
	withUserNS(s)
	s.Linux.GIDMappings = append(s.Linux.GIDMappings, specs.LinuxIDMapping{ContainerID: 70000, HostID: 5, Size: 1})
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/plain", Type: "bind", Source: "/tmp", Options: []string{"rbind"}},
		specs.Mount{Destination: "/idmapped", Type: "bind", Source: "/tmp", Options: []string{"rbind", "idmap"}},
		specs.Mount{Destination: "/same-maps", Type: "bind", Source: "/tmp", Options: []string{"bind"},
			UIDMappings: s.Linux.UIDMappings})
	p, err := planBundle("/b", s)
	if err != nil {
		t.Fatal(err)
	}
	if p.clone&unix.CLONE_NEWUSER == 0 {
		t.Errorf("clone flags %#x: no CLONE_NEWUSER", p.clone)
	}
	if p.uns == nil {
		t.Fatal("no user namespace planned")
	}
	if want := []IDRange{{0, 100000, 65536}}; !slices.Equal(p.uns.uids, want) {
		t.Errorf("uid map %v, want %v", p.uns.uids, want)
	}
	if want := []IDRange{{0, 100000, 65536}, {70000, 5, 1}}; !slices.Equal(p.uns.gids, want) {
		t.Errorf("gid map %v, want %v", p.uns.gids, want)
	}
	if !p.uns.setgroups || p.uns.helper {
		t.Errorf("setgroups %v, helper %v: want maps written by ccsuper, setgroups allowed", p.uns.setgroups, p.uns.helper)
	}
	n := len(p.init.OCI.Mounts)
	if want := []int{n - 2, n - 1}; !slices.Equal(p.idmapped, want) {
		t.Errorf("idmapped mounts %v, want %v", p.idmapped, want)
	}
	for _, m := range p.init.OCI.Mounts[n-3:] {
		if m.Flags&unix.MS_BIND == 0 {
			t.Errorf("%s: not a bind", m.Target)
		}
	}
}

// planEntry plans s, which needs ccinit's entry point: on amd64 the plan,
// elsewhere nil after checking the refusal names amd64.
func planEntry(t *testing.T, s *specs.Spec) *bundlePlan {
	t.Helper()
	p, err := planBundle("/b", s)
	if runtime.GOARCH != "amd64" {
		if err == nil || !strings.Contains(err.Error(), "amd64") {
			t.Fatalf("got %v, want a refusal naming amd64", err)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// withUserNSPath gives s a user namespace joined by path.
func withUserNSPath(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/7/ns/user"})
}

// TestPlanBundleUserNSPath: a user namespace joined by path is ccinit's
// entry point's to enter, with the new namespaces still planned as new (the
// entry point makes them after the join), none for the forking thread to
// enter, no maps of ccsuper's, and binds idmapped through it.
func TestPlanBundleUserNSPath(t *testing.T) {
	s := DefaultSpec()
	withUserNSPath(s)
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "idmap"}})
	p := planEntry(t, s)
	if p == nil {
		return
	}
	if p.userNS != "/proc/7/ns/user" || p.clone&unix.CLONE_NEWUSER != 0 || !has(p, unix.CLONE_NEWUSER) || p.uns != nil {
		t.Errorf("userNS %q, clone %#x, maps %v: want the path joined, no CLONE_NEWUSER, no maps", p.userNS, p.clone, p.uns)
	}
	if want := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS); p.clone&want != want {
		t.Errorf("clone %#x: want the default's new namespaces %#x", p.clone, want)
	}
	if len(p.join) != 0 {
		t.Errorf("joins for the forking thread: %v, want none", p.join)
	}
	if len(p.idmapped) != 1 {
		t.Errorf("idmapped %v: want the bind", p.idmapped)
	}
	if p.joinMaps != nil {
		t.Errorf("maps to check %v: want none", p.joinMaps)
	}
	// containerd and CRI-O give the joined namespace's maps with it: kept
	// to check against it, never a new namespace's.
	withUserNS(s)
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
		return n.Type == specs.UserNamespace && n.Path == ""
	})
	p = planEntry(t, s)
	if p.joinMaps == nil || len(p.joinMaps.uids) != 1 || p.uns != nil || p.clone&unix.CLONE_NEWUSER != 0 {
		t.Errorf("maps to check %v, new namespace's %v, clone %#x: want the config's to check, no new namespace", p.joinMaps, p.uns, p.clone)
	}
}

// TestPlanBundleMountNSPath: a mount namespace joined by path is ccinit's
// entry point's to enter, not the forking thread's, and is no new one.
func TestPlanBundleMountNSPath(t *testing.T) {
	s := DefaultSpec()
	for i, n := range s.Linux.Namespaces {
		if n.Type == specs.MountNamespace {
			s.Linux.Namespaces[i].Path = "/proc/1/ns/mnt"
		}
	}
	p := planEntry(t, s)
	if p == nil {
		return
	}
	if p.mountNS != "/proc/1/ns/mnt" || p.clone&unix.CLONE_NEWNS != 0 || !has(p, unix.CLONE_NEWNS) {
		t.Errorf("mountNS %q, clone %#x: want the path joined, no CLONE_NEWNS", p.mountNS, p.clone)
	}
	for _, j := range p.join {
		if j.flag == unix.CLONE_NEWNS {
			t.Errorf("the mount namespace is among the forking thread's joins: %v", p.join)
		}
	}
}

func TestHostID(t *testing.T) {
	m := []IDRange{{0, 100000, 1000}, {1000, 5, 1}}
	for _, tt := range []struct {
		in, out uint32
		ok      bool
	}{{0, 100000, true}, {999, 100999, true}, {1000, 5, true}, {1001, 0, false}} {
		if got, ok := hostID(m, tt.in); got != tt.out || ok != tt.ok {
			t.Errorf("hostID(%d) = %d, %v; want %d, %v", tt.in, got, ok, tt.out, tt.ok)
		}
	}
}

// TestPlanBundleParts checks the less common parts of a config.
func TestPlanBundleParts(t *testing.T) {
	s := DefaultSpec()
	mode := os.FileMode(0o640)
	gid := uint32(7)
	umask := uint32(0o077)
	s.Process.User = specs.User{UID: 0, GID: 3, AdditionalGids: []uint32{4, 5}, Umask: &umask}
	s.Linux.Namespaces[1].Path = "/run/netns/x"
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"}
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, GID: &gid}}
	s.Linux.RootfsPropagation = "rslave"
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "data", Options: []string{"rbind", "ro", "rprivate"}})
	p, err := planBundle("/b", s)
	if err != nil {
		t.Fatal(err)
	}
	o := p.init.OCI
	if p.init.User != "0:3" || len(o.Groups) != 2 || o.Groups[1] != 5 || o.Umask != "77" {
		t.Errorf("user: got %s groups %v umask %s", p.init.User, o.Groups, o.Umask)
	}
	if p.newNet || p.clone&unix.CLONE_NEWNET != 0 || len(p.join) != 1 || p.join[0] != (nsJoin{unix.CLONE_NEWNET, "/run/netns/x"}) {
		t.Errorf("network namespace by path: got clone %#x join %v", p.clone, p.join)
	}
	if strings.Join(o.Sysctl, " ") != "kernel.shmmax=1000 net.ipv4.ip_forward=1" {
		t.Errorf("sysctl: got %v", o.Sysctl)
	}
	want := initproc.Device{Path: "/dev/fuse", Mode: unix.S_IFCHR | 0o640, Major: 10, Minor: 229, GID: 7}
	if len(o.Devices) != 1 || o.Devices[0] != want {
		t.Errorf("devices: got %+v, want %+v", o.Devices, want)
	}
	if o.RootPropagation != unix.MS_SLAVE|unix.MS_REC {
		t.Errorf("rootfsPropagation: got %#x", o.RootPropagation)
	}
	m := o.Mounts[len(o.Mounts)-1]
	wantM := initproc.Mount{Type: "bind", Source: "/b/data", Target: "/data", Flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, Propagation: unix.MS_PRIVATE | unix.MS_REC}
	if m != wantM {
		t.Errorf("bind mount: got %+v, want %+v", m, wantM)
	}
	// Each part survives ccinit's command line.
	back, err := initproc.ParseArgs(p.init.Argv(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if back.OCI.Mounts[len(back.OCI.Mounts)-1] != wantM || back.OCI.Devices[0] != want || back.OCI.Umask != "77" {
		t.Errorf("round trip through ccinit's flags: got %+v", back.OCI)
	}
}

func TestCgroupPath(t *testing.T) {
	tests := []struct{ path, id, want, err string }{
		{"", "c1", "/ccsuper/c1", ""},
		{"/kubepods/pod1/c1", "c1", "/kubepods/pod1/c1", ""},
		{"rel/x", "c1", "/rel/x", ""},
		{"/a/../../b", "c1", "/b", ""},
		{"system.slice:crio:abc", "c1", "", "systemd"},
		{"/", "c1", "", "root cgroup"},
	}
	for _, tt := range tests {
		got, err := ociCgroupPath(tt.path, tt.id)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: got %q, %v; want an error saying %q", tt.path, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"c1": true, "a.b_c-d+e": true, "0": true, "": false, ".": false, "..": false, "-x": false,
		"a/b": false, "a b": false, strings.Repeat("x", 1025): false, "ünï": false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestFeaturesAccepted: what features says ccsuper recognizes, planBundle
// accepts: every mount option, namespace, hook, capability, seccomp action
// and operator listed.
func TestFeaturesAccepted(t *testing.T) {
	f := Features("test")
	for _, opt := range f.MountOptions {
		s := DefaultSpec()
		m := specs.Mount{Destination: "/x", Type: "tmpfs", Source: "tmpfs", Options: []string{opt}}
		switch opt {
		case "bind", "rbind":
			m = specs.Mount{Destination: "/x", Source: "/tmp", Options: []string{opt}}
		case "idmap", "ridmap": // on a bind, in a user namespace
			m = specs.Mount{Destination: "/x", Source: "/tmp", Options: []string{"rbind", opt}}
			withUserNS(s)
		}
		s.Mounts = append(s.Mounts, m)
		if _, err := planBundle("/b", s); err != nil {
			t.Errorf("mount option %q listed but refused: %v", opt, err)
		}
	}
	for _, ns := range f.Linux.Namespaces {
		s := DefaultSpec()
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return string(n.Type) == ns })
		if ns == string(specs.UserNamespace) {
			withUserNS(s) // with the maps it needs
		} else {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(ns)})
		}
		if _, err := planBundle("/b", s); err != nil {
			t.Errorf("namespace %q listed but refused: %v", ns, err)
		}
	}
	for _, c := range f.Linux.Capabilities {
		s := DefaultSpec()
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, c)
		if _, err := planBundle("/b", s); err != nil {
			t.Errorf("capability %q listed but refused: %v", c, err)
		}
	}
	hooks := map[string]func(*specs.Hooks, []specs.Hook){
		"prestart":        func(h *specs.Hooks, x []specs.Hook) { h.Prestart = x }, //nolint:staticcheck
		"createRuntime":   func(h *specs.Hooks, x []specs.Hook) { h.CreateRuntime = x },
		"poststart":       func(h *specs.Hooks, x []specs.Hook) { h.Poststart = x },
		"createContainer": func(h *specs.Hooks, x []specs.Hook) { h.CreateContainer = x },
		"startContainer":  func(h *specs.Hooks, x []specs.Hook) { h.StartContainer = x },
		"poststop":        func(h *specs.Hooks, x []specs.Hook) { h.Poststop = x },
	}
	for _, name := range f.Hooks {
		s := DefaultSpec()
		s.Hooks = &specs.Hooks{}
		set, ok := hooks[name]
		if !ok {
			t.Errorf("hook %q listed, not known to this test", name)
			continue
		}
		set(s.Hooks, []specs.Hook{{Path: "/bin/true"}})
		if _, err := planBundle("/b", s); err != nil {
			t.Errorf("hook %q listed but refused: %v", name, err)
		}
	}
	for _, a := range f.Linux.Seccomp.Actions {
		for _, op := range f.Linux.Seccomp.Operators {
			s := DefaultSpec()
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.Arch(f.Linux.Seccomp.Archs[0])},
				Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.LinuxSeccompAction(a),
					Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.LinuxSeccompOperator(op)}}}}}
			if _, err := planBundle("/b", s); err != nil {
				t.Errorf("seccomp %s with %s listed but refused: %v", a, op, err)
			}
		}
	}
}

// TestPlanBundleHostPID plans a config with no pid namespace, as `docker run
// --pid=host`, `podman run --pid host` and Kubernetes' hostPID send it: the
// runtime's own PID namespace, nothing to make or enter, and a cgroup
// required to find the processes again. A joined PID namespace is the
// container's own for that, but shared too.
func TestPlanBundleHostPID(t *testing.T) {
	s := DefaultSpec()
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.PIDNamespace })
	p, err := planBundle("/b", s)
	if err != nil {
		t.Fatalf("no pid namespace: %v, want it planned", err)
	}
	if p.clone&unix.CLONE_NEWPID != 0 || has(p, unix.CLONE_NEWPID) || p.ownPidNS() || len(p.join) != 0 {
		t.Errorf("clone %#x, joins %v, own %v: want no PID namespace made, joined or owned", p.clone, p.join, p.ownPidNS())
	}
	if want := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP); p.clone != want {
		t.Errorf("clone %#x, want the other namespaces new %#x", p.clone, want)
	}
	if err := findable(p, true); err != nil {
		t.Errorf("with a cgroup: %v", err)
	}
	err = findable(p, false)
	if err == nil || !strings.Contains(err.Error(), "needs a cgroup") || strings.Contains(err.Error(), "\n") {
		t.Errorf("without a cgroup: %v, want one line saying it needs one", err)
	}

	s = DefaultSpec()
	s.Linux.Namespaces[0] = specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/proc/7/ns/pid"}
	if p, err = planBundle("/b", s); err != nil {
		t.Fatal(err)
	}
	if !has(p, unix.CLONE_NEWPID) || p.ownPidNS() || findable(p, false) != nil {
		t.Errorf("joined by path: has %v, own %v, findable without a cgroup %v: want a PID namespace, shared, found through it",
			has(p, unix.CLONE_NEWPID), p.ownPidNS(), findable(p, false))
	}
	if p, err = planBundle("/b", DefaultSpec()); err != nil || !p.ownPidNS() {
		t.Errorf("the default config: %v, own %v, want a PID namespace of its own", err, p != nil && p.ownPidNS())
	}
}
