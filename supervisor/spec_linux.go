package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
	"github.com/ccontainer/ccontainer/seccomp"
)

// bundlePlan is a bundle's config.json in ccsuper's and ccinit's terms.
// Everything the config asks for is either here or refused by planBundle:
// nothing is silently ignored.
type bundlePlan struct {
	bundle string // absolute
	spec   *specs.Spec
	init   initproc.Options
	// clone are the CLONE_NEW* flags of the namespaces made new; join
	// the namespaces entered by path, in setns order.
	clone uintptr
	join  []nsJoin
	// mountNS is a mount namespace joined by path: by ccinit's entry
	// point, not the forking thread (see spawnSpec.mountNS).
	mountNS string
	// userNS is a user namespace joined by path: by ccinit's entry point,
	// which makes the new namespaces (clone) in it (see spawnSpec.userNS).
	userNS string
	// joinMaps are the config's maps given with userNS: the joined
	// namespace's own, or the create fails.
	joinMaps *userNS
	// newNet: a network namespace of the container's own, loopback up.
	newNet      bool
	cgroupsPath string
	resources   *specs.LinuxResources
	oomScoreAdj *int
	terminal    bool
	// uns is the container's new user namespace and its maps, or nil.
	uns *userNS
	// idmapped are the indexes in init.OCI.Mounts of the bind mounts
	// ccsuper idmaps through the container's user namespace.
	idmapped []int
	// warnings are what create logs and does not fail on.
	warnings []string
}

// nsJoin is a namespace the container enters by path.
type nsJoin struct {
	flag uintptr
	path string
}

// nsFlags maps the spec's namespace types to clone(2) flags.
var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace: unix.CLONE_NEWNS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.CgroupNamespace: unix.CLONE_NEWCGROUP,
	specs.UserNamespace: unix.CLONE_NEWUSER, specs.TimeNamespace: unix.CLONE_NEWTIME,
}

// loadBundle reads dir/config.json and plans it.
func loadBundle(dir string) (*bundlePlan, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(abs, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("bundle %q: %w", dir, initproc.WithoutPath(err))
	}
	var s linuxConfig
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("bundle %q: config.json: %w", dir, err)
	}
	for _, other := range []json.RawMessage{s.Solaris, s.Windows, s.VM, s.ZOS, s.FreeBSD} {
		if len(other) > 0 && string(other) != "null" {
			return nil, errors.New("config.json: only linux containers are supported")
		}
	}
	return planBundle(abs, &s.Spec)
}

// linuxConfig is config.json as loadBundle decodes it: the other platforms'
// sections, which are refused, stay raw. encoding/json's first decode of a
// type builds the encoders of every type it reaches, and theirs are about a
// quarter of specs.Spec's (0.2 ms of a create here). Fields at this level
// hide the embedded ones of the same JSON name.
type linuxConfig struct {
	specs.Spec
	Solaris json.RawMessage `json:"solaris,omitempty"`
	Windows json.RawMessage `json:"windows,omitempty"`
	VM      json.RawMessage `json:"vm,omitempty"`
	ZOS     json.RawMessage `json:"zos,omitempty"`
	FreeBSD json.RawMessage `json:"freebsd,omitempty"`
}

