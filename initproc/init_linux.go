package initproc

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/trace"
)

// ErrSupervisorGone means the sync channel ended before "go": the supervisor
// gave up or died, and nothing was started.
var ErrSupervisorGone = errors.New("supervisor went away before the start signal")

// Run does everything ccinit does and returns the exit status ccinit should
// exit with. An error is returned only when the command could not be started;
// its status is then ExitSetup, or an *ExecError's Code.
//
// Once the command runs nothing is fatal: a failure to forward a signal or to
// clean up is not a reason to abandon the container (a PID 1 death kills it).
func Run(o Options) (status int, err error) { return run(o, nil) }

// run is Run, under tini's name when t is not nil (see RunTini).
//
// Preconditions: on the main thread, locked to it (cmd/ccinit does it in
// init), for standalone runs that make a mount namespace of their own on it
// (see standalone_linux.go). run unlocks it unless the thread changed.
// Under tini's name nothing is mounted, as tini mounts nothing.
func run(o Options, t *tiniRun) (status int, err error) {
	changed := false
	var mounts *privateNS // standalone: the mount namespace a forking thread joins
	if o.Rootfs == "" && t == nil {
		if changed, mounts, err = enterPrivateMounts(); err != nil {
			return ExitSetup, err
		}
	}
	if !changed {
		runtime.UnlockOSThread()
	}
	var rec *trace.Recorder
	if o.TraceFD > 0 {
		rec = trace.New("ccinit")
		rec.Mark("ccinit: in main, configuration received")
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
	// first for those that could kill or stop us or that ccsuper forwards
	// (under ccsuper, ReceiveConfig has), and for the rest while setup runs.
	// The rest are joined before the command starts, so from then on every
	// signal reaches it.
	sigs := o.sigs
	if sigs == nil {
		sigs = catchEarly()
	}
	restReady := make(chan struct{})
	go func() {
		signal.Notify(sigs, rest()...)
		close(restReady)
	}()
	endSigs()

	if o.OCI.ExecSock > 0 {
		unix.CloseOnExec(o.OCI.ExecSock) // ccinit's alone, never the command's
	}
	if o.OCI.ReadyFD > 0 {
		// Not a hook's either: ccsuper reads the pipe to EOF when ccinit
		// fails, which a hook left running with a copy would hold back.
		unix.CloseOnExec(o.OCI.ReadyFD)
		// A setup failure goes to `ccsuper create`, which reports it
		// where an engine looks; o.OCI.ReadyFD is 0 once "ready" is said.
		defer func() { err = TellSupervisor(o, err) }()
	}
	if o.SyncFD > 0 {
		// Started by a supervisor: nothing of the container may
		// reach the host's terminal (docs/security.md).
		if err := dropControllingTerminal(); err != nil {
			return ExitSetup, err
		}
	}

	pid1 := os.Getpid() == 1
	if t != nil {
		if err := t.setup(pid1); err != nil {
			return ExitSetup, err
		}
	} else if !pid1 {
		// Orphans of the command are re-parented to us rather than to the
		// real init, so we can reap them.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return ExitSetup, fmt.Errorf("not PID 1 and cannot become a child subreaper, orphans would not be reaped: %w", err)
		}
	}

	// Not with HostFDs (--userns=auto): the layer is seen through the
	// idmapped mounts ccsuper made, so what the container writes there is
	// root's on the host, for ccsuper to remove; and the path is root's,
	// which ccinit may not walk.
	if o.Rootfs != "" && o.Overlay != "" && o.UserNS && !o.HostFDs && !o.KeepLayer {
		// Held for emptyLayer, before the host's paths go.
		layer, err := unix.Open(o.Overlay, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return ExitSetup, fmt.Errorf("overlay layer %q: %w", o.Overlay, err)
		}
		defer emptyLayer(layer)
	}
	var hookFDs hookFiles
	hookPid := 0
	if len(o.OCI.Hooks) > 0 {
		var err error
		if hookPid, err = hostPid(); err != nil {
			return ExitSetup, err
		}
		if hookFDs, err = openHooks(o.OCI.Hooks); err != nil {
			return ExitSetup, err
		}
		defer hookFDs.closeAll()
	}
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
	if (o.UserNS && !o.OCI.Enabled) || o.Loopback {
		// ccsuper create, root, brings lo up from the host when the
		// container has a network namespace of its own.
		if err := LoopbackUp(); err != nil {
			return ExitSetup, err
		}
	}
	if o.Hostname != "" {
		if err := unix.Sethostname([]byte(o.Hostname)); err != nil {
			return ExitSetup, fmt.Errorf("sethostname %q: %w", o.Hostname, err)
		}
	}
	if o.SyncFD > 0 {
		end := rec.Begin(`wait for "go" on the sync socket`)
		if err := waitGo(o.SyncFD); err != nil {
			return ExitSetup, err
		}
		end()
	}
	if len(o.OCI.Hooks) > 0 {
		end := rec.Begin("createContainer hooks")
		err := runHooks(o.OCI.Hooks, hookFDs, false, hookState(o.OCI.HookState, hookPid))
		hookFDs.closeAll()
		if err != nil {
			return ExitSetup, err
		}
		end()
	}
	endPrep := rec.Begin("environment, working directory, resolve command")

	harden, err := planHardening(o)
	if err != nil {
		return ExitSetup, err
	}
	harden.mounts = mounts
	hostname, _ := os.Hostname() // only for $HOSTNAME; empty is fine
	home := "/root"
	switch {
	case harden.cred != nil:
		home = harden.cred.Home
	case os.Getuid() != 0:
		home = "/"
	}
	env := os.Environ() // tini passes its own on untouched
	if t == nil {
		env = BuildEnv(EnvSpec{
			Inherited: os.Environ(),
			Clean:     o.CleanEnv,
			Hostname:  hostname,
			Home:      home,
			Terminal:  slave >= 0 || IsTerminal(0),
			Extra:     o.Env,
		})
	}
	dir := o.Workdir
	if dir == "" {
		dir = "/"
		if o.Rootfs == "" {
			dir = "." // standalone: stay where we were started, like tini
		}
	}
	if o.Workdir != "" {
		if err := os.MkdirAll(o.Workdir, 0o755); err != nil {
			return ExitSetup, fmt.Errorf("working directory %q: %w", o.Workdir, WithoutPath(err))
		}
	}
	if o.ReadOnly {
		if err := makeRootReadOnly(); err != nil {
			return ExitSetup, err
		}
	}
	search := Getenv(env, "PATH")
	if _, set := os.LookupEnv("PATH"); t != nil && !set {
		search = DefaultPath // where execvp would look, by and large
	}
	path, err := Resolve(o.Args[0], search, dir)
	if err != nil {
		var ee *ExecError
		if errors.As(err, &ee) {
			return ee.Code, err
		}
		return ExitSetup, err
	}
	endPrep()
	if slave >= 0 && o.OCI.ReadyFD > 0 {
		// ccinit's own stdio are still `ccsuper create`'s, the engine's
		// pipe for the runtime's output: a shim that reads it to the end
		// (containerd's, with a terminal) would wait as long as the
		// container runs. From here ccinit speaks on the container's
		// terminal, where a person sees why the command did not start.
		for fd := range 3 {
			if err := unix.Dup3(slave, fd, 0); err != nil {
				return ExitSetup, fmt.Errorf("stdio on the pty: %w", err)
			}
		}
	}
	var startedFIFO *int // the exec FIFO's write end, until the command runs
	if o.OCI.ExecFIFO > 0 || o.OCI.ReadyFD > 0 {
		end := rec.Begin("created: wait for start on the exec FIFO")
		st, fifo, err := waitStart(o.OCI, sigs)
		o.OCI.ReadyFD = 0 // said, or failed to be: closed either way
		if err != nil || st >= 0 {
			return st, err
		}
		if fifo >= 0 {
			// Closed once the command is executed (or ccinit ends).
			defer func() {
				if fifo >= 0 {
					_ = unix.Close(fifo)
				}
			}()
			startedFIFO = &fifo
		}
		end()
	}
	if len(o.OCI.Hooks) > 0 {
		end := rec.Begin("startContainer hooks")
		if err := runHooks(o.OCI.Hooks, nil, true, hookState(o.OCI.HookState, hookPid)); err != nil {
			return ExitSetup, err
		}
		end()
	}
	if err := ociProcess(o.OCI); err != nil {
		return ExitSetup, err
	}
	r := reaper{trace: rec, sigs: sigs, group: o.Group, grace: o.Grace, pid1: pid1, pty: slave, harden: harden, tini: t}
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
	if startedFIFO != nil {
		// A second byte, then EOF: the command runs. EOF after the
		// first byte alone tells ccsuper start that ccinit failed.
		_, _ = unix.Write(*startedFIFO, []byte{1})
		_ = unix.Close(*startedFIFO)
		*startedFIFO = -1
	}
	if o.OCI.ExecSock > 0 {
		r.execs = &execServer{conns: map[int]int{}}
		go r.execs.serve(o.OCI.ExecSock)
	}
	if t != nil {
		t.infof("started %s as pid %d", path, r.child)
	}
	status = r.loop()
	rec.Record("command runs", r.execDone, r.childDone)
	rec.Span("after the command: TERM the rest, grace, reap", r.childDone)
	return status, nil
}

