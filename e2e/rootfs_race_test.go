package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRootfsDanglingResolvConf starts containers on a rootfs laid out as
// Ubuntu's with systemd-resolved: /etc/resolv.conf is a symlink to
// ../run/systemd/resolve/stub-resolv.conf, which the image does not ship.
func TestRootfsDanglingResolvConf(t *testing.T) {
	t.Parallel()
	const stub = "../run/systemd/resolve/stub-resolv.conf"
	const script = `
for f in hostname hosts resolv.conf; do
	echo "== $f"
	if [ -e /etc/$f ]; then cat /etc/$f; else echo "(missing)"; fi
done
echo "== mounts"
awk '{ print $5 }' /proc/self/mountinfo`
	// dangling makes a private rootfs whose /etc/resolv.conf is the link.
	dangling := func(t *testing.T) string {
		t.Helper()
		root := newRootfs(t)
		resolv := filepath.Join(root, "etc/resolv.conf")
		if err := os.Remove(resolv); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if err := os.Symlink(stub, resolv); err != nil {
			t.Fatal(err)
		}
		return root
	}
	// parse splits the script's output into its sections.
	parse := func(t *testing.T, out string) map[string]string {
		t.Helper()
		sections := map[string]string{}
		for _, part := range strings.Split(out, "== ")[1:] {
			name, body, _ := strings.Cut(part, "\n")
			sections[name] = body
		}
		if len(sections) != 4 {
			t.Fatalf("got output\n%s\nwant four sections", out)
		}
		return sections
	}
	wantEtc := func(t *testing.T, got map[string]string) {
		t.Helper()
		if got["hostname"] != "cctest-stub\n" {
			t.Errorf("/etc/hostname inside: got %q, want %q", got["hostname"], "cctest-stub\n")
		}
		if !strings.Contains(got["hosts"], "127.0.0.1\tlocalhost\n") || !strings.Contains(got["hosts"], "cctest-stub") {
			t.Errorf("/etc/hosts inside: got\n%s\nwant localhost and cctest-stub", got["hosts"])
		}
	}

	t.Run("link target's directory missing", func(t *testing.T) {
		t.Parallel()
		root := dangling(t)
		r := runCCSuper(t, "--rootfs", root, "--hostname", "cctest-stub", "--", "/bin/sh", "-c", script)
		wantExit(t, r, 0)
		got := parse(t, r.stdout)
		wantEtc(t, got)
		// Nothing to bind on: the image keeps its dangling link.
		if got["resolv.conf"] != "(missing)\n" {
			t.Errorf("/etc/resolv.conf inside: got %q, want it still dangling", got["resolv.conf"])
		}
		if target, err := os.Readlink(filepath.Join(root, "etc/resolv.conf")); err != nil || target != stub {
			t.Errorf("rootfs's /etc/resolv.conf after the run: got link to %q (%v), want %q", target, err, stub)
		}
		if _, err := os.Lstat(filepath.Join(root, "run")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("rootfs's /run after the run: got %v, want it still missing", err)
		}
	})

	t.Run("link target's directory present", func(t *testing.T) {
		t.Parallel()
		root := dangling(t)
		if err := os.MkdirAll(filepath.Join(root, "run/systemd/resolve"), 0o755); err != nil {
			t.Fatal(err)
		}
		// What a container on the base rootfs, whose /etc/resolv.conf is a
		// plain file, gets: the file ccsuper generated.
		base := runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/cat", "/etc/resolv.conf")
		wantExit(t, base, 0)

		r := runCCSuper(t, "--rootfs", root, "--hostname", "cctest-stub", "--", "/bin/sh", "-c", script)
		wantExit(t, r, 0)
		got := parse(t, r.stdout)
		wantEtc(t, got)
		if got["resolv.conf"] != base.stdout {
			t.Errorf("/etc/resolv.conf inside: got %q, want the generated %q", got["resolv.conf"], base.stdout)
		}
		// Bound on the file the link points to, as the container sees it.
		mounts := strings.Fields(got["mounts"])
		if !slices.Contains(mounts, "/run/systemd/resolve/stub-resolv.conf") || slices.Contains(mounts, "/etc/resolv.conf") {
			t.Errorf("container's mount points:\n%s\nwant /run/systemd/resolve/stub-resolv.conf, not /etc/resolv.conf", got["mounts"])
		}
		// On disk, the link's target is only the empty mount point ccinit made.
		if b, err := os.ReadFile(filepath.Join(root, "run/systemd/resolve/stub-resolv.conf")); err != nil || len(b) > 0 {
			t.Errorf("rootfs's stub-resolv.conf after the run: got %q (%v), want an empty file", b, err)
		}
	})
}

// TestRootfsDevSymlink checks that a rootfs whose dev is a symlink to a host
// directory cannot make ccinit write there: the device nodes, links and
// mounts of /dev are made after pivot_root, where every symlink resolves
// inside the rootfs.
func TestRootfsDevSymlink(t *testing.T) {
	t.Parallel()

	t.Run("symlink", func(t *testing.T) {
		t.Parallel()
		root := newRootfs(t)
		host := t.TempDir()
		dev := filepath.Join(root, "dev")
		if err := os.Remove(dev); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(host, dev); err != nil {
			t.Fatal(err)
		}
		r := runCCSuper(t, "--rootfs", root, "--", "/bin/true")
		wantStartedOrRefused(t, r)
		wantEmptyDir(t, host)
		if target, err := os.Readlink(dev); err != nil || target != host {
			t.Errorf("rootfs's dev after the run: got link to %q (%v), want %q", target, err, host)
		}
	})

	// Someone who can write to the rootfs swaps dev between the directory
	// and a symlink to the host directory, as fast as the kernel allows,
	// while containers start. Before ccinit made /dev after pivot_root, a
	// run that checked dev while it was the directory and made its nodes
	// while it was the link left them in the host directory; most batches
	// of runs did.
	t.Run("swapped during start", func(t *testing.T) {
		t.Parallel()
		root := newRootfs(t)
		host := t.TempDir()
		dev := filepath.Join(root, "dev")
		swap := filepath.Join(root, "dev.swap")
		if err := os.Symlink(host, swap); err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var swaps int
		swapErr := make(chan error, 1)
		go func() {
			for !stop.Load() {
				// RENAME_EXCHANGE: dev always exists, as the directory or
				// as the link, so ccinit never sees it missing.
				if err := unix.Renameat2(unix.AT_FDCWD, dev, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE); err != nil {
					swapErr <- err
					return
				}
				swaps++
			}
			swapErr <- nil
		}()
		const runs = 20
		started := 0
		for range runs {
			r := runCCSuper(t, "--rootfs", root, "--", "/bin/true")
			wantStartedOrRefused(t, r)
			if r.code == 0 {
				started++
			}
		}
		stop.Store(true)
		if err := <-swapErr; err != nil {
			t.Fatalf("swap dev: %v", err)
		}
		t.Logf("%d of %d runs started, dev swapped %d times", started, runs, swaps)
		wantEmptyDir(t, host)
	})
}

// wantStartedOrRefused fails the test unless r is a container that ran
// /bin/true, or one that ccinit refused with a one-line error.
func wantStartedOrRefused(t *testing.T, r result) {
	t.Helper()
	if r.code == 0 {
		return
	}
	wantOneLineError(t, r, 125)
}

// wantEmptyDir fails the test unless dir is an empty directory.
func wantEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name()+" ("+e.Type().String()+")")
	}
	if len(names) > 0 {
		t.Errorf("the host directory %s got: %s", dir, strings.Join(names, ", "))
	}
}
