package initproc

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// RunTini runs the command as tini would: Run, with what differs under
// tini's name (see TiniOptions). The differences from ccinit under its own
// name, each tini's behaviour:
//   - it becomes a child subreaper only when asked (-s, TINI_SUBREAPER);
//     neither PID 1 nor a subreaper, it warns that orphans will not be
//     reaped and runs the command all the same;
//   - it exits as soon as the command has, with the command's status
//     (remapped to 0 by -e), after reaping the zombies there are: what the
//     command left running is not signalled (as PID 1, the kernel kills it
//     when ccinit exits);
//   - the command gets ccinit's environment untouched, and nothing is
//     mounted (ccinit alone mounts a missing /proc and /sys);
//   - ccinit's own failures exit 1, not 125 (a command not found or not
//     executable is still 127 or 126), and -v, -w and -p work.
//
// Warnings go to stderr, info and debug lines to stdout, as tini's do.
func RunTini(o TiniOptions, stdout, stderr io.Writer) (int, error) {
	t := &tiniRun{opts: o, stdout: stdout, stderr: stderr, pid: os.Getpid()}
	status, err := run(Options{Group: o.Group, Args: o.Args}, t)
	if err != nil && status == ExitSetup { // not the command's own 125
		status = 1
	}
	return status, err
}

// tiniRun is a run under tini's name; nil under ccinit's own.
type tiniRun struct {
	opts           TiniOptions
	stdout, stderr io.Writer
	pid            int
}

// The levels of tini's messages, and where each goes.
func (t *tiniRun) warnf(format string, a ...any)  { t.logf(1, t.stderr, "WARN", format, a...) }
func (t *tiniRun) infof(format string, a ...any)  { t.logf(2, t.stdout, "INFO", format, a...) }
func (t *tiniRun) debugf(format string, a ...any) { t.logf(3, t.stdout, "DEBUG", format, a...) }
func (t *tiniRun) tracef(format string, a ...any) { t.logf(4, t.stdout, "TRACE", format, a...) }

func (t *tiniRun) logf(level int, w io.Writer, tag, format string, a ...any) {
	if t.opts.Verbosity < level {
		return
	}
	// Nothing to do about a failed write: the message was a courtesy.
	_, _ = fmt.Fprintf(w, "[%-5s tini (%d)] %s\n", tag, t.pid, fmt.Sprintf(format, a...))
}

// setup does, in tini's order, what tini does before starting the command:
// the parent-death signal, the subreaper, and the check that orphans will
// come to it. Signals are already caught, so a parent-death signal that
// comes at once is forwarded, not fatal.
func (t *tiniRun) setup(pid1 bool) error {
	if t.opts.PdeathSig != 0 {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(t.opts.PdeathSig), 0, 0, 0); err != nil {
			return fmt.Errorf("set the parent-death signal: %w", err)
		}
	}
	if t.opts.Subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("register as a child subreaper: %w", err)
		}
		t.tracef("registered as a child subreaper")
	}
	if pid1 || isSubreaper() {
		return nil
	}
	// One line; the last words are the ones tini's own tests look for.
	t.warnf("neither PID 1 nor a child subreaper (use -s, set TINI_SUBREAPER or run as PID 1): orphans go to another init, zombie reaping won't work")
	return nil
}

// reaped reports a child reaped by the reaper.
func (t *tiniRun) reaped(pid int, command bool, ws unix.WaitStatus) {
	t.debugf("reaped pid %d", pid)
	switch {
	case command && ws.Signaled():
		t.infof("command (pid %d) killed by %s", pid, unix.SignalName(ws.Signal()))
	case command:
		t.infof("command (pid %d) exited with status %d", pid, ws.ExitStatus())
	case t.opts.WarnOnReap:
		// "Reaped zombie process with pid=" is what tini prints and what
		// its tests and users' log filters look for: kept as it is.
		t.warnf("Reaped zombie process with pid=%d", pid)
	}
}

// forwarding reports a signal on its way to the command.
func (t *tiniRun) forwarding(sig syscall.Signal, target int) {
	t.debugf("forwarding %s to %d", unix.SignalName(sig), target)
}

// exitStatus is what ccinit exits with when the command's status is status.
func (t *tiniRun) exitStatus(status int) int {
	status %= 256
	if t.opts.Remap[status] {
		t.debugf("status %d remapped to 0 (-e)", status)
		return 0
	}
	return status
}
