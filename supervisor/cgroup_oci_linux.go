package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/devicefilter"
)

// An OCI container's cgroup is where its config says (linux.cgroupsPath),
// not one named after a supervisor: the engine owns the name, and the
// container outlives the ccsuper that made it. Its directories are kept in
// the container's state, for kill --all, ps and delete.

// ociV1Controllers are the v1 hierarchies an OCI container's cgroup may be
// made in.
var ociV1Controllers = []string{"memory", "cpu", "cpuacct", "pids", "devices", "blkio", "freezer", "cpuset"}

// ociV2Controllers are the v2 controllers an OCI container's cgroup has
// enabled, when its parent offers them. A unified key of any other (hugetlb,
// rdma, misc) is refused as not enabled.
var ociV2Controllers = []string{"memory", "cpu", "pids", "io", "cpuset"}

// v1Needed returns the v1 hierarchies the container's cgroup is made in:
// pids always (ps and kill --all read it; every process of the container is
// there), and those r's limits need. runc joins every hierarchy; moving a
// process into a v1 cgroup costs up to a few milliseconds each here (the
// kernel waits out an RCU grace period), so only those that do something.
func v1Needed(r *specs.LinuxResources) map[string]bool {
	need := map[string]bool{"pids": true}
	if r == nil {
		return need
	}
	if r.Memory != nil {
		need["memory"] = true
	}
	if c := r.CPU; c != nil {
		if sharesSet(c) || c.Quota != nil || c.Period != nil {
			need["cpu"] = true
		}
		if c.Cpus != "" || c.Mems != "" {
			need["cpuset"] = true
		}
	}
	if len(r.Devices) > 0 {
		need["devices"] = true
	}
	if blockIOSet(r.BlockIO) {
		need["blkio"] = true
	}
	return need
}

// sharesSet reports whether c asks for CPU shares: 0 is not set, as runc
// reads it (and v2 has no weight for it).
func sharesSet(c *specs.LinuxCPU) bool { return c.Shares != nil && *c.Shares != 0 }

// cpuWeight is v2's cpu.weight (1..10000) for v1's CPU shares (2..262144,
// to which v1 clamps them), by the usual conversion.
func cpuWeight(shares uint64) uint64 {
	return 1 + ((min(max(shares, 2), 262144)-2)*9999)/262142
}

// blockIOSet reports whether b asks for anything. A weight or leaf weight
// of 0 is not set, as runc reads it: Docker sends weight 0 for every
// container whatever the user asked, and 0 is outside the kernel's range.
func blockIOSet(b *specs.LinuxBlockIO) bool {
	if b == nil {
		return false
	}
	return (b.Weight != nil && *b.Weight != 0) || (b.LeafWeight != nil && *b.LeafWeight != 0) ||
		len(b.WeightDevice) > 0 || len(b.ThrottleReadBpsDevice) > 0 || len(b.ThrottleWriteBpsDevice) > 0 ||
		len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0
}

// weightFile returns the file a block I/O weight is written to in dir:
// the CFQ-era name or, on kernels where only the BFQ scheduler weighs
// (CFQ is gone since 5.0), its name; v2 likewise. A kernel with neither
// (built without BFQ group scheduling) cannot weigh: one clear error
// rather than a write to a missing file.
func weightFile(dir string, v2 bool) (string, error) {
	names := []string{"blkio.weight", "blkio.bfq.weight"}
	if v2 {
		names = []string{"io.weight", "io.bfq.weight"}
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return n, nil
		}
	}
	return "", fmt.Errorf("linux.resources.blockIO.weight: this kernel has no block I/O weight (no %s in %s)", strings.Join(names, " or "), dir)
}

// ociCgroup is an OCI container's cgroup: one directory on v2, one per
// hierarchy on v1.
type ociCgroup struct {
	V2   bool              `json:"v2"`
	Dirs map[string]string `json:"dirs"` // controller ("" on v2) -> directory
	// Joined are the directories that existed before create, which the
	// container joined (the spec allows it): they are not the container's,
	// so they are not removed, nothing in them is killed at removal, and
	// the cgroups below them are not searched (sharedpid_linux.go). The
	// others ccsuper made, and what is below them is the container's.
	Joined []string `json:"joined,omitempty"`
	// fd is the open v2 directory, to clone ccinit straight into
	// (CLONE_INTO_CGROUP: no migration afterwards), or -1.
	fd int
}

