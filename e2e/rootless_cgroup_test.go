package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRootlessCgroup: a rootless container's limits and --stats, through a
// cgroup v2 the test delegates to its user as systemd delegates one (the
// directory, its cgroup.procs, cgroup.subtree_control and cgroup.threads
// chowned to the user, the controllers handed down to it), with ccsuper
// started in it. Without delegation, and on a hybrid host (this machine)
// for the controllers the unified hierarchy lacks, ccsuper refuses in one
// line. On a pure v2 host (the guest of make test-vm) --memory kills a
// memory hog and --pids-limit holds a fork bomb to its limit, counted by
// the kernel in the container's cgroup under the delegated one; that cgroup
// is gone after the run.
func TestRootlessCgroup(t *testing.T) {
	t.Parallel()
	mnt := cgroup2MountPoint()
	if mnt == "" {
		t.Skip("no cgroup2 hierarchy on this host")
	}
	super, _ := rootlessBinaries(t)
	u := newTestUser(t, false)
	root := u.rootfs(t, baseRootfs)
	args := func(flags ...string) []string {
		return append([]string{"--rootfs", root, "--net", "none", "-t=false"}, flags...)
	}

	t.Run("not delegated", func(t *testing.T) {
		// The test's own cgroup is root's.
		r := run(t, u.cmd(t, super, append(args("--memory", "64m"), "--", "/bin/true")...))
		wantOneLineError(t, r, 125)
		if !strings.Contains(r.stderr, "not delegated to you") {
			t.Errorf("got %q, want the cgroup said not delegated", r.stderr)
		}
	})

	deleg := delegateCgroup(t, mnt, u)
	// inDelegated runs ccsuper, as the user, started in the delegated
	// cgroup (cloned into it), or in the leaf an earlier ccsuper moved
	// the cgroup's processes into, where a shell of the user's would be
	// after it: the delegated cgroup, handing controllers down, may hold
	// no process any more.
	inDelegated := func(t *testing.T, flags ...string) *exec.Cmd {
		t.Helper()
		dir := deleg
		if _, err := os.Stat(filepath.Join(deleg, "ccontainer-leaf")); err == nil {
			dir = filepath.Join(deleg, "ccontainer-leaf")
		}
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Close(fd) })
		c := u.cmd(t, super, args(flags...)...)
		c.SysProcAttr.UseCgroupFD, c.SysProcAttr.CgroupFD = true, fd
		return c
	}
	have := strings.Fields(readCgroupFile(t, mnt, "cgroup.controllers"))
	if !slices.Contains(have, "memory") || !slices.Contains(have, "pids") {
		// A hybrid host: the unified hierarchy has no controllers.
		t.Run("controller missing", func(t *testing.T) {
			for _, flag := range [][]string{{"--memory", "64m"}, {"--pids-limit", "32"}} {
				r := run(t, inDelegated(t, append(flag, "--", "/bin/true")...))
				wantOneLineError(t, r, 125)
				if !strings.Contains(r.stderr, "controller delegated to your cgroup") {
					t.Errorf("%s: got %q, want the missing controller named", flag[0], r.stderr)
				}
			}
		})
		t.Run("stats", func(t *testing.T) {
			// A process of the user's in the delegated cgroup, as a
			// shell would be: with no controller to hand down, neither
			// the run nor a cleanup moves it, nor makes a leaf.
			fd, err := unix.Open(deleg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			shell := u.cmd(t, "sleep", token("271.8"))
			shell.SysProcAttr.UseCgroupFD, shell.SysProcAttr.CgroupFD = true, fd
			if err := shell.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = shell.Process.Kill(); _ = shell.Wait() }()
			// CPU time is accounted in every v2 cgroup, controller or not.
			r := run(t, inDelegated(t, "--stats", "--", "/bin/sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"))
			wantExit(t, r, 0)
			if !strings.HasPrefix(r.stderr, "ccsuper: stats: cpu ") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("got stderr %q, want the stats line with the CPU time alone", r.stderr)
			}
			wantNoDelegatedCgroup(t, deleg)
			cleanup := u.cmd(t, super, "cleanup")
			cleanup.SysProcAttr.UseCgroupFD, cleanup.SysProcAttr.CgroupFD = true, fd
			wantExit(t, run(t, cleanup), 0)
			if procs := strings.Fields(readCgroupFile(t, deleg, "cgroup.procs")); !slices.Contains(procs, strconv.Itoa(shell.Process.Pid)) {
				t.Errorf("the user's process %d left the delegated cgroup (which holds %v)", shell.Process.Pid, procs)
			}
			if _, err := os.Stat(filepath.Join(deleg, "ccontainer-leaf")); err == nil {
				t.Error("a leaf was made with nothing to hand down")
			}
		})
		return
	}

	t.Run("memory", func(t *testing.T) {
		const hog = `x=$(head -c 100m /dev/zero | tr '\0' a); echo survived`
		r := run(t, inDelegated(t, "--memory", "32m", "--", "/bin/sh", "-c", hog))
		wantExit(t, r, 137)
		// The shell is the hog, but head or tr may be chosen first (as in
		// TestCgroupOOM): the shell says "Killed" for it.
		stderr := strings.TrimPrefix(r.stderr, "Killed\n")
		if want := "ccsuper: container killed: out of memory (limit 32 MiB)\n"; stderr != want || r.stdout != "" {
			t.Errorf("got stdout %q stderr %q, want nothing and %q", r.stdout, r.stderr, want)
		}
		wantNoDelegatedCgroup(t, deleg)
		// ccsuper moved itself into the leaf, and the delegated cgroup
		// hands the memory controller down.
		if procs := readCgroupFile(t, deleg, "cgroup.procs"); procs != "" {
			t.Errorf("processes %q left in the delegated cgroup", procs)
		}
		if on := strings.Fields(readCgroupFile(t, deleg, "cgroup.subtree_control")); !slices.Contains(on, "memory") {
			t.Errorf("the delegated cgroup hands down %q, want memory among them", on)
		}
		if _, err := os.Stat(filepath.Join(deleg, "ccontainer-leaf")); err != nil {
			t.Errorf("no leaf: %v", err)
		}
	})

	t.Run("fork bomb", func(t *testing.T) {
		// As TestCgroupForkBomb: the bomb runs while a sleep lasts, which
		// the test kills once the container's cgroup has met the limit.
		const limit = 32
		sleep := token("3141.5")
		script := `sleep ` + sleep + ` & s=$!; b() { b | b & }; (b) & wait $s; echo bomb-done`
		p := start(t, inDelegated(t, "--stats", "--pids-limit", strconv.Itoa(limit), "--", "/bin/sh", "-c", script))
		waitPidsPeak(t, func() []string {
			m, _ := filepath.Glob(filepath.Join(deleg, "ccontainer", fmt.Sprintf("c%d-*", p.cmd.Process.Pid)))
			return m
		}, limit)
		for _, pid := range pidsOfCommand("sleep", sleep) {
			_ = unix.Kill(pid, unix.SIGKILL) // gone already: the wait below says
		}
		r := p.wait(t)
		wantExit(t, r, 0)
		if r.stdout != "bomb-done\n" {
			t.Errorf("got stdout %q, want bomb-done", r.stdout)
		}
		if s := parseStats(t, r.stderr); s.pidsPeak != limit {
			t.Errorf("got tasks peak %d, want the bomb held at the limit %d\n%s", s.pidsPeak, limit, r.stderr)
		}
		wantNoDelegatedCgroup(t, deleg)
	})
}