// planBundle checks s and turns it into a plan; bundle is the bundle's
// absolute path, which relative paths in s are relative to.
func planBundle(bundle string, s *specs.Spec) (*bundlePlan, error) {
	if !strings.HasPrefix(s.Version, "1.") {
		return nil, fmt.Errorf("ociVersion %q: want 1.x", s.Version)
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, errors.New("config.json: root.path is required")
	}
	if s.Process == nil {
		return nil, errors.New("config.json: process is required (ccsuper runs a process)")
	}
	if s.Linux == nil {
		return nil, errors.New("config.json: linux is required")
	}
	if s.Solaris != nil || s.Windows != nil || s.VM != nil || s.ZOS != nil || s.FreeBSD != nil {
		return nil, errors.New("config.json: only linux containers are supported")
	}
	p := &bundlePlan{bundle: bundle, spec: s}
	o := &p.init
	o.OCI.Enabled = true
	o.ProcUnmasked = true // the config's maskedPaths are the masks
	o.CleanEnv = true
	o.Grace = initproc.DefaultGrace
	o.Rootfs = s.Root.Path
	if !filepath.IsAbs(o.Rootfs) {
		o.Rootfs = filepath.Join(bundle, o.Rootfs)
	}
	o.ReadOnly = s.Root.Readonly
	if s.Hostname != "" {
		if err := CheckHostname(s.Hostname); err != nil {
			return nil, err
		}
		o.Hostname = s.Hostname
	}
	if s.Domainname != "" {
		return nil, errors.New("config.json: domainname is not supported")
	}
	if err := planProcess(p, s.Process); err != nil {
		return nil, err
	}
	if err := planLinux(p, s.Linux); err != nil {
		return nil, err
	}
	if err := planMounts(p, s.Mounts); err != nil {
		return nil, err
	}
	if !has(p, unix.CLONE_NEWUTS) && o.Hostname != "" {
		return nil, errors.New("config.json: hostname needs a uts namespace of the container's own")
	}
	if s.Hooks != nil {
		h := s.Hooks
		for _, hs := range [][]specs.Hook{h.Prestart, h.CreateRuntime, h.CreateContainer, h.StartContainer, h.Poststart, h.Poststop} { //nolint:staticcheck // Prestart is deprecated, still honoured
			for _, hk := range hs {
				if !filepath.IsAbs(hk.Path) {
					return nil, fmt.Errorf("hook %q: path is not absolute", hk.Path)
				}
				if hk.Timeout != nil && *hk.Timeout <= 0 {
					return nil, fmt.Errorf("hook %s: timeout must be positive", hk.Path)
				}
			}
		}
		// createContainer and startContainer run in the container, by
		// ccinit (initproc/hooks_linux.go).
		for _, in := range []struct {
			hooks []specs.Hook
			start bool
		}{{h.CreateContainer, false}, {h.StartContainer, true}} {
			for _, hk := range in.hooks {
				for _, v := range append(append([]string{hk.Path}, hk.Args...), hk.Env...) {
					if strings.ContainsAny(v, "\x00\x1f") {
						return nil, fmt.Errorf("hook %s: %q holds a NUL or \\x1f byte", hk.Path, v)
					}
				}
				t := 0
				if hk.Timeout != nil {
					t = *hk.Timeout
				}
				o.OCI.Hooks = append(o.OCI.Hooks, initproc.Hook{Start: in.start, Timeout: t, Path: hk.Path, Args: hk.Args, Env: hk.Env})
			}
		}
	}
	return p, nil
}