// ociCgroupPath is the cgroup path of container id: the config's, or
// /ccsuper/ID when it gives none. A relative path is taken from the root.
func ociCgroupPath(path, id string) (string, error) {
	if path == "" {
		path = "/ccsuper/" + id
	}
	if strings.Contains(path, ":") {
		return "", fmt.Errorf("linux.cgroupsPath %q: systemd slice:prefix:name paths are not supported (no --systemd-cgroup)", path)
	}
	clean := filepath.Clean("/" + path)
	if clean == "/" {
		return "", fmt.Errorf("linux.cgroupsPath %q: the root cgroup", path)
	}
	return clean, nil
}

// newOCICgroup makes the cgroup at path and applies r to it. Nothing is
// left behind when it fails. shared is a container without a PID namespace
// of its own: on v1 it is made in the freezer hierarchy too, when the host
// has one, so that its processes can be stopped before they are killed
// (sharedpid_linux.go).
func newOCICgroup(path string, r *specs.LinuxResources, shared bool) (_ *ociCgroup, err error) {
	layout, err := detectCgroups(cgroupFS)
	if err != nil {
		return nil, err
	}
	g := &ociCgroup{V2: layout.v2 != "", Dirs: map[string]string{}, fd: -1}
	defer func() {
		if err != nil {
			err = errors.Join(err, g.remove())
		}
	}()
	if !g.V2 && r != nil {
		// Before any cgroup is made, rather than after.
		if err := refuseUnifiedV1(r.Unified); err != nil {
			return nil, err
		}
	}
	if g.V2 {
		if err := g.makeV2(layout.v2, path, nil); err != nil {
			return nil, err
		}
	} else {
		need := v1Needed(r)
		for _, c := range ociV1Controllers {
			optional := c == "freezer" && shared
			if !need[c] && !optional {
				continue
			}
			root, err := filepath.EvalSymlinks(filepath.Join(cgroupFS, c))
			if err != nil && optional {
				continue // killed without freezing first (killAll)
			}
			if err != nil {
				return nil, fmt.Errorf("no %s cgroup controller on this host (none mounted under %s)", c, cgroupFS)
			}
			dir := filepath.Join(root, path)
			made, err := mkdirV1(root, path, c == "cpuset")
			if err != nil {
				return nil, err
			}
			if !made {
				g.Joined = append(g.Joined, dir)
			}
			g.Dirs[c] = dir
		}
	}
	if err := g.apply(r); err != nil {
		return nil, err
	}
	return g, nil
}

// mkdirV1 makes path under the v1 hierarchy root, level by level, and
// reports whether it made the last (an existing cgroup is joined). A new v1
// cpuset cgroup has no CPU and no memory node, and takes no process until
// it has: each level made gets its parent's.
func mkdirV1(root, path string, cpuset bool) (made bool, _ error) {
	dir := root
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		parent := dir
		dir = filepath.Join(dir, part)
		err := os.Mkdir(dir, 0o755)
		made = err == nil
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("make cgroup %s: %w", dir, err)
		}
		if !cpuset {
			continue
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			b, err := os.ReadFile(filepath.Join(parent, f))
			if err != nil {
				return false, fmt.Errorf("read %s: %w", filepath.Join(parent, f), err)
			}
			if err := writeCgroup(dir, f, strings.TrimSpace(string(b))); err != nil {
				return false, err
			}
		}
	}
	return made, nil
}

// makeV2 makes path in the unified hierarchy, the controllers use handed
// down to it, or with use nil every one of ours that the root has.
func (g *ociCgroup) makeV2(root, path string, use []string) error {
	if use == nil {
		have, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
		if err != nil {
			return fmt.Errorf("read cgroup controllers: %w", err)
		}
		for _, c := range strings.Fields(string(have)) {
			if slices.Contains(ociV2Controllers, c) {
				use = append(use, c)
			}
		}
	}
	dir := root
	existed := false
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		if err := enableControllers(dir, use); err != nil {
			return err
		}
		dir = filepath.Join(dir, part)
		err := os.Mkdir(dir, 0o755)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("make cgroup %s: %w", dir, err)
		}
		existed = err != nil
	}
	if existed {
		g.Joined = append(g.Joined, dir)
	}
	g.Dirs[""] = dir
	var err error
	g.fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return nil
}

