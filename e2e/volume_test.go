package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// runIn runs script with /bin/sh in a container on root, with ccsuper's
// flags args, without a network.
func runIn(t *testing.T, root string, args []string, script string) result {
	t.Helper()
	a := append([]string{"--rootfs", root, "--net", "none"}, args...)
	return runCCSuper(t, append(a, "--", "/bin/sh", "-c", script)...)
}

// wantExactLines fails the test unless r exited 0 having printed want.
func wantExactLines(t *testing.T, r result, want ...string) {
	t.Helper()
	wantExit(t, r, 0)
	if got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("container printed\n%s\nwant\n%s\n(stderr: %s)", r.stdout, strings.Join(want, "\n"), r.stderr)
	}
}

// probe is a shell function that prints "ok NAME" when the command after it
// succeeds and "fail NAME" when it does not.
const probe = `p() { n=$1; shift; if "$@" 2>/dev/null; then echo "ok $n"; else echo "fail $n"; fi; }; `

// TestReadOnly checks that --read-only makes the container's / read-only and
// only it: the places a program expects to write to still take writes.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	root := newRootfs(t)
	r := runIn(t, root, []string{"--read-only", "--workdir", "/made/for/work"}, probe+`
p root touch /new
p etc sh -c 'echo x > /etc/passwd'
p tmp touch /tmp/x
p error sh -c 'touch /new 2>&1 | grep -q "Read-only file system"'
p hosts sh -c 'echo "10.0.0.9 other" >> /etc/hosts'
p shm touch /dev/shm/x
p null sh -c 'echo x > /dev/null'
p pts test -c /dev/pts/ptmx
p mqueue sh -c 'grep -q " /dev/mqueue mqueue rw," /proc/self/mounts'
p proc sh -c 'echo renamed > /proc/self/comm'
p sys sh -c 'echo x > /sys/kernel/uevent_helper'
p workdir test "$PWD" = /made/for/work`)
	wantExactLines(t, r, "fail root", "fail etc", "fail tmp", "ok error", "ok hosts", "ok shm", "ok null",
		"ok pts", "ok mqueue", "ok proc", "fail sys", "ok workdir")
	if _, err := os.Lstat(filepath.Join(root, "new")); err == nil {
		t.Errorf("the rootfs got /new")
	}
}

// TestVolume checks -v: what either side writes the other sees, a read-only
// volume refuses even root inside, and missing mount points are made inside
// the rootfs as a directory or a file, like their source.
func TestVolume(t *testing.T) {
	t.Parallel()
	before := holdHostMounts(t)
	root := newRootfs(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "from-host"), []byte("host wrote\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "single")
	if err := os.WriteFile(file, []byte("one file\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("read-write", func(t *testing.T) {
		r := runIn(t, root, []string{"-v", host + ":/data", "--volume", file + ":/etc/deep/single:rw"}, `
cat /data/from-host /etc/deep/single
echo container wrote > /data/from-container
echo appended >> /etc/deep/single`)
		wantExactLines(t, r, "host wrote", "one file")
		if b, err := os.ReadFile(filepath.Join(host, "from-container")); err != nil || string(b) != "container wrote\n" {
			t.Errorf("host sees from-container = %q (%v), want %q", b, err, "container wrote\n")
		}
		if b, err := os.ReadFile(file); err != nil || string(b) != "one file\nappended\n" {
			t.Errorf("host file after the run: %q (%v)", b, err)
		}
		// The mount points were made in the rootfs, of the source's kind.
		if st, err := os.Stat(filepath.Join(root, "data")); err != nil || !st.IsDir() {
			t.Errorf("rootfs's /data: %v, want a directory", err)
		}
		if st, err := os.Stat(filepath.Join(root, "etc/deep/single")); err != nil || !st.Mode().IsRegular() || st.Size() != 0 {
			t.Errorf("rootfs's /etc/deep/single: %v %v, want an empty file", st, err)
		}
	})

	t.Run("read-only", func(t *testing.T) {
		// The container's root has Docker's capabilities, without
		// CAP_SYS_ADMIN: it cannot remount the volume either.
		r := runIn(t, root, []string{"-v", host + ":/data:ro", "-v", file + ":/single:ro"}, probe+`
p read grep -q host /data/from-host
p write touch /data/new
p overwrite sh -c 'echo x > /data/from-host'
p delete rm /data/from-host
p file sh -c 'echo x >> /single'
p remount mount -o remount,rw /data
p write-again touch /data/new
p id test "$(id -u)" = 0`)
		wantExactLines(t, r, "ok read", "fail write", "fail overwrite", "fail delete", "fail file", "fail remount",
			"fail write-again", "ok id")
		if _, err := os.Stat(filepath.Join(host, "new")); err == nil {
			t.Errorf("a read-only volume took a write")
		}
		if b, err := os.ReadFile(filepath.Join(host, "from-host")); err != nil || string(b) != "host wrote\n" {
			t.Errorf("host file after the run: %q (%v)", b, err)
		}
	})

	t.Run("nested", func(t *testing.T) {
		// Given deepest first: bound after the one it lies in anyway.
		r := runIn(t, root, []string{"-v", file + ":/outer/inner/single", "-v", host + ":/outer"}, `cat /outer/from-host /outer/inner/single`)
		wantExactLines(t, r, "host wrote", "one file", "appended")
		if _, err := os.Stat(filepath.Join(host, "inner/single")); err != nil {
			t.Errorf("the inner mount point, made in the outer volume: %v", err)
		}
	})

	t.Run("bad", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(root, "afile"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/proc", filepath.Join(root, "p")); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"-v", "/nonexistent-ccontainer-volume:/data"},
			{"-v", host},
			{"-v", host + ":data"},
			{"-v", host + ":/data:rx"},
			{"-v", host + ":/"},
			{"-v", host + ":/proc/sys"},
			{"-v", host + ":/sys/x/../fs"},
			{"-v", host + ":/afile"},          // a directory on a file, refused by ccinit
			{"-v", file + ":/data"},           // a file on a directory
			{"-v", host + ":/p/sys"},          // into /proc through a symlink
			{"-v", host + ":/data", "-v", ""}, // a good one, then a bad one
		} {
			cmd := ccsuper(t, append(append([]string{"--rootfs", root, "--net", "none"}, args...), "--", "/bin/true")...)
			r := run(t, cmd)
			wantOneLineError(t, r, 125)
			if left := filesDirs(t, fmt.Sprint(cmd.Process.Pid)); len(left) > 0 {
				t.Errorf("ccsuper %q left %v", args, left)
			}
		}
	})
	wantMountTable(t, before, "by containers with volumes")
	if m, err := mountsUnder(host); err != nil || len(m) > 0 {
		t.Errorf("host mounts on the volume's source: %v %v", m, err)
	}
}

