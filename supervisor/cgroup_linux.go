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
	"time"

	"golang.org/x/sys/unix"
)

// A container's cgroup is a directory named after its supervisor,
// ccontainer/c<pid>-<start>-<pidns>, under the root of the cgroup2
// hierarchy on a pure v2 host, or under the root of each v1 hierarchy it
// needs (memory, cpu, cpuacct, pids) on a v1 or hybrid host. The name is
// all the state there is: the next start, or `ccsuper cleanup`, finds the
// cgroups whose supervisor is dead, kills what is left in them and removes
// them. The PID namespace is in the name because a PID is only meaningful
// inside its namespace: a supervisor never judges the owner of a cgroup made
// from another PID namespace to be dead.
//
// The cgroup files are written by hand rather than through a library; why is
// in docs/cgroups.md (in short: a few files are all this needs, and the
// maintained libraries add 1 to 5 MB and 1.5 to 6 ms to every start).

// cgroupFS is where the host mounts its cgroups.
const cgroupFS = "/sys/fs/cgroup"

// cgroupParent is the directory, in each hierarchy, that holds the
// containers' cgroups. It is never removed: another supervisor may be
// creating a cgroup in it at the same time.
const cgroupParent = "ccontainer"

// v1Controllers are the v1 hierarchies a container's cgroup may use.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids"}

// cgroupLayout is how the host mounts its cgroups: one unified (v2)
// hierarchy, or a v1 hierarchy per controller (possibly with a cgroup2
// hierarchy beside them, without controllers, on a hybrid host: not used).
type cgroupLayout struct {
	// v2 is the root of the unified hierarchy on a pure v2 host.
	v2 string
	// v1 maps a controller to the root of its hierarchy. Co-mounted
	// controllers (cpu,cpuacct) map to the same root.
	v1 map[string]string
}

// detectCgroups finds the cgroup hierarchies mounted at root.
func detectCgroups(root string) (cgroupLayout, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); errors.Is(err, unix.ENOENT) {
		return cgroupLayout{}, nil // no cgroups at all: a limit is refused by name later
	} else if err != nil {
		return cgroupLayout{}, fmt.Errorf("cgroups at %s: %w", root, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return cgroupLayout{v2: root}, nil
	}
	l := cgroupLayout{v1: map[string]string{}}
	for _, c := range v1Controllers {
		// cpu and cpuacct are often links to one "cpu,cpuacct" mount.
		p, err := filepath.EvalSymlinks(filepath.Join(root, c))
		if err == nil && unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC {
			l.v1[c] = p
		}
	}
	return l, nil
}

// roots returns the root of every hierarchy a container's cgroup may be in.
func (l cgroupLayout) roots() []string {
	if l.v2 != "" {
		return []string{l.v2}
	}
	var out []string
	for _, c := range v1Controllers {
		if r, ok := l.v1[c]; ok && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// cgroupName is the name of the cgroup of the container o supervises.
func cgroupName(o owner, pidNS uint64) string {
	return fmt.Sprintf("c%d-%d-%d", o.PID, o.Start, pidNS)
}

// pidNamespace returns the inode number of our PID namespace.
func pidNamespace() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return 0, fmt.Errorf("read PID namespace: %w", err)
	}
	return st.Ino, nil
}

// cgroup is one container's cgroup.
type cgroup struct {
	v2 bool
	// dirs maps each controller the cgroup uses to its directory; on v2
	// they are all the same directory, and a v2 cgroup without any
	// controller (accounting only) has its directory under "".
	dirs map[string]string
	// fd is the open v2 directory, for cloning ccinit straight into it
	// (CLONE_INTO_CGROUP), or -1.
	fd     int
	limits Limits
}

// controllers returns the controllers a container's cgroup needs for
// limits l, and those it would like for accounting (stats) but can do
// without.
func controllers(l Limits, stats bool) (need, want []string) {
	add := func(c string, limit bool) {
		if limit {
			need = append(need, c)
		} else if stats {
			want = append(want, c)
		}
	}
	add("memory", l.Memory > 0)
	if l.CPUQuota > 0 {
		need = append(need, "cpu")
	}
	if stats {
		// v1 only: v2 accounts CPU time in every cgroup, controller or not.
		want = append(want, "cpuacct")
	}
	add("pids", l.Pids > 0)
	return need, want
}