// catchEarly asks for the early signals on a new channel, roomy enough for
// a burst while the command starts, and ignores reservedRT.
func catchEarly() chan os.Signal {
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs, early...)
	// Best effort: if it fails, ccinit is no worse off than any Go program.
	_ = ignoreReservedRT()
	return sigs
}

// takeConsole makes the container's pty (see openConsole) and returns its
// slave, for the command's stdin, stdout and stderr. ccinit's own stdio stays
// ccsuper's: what ccinit says (a command not found) goes to ccsuper's stderr,
// not into the command's output.
func takeConsole(sock int) (slave int, err error) {
	defer unix.Close(sock)
	return openConsole(sock)
}

// ReceiveConfig speaks ccinit's side of the sync channel on fd up to the
// configuration (see sync.go): it sends hello, then reads the config message
// and parses it. The options returned keep fd as their SyncFD, for "go".
func ReceiveConfig(fd int) (Options, error) {
	// ccsuper passes signals on once it has had the hello (and sent "go"):
	// each must find a handler here, or the kernel drops it at a PID 1 and
	// the Go runtime drops or dies of it.
	sigs := catchEarly()
	if err := sendMsg(fd, []byte(SyncVersion)); err != nil {
		return Options{}, err
	}
	msg, err := recvMsg(fd)
	if err != nil {
		return Options{}, err
	}
	o, err := DecodeConfig(msg)
	if err != nil {
		return o, err
	}
	o.SyncFD = fd
	o.sigs = sigs
	if o.HostFDs {
		if o.hostFDs, err = recvHostFDs(fd); err != nil {
			return o, err
		}
	}
	// ccsuper execs ccinit as /proc/self/fd/N (supervisor/initexe_linux.go),
	// which the kernel makes the command name: ps inside would list PID 1
	// as "N". /proc/self/comm is the main thread's; PR_SET_NAME names the
	// calling thread, and needs no /proc file, which in a user namespace
	// joined by path is the host root's (ccinit stays undumpable there).
	nameSelf("ccinit")
	return o, nil
}