// planProcess turns the config's process into ccinit's options.
func planProcess(p *bundlePlan, pr *specs.Process) error {
	o := &p.init
	if len(pr.Args) == 0 || pr.Args[0] == "" {
		return errors.New("config.json: process.args is empty")
	}
	for _, a := range pr.Args {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("process.args: %q contains a NUL byte", a)
		}
	}
	o.Args = pr.Args
	for _, kv := range pr.Env {
		if err := initproc.CheckEnv(kv); err != nil {
			return fmt.Errorf("process.env: %w", err)
		}
	}
	o.Env = pr.Env
	if !filepath.IsAbs(pr.Cwd) {
		return fmt.Errorf("process.cwd %q is not an absolute path", pr.Cwd)
	}
	o.Workdir = pr.Cwd
	o.User = fmt.Sprintf("%d:%d", pr.User.UID, pr.User.GID)
	if pr.User.Username != "" {
		return errors.New("process.user.username is for Windows")
	}
	o.OCI.Groups = pr.User.AdditionalGids
	o.OCI.Umask = "22"
	if pr.User.Umask != nil {
		if *pr.User.Umask > 0o777 {
			return fmt.Errorf("process.user.umask %o is not a mask", *pr.User.Umask)
		}
		o.OCI.Umask = fmt.Sprintf("%o", *pr.User.Umask)
	}
	p.terminal = pr.Terminal
	if pr.ConsoleSize != nil {
		if !pr.Terminal {
			return errors.New("process.consoleSize needs process.terminal")
		}
		o.OCI.ConsoleRows, o.OCI.ConsoleCols = uint16(pr.ConsoleSize.Height), uint16(pr.ConsoleSize.Width)
	}
	if err := planCaps(o, pr); err != nil {
		return err
	}
	for _, r := range pr.Rlimits {
		res, ok := rlimits[r.Type]
		if !ok {
			return fmt.Errorf("process.rlimits: unknown type %q", r.Type)
		}
		if r.Soft > r.Hard {
			return fmt.Errorf("process.rlimits %s: soft %d above hard %d", r.Type, r.Soft, r.Hard)
		}
		o.OCI.Rlimits = append(o.OCI.Rlimits, initproc.Rlimit{Resource: res, Soft: r.Soft, Hard: r.Hard})
	}
	o.NoNewPrivs = pr.NoNewPrivileges
	p.oomScoreAdj = pr.OOMScoreAdj
	if a := pr.OOMScoreAdj; a != nil && (*a < -1000 || *a > 1000) {
		return fmt.Errorf("process.oomScoreAdj %d: want -1000 to 1000", *a)
	}
	switch {
	case pr.ApparmorProfile != "":
		return errors.New("process.apparmorProfile: AppArmor is not supported")
	case pr.SelinuxLabel != "":
		return errors.New("process.selinuxLabel: SELinux is not supported")
	case pr.Scheduler != nil:
		return errors.New("process.scheduler is not supported")
	case pr.IOPriority != nil:
		return errors.New("process.ioPriority is not supported")
	case pr.ExecCPUAffinity != nil:
		return errors.New("process.execCPUAffinity is not supported")
	}
	return nil
}

// rlimits maps the spec's rlimit names to setrlimit(2) resources.
var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// planCaps maps the config's five capability sets onto ccinit's: the
// bounding set, the effective and permitted set (one: what the kernel
// gives at exec follows from the others), the inheritable and the ambient.
func planCaps(o *initproc.Options, pr *specs.Process) error {
	c := pr.Capabilities
	if c == nil {
		o.Caps, o.OCI.Bounding = "0x0", "0x0"
		return nil
	}
	sets := make([]initproc.CapSet, 5)
	for i, names := range [][]string{c.Bounding, c.Effective, c.Permitted, c.Inheritable, c.Ambient} {
		for _, n := range names {
			cap, err := initproc.ParseCap(n)
			if err != nil {
				return fmt.Errorf("process.capabilities: %w", err)
			}
			sets[i] |= 1 << cap
		}
	}
	bounding, eff, perm, inh, amb := sets[0], sets[1], sets[2], sets[3], sets[4]
	if eff&^perm != 0 || perm&^bounding != 0 {
		return errors.New("process.capabilities: effective must be within permitted, permitted within bounding")
	}
	if amb&^(perm&inh) != 0 {
		return errors.New("process.capabilities: ambient must be within permitted and inheritable")
	}
	o.Caps = perm.String()
	o.OCI.Bounding = bounding.String()
	o.OCI.Inheritable = inh.String()
	o.OCI.Ambient = amb.String()
	return nil
}