// cloneInto returns the directory descriptor to clone ccinit into, or -1,
// and closeFD releases it once ccinit is there.
// A nil g is no cgroup at all (rootlessCgroup).
func (g *ociCgroup) cloneInto() int {
	if g == nil {
		return -1
	}
	return g.fd
}

func (g *ociCgroup) closeFD() {
	if g != nil && g.fd >= 0 {
		_ = unix.Close(g.fd)
		g.fd = -1
	}
}

// dir returns the directory of controller c, or an error naming it.
func (g *ociCgroup) dir(c string) (string, error) {
	if g.V2 {
		return g.Dirs[""], nil
	}
	d, ok := g.Dirs[c]
	if !ok {
		return "", fmt.Errorf("no %s cgroup controller on this host", c)
	}
	return d, nil
}

// apply writes the config's resources into g, the unified map's last.
func (g *ociCgroup) apply(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if g.V2 {
		// Before any write: a missing file changes nothing (a joined
		// cgroup is someone else's).
		if err := checkUnifiedFiles(g.Dirs[""], r.Unified); err != nil {
			return err
		}
	}
	type write struct{ controller, v1, v2, value string }
	var ws []write
	num := func(n int64) string { return strconv.FormatInt(n, 10) }
	orMax := func(n int64) string { // a negative limit is none
		if n < 0 {
			return "max"
		}
		return num(n)
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil {
			v1 := num(*m.Limit)
			ws = append(ws, write{"memory", "memory.limit_in_bytes", "memory.max", v1})
			if g.V2 {
				ws[len(ws)-1].value = orMax(*m.Limit)
			}
		}
		if m.Reservation != nil {
			ws = append(ws, write{"memory", "memory.soft_limit_in_bytes", "memory.low", num(*m.Reservation)})
		}
		if m.Swap != nil {
			v := num(*m.Swap)
			if g.V2 {
				// v2's swap.max is swap alone, the config's is memory+swap.
				v = "max"
				if *m.Swap >= 0 && m.Limit != nil && *m.Limit >= 0 {
					v = num(max(*m.Swap-*m.Limit, 0))
				}
			}
			ws = append(ws, write{"memory", "memory.memsw.limit_in_bytes", "memory.swap.max", v})
		}
		if m.Swappiness != nil {
			if g.V2 {
				return errors.New("linux.resources.memory.swappiness: not on cgroup v2")
			}
			ws = append(ws, write{"memory", "memory.swappiness", "", strconv.FormatUint(*m.Swappiness, 10)})
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			if g.V2 {
				return errors.New("linux.resources.memory.disableOOMKiller: not on cgroup v2")
			}
			ws = append(ws, write{"memory", "memory.oom_control", "", "1"})
		}
		// Kernels since 5.4 accept and ignore these on v1; v2 has none.
		if m.Kernel != nil { //nolint:staticcheck // deprecated in the spec, still passed on
			ws = append(ws, write{"memory", "memory.kmem.limit_in_bytes", "", num(*m.Kernel)}) //nolint:staticcheck
		}
		if m.KernelTCP != nil { //nolint:staticcheck
			ws = append(ws, write{"memory", "memory.kmem.tcp.limit_in_bytes", "", num(*m.KernelTCP)}) //nolint:staticcheck
		}
		if m.UseHierarchy != nil {
			return errors.New("linux.resources.memory.useHierarchy is not supported")
		}
		if m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate {
			return errors.New("linux.resources.memory.checkBeforeUpdate is not supported")
		}
	}
	if c := r.CPU; c != nil {
		if sharesSet(c) {
			v := strconv.FormatUint(*c.Shares, 10)
			if g.V2 {
				v = strconv.FormatUint(cpuWeight(*c.Shares), 10)
			}
			ws = append(ws, write{"cpu", "cpu.shares", "cpu.weight", v})
		}
		if c.Cpus != "" {
			ws = append(ws, write{"cpuset", "cpuset.cpus", "cpuset.cpus", c.Cpus})
		}
		if c.Mems != "" {
			ws = append(ws, write{"cpuset", "cpuset.mems", "cpuset.mems", c.Mems})
		}
		if c.Period != nil || c.Quota != nil {
			period := uint64(cpuPeriod)
			if c.Period != nil {
				period = *c.Period
			}
			if g.V2 {
				q := "max"
				if c.Quota != nil && *c.Quota > 0 {
					q = num(*c.Quota)
				}
				ws = append(ws, write{"cpu", "", "cpu.max", q + " " + strconv.FormatUint(period, 10)})
			} else {
				ws = append(ws, write{"cpu", "cpu.cfs_period_us", "", strconv.FormatUint(period, 10)})
				if c.Quota != nil {
					ws = append(ws, write{"cpu", "cpu.cfs_quota_us", "", num(*c.Quota)})
				}
			}
		}
	}
	// A limit of 0 is none and not written, as runc reads it (podman
	// sends 0 for --pids-limit 0): a new cgroup has no limit already.
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit != 0 {
		ws = append(ws, write{"pids", "pids.max", "pids.max", orMax(*p.Limit)})
	}
	if b := r.BlockIO; blockIOSet(b) {
		if b.Weight != nil && *b.Weight != 0 {
			dir, err := g.dir("blkio")
			if err != nil {
				return err
			}
			file, err := weightFile(dir, g.V2)
			if err != nil {
				return err
			}
			w := int(*b.Weight)
			if file == "io.weight" {
				// v1's range is 10..1000, io.weight's 1..10000: the same
				// place in the range.
				w = 1 + (w-10)*9999/990
			}
			ws = append(ws, write{"blkio", file, file, strconv.Itoa(w)})
		}
		if (b.LeafWeight != nil && *b.LeafWeight != 0) || len(b.WeightDevice) > 0 {
			return errors.New("linux.resources.blockIO: leafWeight and weightDevice are not supported")
		}
		for _, t := range []struct {
			devs      []specs.LinuxThrottleDevice
			v1, v2key string
		}{
			{b.ThrottleReadBpsDevice, "blkio.throttle.read_bps_device", "rbps"},
			{b.ThrottleWriteBpsDevice, "blkio.throttle.write_bps_device", "wbps"},
			{b.ThrottleReadIOPSDevice, "blkio.throttle.read_iops_device", "riops"},
			{b.ThrottleWriteIOPSDevice, "blkio.throttle.write_iops_device", "wiops"},
		} {
			for _, d := range t.devs {
				dev := fmt.Sprintf("%d:%d", d.Major, d.Minor)
				if g.V2 {
					ws = append(ws, write{"blkio", "", "io.max", fmt.Sprintf("%s %s=%d", dev, t.v2key, d.Rate)})
				} else {
					ws = append(ws, write{"blkio", t.v1, "", fmt.Sprintf("%s %d", dev, d.Rate)})
				}
			}
		}
	}
	var devices []specs.LinuxDeviceCgroup
	if len(r.Devices) > 0 {
		devices = withDefaultDevices(r.Devices)
		if !g.V2 {
			for _, d := range devices {
				file := "devices.deny"
				if d.Allow {
					file = "devices.allow"
				}
				ws = append(ws, write{"devices", file, "", devicefilter.V1Rule(d)})
			}
		}
	}
	for _, w := range ws {
		file := w.v1
		if g.V2 {
			file = w.v2
		}
		if file == "" {
			return fmt.Errorf("cgroup: %s has no equivalent on this host", w.v1+w.v2)
		}
		dir, err := g.dir(w.controller)
		if err != nil {
			return err
		}
		if err := writeCgroup(dir, file, w.value); err != nil {
			if g.V2 && errors.Is(err, fs.ErrNotExist) {
				// The controller is not handed down to the cgroup: the
				// root has none to give (a hybrid host's unified tree).
				return fmt.Errorf("%s: the cgroup v2 controller for it is not available in %s", file, filepath.Dir(dir))
			}
			return err
		}
	}
	if devices != nil && g.V2 {
		// v2 has no devices.allow: the rules become an eBPF program on
		// the cgroup, in before ccinit is cloned into it.
		if err := devicefilter.Attach(g.fd, devices); err != nil {
			return fmt.Errorf("linux.resources.devices: %w", err)
		}
	}
	// Last, so that a key overrides the field that wrote the same file.
	// (On v1 a non-empty map was refused before any cgroup was made:
	// newOCICgroup.)
	if !g.V2 {
		return nil
	}
	return applyUnified(g.Dirs[""], r.Unified)
}

