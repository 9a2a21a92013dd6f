package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal's master and slave, closed at cleanup.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	var n uint32
	raw, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ioctlErr error
	err = raw.Control(func(fd uintptr) {
		if ioctlErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioctlErr != nil {
			return
		}
		n, ioctlErr = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN)
	})
	if err != nil || ioctlErr != nil {
		t.Fatalf("unlock pty: %v %v", err, ioctlErr)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// startOnTerminal starts p as the leader of a new session whose controlling
// terminal is a new pty, with stdin, stdout and stderr on it, and returns the
// pty's master: the keyboard and the screen.
func startOnTerminal(t *testing.T, p *proc) *os.File {
	t.Helper()
	master, slave := openPTY(t)
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = slave, slave, slave
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	p.start(t, master)
	// Only the process keeps the slave open now, so the master reads
	// EOF (EIO) once it and everything it started are gone.
	if err := slave.Close(); err != nil {
		t.Fatal(err)
	}
	return master
}

// termScript prints the command's process group and the terminal's
// foreground group as the command sees them (fields 5 and 8 of
// /proc/self/stat), whether /dev/console and stdin are terminals, and $TERM.
const termScript = `
read -r s < /proc/self/stat; set -- ${s##*) }; echo "pgrp=$3 tpgid=$6"
[ -c /dev/console ] && echo console-ok
[ -t 0 ] && echo stdin-tty
echo "TERM=$TERM"
`

// groups reads what termScript printed: the command's process group and its
// terminal's foreground group (0, 0 when it printed nothing).
func groups(stdout string) (pgrp, tpgid int) {
	for _, line := range strings.Split(stdout, "\n") {
		if _, err := fmt.Sscanf(line, "pgrp=%d tpgid=%d", &pgrp, &tpgid); err == nil {
			return pgrp, tpgid
		}
	}
	return 0, 0
}

// TestTerminalForeground runs ccsuper in the foreground of a terminal, with
// a pty of the container's own (the default there) and without one
// (-t=false). With a pty the command holds the foreground of that pty, so
// ^C typed reaches it through the line discipline, as in a shell. Without
// one the command never gets the host's terminal (docs/security.md,
// terminal injection): its stdio are pipes that ccsuper copies, it has no
// controlling terminal and no /dev/console, and ^C reaches it because
// ccsuper, in the terminal's foreground, forwards the SIGINT it gets.
func TestTerminalForeground(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode   string
		want   []string
		unwant []string
	}{
		{"-t", []string{"console-ok", "stdin-tty", "TERM=xterm", "got INT"}, nil},
		{"-t=false", []string{"got INT", "TERM=\n"}, []string{"console-ok", "stdin-tty"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			script := termScript + `
trap "echo got INT; exit 3" INT
echo ready
while :; do sleep 0.1; done
`
			p := newProc(ccsuper(t, "--rootfs", baseRootfs, "--net", "none", tc.mode, "--", "/bin/sh", "-c", script))
			master := startOnTerminal(t, p)
			p.waitLine(t, "ready")
			if _, err := master.Write([]byte{0x03}); err != nil { // ^C
				t.Fatal(err)
			}
			r := p.wait(t)
			wantExit(t, r, 3)

			pgrp, tpgid := groups(r.stdout)
			switch {
			case tc.mode == "-t" && (pgrp == 0 || tpgid != pgrp):
				t.Errorf("command's process group %d, terminal's foreground group %d: want the command in the foreground\n%s", pgrp, tpgid, r)
			case tc.mode == "-t=false" && (pgrp == 0 || tpgid != -1):
				t.Errorf("command's process group %d, terminal's foreground group %d: want no controlling terminal (-1)\n%s", pgrp, tpgid, r)
			}
			out := strings.ReplaceAll(r.stdout, "\r", "")
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("got\n%s\nwant %q", r.stdout, want)
				}
			}
			for _, unwant := range tc.unwant {
				if strings.Contains(out, unwant) {
					t.Errorf("got\n%s\nwant no %q", r.stdout, unwant)
				}
			}
		})
	}
}

// TestTerminalBackground runs ccsuper as a background job of a job-control
// shell on a terminal: the command must not take the terminal's foreground
// from the shell.
func TestTerminalBackground(t *testing.T) {
	t.Parallel()
	// The shell (dash or busybox sh) with -m puts the job in a process
	// group of its own and keeps the foreground.
	const shell = `set -m; "$@" & wait $!; echo "status $?"`
	args := []string{"-c", shell, "sh", ccsuperBin, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", termScript}
	p := newProc(command(t, "/bin/sh", args...))
	startOnTerminal(t, p)
	r := p.wait(t)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "status 0") {
		t.Fatalf("ccsuper in the background failed:\n%s", r)
	}
	pgrp, tpgid := groups(r.stdout)
	if pgrp == 0 || tpgid == pgrp {
		t.Errorf("command's process group %d, terminal's foreground group %d: want the command in the background\n%s", pgrp, tpgid, r)
	}
}
