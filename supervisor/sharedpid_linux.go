package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A container without a PID namespace of its own: the runtime's (`docker run
// --pid=host`, `podman run --pid host`, Kubernetes `hostPID: true`), or one
// joined by path (a pod's). ccinit is then no PID 1, and the kernel's rule
// that every process of a PID namespace dies with its PID 1 does not hold:
// a process the command left, or one ccinit had not yet reaped, would
// outlive the container. ccinit still ends what it can when the command
// exits (as a child subreaper its orphans are its own: TERM, the grace
// period, KILL, as it does as PID 1), and ccsuper does the kernel's part
// through the container's cgroup, which every process of the container is
// born into and cannot leave:
//
//   - kill KILL (without --all too) kills every process of the cgroup, as
//     the death of a PID 1 would; kill --all sends any signal to all of them;
//   - delete (of a stopped container, or with --force) kills whatever is
//     left in the cgroup and waits until it is empty (killAll, from
//     Runtime.Delete), whichever way ccinit ended.
//
// The cgroups below the container's are included when ccsuper made the
// container's (not in ociCgroup.Joined): an existing cgroup that a config
// joins may have others' cgroups below it, which are not the container's to
// kill. Its own processes are, as with runc: nothing tells the container's
// from others'.
//
// "All of them" must include the children a process forks while the list is
// read and signalled: on v2, SIGKILL is cgroup.kill (Linux 5.14), which the
// kernel makes race-free itself; otherwise the cgroup is frozen first (v2's
// cgroup.freeze; on v1 its freezer hierarchy, which newOCICgroup puts such
// a container in), the list read and signalled, and the cgroup thawed: a
// frozen process forks nothing, and a process thawed with SIGKILL pending
// dies before a fork it was in could complete. A rootless container goes
// without a cgroup unless it asks for limits (rootlessCgroup): without a PID
// namespace of its own it is refused then (findable), since nothing would
// tell its processes from the user's others. runc does the same (its
// signalAllProcesses, at kill KILL and at destroy).

// findable refuses a container that has neither a PID namespace (new or
// joined) nor a cgroup: its processes would be among the runtime's own with
// nothing to tell them apart, and nothing to end them with the container.
func findable(p *bundlePlan, cgroup bool) error {
	if cgroup || has(p, unix.CLONE_NEWPID) {
		return nil
	}
	return errors.New("linux.namespaces: a container without a pid namespace needs a cgroup to find its processes, and rootless ccsuper makes one only for linux.resources limits")
}

// freezeWait bounds the wait for a cgroup to report itself frozen. A process
// in an uninterruptible sleep holds the freeze back; it forks nothing
// meanwhile, so the signal goes out anyway once the wait is over.
const freezeWait = time.Second

// killWait bounds the wait for a killed cgroup to empty.
const killWait = 10 * time.Second

// killDir is the directory whose processes, and those of the cgroups below
// it, are g's: the one that can be frozen (v2's, or v1's freezer), else the
// first.
func (g *ociCgroup) killDir() string {
	if d, ok := g.Dirs["freezer"]; ok && !g.V2 {
		return d
	}
	if dirs := g.unique(); len(dirs) > 0 {
		return dirs[0]
	}
	return ""
}

// freeze stops every process of g where the host can, and returns what
// thaws them again, or nil when nothing was frozen (a v1 cgroup outside the
// freezer hierarchy, a kernel without the file).
func (g *ociCgroup) freeze() (thaw func() error) {
	dir, file, on, off := g.killDir(), "cgroup.freeze", "1", "0"
	switch {
	case g.V2:
	case g.Dirs["freezer"] != "":
		file, on, off = "freezer.state", "FROZEN", "THAWED"
	default:
		return nil
	}
	if writeCgroup(dir, file, on) != nil {
		return nil
	}
	thaw = func() error {
		err := writeCgroup(dir, file, off)
		if g.V2 || g.joined(dir) {
			return err
		}
		// A v1 cgroup below that froze itself stays frozen when its
		// parent thaws, and a frozen process does not die of SIGKILL
		// until thawed: every one below is thawed too. (v2's freezer
		// lets a fatal signal through.)
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, werr error) error {
			if werr == nil && d.IsDir() && path != dir {
				_ = writeCgroup(path, file, off) // removed meanwhile is fine
			}
			return nil
		})
		return err
	}
	// Freezing is asynchronous: each process stops at its next return to
	// user space or freezable sleep, and the cgroup says when all have.
	deadline := time.Now().Add(freezeWait)
	for wait := 50 * time.Microsecond; !frozen(dir, g.V2) && time.Now().Before(deadline); wait = min(2*wait, 10*time.Millisecond) {
		time.Sleep(wait)
	}
	return thaw
}

// frozen reports whether the cgroup dir says all its processes are frozen.
func frozen(dir string, v2 bool) bool {
	if !v2 {
		b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
		return err == nil && strings.TrimSpace(string(b)) == "FROZEN"
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "frozen 1" {
			return true
		}
	}
	return false
}

// signalAll sends sig to every process in g and the cgroups below it (kill
// --all; and kill KILL of a container without a PID namespace of its own),
// frozen meanwhile (see the top of this file). A PID read from the cgroup
// names a process that cannot exit while frozen; unfrozen (no freezer), one
// that exits and whose PID is taken again in the instant between the read
// and the kill could be signalled in its stead, as with runc.
func (g *ociCgroup) signalAll(sig unix.Signal) error {
	dir := g.killDir()
	if sig == unix.SIGKILL && g.V2 {
		err := writeCgroup(dir, "cgroup.kill", "1")
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// No cgroup.kill (before Linux 5.14), or no cgroup any more:
		// freeze fails too then, and the list is empty.
	}
	thaw := g.freeze()
	pids, err := g.procs()
	for _, pid := range pids {
		_ = unix.Kill(pid, sig) // gone meanwhile is fine
	}
	if thaw != nil {
		if terr := thaw(); terr != nil {
			err = errors.Join(err, fmt.Errorf("thaw the container: %w", terr))
		}
	}
	return err
}

// killAll kills every process in g and waits until the cgroup is empty:
// what delete leaves of a container is nothing. An empty cgroup (a container
// whose PID 1 took everything with it) costs one read.
func (g *ociCgroup) killAll() error {
	dir := g.killDir()
	if dir == "" {
		return nil
	}
	pids, err := g.procs()
	if err != nil || len(pids) == 0 {
		return err
	}
	if err := g.signalAll(unix.SIGKILL); err != nil {
		return err
	}
	deadline := time.Now().Add(killWait)
	for wait := 50 * time.Microsecond; ; wait = min(2*wait, 20*time.Millisecond) {
		// Killed processes leave the cgroup as they finish exiting.
		time.Sleep(wait)
		if pids, err = g.procs(); err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes %v are still there %s after SIGKILL", dir, pids, killWait)
		}
		// Frozen, nothing could fork past the kill; without a freezer a
		// child born meanwhile is killed now.
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// procs returns the processes of g (killDir's), and of every cgroup below
// it when ccsuper made it: a container that may write its cgroups can make
// some.
func (g *ociCgroup) procs() ([]int, error) {
	dir := g.killDir()
	return procsUnder(dir, !g.joined(dir))
}

// procsUnder returns the processes of the cgroup dir and, with below, of
// every cgroup below it. A dir that is gone has none.
func procsUnder(dir string, below bool) ([]int, error) {
	var out []int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != dir && !below {
			return fs.SkipDir
		}
		b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("list the container's processes: %w", err)
	}
	return out, nil
}