// TestVolumeSymlinkEscape checks that a symlink in the rootfs cannot make a
// volume land on a host path: the container path is resolved inside the
// rootfs whether the link is absolute, relative and full of "..", or swapped
// in while the container starts. A mount point made through such a link is
// made inside the rootfs, and the host directory the link names gets nothing.
func TestVolumeSymlinkEscape(t *testing.T) {
	t.Parallel()
	before := holdHostMounts(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "marker"), []byte("volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// After the parallel subtests, which run once this function returns.
	t.Cleanup(func() {
		wantMountTable(t, before, "by containers with volumes through symlinks")
		if ents, err := os.ReadDir(src); err != nil || len(ents) != 1 {
			t.Errorf("the volume's source after the runs: %v %v, want only marker", ents, err)
		}
	})

	// inside is where the link leads from the rootfs's /, where the mount
	// point must be made; it is made first unless dangling. A link to a
	// missing directory is refused: ccinit makes a missing directory only
	// by name, never through a link.
	for _, tc := range []struct {
		name, target, inside string
		dangling             bool
	}{
		{"absolute", "HOST", "HOST", false},
		{"relative", "../../../../../../../../HOST", "HOST", false},
		{"chain", "a/b/../../../../../..HOST", "HOST", false},
		{"to /etc", "/etc", "/etc", false},
		{"dangling", "HOST", "HOST", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := newRootfs(t)
			host := t.TempDir() // what the link names, on the host
			target := strings.ReplaceAll(tc.target, "HOST", host)
			if err := os.Symlink(target, filepath.Join(root, "data")); err != nil {
				t.Fatal(err)
			}
			inside := filepath.Join(root, strings.ReplaceAll(tc.inside, "HOST", host))
			for _, d := range []string{filepath.Join(root, "a/b"), inside} {
				if err := os.MkdirAll(d, 0o755); err != nil && !tc.dangling {
					t.Fatal(err)
				}
			}
			if tc.dangling {
				if err := os.RemoveAll(inside); err != nil {
					t.Fatal(err)
				}
			}
			r := runIn(t, root, []string{"-v", src + ":/data/sub"}, "cat /data/sub/marker")
			wantEmptyDir(t, host)
			if tc.dangling {
				wantOneLineError(t, r, 125)
				return
			}
			wantExactLines(t, r, "volume")
			inside = filepath.Join(inside, "sub")
			if st, err := os.Stat(inside); err != nil || !st.IsDir() {
				t.Errorf("mount point %s in the rootfs: %v", inside, err)
			}
			if _, err := os.Stat("/etc/sub"); err == nil {
				t.Errorf("the host's /etc got sub")
			}
		})
	}

	// Someone who can write to the rootfs swaps data between a directory
	// and a link to a host directory while containers start.
	t.Run("swapped during start", func(t *testing.T) {
		t.Parallel()
		root := newRootfs(t)
		host := t.TempDir()
		data, alt := filepath.Join(root, "data"), filepath.Join(root, "data.alt")
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(host, alt); err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		done := make(chan error, 1)
		go func() {
			for !stop.Load() {
				if err := unix.Renameat2(unix.AT_FDCWD, data, unix.AT_FDCWD, alt, unix.RENAME_EXCHANGE); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for i := range 20 {
			// data may be either when the command runs: nothing to check
			// inside.
			r := runIn(t, root, []string{"-v", fmt.Sprintf("%s:/data/sub%d/x", src, i)}, "true")
			wantStartedOrRefused(t, r)
		}
		stop.Store(true)
		if err := <-done; err != nil {
			t.Fatalf("swap: %v", err)
		}
		wantEmptyDir(t, host)
	})
}
