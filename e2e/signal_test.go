package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSignalForwarding sends each forwarded signal to ccsuper and checks that
// the command's trap for it runs.
func TestSignalForwarding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"INT", unix.SIGINT}, {"TERM", unix.SIGTERM}, {"HUP", unix.SIGHUP},
		{"QUIT", unix.SIGQUIT}, {"USR1", unix.SIGUSR1}, {"USR2", unix.SIGUSR2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			script := fmt.Sprintf(`trap "echo got %[1]s; exit 3" %[1]s; echo ready; while :; do sleep 0.1; done`, tc.name)
			p := start(t, ccsuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script))
			p.waitLine(t, "ready")
			if err := p.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			r := p.wait(t)
			wantExit(t, r, 3)
			if want := "ready\ngot " + tc.name + "\n"; r.stdout != want {
				t.Errorf("got stdout %q, want %q", r.stdout, want)
			}
		})
	}
}

// TestSignalExitStatus checks the 128+N status of a command that does not
// catch the signal sent to ccsuper.
func TestSignalExitStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sig  syscall.Signal
		want int
	}{
		{unix.SIGTERM, 143}, {unix.SIGINT, 130}, {unix.SIGHUP, 129},
	} {
		t.Run(unix.SignalName(tc.sig), func(t *testing.T) {
			t.Parallel()
			p := start(t, ccsuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", "echo ready; exec sleep 100"))
			p.waitLine(t, "ready")
			if err := p.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			wantExit(t, p.wait(t), tc.want)
		})
	}
}

// TestSupervisorKilled checks that SIGKILL to ccsuper, which it cannot
// forward, still takes the whole container down (Pdeathsig).
func TestSupervisorKilled(t *testing.T) {
	t.Parallel()
	token := token("271.828") // an argument no other process has
	p := start(t, ccsuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", "echo ready; sleep "+token+"; echo survived"))
	p.waitLine(t, "ready")
	if left := processesWithArg(token); len(left) == 0 {
		t.Fatalf("no process with %q before the kill: the check below would prove nothing", token)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Every process of the container holds ccsuper's stdout: EOF means
	// they are all gone.
	select {
	case <-p.eof:
	case <-time.After(timeout):
		t.Fatalf("container still holds stdout %s after ccsuper was killed: %v", timeout, processesWithArg(token))
	}
	_ = p.cmd.Wait() // killed, as intended
	p.waited = true
	if left := processesWithArg(token); len(left) > 0 {
		t.Errorf("processes left after ccsuper was killed: %v", left)
	}
	if p.seen("survived") {
		t.Errorf("the command ran on after ccsuper was killed")
	}
}
