package e2e

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// overlayDir is supervisor.OverlayDir, where ccsuper makes the layers. It is
// on the machine's disk (the suite's throwaway host has only /run of its
// own), so the tests look at the layers of their own ccsupers only.
const overlayDir = "/var/lib/ccontainer/overlay"

// layersOf returns the layers of supervisor pid, kept ones included.
func layersOf(t *testing.T, pid int) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(overlayDir, fmt.Sprintf("c%d-*", pid)))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// wantNoLayer fails the test if supervisor pid left a layer.
func wantNoLayer(t *testing.T, pid int, when string) {
	t.Helper()
	if left := layersOf(t, pid); len(left) > 0 {
		t.Errorf("overlay layer left %s: %v", when, left)
	}
}

// holdHostMounts keeps the tests that mount on the host out until t ends
// (see hostMounts), and returns the host's mount table.
func holdHostMounts(t *testing.T) []string {
	t.Helper()
	hostMounts.RLock()
	t.Cleanup(hostMounts.RUnlock)
	return hostMountTable(t)
}

// snapshot describes every file under root: path, type and mode, owner,
// modification time, and the content's hash or the link's target. Link
// counts and change times are left out: other tests hard-link the same files
// into their rootfs copies meanwhile.
func snapshot(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %o %d:%d %d.%d", rel, st.Mode, st.Uid, st.Gid, st.Mtim.Sec, st.Mtim.Nsec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + target
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wantSnapshot fails the test unless root is as before describes it.
func wantSnapshot(t *testing.T, root string, before []string) {
	t.Helper()
	after := snapshot(t, root)
	if slices.Equal(before, after) {
		return
	}
	var diff []string
	for _, l := range before {
		if !slices.Contains(after, l) {
			diff = append(diff, "- "+l)
		}
	}
	for _, l := range after {
		if !slices.Contains(before, l) {
			diff = append(diff, "+ "+l)
		}
	}
	t.Errorf("the rootfs changed:\n%s", strings.Join(diff, "\n"))
}

// TestOverlay checks that with --overlay a container can delete, rewrite,
// chmod and create files while the rootfs stays byte for byte as it was, and
// that its layer is gone when it exits.
func TestOverlay(t *testing.T) {
	t.Parallel()
	mounts := holdHostMounts(t)
	root := newRootfs(t)
	if err := os.Symlink("../etc/profile", filepath.Join(root, "bin/profile-link")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)

	cmd := ccsuper(t, "--rootfs", root, "--net", "none", "--overlay", "--", "/bin/sh", "-c", `
rm /bin/ls /bin/profile-link && rm -r /home 2>/dev/null; rm -r /root
echo rewritten > /etc/passwd
echo appended >> /etc/profile
chmod 700 /etc/group && chown 12:34 /etc/profile
mkdir -p /new/dir && echo new > /new/dir/file && ln -s /new/dir /newlink
test -e /bin/ls || echo "ls gone"
test -e /root || echo "root gone"
cat /etc/passwd
stat -c '%a %u:%g' /etc/group /etc/profile
cat /newlink/file
stat -c %a /`)
	r := run(t, cmd)
	rootMode := fmt.Sprintf("%o", mustStat(t, root).Mode().Perm())
	// The rootfs's files have the modes of the checkout (umask 002 makes
	// profile 664): the copy up keeps the mode, whatever it is.
	profile := fmt.Sprintf("%o 12:34", mustStat(t, filepath.Join(root, "etc/profile")).Mode().Perm())
	wantExactLines(t, r, "ls gone", "root gone", "rewritten", "700 0:0", profile, "new", rootMode)
	wantSnapshot(t, root, before)
	wantNoLayer(t, cmd.Process.Pid, "after the run")

	// The next container on the rootfs starts from it again.
	r = runIn(t, root, []string{"--overlay"}, "test -e /bin/ls && test ! -e /new && head -1 /etc/passwd")
	wantExactLines(t, r, "root:x:0:0:root:/root:/bin/sh")
	wantMountTable(t, mounts, "by containers with --overlay")
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestOverlayShared runs two containers on one rootfs at once: each sees its
// own writes only, and the host's mount table stays as it was throughout.
func TestOverlayShared(t *testing.T) {
	t.Parallel()
	mounts := holdHostMounts(t)
	root := newRootfs(t)
	before := snapshot(t, root)
	const script = `echo "$1" > /who; touch /only-$1; echo ready; read x; cat /who; ls /only-*`
	var boxes []*box
	for _, name := range []string{"a", "b"} {
		b := startBox(t, "--rootfs", root, "--net", "none", "--overlay", "--", "/bin/sh", "-c", script, "sh", name)
		boxes = append(boxes, b)
	}
	for _, b := range boxes {
		b.waitLine(t, "ready")
	}
	wantMountTable(t, mounts, "while two containers with --overlay run")
	if m, err := mountsUnder(root); err != nil || len(m) > 0 {
		t.Errorf("host mounts under the rootfs: %v %v", m, err)
	}
	for i, name := range []string{"a", "b"} {
		if n := len(layersOf(t, boxes[i].cmd.Process.Pid)); n != 1 {
			t.Errorf("container %s has %d layers, want 1", name, n)
		}
		r := boxes[i].finish(t)
		if want := fmt.Sprintf("ready\n%s\n/only-%s\n", name, name); r.stdout != want {
			t.Errorf("container %s printed %q, want %q", name, r.stdout, want)
		}
		wantNoLayer(t, boxes[i].cmd.Process.Pid, "after the run")
	}
	wantSnapshot(t, root, before)
	wantMountTable(t, mounts, "after two containers with --overlay")
}

// TestOverlayKeep checks that --keep keeps the layer, with the container's
// writes in it, and says where.
func TestOverlayKeep(t *testing.T) {
	t.Parallel()
	root := newRootfs(t)
	cmd := ccsuper(t, "--rootfs", root, "--net", "none", "--overlay", "--keep", "--", "/bin/sh", "-c", "echo kept > /kept; rm /bin/ls")
	r := run(t, cmd)
	wantExit(t, r, 0)
	layer := keptLayer(t, r.stderr)
	if left := layersOf(t, cmd.Process.Pid); !slices.Equal(left, []string{layer}) {
		t.Errorf("layers of ccsuper %d: %v, want only %s", cmd.Process.Pid, left, layer)
	}
	if b, err := os.ReadFile(filepath.Join(layer, "upper/kept")); err != nil || string(b) != "kept\n" {
		t.Errorf("upper/kept in the kept layer: %q (%v)", b, err)
	}
	// The deletion is a whiteout: a character device 0/0.
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(layer, "upper/bin/ls"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("upper/bin/ls in the kept layer: %+v %v, want a whiteout", st, err)
	}
	// A later start does not take it for a dead supervisor's layer.
	wantExit(t, runIn(t, root, []string{"--overlay"}, "true"), 0)
	if _, err := os.Stat(layer); err != nil {
		t.Errorf("kept layer after another start: %v", err)
	}
}

// keptLayer returns the kept layer that ccsuper's stderr (nothing else)
// names, removed when the test ends.
func keptLayer(t *testing.T, stderr string) string {
	t.Helper()
	m := regexp.MustCompile(`^ccsuper: kept the overlay layer in (\S+) .*\n$`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr %q does not say where the layer is", stderr)
	}
	t.Cleanup(func() { _ = os.RemoveAll(m[1]) })
	return m[1]
}

// TestOverlayFailures checks that a run that fails leaves no layer, and that
// ccsuper says in one line when overlayfs refuses the rootfs.
func TestOverlayFailures(t *testing.T) {
	t.Parallel()
	mounts := holdHostMounts(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--", "nosuchcmd"}, 127},
		{[]string{"--", "/bin/sh", "-c", "exit 3"}, 3},
		{[]string{"--workdir", "/etc/passwd", "--", "/bin/true"}, 125}, // fails inside ccinit
		{[]string{"--keep", "-v", "/nonexistent-ccontainer-volume:/x", "--", "/bin/true"}, 125},
		{[]string{"-v", "/etc/passwd:/bin", "--", "/bin/true"}, 125}, // a file on a directory, found by ccinit
	} {
		args := append([]string{"--rootfs", baseRootfs, "--net", "none", "--overlay"}, tc.args...)
		cmd := ccsuper(t, args...)
		r := run(t, cmd)
		wantExit(t, r, tc.code)
		wantNoLayer(t, cmd.Process.Pid, fmt.Sprintf("by ccsuper %q", tc.args))
	}

	// Overlayfs stacks two deep at most: a rootfs that is an overlay on an
	// overlay cannot be a lower layer. The two are mounted in a mount
	// namespace of their own, where ccsuper runs (unshare without --fork
	// execs, so ccsuper keeps its PID).
	t.Run("refused", func(t *testing.T) {
		dir := t.TempDir()
		for _, d := range []string{"u1", "w1", "m1", "u2", "w2", "m2"} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		const script = `cd "$1" &&
mount -t overlay o -o lowerdir="$2",upperdir=u1,workdir=w1 m1 &&
mount -t overlay o -o lowerdir=m1,upperdir=u2,workdir=w2 m2 || exit 99
exec "$3" --rootfs "$1/m2" --net none --overlay --keep -- /bin/true`
		cmd := command(t, "unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", dir, baseRootfs, ccsuperBin)
		r := run(t, cmd)
		wantOneLineError(t, r, 125)
		if !strings.Contains(r.stderr, "overlayfs refused") {
			t.Errorf("got %q, want it to say overlayfs refused the rootfs", r.stderr)
		}
		wantNoLayer(t, cmd.Process.Pid, "after overlayfs refused")
	})
	wantMountTable(t, mounts, "by failed containers with --overlay")
}

// TestOverlayReadOnly checks --overlay with --read-only: the root is
// read-only, and the mount points ccinit must make go into the layer, so
// that not even those are made in the rootfs.
func TestOverlayReadOnly(t *testing.T) {
	t.Parallel()
	root := newRootfs(t)
	for _, f := range []string{"etc/hosts", "proc"} {
		if err := os.Remove(filepath.Join(root, f)); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, root)
	r := runIn(t, root, []string{"--read-only", "--overlay", "--hostname", "ro-overlay"}, probe+`
p root touch /new
p hosts grep -q ro-overlay /etc/hosts
p proc test -e /proc/self/stat
p shm touch /dev/shm/x`)
	wantExactLines(t, r, "fail root", "ok hosts", "ok proc", "ok shm")
	wantSnapshot(t, root, before)
}

// TestOverlayKilled checks that the layer of a ccsuper killed with SIGKILL
// is reclaimed by `ccsuper cleanup`, and by the next start.
//
// Not parallel: every container's start reclaims the layers of dead
// supervisors, so a parallel test's start could take the killed one's layer
// between the kill and the check that it was left behind. Go runs the
// sequential tests while every parallel one waits.
func TestOverlayKilled(t *testing.T) {
	killed := func(t *testing.T) int {
		t.Helper()
		b := startBox(t, "--rootfs", baseRootfs, "--net", "none", "--overlay", "--keep", "--",
			"/bin/sh", "-c", "echo data > /written; echo ready; read x")
		b.waitLine(t, "ready")
		pid := b.cmd.Process.Pid
		if n := len(layersOf(t, pid)); n != 1 {
			t.Fatalf("ccsuper %d has %d layers while it runs, want 1", pid, n)
		}
		b.killSupervisor(t)
		switch n := len(layersOf(t, pid)); n {
		case 0:
			// The layers' directory is the machine's: any supervisor
			// starting with --overlay meanwhile (a parallel test,
			// another run of this suite) reclaims the layers of dead
			// ones, as the step below does.
			t.Logf("the layer of the killed ccsuper %d was reclaimed by another supervisor first", pid)
		case 1:
		default:
			t.Fatalf("ccsuper %d killed has %d layers, want its own left behind", pid, n)
		}
		return pid
	}
	t.Run("cleanup", func(t *testing.T) {
		pid := killed(t)
		wantExit(t, runCCSuper(t, "cleanup"), 0)
		wantNoLayer(t, pid, "after ccsuper cleanup")
	})
	t.Run("next start", func(t *testing.T) {
		pid := killed(t)
		wantExit(t, runIn(t, baseRootfs, nil, "true"), 0)
		wantNoLayer(t, pid, "after the next start")
	})
}