// newCgroup makes the cgroup name with limits l in the hierarchies of
// layout, and the accounting stats asks for where the host has it. Nothing
// is left behind when it fails.
func newCgroup(layout cgroupLayout, name string, l Limits, stats bool) (_ *cgroup, err error) {
	g := &cgroup{v2: layout.v2 != "", dirs: map[string]string{}, fd: -1, limits: l}
	defer func() {
		if err != nil {
			err = errors.Join(err, g.remove())
		}
	}()
	need, want := controllers(l, stats)
	if g.v2 {
		err = g.makeV2(layout.v2, name, need, want)
	} else {
		err = g.makeV1(layout.v1, name, need, want)
	}
	if err == nil {
		err = g.setLimits()
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// makeV1 makes the directory name in the hierarchy of each controller, once
// for co-mounted ones. A controller only wanted for accounting is skipped
// where the host has none.
func (g *cgroup) makeV1(roots map[string]string, name string, need, want []string) error {
	for _, c := range append(need, want...) {
		root, ok := roots[c]
		if !ok {
			if slices.Contains(need, c) {
				return fmt.Errorf("no %s cgroup controller on this host (none mounted under %s)", c, cgroupFS)
			}
			continue
		}
		dir := filepath.Join(root, cgroupParent, name)
		if !slices.Contains(g.unique(), dir) {
			if err := mkdirCgroup(dir); err != nil {
				return err
			}
		}
		g.dirs[c] = dir
	}
	return nil
}

// makeV2 makes the directory name under ccontainer in the unified
// hierarchy, with the controllers it needs handed down to it, and opens it
// for the clone.
func (g *cgroup) makeV2(root, name string, need, want []string) error {
	have, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read cgroup controllers: %w", err)
	}
	var use []string
	for _, c := range append(need, want...) {
		switch {
		case slices.Contains(strings.Fields(string(have)), c):
			use = append(use, c)
		case slices.Contains(need, c):
			return fmt.Errorf("the %s cgroup controller is not available in %s", c, root)
		}
	}
	parent := filepath.Join(root, cgroupParent)
	// A controller reaches a cgroup only if every ancestor hands it down.
	if err := enableControllers(root, use); err != nil {
		return err
	}
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("make cgroup %s: %w", parent, err)
	}
	if err := enableControllers(parent, use); err != nil {
		return err
	}
	dir := filepath.Join(parent, name)
	if err := mkdirCgroup(dir); err != nil {
		return err
	}
	g.dirs[""] = dir
	for _, c := range use {
		g.dirs[c] = dir
	}
	g.fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return nil
}

// mkdirCgroup makes dir, and its parent if need be.
func mkdirCgroup(dir string) error {
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.Mkdir(filepath.Dir(dir), 0o755); err == nil || errors.Is(err, fs.ErrExist) {
			err = os.Mkdir(dir, 0o755)
		}
	}
	if err != nil {
		return fmt.Errorf("make cgroup %s: %w", dir, err)
	}
	return nil
}