// defaultDevices are the devices every container has: the spec's default
// devices (/dev/null, zero, full, random, urandom, tty), the console, ptmx
// and the container's ptys. ccinit makes them (a container whose rules
// refuse their mknod cannot start), and the spec says they are there.
var defaultDevices = func() []specs.LinuxDeviceCgroup {
	var out []specs.LinuxDeviceCgroup
	for _, d := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {136, -1}} {
		out = append(out, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &d[0], Minor: &d[1], Access: "rwm"})
	}
	return out
}()

// withDefaultDevices returns rules with the default devices allowed right
// after the last rule for all devices ("deny all", which every engine
// sends first, would take them away), or first when there is none: so a
// config's later rule about one of them still counts, as a rule after
// "deny all" does for any other device. (runc allows them after every
// rule, and a config cannot deny /dev/null at all.)
func withDefaultDevices(rules []specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	at := 0
	for i, r := range rules {
		if r.Type == "" || r.Type == "a" {
			at = i + 1
		}
	}
	out := slices.Clone(rules[:at])
	out = append(out, defaultDevices...)
	return append(out, rules[at:]...)
}

// v1View returns g's v1 directories as initproc.Options.Cgroup1 wants
// them, DIR:NAME, NAME the hierarchy's directory under cgroupFS.
func (g *ociCgroup) v1View() []string {
	var out []string
	for _, dir := range g.v1Dirs() {
		root := dir
		for filepath.Dir(root) != cgroupFS && root != "/" {
			root = filepath.Dir(root)
		}
		out = append(out, dir+":"+filepath.Base(root))
	}
	return out
}

