package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestUserOutOfRange checks that no --user value leaves the command root
// (issue 10, item 3). To setresuid and setresgid, -1 (4294967295 as an
// unsigned 32-bit id) means "leave this id as it is", so a container asked to
// run as 4294967295 ran as root, and one asked for group 4294967295 kept
// group 0. Every form is refused, with one line and 125, before the command
// runs: numbers on the command line (checked by ccsuper before anything
// starts), and names whose entry in the container's /etc/passwd or
// /etc/group holds such an id (found only by ccinit, inside).
func TestUserOutOfRange(t *testing.T) {
	t.Parallel()
	root := newRootfs(t)
	appendLines(t, filepath.Join(root, "etc/passwd"), "nochange:x:4294967295:1000::/:/bin/sh\n"+
		"nochangegid:x:1000:4294967295::/:/bin/sh\n"+
		"toolarge:x:4294967296:1000::/:/bin/sh\n"+
		"negative:x:-1:1000::/:/bin/sh\n"+
		// Found by number: --user 2000 takes this entry's group.
		"byuid:x:2000:4294967295::/:/bin/sh\n")
	appendLines(t, filepath.Join(root, "etc/group"), "nochangegrp:x:4294967295:\n")

	for _, user := range []string{
		// Numbers, checked where ccsuper parses its flags.
		"4294967295", "4294967295:1000", "1000:4294967295", "4294967295:4294967295",
		"4294967296", "1000:4294967296", "99999999999999999999",
		"-1", "-1:-1", "1000:-1", "-1:1000",
		// Names: only the container's files say what they are.
		"nochange", "nochangegid", "toolarge", "negative", "2000",
		"1000:nochangegrp", "nobody:nochangegrp",
	} {
		t.Run(user, func(t *testing.T) {
			t.Parallel()
			// id's output would show the command ran: it must not.
			r := runCCSuper(t, "--rootfs", root, "--net", "none", "--user", user, "--", "/bin/sh", "-c", "id")
			wantOneLineError(t, r, 125)
		})
	}

	// ccinit on its own checks the same, looking names up in the files
	// of the root it runs in.
	for _, user := range []string{"4294967295", "0:4294967295", "-1", "4294967296"} {
		t.Run("ccinit "+user, func(t *testing.T) {
			t.Parallel()
			r := run(t, command(t, ccinitBin, "--user", user, "--", "/bin/sh", "-c", "id"))
			wantOneLineError(t, r, 125)
		})
	}
	t.Run("ccinit in a chroot, name", func(t *testing.T) {
		t.Parallel()
		chrootRoot := newRootfs(t)
		linkBinary(t, ccinitBin, filepath.Join(chrootRoot, "sbin/ccinit"))
		appendLines(t, filepath.Join(chrootRoot, "etc/passwd"), "nochange:x:4294967295:1000::/:/bin/sh\n")
		// ccinit mounts /proc and /sys in the chroot before it looks the
		// user up: in a mount namespace of its own (made private before the
		// chroot), so the suite's mount table, which other tests compare,
		// never changes, and no lock on it is needed.
		cmd := command(t, "/sbin/ccinit", "--user", "nochange", "--", "/bin/sh", "-c", "id")
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: chrootRoot, Unshareflags: syscall.CLONE_NEWNS}
		cmd.Dir = "/"
		wantOneLineError(t, run(t, cmd), 125)
		if left, err := mountsUnder(chrootRoot); err != nil || len(left) > 0 {
			t.Errorf("mounts left under the chroot: %v %v", left, err)
		}
	})

	// The valid ids next to the refused ones still work.
	t.Run("largest valid ids", func(t *testing.T) {
		t.Parallel()
		r := runCCSuper(t, "--rootfs", root, "--net", "none", "--user", "4294967294:4294967294", "--", "/bin/sh", "-c", "id -u; id -g")
		wantExit(t, r, 0)
		if r.stdout != "4294967294\n4294967294\n" {
			t.Errorf("--user 4294967294:4294967294: got %q", r.stdout)
		}
	})
}

// appendLines adds lines to the file at path in a rootfs of newRootfs, as a
// new file: the old one is a hard link to the base rootfs's.
func appendLines(t *testing.T, path, lines string) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(old, lines...), 0o644); err != nil {
		t.Fatal(err)
	}
}