// enableControllers hands the controllers cs down to the children of the v2
// cgroup dir, writing only those it does not hand down yet: the common case
// is a read and no write.
func enableControllers(dir string, cs []string) error {
	on, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("read controllers of %s: %w", dir, err)
	}
	var add []string
	for _, c := range cs {
		if !slices.Contains(strings.Fields(string(on)), c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return writeCgroup(dir, "cgroup.subtree_control", strings.Join(add, " "))
}

// setLimits writes g's limits into its cgroup.
func (g *cgroup) setLimits() error {
	l := g.limits
	type write struct {
		controller, file, value string
		// optional: the file may be missing, as the swap files are when
		// the kernel does not account swap.
		optional bool
	}
	var ws []write
	if l.Memory > 0 {
		mem := strconv.FormatInt(l.Memory, 10)
		if g.v2 {
			// memory.swap.max counts swap alone: none on top of the limit.
			ws = append(ws, write{"memory", "memory.max", mem, false}, write{"memory", "memory.swap.max", "0", true})
		} else {
			// memsw counts memory and swap together; it may not be below
			// the memory limit, so it goes second.
			ws = append(ws, write{"memory", "memory.limit_in_bytes", mem, false},
				write{"memory", "memory.memsw.limit_in_bytes", mem, true})
		}
	}
	if l.CPUQuota > 0 {
		q := strconv.FormatInt(l.quotaMicros(), 10)
		if g.v2 {
			ws = append(ws, write{"cpu", "cpu.max", q + " " + strconv.Itoa(cpuPeriod), false})
		} else {
			ws = append(ws, write{"cpu", "cpu.cfs_period_us", strconv.Itoa(cpuPeriod), false},
				write{"cpu", "cpu.cfs_quota_us", q, false})
		}
	}
	if l.Pids > 0 {
		ws = append(ws, write{"pids", "pids.max", strconv.FormatInt(l.Pids, 10), false})
	}
	for _, w := range ws {
		err := writeCgroup(g.dirs[w.controller], w.file, w.value)
		if err != nil && !(w.optional && errors.Is(err, fs.ErrNotExist)) {
			return err
		}
	}
	return nil
}

// writeCgroup writes value to the cgroup file dir/name.
func writeCgroup(dir, name, value string) error {
	p := filepath.Join(dir, name)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Write(fd, []byte(value))
		_ = unix.Close(fd) // a cgroup file reports errors on write, not on close
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// place moves the process pid, all its threads, into g. On v2 ccinit is
// cloned straight into g (CLONE_INTO_CGROUP, see cloneInto) and there is
// nothing to do; v1 has no such clone, so ccinit is moved before it is told
// to go, while it runs nothing of the container's yet.
func (g *cgroup) place(pid int) error {
	if g == nil || g.v2 {
		return nil
	}
	for _, dir := range g.unique() {
		if err := writeCgroup(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// cloneInto returns the directory descriptor to clone ccinit into, or -1.
func (g *cgroup) cloneInto() int {
	if g == nil {
		return -1
	}
	return g.fd
}

// ownNamespace reports whether the container gets a cgroup namespace whose
// root is g, and g's hierarchy mounted read-only on its /sys/fs/cgroup, as
// Docker gives one on v2: only on v2, where ccinit is cloned straight into g
// (clone3 makes a new cgroup namespace's root the cgroup it clones into),
// and only with a cgroup of the container's own, or the namespace's root
// would be ccsuper's cgroup, with every other container's below it. On v1
// ccinit is moved into g only after the clone, so its namespace would be
// rooted at ccsuper's cgroups: the container gets its v1 directories bound
// instead (v1View).
func (g *cgroup) ownNamespace() bool { return g != nil && g.v2 && g.fd >= 0 }

// v1View returns, on v1, g's directories to bind read-only in the
// container's /sys/fs/cgroup (initproc.Options.Cgroup1), each with the name
// of its hierarchy under the host's /sys/fs/cgroup, which is the directory
// two levels up: <root>/ccontainer/<name>.
func (g *cgroup) v1View() []string {
	if g == nil || g.v2 {
		return nil
	}
	var out []string
	for _, dir := range g.unique() {
		out = append(out, dir+":"+filepath.Base(filepath.Dir(filepath.Dir(dir))))
	}
	return out
}

// unique returns g's directories, each once.
func (g *cgroup) unique() []string {
	var out []string
	for _, c := range append([]string{""}, v1Controllers...) {
		if d, ok := g.dirs[c]; ok && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// usage reads what the kernel accounted in g. It must be read before g is
// removed, and is best effort: a file the kernel does not have is left out.
func (g *cgroup) usage() Usage {
	var u Usage
	if g.v2 {
		dir := g.dirs[""]
		u.MemoryPeak, u.HasMemoryPeak = readUint(dir, "memory.peak")
		u.PidsPeak, u.HasPidsPeak = readUint(dir, "pids.peak")
		st := readKeyed(dir, "cpu.stat")
		user, okU := st["user_usec"]
		sys, okS := st["system_usec"]
		u.CPUUser, u.CPUSystem, u.HasCPU = time.Duration(user)*time.Microsecond, time.Duration(sys)*time.Microsecond, okU && okS
		u.OOMKills = readKeyed(dir, "memory.events")["oom_kill"]
		return u
	}
	if dir, ok := g.dirs["memory"]; ok {
		u.MemoryPeak, u.HasMemoryPeak = readUint(dir, "memory.max_usage_in_bytes")
		u.OOMKills = readKeyed(dir, "memory.oom_control")["oom_kill"]
	}
	if dir, ok := g.dirs["cpuacct"]; ok {
		user, okU := readUint(dir, "cpuacct.usage_user")
		sys, okS := readUint(dir, "cpuacct.usage_sys")
		u.CPUUser, u.CPUSystem, u.HasCPU = time.Duration(user), time.Duration(sys), okU && okS
	}
	if dir, ok := g.dirs["pids"]; ok {
		u.PidsPeak, u.HasPidsPeak = readUint(dir, "pids.peak")
	}
	return u
}

// readUint reads a cgroup file holding one unsigned number.
func readUint(dir, name string) (uint64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	return v, err == nil
}

// readKeyed reads a cgroup file of "key value" lines.
func readKeyed(dir, name string) map[string]uint64 {
	m := map[string]uint64{}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return m
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if n, err := strconv.ParseUint(v, 10, 64); ok && err == nil {
			m[k] = n
		}
	}
	return m
}

// remove kills whatever is left in g and removes it. It is safe to call on a
// partly made or nil cgroup, and more than once.
func (g *cgroup) remove() error {
	if g == nil {
		return nil
	}
	if g.fd >= 0 {
		_ = unix.Close(g.fd) // a directory: nothing to flush
		g.fd = -1
	}
	var errs []error
	for _, dir := range g.unique() {
		errs = append(errs, removeCgroupDir(dir, g.v2))
	}
	return errors.Join(errs...)
}

// removeCgroupDir removes the cgroup dir. A cgroup holding a process cannot
// be removed (EBUSY), and a process can still be in it for a moment after
// ccinit is reaped (the kernel takes exiting tasks out of it
// asynchronously), or for good if a supervisor was killed: then what is left
// is killed, and removal tried again, for about five seconds at most.
func removeCgroupDir(dir string, v2 bool) error {
	for i := 1; ; i++ {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || i > 100 {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		if hasChildCgroup(dir) {
			// Busy with a cgroup below it, not with a process: no kill
			// and no wait changes that.
			return fmt.Errorf("remove cgroup %s: it has cgroups below it", dir)
		}
		killCgroup(dir, v2)
		time.Sleep(time.Duration(i) * time.Millisecond)
	}
}

// hasChildCgroup reports whether the cgroup dir has a cgroup below it (a
// directory: a cgroup's files are all regular).
func hasChildCgroup(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() {
			return true
		}
	}
	return false
}

// killCgroup sends SIGKILL to every process in the cgroup dir.
func killCgroup(dir string, v2 bool) {
	// cgroup.kill (Linux 5.14) kills the whole cgroup at once, with no race
	// against a process forking meanwhile.
	if v2 && writeCgroup(dir, "cgroup.kill", "1") == nil {
		return
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL) // gone already is fine
		}
	}
}

// containerCgroup makes the cgroup of the container c runs, when it needs
// one, first removing those of dead supervisors. It returns nil when c needs
// no cgroup.
func containerCgroup(c Config, me owner) (*cgroup, error) {
	if c.Limits == (Limits{}) && c.Stats == nil {
		return nil, nil
	}
	var layout cgroupLayout
	var err error
	if Rootless() {
		layout, err = delegatedLayout(controllers(c.Limits, c.Stats != nil))
	} else {
		layout, err = detectCgroups(cgroupFS)
	}
	if err != nil {
		return nil, err
	}
	ns, err := pidNamespace()
	if err != nil {
		return nil, err
	}
	// Best effort: what another supervisor left must not stop this one;
	// `ccsuper cleanup` reports it.
	_ = reclaimCgroups(layout, ns)
	return newCgroup(layout, cgroupName(me, ns), c.Limits, c.Stats != nil)
}

// finish reads what the container, which ended with status, used, hands it
// to stats if set, and reports an out-of-memory kill as an error: the kernel
// says so in the cgroup, where a status of 137 alone could be any SIGKILL.
func (g *cgroup) finish(status int, stats func(Usage)) error {
	if g == nil {
		return nil
	}
	u := g.usage()
	if stats != nil {
		stats(u)
	}
	if u.OOMKills == 0 {
		return nil
	}
	// Without a limit of its own, the container can only have been caught
	// in the host running out.
	why := "the host's memory"
	if g.limits.Memory > 0 {
		why = "limit " + formatBytes(uint64(g.limits.Memory))
	}
	if status == 128+int(unix.SIGKILL) {
		return fmt.Errorf("container killed: out of memory (%s)", why)
	}
	return fmt.Errorf("out of memory: the kernel killed %d of the container's processes (%s)", u.OOMKills, why)
}

// cleanupCgroups reclaims, for `ccsuper cleanup`, the cgroups of dead
// supervisors of our PID namespace in every hierarchy.
func cleanupCgroups() error {
	layout, err := detectCgroups(cgroupFS)
	if Rootless() {
		// A rootless container's cgroups are under the user's delegated
		// cgroup; without one there are none.
		if layout, err = delegatedLayout(nil, nil); err != nil {
			return nil
		}
	}
	if err != nil {
		return err
	}
	ns, err := pidNamespace()
	if err != nil {
		return err
	}
	return reclaimCgroups(layout, ns)
}

// reclaimCgroups removes the containers' cgroups, made from PID namespace
// ns, whose supervisor is dead, killing what is left in them.
func reclaimCgroups(layout cgroupLayout, ns uint64) error {
	var errs []error
	for _, r := range layout.roots() {
		parent := filepath.Join(r, cgroupParent)
		ents, err := os.ReadDir(parent)
		if err != nil {
			continue // no container made a cgroup here yet
		}
		for _, e := range ents {
			var o owner
			var eNS uint64
			_, err := fmt.Sscanf(e.Name(), "c%d-%d-%d", &o.PID, &o.Start, &eNS)
			if err != nil || !e.IsDir() || cgroupName(o, eNS) != e.Name() || eNS != ns || o.alive() {
				continue
			}
			errs = append(errs, removeCgroupDir(filepath.Join(parent, e.Name()), layout.v2 != ""))
		}
	}
	return errors.Join(errs...)
}
