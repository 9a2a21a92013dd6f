package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/trace"
)

// ErrSupervisorGone means the sync pipe ended without "go": the supervisor
// gave up or died, and nothing was started.
var ErrSupervisorGone = errors.New("supervisor went away before the start signal")

// Run does everything ccinit does and returns the exit status ccinit should
// exit with. An error is returned only when the command could not be started;
// its status is then ExitSetup, or an *ExecError's Code.
//
// Once the command runs nothing is fatal: a failure to forward a signal or to
// clean up is not a reason to abandon the container (a PID 1 death kills it).
//
// Preconditions: on the main thread, locked to it (cmd/ccinit does it in
// init), for standalone runs that re-execute in a mount namespace of their
// own (see standalone_linux.go). Run unlocks it unless the thread changed.
func Run(o Options) (status int, err error) {
	changed := false
	if o.Rootfs == "" {
		// Returns only when not re-executing.
		if changed, err = enterPrivateMounts(); err != nil {
			return ExitSetup, err
		}
	}
	if !changed {
		runtime.UnlockOSThread()
	}
	var rec *trace.Recorder
	if o.TraceFD > 0 {
		rec = trace.New("ccinit")
		rec.Mark("ccinit: in main, flags parsed")
		unix.CloseOnExec(o.TraceFD) // the command has no use for it
		defer func() {
			rec.Mark("ccinit: exit")
			// Nothing to do about a failure: the trace is a report.
			_ = trace.Send(os.NewFile(uintptr(o.TraceFD), "trace"), rec.Events())
		}()
	}
	endSigs := rec.Begin("ask for signals (the early set)")
	// The kernel drops signals sent to a PID 1 that has no handler for
	// them, and the Go runtime dies of some of them, so ask for signals
	// before any setup. The runtime enables each signal with a round trip to
	// a thread of its own, tens of microseconds apiece, and there are 61: ask
	// first for those that could kill or stop us or that ccsuper forwards,
	// and for the rest while setup runs. The rest are joined before the
	// command starts, so from then on every signal reaches it.
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs, early...)
	// Best effort: if it fails, ccinit is no worse off than any Go program.
	_ = setReservedRT(sigIgn)
	restReady := make(chan struct{})
	go func() {
		signal.Notify(sigs, rest()...)
		close(restReady)
	}()
	endSigs()

	pid1 := os.Getpid() == 1
	if !pid1 {
		// Orphans of the command are re-parented to us rather than to the
		// real init, so we can reap them.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return ExitSetup, fmt.Errorf("not PID 1 and cannot become a child subreaper, orphans would not be reaped: %w", err)
		}
	}

	if o.Rootfs != "" {
		end := rec.Begin("enter root: pivot_root, mounts, /dev")
		if err := EnterRoot(o, rec); err != nil {
			return ExitSetup, err
		}
		end()
		if !o.ProcUnmasked {
			end := rec.Begin("mask /proc")
			if err := maskProc(); err != nil {
				return ExitSetup, err
			}
			end()
		}
	}
	slave := -1 // the container's pty, the command's stdio (-t)
	if o.ConsoleSocket > 0 {
		end := rec.Begin("pty: open, bind /dev/console, send master")
		var err error
		if slave, err = takeConsole(o.ConsoleSocket); err != nil {
			return ExitSetup, err
		}
		defer unix.Close(slave) // the command has its own copies once started
		end()
	}
	if o.Hostname != "" {
		if err := unix.Sethostname([]byte(o.Hostname)); err != nil {
			return ExitSetup, fmt.Errorf("sethostname %q: %w", o.Hostname, err)
		}
	}
	if o.SyncFD > 0 {
		end := rec.Begin(`wait for "go" on the sync pipe`)
		if err := waitGo(o.SyncFD); err != nil {
			return ExitSetup, err
		}
		end()
	}
	endPrep := rec.Begin("environment, working directory, resolve command")

	harden, err := planHardening(o)
	if err != nil {
		return ExitSetup, err
	}
	hostname, _ := os.Hostname() // only for $HOSTNAME; empty is fine
	home := "/root"
	switch {
	case harden.cred != nil:
		home = harden.cred.Home
	case os.Getuid() != 0:
		home = "/"
	}
	env := BuildEnv(EnvSpec{
		Inherited: os.Environ(),
		Clean:     o.CleanEnv,
		Hostname:  hostname,
		Home:      home,
		Terminal:  slave >= 0 || IsTerminal(0),
		Extra:     o.Env,
	})
	dir := o.Workdir
	if dir == "" {
		dir = "/"
		if o.Rootfs == "" {
			dir = "." // standalone: stay where we were started, like tini
		}
	}
	if o.Workdir != "" {
		if err := os.MkdirAll(o.Workdir, 0o755); err != nil {
			return ExitSetup, fmt.Errorf("working directory %q: %w", o.Workdir, unwrapPath(err))
		}
	}
	if o.ReadOnly {
		if err := makeRootReadOnly(); err != nil {
			return ExitSetup, err
		}
	}
	path, err := Resolve(o.Args[0], Getenv(env, "PATH"), dir)
	if err != nil {
		var ee *ExecError
		if errors.As(err, &ee) {
			return ee.Code, err
		}
		return ExitSetup, err
	}
	endPrep()
	r := reaper{trace: rec, sigs: sigs, group: o.Group, grace: o.Grace, pid1: pid1, foreground: o.Foreground, pty: slave, harden: harden}
	if o.CPUs != "" {
		if r.cpus, err = ParseCPUs(o.CPUs); err != nil {
			return ExitSetup, err
		}
	}
	endRest := rec.Begin("wait for the rest of the signals")
	<-restReady
	endRest()
	endStart := rec.Begin("fork+exec command (until its first instruction)")
	if err := r.start(path, o.Args, env, dir); err != nil {
		var ee *ExecError
		if errors.As(err, &ee) {
			return ee.Code, err
		}
		return ExitSetup, err
	}
	endStart()
	status = r.loop()
	rec.Record("command runs", r.execDone, r.childDone)
	rec.Span("after the command: TERM the rest, grace, reap", r.childDone)
	return status, nil
}

// takeConsole makes the container's pty (see openConsole) and returns its
// slave, for the command's stdin, stdout and stderr. ccinit's own stdio stays
// ccsuper's: what ccinit says (a command not found) goes to ccsuper's stderr,
// not into the command's output.
func takeConsole(sock int) (slave int, err error) {
	defer unix.Close(sock)
	return openConsole(sock)
}

// waitGo blocks until the supervisor says "go" on fd (see sync.go).
func waitGo(fd int) error {
	defer unix.Close(fd)
	var buf [len(SyncGo) + 1]byte
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read sync pipe: %w", err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	if string(buf[:n]) != SyncGo {
		return ErrSupervisorGone
	}
	return nil
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// unwrapPath drops the path an *fs.PathError carries, for callers that quote
// the path themselves: a raw path may hold a newline and split the one-line
// error a user sees.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