// planLinux turns the config's linux section into the plan.
func planLinux(p *bundlePlan, l *specs.Linux) error {
	o := &p.init
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range l.Namespaces {
		flag, ok := nsFlags[ns.Type]
		if !ok {
			return fmt.Errorf("linux.namespaces: unknown type %q", ns.Type)
		}
		if seen[ns.Type] {
			return fmt.Errorf("linux.namespaces: %s given twice", ns.Type)
		}
		seen[ns.Type] = true
		switch {
		case ns.Type == specs.TimeNamespace:
			return errors.New("linux.namespaces: time namespaces are not supported")
		case ns.Path == "":
			p.clone |= flag
		case !filepath.IsAbs(ns.Path):
			return fmt.Errorf("linux.namespaces: %s path %q is not absolute", ns.Type, ns.Path)
		case ns.Type == specs.UserNamespace:
			// setns(2) into a user namespace needs a single-threaded
			// process, as into a mount namespace (below); and the new
			// namespaces must be made after it, for it to own them.
			if runtime.GOARCH != "amd64" {
				return errors.New("linux.namespaces: joining a user namespace by path needs ccinit's entry point, written for amd64 only")
			}
			p.userNS = ns.Path
		case ns.Type == specs.MountNamespace:
			// setns into a mount namespace needs a single-threaded
			// process: ccinit's entry point joins it before the Go
			// runtime starts (cmd/ccinit/entry_linux_amd64.s).
			if runtime.GOARCH != "amd64" {
				return errors.New("linux.namespaces: joining a mount namespace by path needs ccinit's entry point, written for amd64 only")
			}
			p.mountNS = ns.Path
		default:
			p.join = append(p.join, nsJoin{flag, ns.Path})
		}
	}
	if !has(p, unix.CLONE_NEWNS) {
		return errors.New("linux.namespaces: a mount namespace of the container's own is required (new, or joined by path)")
	}
	// No pid namespace at all is the runtime's own (docker run --pid=host,
	// Kubernetes hostPID): ccinit is then no PID 1, and what the kernel
	// does when a PID 1 dies, ccsuper does through the container's cgroup
	// (sharedpid_linux.go).
	p.newNet = p.clone&unix.CLONE_NEWNET != 0
	if err := planUserMaps(p, l); err != nil {
		return err
	}
	for k, v := range l.Sysctl {
		if strings.ContainsAny(k, "/\x00") || strings.Contains(k, "..") || k == "" {
			return fmt.Errorf("linux.sysctl: bad name %q", k)
		}
		if err := sysctlAllowed(k, p); err != nil {
			return err
		}
		o.OCI.Sysctl = append(o.OCI.Sysctl, k+"="+v)
	}
	slices.Sort(o.OCI.Sysctl)
	for _, d := range l.Devices {
		dev, err := planDevice(d)
		if err != nil {
			return err
		}
		o.OCI.Devices = append(o.OCI.Devices, dev)
	}
	p.cgroupsPath = l.CgroupsPath
	p.resources = l.Resources
	if err := checkResources(l.Resources); err != nil {
		return err
	}
	if r := l.Resources; r != nil && len(r.Devices) > 0 && len(l.Devices) > 0 {
		// The config's devices are usable whatever the rules (as runc
		// does): a "deny all" rule would refuse even their mknod.
		c := *r
		c.Devices = slices.Clone(r.Devices)
		for _, d := range l.Devices {
			t := d.Type
			switch t {
			case "p":
				continue // a FIFO is no device to the cgroup
			case "u":
				t = "c"
			}
			major, minor := d.Major, d.Minor
			c.Devices = append(c.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: &major, Minor: &minor, Access: "rwm"})
		}
		p.resources = &c
	}
	switch l.RootfsPropagation {
	case "":
	case "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
		o.OCI.RootPropagation = propagation[l.RootfsPropagation]
	default:
		return fmt.Errorf("linux.rootfsPropagation %q: unknown", l.RootfsPropagation)
	}
	o.OCI.MaskedPaths = l.MaskedPaths
	o.OCI.ReadonlyPaths = l.ReadonlyPaths
	for _, ps := range [][]string{l.MaskedPaths, l.ReadonlyPaths} {
		for _, path := range ps {
			if !filepath.IsAbs(path) {
				return fmt.Errorf("linux masked or read-only path %q is not absolute", path)
			}
		}
	}
	if l.Seccomp != nil {
		prog, err := planSeccomp(l.Seccomp)
		if err != nil {
			return err
		}
		o.OCI.Seccomp = initproc.EncodeFilter(prog)
	}
	switch {
	case l.MountLabel != "":
		return errors.New("linux.mountLabel: SELinux is not supported")
	case l.IntelRdt != nil:
		return errors.New("linux.intelRdt is not supported")
	case l.Personality != nil:
		return errors.New("linux.personality is not supported")
	case l.MemoryPolicy != nil:
		return errors.New("linux.memoryPolicy is not supported")
	case len(l.NetDevices) > 0:
		return errors.New("linux.netDevices is not supported")
	}
	return nil
}

