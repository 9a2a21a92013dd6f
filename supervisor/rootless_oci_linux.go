package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ccontainer/ccontainer/initproc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The OCI commands run rootless in two ways (docs/rootless.md, "The OCI
// commands rootless"):
//
//   - as root of a user namespace that is not the host's: rootless podman
//     runs conmon and its runtime inside the user namespace of its pause
//     process, where the user is 0 and /etc/subuid's range the rest. euid 0
//     there is no root of the host's: no cgroup of the host's, no mknod, no
//     /run, but every capability over that namespace and the mount and
//     network namespaces it owns, and CAP_SETUID to write any map within it;
//   - as an ordinary user of the host's, with a config whose user namespace
//     maps the user to 0 (`runc spec --rootless`).
//
// Either way the state goes under $XDG_RUNTIME_DIR, no cgroup is made
// unless resources are asked for, and those need a delegated cgroup v2.

// initUserNS is what /proc/self/ns/user reads in the host's initial user
// namespace: its inode number is fixed by the kernel (PROC_USER_INIT_INO).
// Not the uid_map: a user namespace mapping every ID to itself reads as the
// initial one's, "0 0 4294967295", yet its root is no root of the host's.
const initUserNS = "user:[4026531837]"

// OCIRootless reports whether the OCI commands run without the host's root:
// as an ordinary user, or as any user of a user namespace other than the
// host's initial one (rootless podman's, `unshare -U -r`'s). A namespace
// that cannot be read counts as rootless.
func OCIRootless() bool {
	if os.Geteuid() != 0 {
		return true
	}
	l, err := os.Readlink("/proc/self/ns/user")
	return err != nil || l != initUserNS
}

// OCIRoot returns the state directory of the OCI commands when --root is
// not given: DefaultRoot for the host's root; for a rootless one
// $XDG_RUNTIME_DIR/ccsuper, as runc takes $XDG_RUNTIME_DIR/runc (nothing
// under /run is a rootless runtime's to write). Without XDG_RUNTIME_DIR a
// rootless ccsuper has no place of its own it can be sure of, and says so.
func OCIRoot(rootless bool, getenv func(string) string) (string, error) {
	if !rootless {
		return DefaultRoot, nil
	}
	dir := getenv("XDG_RUNTIME_DIR")
	if !filepath.IsAbs(dir) {
		return "", errors.New("rootless: XDG_RUNTIME_DIR is not set to an absolute path: set it, or give --root DIR")
	}
	return filepath.Join(dir, "ccsuper"), nil
}

// MakeOwnRoot makes a rootless ccsuper's default state directory dir
// (OCIRoot's), mode 0700, or checks the one there is the user's: a
// directory, not a symlink, closed to everyone else. Another user's would
// hand this user state.json files, and the hooks delete runs from them.
func MakeOwnRoot(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("state root: %w", err)
	}
	if err := ownDir(dir, os.Geteuid()); err != nil {
		return fmt.Errorf("state root: %w", err)
	}
	return nil
}

// resourcesAsked reports whether r asks for anything a cgroup would do,
// device rules aside (see rootlessCgroup).
func resourcesAsked(r *specs.LinuxResources) bool {
	if r == nil {
		return false
	}
	c := *r
	c.Devices = nil
	need := v1Needed(&c)
	delete(need, "pids") // always there for ps; a limit of its own below
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit != 0 {
		need["pids"] = true
	}
	return len(need) > 0 || len(r.HugepageLimits) > 0 || r.Network != nil || len(r.Rdma) > 0 || len(r.Unified) > 0
}

