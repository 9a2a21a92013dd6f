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
	"strings"

	"golang.org/x/sys/unix"
)

// A rootless container's cgroup is made where the user may make one: under
// the cgroup ccsuper runs in, when the unified (v2) hierarchy has it and it
// is delegated to the user, as systemd delegates user@.service or a
// `systemd-run --user -p Delegate=yes` unit (the directory, its
// cgroup.procs and cgroup.subtree_control chowned to the user). Below it the
// layout is root's (ccontainer/c<pid>-<start>-<pidns>, made, limited,
// reclaimed and removed by the same code), so that delegated cgroup plays
// the part of the hierarchy's root. See docs/rootless.md.

// leafCgroup is the child of the user's delegated cgroup that its own
// processes (ccsuper, and whatever else the user runs there) are moved
// into, because a cgroup that hands controllers down to its children may
// hold no process itself (cgroup v2's "no internal processes" rule). It is
// left in place: processes other than ours live in it. A ccsuper started
// from it takes its parent as the delegated cgroup, so that supervisors
// started one after the other do not nest.
const leafCgroup = "ccontainer-leaf"

// limitFlags names the flag that needs each controller, for errors.
var limitFlags = map[string]string{"memory": "--memory", "cpu": "--cpus", "pids": "--pids-limit"}

// delegatedLayout returns the cgroup layout of a rootless container whose
// cgroup needs the controllers need and would like want: the user's
// delegated cgroup as the root of a v2 layout, with the controllers handed
// down to its children. It refuses in one line, saying why, when there is
// no cgroup v2, the cgroup is not delegated or a needed controller is not in
// it.
func delegatedLayout(need, want []string) (cgroupLayout, error) {
	mnt := cgroup2Mount()
	if mnt == "" {
		return cgroupLayout{}, fmt.Errorf("rootless limits and --stats need cgroup v2, and this host has none mounted at %s or %s/unified", cgroupFS, cgroupFS)
	}
	rel, err := ownCgroup("/proc/self/cgroup")
	if err != nil {
		return cgroupLayout{}, err
	}
	if filepath.Base(rel) == leafCgroup {
		rel = filepath.Dir(rel)
	}
	dir := filepath.Join(mnt, rel)
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control"} {
		// AT_EACCESS: what the kernel checks on a write is the
		// effective IDs, not the real ones access(2) would test.
		if unix.Faccessat(unix.AT_FDCWD, filepath.Join(dir, f), unix.W_OK, unix.AT_EACCESS) != nil {
			return cgroupLayout{}, fmt.Errorf("rootless limits and --stats need a delegated cgroup v2, and your cgroup %s is not delegated to you (%s not writable): run ccsuper in one, e.g. systemd-run --user --scope -p Delegate=yes ccsuper ...",
				rel, filepath.Join(dir, f))
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return cgroupLayout{}, fmt.Errorf("read cgroup controllers: %w", err)
	}
	have := strings.Fields(string(b))
	var use []string
	for _, c := range need {
		if !slices.Contains(have, c) {
			hint := ""
			if mnt != cgroupFS {
				hint = ": this host is a v1 hybrid, whose controllers are in v1 hierarchies, never delegated"
			}
			list := "none"
			if len(have) > 0 {
				list = "only " + strings.Join(have, " ")
			}
			what := limitFlags[c]
			if what == "" { // an OCI config's resources
				what = "linux.resources (" + c + ")"
			}
			return cgroupLayout{}, fmt.Errorf("rootless %s needs the %s controller delegated to your cgroup %s, which has %s%s",
				what, c, rel, list, hint)
		}
		use = append(use, c)
	}
	for _, c := range want {
		if slices.Contains(have, c) {
			use = append(use, c)
		}
	}
	if len(use) == 0 {
		// Nothing to hand down (`ccsuper cleanup`, a hybrid's unified
		// hierarchy): the cgroup is found, not changed, and the user's
		// processes stay where they are.
		return cgroupLayout{v2: dir}, nil
	}
	// Controllers to hand down: the cgroup's processes (ccsuper at least,
	// maybe the user's shell) move into a leaf first, whether they are on
	// already or not. Not only when enabling fails with EBUSY: the kernel
	// lets threaded controllers alone (pids, cpu, cpuset) be on over
	// processes, and a cgroup with both is a thread root, under which no
	// child may enable a controller (EOPNOTSUPP, seen in the guest of
	// make test-vm with a pids limit alone, and again on the next run if
	// the processes were left).
	if err := evacuate(dir); err != nil {
		return cgroupLayout{}, err
	}
	if err := enableControllers(dir, use); err != nil {
		return cgroupLayout{}, err
	}
	return cgroupLayout{v2: dir}, nil
}

// cgroup2Mount returns where the unified hierarchy is mounted: at
// /sys/fs/cgroup on a pure v2 host, at /sys/fs/cgroup/unified on a hybrid
// one; "" without one.
func cgroup2Mount() string {
	for _, p := range []string{cgroupFS, filepath.Join(cgroupFS, "unified")} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	return ""
}

// ownCgroup returns our cgroup in the unified hierarchy, from the "0::"
// line of the /proc/PID/cgroup file at path.
func ownCgroup(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read own cgroup: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rel, ok := strings.CutPrefix(sc.Text(), "0::"); ok && strings.HasPrefix(rel, "/") {
			return filepath.Clean(rel), nil
		}
	}
	return "", fmt.Errorf("rootless limits and --stats need cgroup v2, and %s names no cgroup v2 of ours", path)
}

// evacuate moves every process of the cgroup dir into its leafCgroup.
// Processes may fork meanwhile: it reads the list again until it is empty,
// a bounded number of times.
func evacuate(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("read processes of cgroup %s: %w", dir, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil // none: no leaf needed
	}
	leaf := filepath.Join(dir, leafCgroup)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("make cgroup %s: %w", leaf, err)
	}
	for range 20 {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return fmt.Errorf("read processes of cgroup %s: %w", dir, err)
		}
		pids := strings.Fields(string(b))
		if len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			// ESRCH: it exited meanwhile.
			if err := writeCgroup(leaf, "cgroup.procs", p); err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
		}
	}
	return fmt.Errorf("move the processes of cgroup %s into %s: they keep forking", dir, leafCgroup)
}