// planUserMaps checks the maps of a new user namespace. ccinit must be the
// namespace's root (it mounts, pivots and makes /dev there), so container ID
// 0 must be mapped, uid and gid alike, as runc requires too. With a user
// namespace joined by path, maps are what containerd and CRI-O hand with it:
// its own, which create checks it has (joinedRoot), and never writes.
func planUserMaps(p *bundlePlan, l *specs.Linux) error {
	maps := len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0
	switch {
	case p.clone&unix.CLONE_NEWUSER == 0 && p.userNS == "" && maps:
		return errors.New("linux.uidMappings/gidMappings need a user namespace in linux.namespaces")
	case p.clone&unix.CLONE_NEWUSER == 0 && !maps:
		return nil
	}
	u := &userNS{setgroups: true}
	for _, m := range []struct {
		name string
		in   []specs.LinuxIDMapping
		out  *[]IDRange
	}{{"uidMappings", l.UIDMappings, &u.uids}, {"gidMappings", l.GIDMappings, &u.gids}} {
		rs, err := idRanges(m.in)
		if err != nil {
			return fmt.Errorf("linux.%s: %w", m.name, err)
		}
		if _, ok := hostID(rs, 0); !ok {
			return fmt.Errorf("linux.%s: a user namespace needs container ID 0 mapped (ccinit is its root)", m.name)
		}
		*m.out = rs
	}
	if p.userNS != "" {
		p.joinMaps = u
		return nil
	}
	p.uns = u
	return nil
}

// idRanges checks a config's ID map as the kernel would take it: at most 340
// lines, none empty or wrapping past 2^32-1, none overlapping another inside
// or outside.
func idRanges(ms []specs.LinuxIDMapping) ([]IDRange, error) {
	if len(ms) == 0 {
		return nil, errors.New("a new user namespace needs a map")
	}
	if len(ms) > 340 {
		return nil, fmt.Errorf("%d lines, the kernel takes at most 340", len(ms))
	}
	rs := make([]IDRange, len(ms))
	for i, m := range ms {
		r := IDRange{Inside: m.ContainerID, Outside: m.HostID, Count: m.Size}
		if r.Count == 0 || uint64(r.Inside)+uint64(r.Count) > 1<<32-1 || uint64(r.Outside)+uint64(r.Count) > 1<<32-1 {
			return nil, fmt.Errorf("%q: empty or past the last ID", r.String())
		}
		for _, o := range rs[:i] {
			if overlap(o.Inside, o.Count, r.Inside, r.Count) || overlap(o.Outside, o.Count, r.Outside, r.Count) {
				return nil, fmt.Errorf("%q overlaps %q", r.String(), o.String())
			}
		}
		rs[i] = r
	}
	return rs, nil
}

func overlap(a, n, b, m uint32) bool {
	return uint64(a) < uint64(b)+uint64(m) && uint64(b) < uint64(a)+uint64(n)
}

// ownPidNS reports whether the container makes its PID namespace, whose
// PID 1 (ccinit) takes every other process of it along when it dies. Without
// one (the host's, or one joined by path) the container's processes are
// found through its cgroup instead (sharedpid_linux.go).
func (p *bundlePlan) ownPidNS() bool { return p.clone&unix.CLONE_NEWPID != 0 }

// has reports whether the container has a namespace of type flag of its
// own: new, or joined by path (one the engine made for it).
func has(p *bundlePlan, flag uintptr) bool {
	if flag == unix.CLONE_NEWNS && p.mountNS != "" {
		return true
	}
	if flag == unix.CLONE_NEWUSER && p.userNS != "" {
		return true
	}
	return p.clone&flag != 0 || slices.ContainsFunc(p.join, func(j nsJoin) bool { return j.flag == flag })
}

