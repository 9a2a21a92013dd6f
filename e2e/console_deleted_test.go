package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConsoleDeleted runs ccsuper -i with stdin on a terminal whose device
// node no longer exists, the state of a console after switch_root (an early
// boot or rescue shell): the container must start all the same.
// It failed while ccinit bound the host terminal on /dev/console by the path
// the kernel reports ("... (deleted)"); the container now gets no host
// terminal at all (docs/security.md, terminal injection).
func TestConsoleDeleted(t *testing.T) {
	t.Parallel()
	// A node of the system console elsewhere, opened, then removed, as
	// the initramfs's /dev/console is once switch_root has run. (A copy
	// of a pty's node will not open: devpts wants its own.) Opened with
	// O_NOCTTY, and nothing is read from it or written to it.
	var st unix.Stat_t
	if err := unix.Stat("/dev/console", &st); err != nil {
		t.Skipf("no /dev/console: %v", err)
	}
	node := filepath.Join(t.TempDir(), "console")
	if err := unix.Mknod(node, unix.S_IFCHR|0o600, int(st.Rdev)); err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(node, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Skipf("the console does not open here: %v", err)
	}
	defer tty.Close()
	if err := os.Remove(node); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", tty.Fd())); err != nil || !strings.HasSuffix(l, " (deleted)") {
		t.Fatalf("the terminal's path is %q (%v), want it deleted", l, err)
	}

	cmd := ccsuper(t, "-i", "--rootfs", baseRootfs, "--net", "none", "--", "/bin/sh", "-c", "echo started")
	cmd.Stdin = tty
	r := run(t, cmd)
	wantExit(t, r, 0)
	if r.stdout != "started\n" {
		t.Errorf("got stdout %q, want started", r.stdout)
	}
}