// rootlessDevices drops the config's device rules, which a rootless
// ccsuper cannot apply (loading their eBPF program needs the host's
// CAP_BPF or CAP_SYS_ADMIN), and says so through warn. Where they are
// dropped, the container's uid 0 must not be the host's: root of a user
// namespace mapping 0 to 0 (`unshare -U -r`, systemd's PrivateUsers=yes)
// with no user namespace of the container's own would open any device node
// its rootfs holds as the host's root, so that is refused. And in every
// rootless case ccinit mounts the rootfs and the binds nodev
// (initproc.OCI.NoDev), as runc does: a node in the rootfs or in a bound
// directory opens nothing; the nodes ccinit binds into /dev are the host's
// own, guarded by the host's permissions.
func rootlessDevices(p *bundlePlan, warn func(error)) error {
	p.init.OCI.NoDev = true
	r := p.resources
	if r == nil || len(r.Devices) == 0 {
		return nil
	}
	host, err := rootIsHostRoot(p.uns, p.userNS != "")
	if err != nil {
		return err
	}
	if host {
		return errors.New("rootless: the container's uid 0 would be the host's uid 0 (this user namespace maps 0 to 0) and its device rules cannot be applied: give it a user namespace of its own, or run as the host's root")
	}
	warn(errors.New("rootless: the config's device rules are not applied (no device cgroup without the host's root): the rootfs and binds are mounted nodev, device nodes are the host's, bound"))
	c := *r
	c.Devices = nil
	p.resources = &c
	return nil
}

// rootIsHostRoot reports whether the container's uid 0 is the host's: the
// uid its user namespace maps 0 to (0 without one of its own), mapped out
// through ccsuper's own namespace. Only one level is read: a namespace
// nested in one mapping some other ID to the host's 0 is not seen. A user
// namespace joined by path was made by the engine and is not read (no
// interface gives a namespace's maps from its path).
func rootIsHostRoot(u *userNS, joined bool) (bool, error) {
	if joined {
		return false, nil
	}
	id := uint32(0)
	if u != nil {
		var ok bool
		if id, ok = hostID(u.uids, 0); !ok {
			return false, nil
		}
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false, fmt.Errorf("read own uid map: %w", err)
	}
	rs, err := parseIDMap(string(b))
	if err != nil {
		return false, fmt.Errorf("own uid map: %w", err)
	}
	out, ok := hostID(rs, id)
	return ok && out == 0, nil
}

// rootlessCgroup makes a rootless container's cgroup, or none. With no
// resource asked it makes none, as runc's rootless cgroup manager goes on
// without one it may not write: log says so. With resources it makes one
// under the caller's delegated cgroup v2 (delegatedLayout, as for
// ccsuper --rootfs), at the config's cgroupsPath below it, or refuses in one
// line. Device rules are rootlessDevices' (dropped before).
func rootlessCgroup(path string, r *specs.LinuxResources, log func(string)) (*ociCgroup, error) {
	if r != nil && len(r.Devices) > 0 {
		c := *r
		c.Devices = nil
		r = &c
	}
	if !resourcesAsked(r) {
		log("rootless: no cgroup made (no resources asked, and the host's cgroups are not ours to write)")
		return nil, nil
	}
	var need []string
	n := v1Needed(r)
	for _, c := range []string{"memory", "cpu", "pids", "cpuset"} {
		if n[c] {
			need = append(need, c)
		}
	}
	if n["blkio"] {
		need = append(need, "io")
	}
	// The controllers unified keys name, among those a root container's
	// cgroup has: refused in one line if not delegated, rather than a key
	// found missing. A key of another controller is refused as not enabled,
	// as for root.
	for _, k := range unifiedKeys(r.Unified) {
		c, _, _ := strings.Cut(k, ".")
		if slices.Contains(ociV2Controllers, c) && !slices.Contains(need, c) {
			need = append(need, c)
		}
	}
	layout, err := delegatedLayout(need, nil)
	if err != nil {
		return nil, err
	}
	g := &ociCgroup{V2: true, Dirs: map[string]string{}, fd: -1}
	// Only what the resources need: the delegated cgroup may have more
	// than it can hand down (the guest of make test-vm refused "+cpu
	// +memory" there with EOPNOTSUPP for a pids limit).
	if err := g.makeV2(layout.v2, path, need); err != nil {
		return nil, errors.Join(err, g.remove())
	}
	if err := g.apply(r); err != nil {
		return nil, errors.Join(err, g.remove())
	}
	return g, nil
}

// ownV1View returns, on a v1 or hybrid host, the cgroups this process is
// in, one per mounted hierarchy, as initproc.Options.Cgroup1 wants them
// (DIR:NAME): a rootless container without a cgroup of its own, and without
// a cgroup namespace, sees those read-only at /sys/fs/cgroup, as runc shows
// a rootless container its current cgroups. The kernel refuses a new cgroup
// mount there (the cgroup namespace is the host's). None on a pure v2 host.
func ownV1View() ([]string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupFS, &st); err != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		return nil, nil
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	return v1View(b, func(dir string) bool {
		var st unix.Statfs_t
		return unix.Statfs(dir, &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC)
	}), nil
}