// delegateCgroup makes a cgroup under the unified hierarchy at mnt and
// delegates it to u as systemd does for a unit with Delegate=yes: the
// controllers the hierarchy has among memory, pids and cpu handed down to
// it, and the directory and the files a delegate writes chowned to the user.
// It is removed, with what ccsuper made in it, when the test ends.
func delegateCgroup(t *testing.T, mnt string, u testUser) string {
	t.Helper()
	var use []string
	for _, c := range strings.Fields(readCgroupFile(t, mnt, "cgroup.controllers")) {
		if c == "memory" || c == "pids" || c == "cpu" {
			use = append(use, "+"+c)
		}
	}
	if len(use) > 0 {
		if err := os.WriteFile(filepath.Join(mnt, "cgroup.subtree_control"), []byte(strings.Join(use, " ")), 0); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(mnt, token(fmt.Sprintf("ccrl%d-", u.uid)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroupTree(t, dir) })
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		if err := os.Chown(filepath.Join(dir, f), u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// wantNoDelegatedCgroup fails the test if a container's cgroup is left in
// the delegated cgroup dir.
func wantNoDelegatedCgroup(t *testing.T, dir string) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(dir, "ccontainer", "c[0-9]*")); len(m) > 0 {
		t.Errorf("cgroups left behind: %v", m)
	}
}

// removeCgroupTree removes the cgroup dir and the cgroups under it, deepest
// first. The kernel takes exited tasks out of a cgroup asynchronously: a
// removal refused as busy is tried again, until a deadline.
func removeCgroupTree(t *testing.T, dir string) {
	t.Helper()
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	deadline := time.Now().Add(timeout)
	for _, d := range dirs {
		for {
			err := unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				t.Errorf("remove cgroup %s: %v", d, err)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// cgroup2MountPoint returns where the unified hierarchy is mounted: at
// /sys/fs/cgroup on a pure v2 host, at /sys/fs/cgroup/unified on a hybrid
// one; "" without one.
func cgroup2MountPoint() string {
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if isCgroup2(p) {
			return p
		}
	}
	return ""
}