// sysctlAllowed accepts only the sysctls that belong to a namespace the
// container has of its own: anything else would change the host.
func sysctlAllowed(k string, p *bundlePlan) error {
	switch {
	case strings.HasPrefix(k, "net.") && has(p, unix.CLONE_NEWNET):
		return nil
	case (k == "kernel.hostname" || k == "kernel.domainname") && has(p, unix.CLONE_NEWUTS):
		return nil
	case (strings.HasPrefix(k, "kernel.msg") || strings.HasPrefix(k, "kernel.sem") || strings.HasPrefix(k, "kernel.shm") ||
		strings.HasPrefix(k, "fs.mqueue.")) && has(p, unix.CLONE_NEWIPC):
		return nil
	}
	return fmt.Errorf("linux.sysctl %q: not namespaced for this container (it would change the host)", k)
}

// planDevice checks one device of the config.
func planDevice(d specs.LinuxDevice) (initproc.Device, error) {
	var dev initproc.Device
	if !strings.HasPrefix(filepath.Clean(d.Path), "/dev/") || filepath.Clean(d.Path) != d.Path {
		return dev, fmt.Errorf("linux.devices: path %q is not under /dev", d.Path)
	}
	dev.Path, dev.Major, dev.Minor = d.Path, d.Major, d.Minor
	switch d.Type {
	case "c", "u":
		dev.Mode = unix.S_IFCHR
	case "b":
		dev.Mode = unix.S_IFBLK
	case "p":
		dev.Mode = unix.S_IFIFO
	default:
		return dev, fmt.Errorf("linux.devices %s: unknown type %q", d.Path, d.Type)
	}
	dev.Mode |= 0o666
	if d.FileMode != nil {
		dev.Mode = dev.Mode&unix.S_IFMT | uint32(d.FileMode.Perm())
	}
	if d.UID != nil {
		dev.UID = *d.UID
	}
	if d.GID != nil {
		dev.GID = *d.GID
	}
	return dev, nil
}

// checkResources refuses the resources ccsuper cannot apply (see
// cgroup_oci_linux.go for those it can).
func checkResources(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	switch {
	case len(r.HugepageLimits) > 0:
		return errors.New("linux.resources.hugepageLimits is not supported")
	case r.Network != nil:
		return errors.New("linux.resources.network is not supported")
	case len(r.Rdma) > 0:
		return errors.New("linux.resources.rdma is not supported")
	case r.CPU != nil && (r.CPU.RealtimePeriod != nil || r.CPU.RealtimeRuntime != nil):
		return errors.New("linux.resources.cpu realtime limits are not supported")
	case r.CPU != nil && r.CPU.Idle != nil:
		return errors.New("linux.resources.cpu.idle is not supported")
	}
	if err := checkUnified(r.Unified); err != nil {
		return err
	}
	for _, d := range r.Devices {
		if d.Type != "" && d.Type != "a" && d.Type != "b" && d.Type != "c" {
			return fmt.Errorf("linux.resources.devices: type %q", d.Type)
		}
		if strings.Trim(d.Access, "rwm") != "" {
			return fmt.Errorf("linux.resources.devices: access %q", d.Access)
		}
	}
	return nil
}