// v1View turns the lines of /proc/PID/cgroup into DIR:NAME entries: NAME
// the hierarchy's directory under cgroupFS ("cpu,cpuacct", "systemd" for
// name=systemd, "unified" for a hybrid's v2 line), DIR the process's cgroup
// in it, kept when isCgroup says it is one; DIR is empty where the
// process is in the hierarchy's root (an empty directory, see
// initproc.Options.Cgroup1).
func v1View(b []byte, isCgroup func(string) bool) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") {
			continue
		}
		name := strings.TrimPrefix(f[1], "name=")
		if f[1] == "" {
			name = "unified"
		}
		if strings.Contains(name, "/") || name == "" {
			continue
		}
		dir := filepath.Join(cgroupFS, name, f[2])
		switch {
		case !isCgroup(dir):
		case f[2] == "/":
			// The hierarchy's root (ccsuper in no cgroup of its own
			// there, as on a hybrid host's v1 hierarchies): shown empty,
			// not the host's whole tree.
			out = append(out, ":"+name)
		default:
			out = append(out, dir+":"+name)
		}
	}
	return out
}

// plainUserMaps checks the maps of an ordinary user's container: the
// kernel lets a process without CAP_SETUID write one line, its own ID, and
// the gid map only with setgroups denied (no newuidmap here: a config's
// maps are the engine's to choose, not /etc/subuid's).
func plainUserMaps(u *userNS) error {
	for _, m := range []struct {
		name string
		rs   []IDRange
		own  int
	}{{"uidMappings", u.uids, os.Geteuid()}, {"gidMappings", u.gids, os.Getegid()}} {
		if len(m.rs) != 1 || m.rs[0].Count != 1 || m.rs[0].Outside != uint32(m.own) {
			return fmt.Errorf("linux.%s: as an ordinary user only your own ID (%d) can be mapped, to 0, in one line (as `runc spec --rootless` writes)", m.name, m.own)
		}
	}
	u.setgroups = false
	return nil
}

// nsMembers returns pidfds of the processes of a container with no
// cgroup, what ps and kill --all reach: every process of its PID namespace
// when the container made it (st.OwnPidNS), and only ccinit and its
// descendants in one joined by path (a pod's, where other containers' run
// too). The caller closes them. A container that is not running has none.
//
// ccinit's PID may be reused once it exits: its pidfd is opened first, its
// namespace read, and its start time checked after, so the namespace read
// is ccinit's; one equal to ccsuper's own (the host's, or the engine's) is
// refused. Each member is pinned by a pidfd before its namespace is checked
// again, so a signal sent through it reaches that process or none.
// Processes this user may not inspect are not listed; none of a rootless
// container's is another user's.
func nsMembers(st containerState) ([]int, error) {
	initFD, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return nil, nil // gone: not running
	}
	defer unix.Close(initFD)
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", st.Pid))
	if err != nil || !processAlive(st.Pid, st.PidStart) {
		return nil, nil
	}
	own, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return nil, fmt.Errorf("read own pid namespace: %w", err)
	}
	if ns == own {
		return nil, fmt.Errorf("container %s: ccinit is in ccsuper's own pid namespace: no process of it is listed or signalled", st.ID)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err != nil || l != ns {
			continue
		}
		pids = append(pids, pid)
		if f, err := initproc.StatFields(pid); err == nil && len(f) > initproc.StatPPID {
			parent[pid], _ = strconv.Atoi(f[initproc.StatPPID])
		}
	}
	if !st.OwnPidNS {
		pids = slices.DeleteFunc(pids, func(pid int) bool {
			// Up the parents, within the namespace, to ccinit or out.
			for seen := 0; pid != st.Pid; seen++ {
				p, ok := parent[pid]
				if !ok || seen > len(parent) {
					return true
				}
				pid = p
			}
			return false
		})
	}
	var fds []int
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // gone meanwhile
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || l != ns {
			_ = unix.Close(fd) // its PID taken by another since
			continue
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// pidfdPid returns the PID a pidfd names (its fdinfo's Pid line), 0 when
// the process is gone.
func pidfdPid(fd int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return max(n, 0)
		}
	}
	return 0
}
