package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"

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
func Run(o Options) (status int, err error) {
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

	if o.OCI.ExecSock > 0 {
		unix.CloseOnExec(o.OCI.ExecSock) // ccinit's alone, never the command's
	}
	pid1 := os.Getpid() == 1
	if !pid1 {
		// Orphans of the command are re-parented to us rather than to the
		// real init, so we can reap them.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return ExitSetup, fmt.Errorf("not PID 1 and cannot become a child subreaper, orphans would not be reaped: %w", err)
		}
	}

	var undo []func()
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	if o.Rootfs != "" {
		end := rec.Begin("enter root: pivot_root, mounts, /dev")
		if err := EnterRoot(o, rec); err != nil {
			return ExitSetup, err
		}
		end()
		if o.OCI.Enabled {
			end := rec.Begin("sysctl, read-only and masked paths")
			if err := ociPaths(o.OCI); err != nil {
				return ExitSetup, err
			}
			end()
		} else if !o.ProcUnmasked {
			end := rec.Begin("mask /proc")
			if err := maskProc(); err != nil {
				return ExitSetup, err
			}
			end()
		}
	} else {
		u, err := mountMissing()
		undo = append(undo, u...)
		if err != nil {
			return ExitSetup, err
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
		if err := setWinsize(slave, o.OCI.ConsoleRows, o.OCI.ConsoleCols); err != nil {
			return ExitSetup, err
		}
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
	if o.OCI.ExecFIFO > 0 || o.OCI.ReadyFD > 0 {
		end := rec.Begin("created: wait for start on the exec FIFO")
		if st, err := waitStart(o.OCI, sigs); err != nil || st >= 0 {
			return st, err
		}
		end()
	}
	if err := ociProcess(o.OCI); err != nil {
		return ExitSetup, err
	}
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
	if o.OCI.ExecSock > 0 {
		r.execs = &execServer{conns: map[int]int{}}
		go r.execs.serve(o.OCI.ExecSock)
	}
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

// mountMissing mounts proc and sys where they are missing, for ccinit run
// standalone in a bare chroot, and returns how to undo exactly that.
func mountMissing() ([]func(), error) {
	var undo []func()
	for _, m := range []struct {
		dir, fstype string
		magic       int64
		flags       uintptr
	}{
		{"/proc", "proc", unix.PROC_SUPER_MAGIC, unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/sys", "sysfs", unix.SYSFS_MAGIC, unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY},
	} {
		st, err := os.Lstat(m.dir)
		if err != nil || !st.IsDir() || isMounted(m.dir, m.magic) {
			continue // nowhere to mount, or already there
		}
		if err := unix.Mount(m.fstype, m.dir, m.fstype, m.flags, ""); err != nil {
			if errors.Is(err, unix.EPERM) {
				continue // unprivileged: run without it, as tini would
			}
			return undo, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
		dir := m.dir
		// We may share the mount namespace with the host (a plain chroot):
		// leave nothing mounted behind.
		undo = append(undo, func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	}
	return undo, nil
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
