package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// forwardedSignals are the signals ccsuper passes on, by trap name.
var forwardedSignals = []struct {
	name string
	sig  syscall.Signal
}{
	{"INT", unix.SIGINT}, {"TERM", unix.SIGTERM}, {"HUP", unix.SIGHUP},
	{"QUIT", unix.SIGQUIT}, {"USR1", unix.SIGUSR1}, {"USR2", unix.SIGUSR2},
}

// trapScript traps the signal called name, says it is ready and loops: it
// exits 3 once the signal comes.
func trapScript(name string) string {
	return fmt.Sprintf(`trap "echo got %[1]s; exit 3" %[1]s; echo ready; while :; do sleep 0.1; done`, name)
}

// wantTrapped starts cmd, a ccsuper running trapScript(name), sends sig to
// it once the command is ready, and checks that the command's trap ran.
func wantTrapped(t *testing.T, cmd *exec.Cmd, name string, sig syscall.Signal) {
	t.Helper()
	p := start(t, cmd)
	p.waitLine(t, "ready")
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	r := p.wait(t)
	wantExit(t, r, 3)
	if want := "ready\ngot " + name + "\n"; r.stdout != want {
		t.Errorf("got stdout %q, want %q", r.stdout, want)
	}
}

// TestSignalForwarding sends each forwarded signal to ccsuper and checks that
// the command's trap for it runs.
func TestSignalForwarding(t *testing.T) {
	t.Parallel()
	for _, tc := range forwardedSignals {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantTrapped(t, ccsuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", trapScript(tc.name)), tc.name, tc.sig)
		})
	}
}

// TestSignalAtStart sends each forwarded signal to ccsuper the moment the
// command says it is ready, with ccsuper's own catching of them held back
// by CCSUPER_TEST_SIGNAL_DELAY, as on a loaded machine where the Go
// runtime's registration is still under way when the container starts, and
// with SIGHUP and SIGINT ignored by whatever started ccsuper (nohup, a
// script's background job). Before the command runs ccsuper must catch
// them: until then a Go program drops SIGUSR1, SIGUSR2 and the signals it
// was started with ignored, and dies of the others.
func TestSignalAtStart(t *testing.T) {
	t.Parallel()
	for _, tc := range forwardedSignals {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The host's sh ignores SIGHUP and SIGINT, and becomes
			// ccsuper (same PID) with them ignored.
			cmd := command(t, "/bin/sh", "-c", `trap "" HUP INT; exec "$0" "$@"`,
				ccsuperBin, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", trapScript(tc.name))
			cmd.Env = append(os.Environ(), "CCSUPER_TEST_SIGNAL_DELAY=2s")
			wantTrapped(t, cmd, tc.name, tc.sig)
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

// TestInitReservedSignalsDuringStart sends ccinit, not PID 1, signals 32
// and 34 (reserved by the Go runtime) every few microseconds from the moment
// it has taken them over (caught or ignored) until its command says it runs:
// all through the command's fork and exec. None may end ccinit, and the command must get them at
// their default: SIGRTMAX to ccinit then ends the command with 128+64.
func TestInitReservedSignalsDuringStart(t *testing.T) {
	t.Parallel()
	for i := range 10 { // the old window was a fork long: make a hit near certain
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ready := filepath.Join(dir, "ready")
			// An argument of the command's shell and no other process's.
			// The shell never execs: a process caught in its exec may not
			// show its arguments.
			tok := token(fmt.Sprintf("tok%d.", i))
			cmd := command(t, ccinitBin, "--", "/bin/sh", "-c", `test "$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status)" = 0000000000000000 || exit 9; : > "$1"; while :; do sleep 1; done`, "sh", ready, tok)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }() // after a failure only
			defer func() {
				// The command, orphaned if ccinit died (its sleep ends
				// by itself within a second).
				for _, p := range processesWithArg(tok) {
					if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil && pid != cmd.Process.Pid {
						_ = unix.Kill(pid, unix.SIGKILL)
					}
				}
			}()
			pid := cmd.Process.Pid
			deadline := time.Now().Add(timeout)
			for !inSigMask(strconv.Itoa(pid), "SigCgt:", 34) && !ignoredBy(strconv.Itoa(pid), 34) {
				if time.Now().After(deadline) {
					t.Fatalf("ccinit did not take signal 34 over within %s", timeout)
				}
				runtime.Gosched()
			}
			sent := 0
			for {
				if _, err := os.Stat(ready); err == nil {
					break
				}
				if time.Now().After(deadline) {
					_ = cmd.Process.Signal(syscall.Signal(64))
					_ = cmd.Wait()
					t.Fatalf("the command did not start within %s: ccinit %v after %d signals", timeout, cmd.ProcessState, sent)
				}
				for _, s := range []syscall.Signal{32, 34} {
					if err := unix.Kill(pid, s); err != nil {
						t.Fatalf("ccinit gone after %d signals: %v", sent, err)
					}
					sent++
				}
				// A pause, to hit the start at many points rather than
				// flood it: real-time signals queue while they are
				// caught (around the fork), and a sender faster than
				// the handler would hold every thread of ccinit in it.
				time.Sleep(20 * time.Microsecond)
			}
			if err := unix.Kill(pid, syscall.Signal(64)); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait() // the status is checked below
			if st := cmd.ProcessState; !st.Exited() || st.ExitCode() != 128+64 {
				t.Errorf("ccinit after %d signals 32 and 34 during the start, then 64: %v, want exit status %d", sent, st, 128+64)
			}
		})
	}
}