// waitGo blocks until the supervisor says "go" on fd (see sync.go).
func waitGo(fd int) error {
	defer unix.Close(fd)
	msg, err := recvMsg(fd)
	if err != nil {
		return err
	}
	if string(msg) != SyncGo {
		return ErrSupervisorGone
	}
	return nil
}

// sendMsg sends one message on the sync channel. EPIPE means the supervisor
// is gone.
func sendMsg(fd int, msg []byte) error {
	for {
		err := unix.Send(fd, msg, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EPIPE), errors.Is(err, unix.ECONNRESET):
			return ErrSupervisorGone
		case err != nil:
			return fmt.Errorf("sync channel: send: %w", err)
		}
		return nil
	}
}

// recvMsg receives one whole message from the sync channel, whatever its
// size: a look at the next one (MSG_PEEK|MSG_TRUNC) gives its length. EOF
// (an empty read: no message is ever empty) means the supervisor is gone.
func recvMsg(fd int) ([]byte, error) {
	var one [1]byte
	for {
		n, _, _, _, err := unix.Recvmsg(fd, one[:], nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECONNRESET):
			return nil, ErrSupervisorGone
		case err != nil:
			return nil, fmt.Errorf("sync channel: receive: %w", err)
		case n == 0:
			return nil, ErrSupervisorGone
		}
		buf := make([]byte, n)
		m, _, flags, _, err := unix.Recvmsg(fd, buf, nil, 0)
		if errors.Is(err, unix.EINTR) {
			continue // the message is still there
		}
		if err != nil {
			return nil, fmt.Errorf("sync channel: receive: %w", err)
		}
		if m != n || flags&unix.MSG_TRUNC != 0 {
			return nil, errors.New("sync channel: message cut short")
		}
		return buf, nil
	}
}

// dropControllingTerminal gives up the controlling terminal ccinit inherited
// from its supervisor, if any, so that no process of the container has one:
// /dev/tty then opens nothing (ENXIO), and without a terminal of its own a
// process needs CAP_SYS_ADMIN to push input into one (TIOCSTI) or to take
// one over (TIOCSCTTY), even given a descriptor of it. ccinit stays in the
// supervisor's session (see ccsuper's Run for why not setsid), but as it is
// not the session's leader, TIOCNOTTY only detaches ccinit: nothing is sent
// to the session.
func dropControllingTerminal() error {
	fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // ENXIO: no controlling terminal; or no /dev/tty to reach one through
	}
	defer unix.Close(fd)
	if err := unix.IoctlSetInt(fd, unix.TIOCNOTTY, 0); err != nil {
		return fmt.Errorf("give up the controlling terminal: %w", err)
	}
	return nil
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