// propagation maps propagation names to mount(2) flags.
var propagation = map[string]uintptr{
	"shared": unix.MS_SHARED, "slave": unix.MS_SLAVE, "private": unix.MS_PRIVATE, "unbindable": unix.MS_UNBINDABLE,
	"rshared": unix.MS_SHARED | unix.MS_REC, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"rprivate": unix.MS_PRIVATE | unix.MS_REC, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// mountFlags maps mount options to the flags they set (true) or clear.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY}, "nosuid": {false, unix.MS_NOSUID},
	"suid": {true, unix.MS_NOSUID}, "nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC}, "sync": {false, unix.MS_SYNCHRONOUS},
	"async": {true, unix.MS_SYNCHRONOUS}, "dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK}, "atime": {true, unix.MS_NOATIME},
	"noatime": {false, unix.MS_NOATIME}, "diratime": {true, unix.MS_NODIRATIME}, "nodiratime": {false, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"defaults": {false, 0},
}

// planMounts turns the config's mounts into ccinit's.
func planMounts(p *bundlePlan, ms []specs.Mount) error {
	for _, m := range ms {
		if !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("mounts: destination %q is not absolute", m.Destination)
		}
		for _, s := range []string{m.Destination, m.Source, m.Type} {
			if strings.ContainsAny(s, "\x00\x1f") {
				return fmt.Errorf("mounts: %q has a control character", s)
			}
		}
		out := initproc.Mount{Type: m.Type, Source: m.Source, Target: filepath.Clean(m.Destination)}
		var data []string
		idmap := len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0
		for _, opt := range m.Options {
			if opt == "idmap" || opt == "ridmap" {
				idmap = true
				continue
			}
			if f, ok := mountFlags[opt]; ok {
				if f.clear {
					out.Flags &^= f.flag
				} else {
					out.Flags |= f.flag
				}
				continue
			}
			if pr, ok := propagation[opt]; ok {
				out.Propagation = pr
				continue
			}
			switch opt {
			case "tmpcopyup", "copy-symlink", "nosymfollow", "rro", "rrw", "rnosuid", "rsuid",
				"rnodev", "rdev", "rnoexec", "rexec", "rnodiratime", "rdiratime", "rrelatime", "rnorelatime",
				"rnoatime", "ratime", "rstrictatime", "rnostrictatime", "recursive":
				return fmt.Errorf("mounts %s: option %q is not supported", m.Destination, opt)
			}
			if strings.ContainsRune(opt, ',') {
				return fmt.Errorf("mounts %s: option %q has a comma", m.Destination, opt)
			}
			data = append(data, opt)
		}
		out.Data = strings.Join(data, ",")
		if m.Type == "bind" {
			out.Flags |= unix.MS_BIND
		}
		if out.Flags&unix.MS_BIND != 0 {
			if out.Source == "" {
				return fmt.Errorf("mounts %s: a bind mount needs a source", m.Destination)
			}
			if !filepath.IsAbs(out.Source) {
				out.Source = filepath.Join(p.bundle, out.Source)
			}
			if len(data) > 0 {
				// mount(2) ignores them for a bind mount too.
				p.warnings = append(p.warnings, fmt.Sprintf("mounts %s: file system options on a bind mount do nothing (%s)", m.Destination, out.Data))
				out.Data = ""
			}
			if out.Flags&(unix.MS_SYNCHRONOUS|unix.MS_DIRSYNC|unix.MS_MANDLOCK) != 0 {
				return fmt.Errorf("mounts %s: sync, dirsync and mand are not supported on a bind mount", m.Destination)
			}
		} else if m.Type == "" {
			return fmt.Errorf("mounts %s: type is required", m.Destination)
		}
		if out.Flags&unix.MS_REMOUNT != 0 {
			return fmt.Errorf("mounts %s: remount is not supported", m.Destination)
		}
		if idmap {
			if err := planIdmap(p, m, out); err != nil {
				return err
			}
			p.idmapped = append(p.idmapped, len(p.init.OCI.Mounts))
		}
		p.init.OCI.Mounts = append(p.init.OCI.Mounts, out)
	}
	return nil
}