// v1Dirs returns g's v1 directories, for ccinit to be born in (see
// spawnSpec.bornIn); none on v2, where it is cloned into its cgroup.
func (g *ociCgroup) v1Dirs() []string {
	if g == nil || g.V2 {
		return nil
	}
	return g.unique()
}

// unique returns g's directories, each once, in a stable order.
func (g *ociCgroup) unique() []string {
	var out []string
	for _, c := range append([]string{""}, ociV1Controllers...) {
		if d, ok := g.Dirs[c]; ok && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// joined reports whether dir existed before create (Joined).
func (g *ociCgroup) joined(dir string) bool { return slices.Contains(g.Joined, dir) }

// removeBelow removes the cgroups below dir, the deepest first.
func removeBelow(dir string, v2 bool) error {
	var below []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile
		}
		if err == nil && d.IsDir() && path != dir {
			below = append(below, path)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("list the cgroups below %s: %w", dir, err)
	}
	var errs []error
	for _, d := range slices.Backward(below) { // children come after their parent
		errs = append(errs, removeCgroupDir(d, v2))
	}
	return errors.Join(errs...)
}

// pids returns the processes in g.
func (g *ociCgroup) pids() ([]int, error) {
	dirs := g.unique()
	if len(dirs) == 0 {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dirs[0], "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("read cgroup: %w", err)
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// remove removes the directories ccsuper made for g (not their parents,
// which the engine owns), with the cgroups the container made below them,
// killing what is still in them (emptied before: delete kills what is left
// of a container without a PID namespace of its own with killAll; with one,
// the kernel killed it with ccinit). A joined cgroup is left as it is, with
// whatever else is in it or below it.
func (g *ociCgroup) remove() error {
	if g == nil {
		return nil
	}
	g.closeFD()
	var errs []error
	for _, dir := range g.unique() {
		if g.joined(dir) {
			continue
		}
		errs = append(errs, removeBelow(dir, g.V2))
		errs = append(errs, removeCgroupDir(dir, g.V2))
	}
	return errors.Join(errs...)
}