// planIdmap checks an idmapped mount (mount_setattr's MOUNT_ATTR_IDMAP):
// a bind mount, in a container with a user namespace of its own, whose maps
// are the container's when given. ccsuper idmaps the mount through the
// container's user namespace (sendOCIMounts): the owner of a file on disk is
// seen inside as that ID of the container, so a rootfs or volume of
// root-owned files is root's inside, and what the container's root writes
// there is root's on disk. Other maps would need a user namespace made for
// the mount alone: refused. In a user namespace joined by path the maps are
// not known when planning: a mount's own are refused there.
func planIdmap(p *bundlePlan, m specs.Mount, out initproc.Mount) error {
	switch {
	case out.Flags&unix.MS_BIND == 0:
		return fmt.Errorf("mounts %s: only a bind mount can be idmapped", m.Destination)
	case p.userNS != "" && (len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0):
		return fmt.Errorf("mounts %s: a mount's own maps are not supported in a user namespace joined by path", m.Destination)
	case p.userNS != "":
		return nil // idmapped through the joined namespace
	case p.uns == nil:
		return fmt.Errorf("mounts %s: an idmapped mount needs a user namespace in linux.namespaces", m.Destination)
	}
	for _, mm := range []struct {
		got  []specs.LinuxIDMapping
		want []IDRange
	}{{m.UIDMappings, p.uns.uids}, {m.GIDMappings, p.uns.gids}} {
		if len(mm.got) == 0 {
			continue
		}
		rs, err := idRanges(mm.got)
		if err != nil {
			return fmt.Errorf("mounts %s: %w", m.Destination, err)
		}
		if !slices.Equal(rs, mm.want) {
			return fmt.Errorf("mounts %s: maps other than the container's user namespace's are not supported", m.Destination)
		}
	}
	return nil
}

// seccompOps maps the spec's comparisons to the filter builder's.
var seccompOps = map[specs.LinuxSeccompOperator]seccomp.Op{
	specs.OpNotEqual: seccomp.OpNE, specs.OpLessThan: seccomp.OpLT, specs.OpLessEqual: seccomp.OpLE,
	specs.OpEqualTo: seccomp.OpEQ, specs.OpGreaterEqual: seccomp.OpGE, specs.OpGreaterThan: seccomp.OpGT,
	specs.OpMaskedEqual: seccomp.OpMaskedEQ,
}

// seccompAction maps an action of the spec, with its errno, to a return
// value of the filter.
func seccompAction(a specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	e := uint32(unix.EPERM)
	if errno != nil {
		if *errno > 0xffff {
			return 0, fmt.Errorf("errnoRet %d is out of range", *errno)
		}
		e = uint32(*errno)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | e, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | e, nil
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	}
	return 0, fmt.Errorf("action %q is not supported", a)
}

// planSeccomp compiles the config's seccomp section with ccsuper's own
// builder (package seccomp). Syscall names x86_64 lacks (the 32-bit ones a
// profile for every architecture lists) are skipped, as libseccomp does;
// everything else the builder cannot express is refused.
func planSeccomp(sc *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	if runtime.GOARCH != "amd64" {
		return nil, errors.New("linux.seccomp: only x86_64 filters are built")
	}
	if sc.ListenerPath != "" || len(sc.Flags) > 0 {
		return nil, errors.New("linux.seccomp: listenerPath and flags are not supported")
	}
	for _, a := range sc.Architectures {
		switch a {
		case specs.ArchX86_64, specs.ArchX86, specs.ArchX32:
		default:
			return nil, fmt.Errorf("linux.seccomp: architecture %s on an x86_64 host", a)
		}
	}
	def, err := seccompAction(sc.DefaultAction, sc.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp.defaultAction: %w", err)
	}
	p := seccomp.Profile{Default: def}
	for _, sys := range sc.Syscalls {
		act, err := seccompAction(sys.Action, sys.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp syscalls %v: %w", sys.Names, err)
		}
		var conds []seccomp.Cond
		for _, a := range sys.Args {
			op, ok := seccompOps[a.Op]
			if !ok {
				return nil, fmt.Errorf("linux.seccomp syscalls %v: operator %q", sys.Names, a.Op)
			}
			conds = append(conds, seccomp.Cond{Arg: a.Index, Op: op, Value: a.Value, ValueTwo: a.ValueTwo})
		}
		for _, name := range sys.Names {
			p.Rules = append(p.Rules, seccomp.Rule{Name: name, Action: act, Conds: conds})
		}
	}
	prog, err := seccomp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	return prog, nil
}
