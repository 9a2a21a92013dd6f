package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
	"github.com/ccontainer/ccontainer/trace"
)

// cloneFlags are the namespaces every container gets; a network namespace
// too unless it shares the host's.
const cloneFlags = unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC

// forwarded are the signals ccsuper passes on to the container. ccinit passes
// them on to the command.
var forwarded = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// Run runs the container described by c and returns its exit status: the
// command's own, or 128+N when it was killed by signal N. An error means the
// container could not be started; the status is then initproc.ExitSetup and
// nothing is left behind. An error with another status says how the
// container ended (killed for want of memory), or that tearing down failed
// after it ran: the status is then still the command's, so that a caller
// sees how the command ended, and the error says what is left to reclaim.
func Run(c Config) (_ int, err error) {
	rec := c.Trace
	endCheck := rec.Begin("check configuration, find ccinit")
	// Whatever descriptors ccsuper inherited (a shell's `9</`, a job
	// server's pipe, a service manager's sockets) must not reach ccinit and
	// the container: a directory descriptor of the host's is a way out of
	// the new root. ccsuper opens everything of its own close-on-exec.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return initproc.ExitSetup, fmt.Errorf("mark inherited descriptors close-on-exec: %w", err)
	}
	if os.Geteuid() != 0 {
		return initproc.ExitSetup, errors.New("must be run as root")
	}
	if err := c.Validate(); err != nil {
		return initproc.ExitSetup, err
	}
	rootfs, err := filepath.Abs(c.Rootfs)
	if err != nil {
		return initproc.ExitSetup, fmt.Errorf("rootfs: %w", err)
	}
	initPath, err := findInit(c.Init)
	if err != nil {
		return initproc.ExitSetup, err
	}
	endCheck()

	// The Go runtime enables each signal with a round trip to a thread of its
	// own, so ask for them while the network is prepared and ccinit starts.
	// From then on a SIGINT or SIGTERM goes to the container, and ccsuper
	// tears down as usual; one that comes before has its default action and
	// kills ccsuper, leaving a record the next start or `ccsuper cleanup`
	// undoes. They are not given back with signal.Stop: ccsuper exits as soon
	// as Run returns, and giving them back would cost as much again.
	sigs := make(chan os.Signal, 32)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigs, forwarded...)
		// A write to a closed pipe on stdout (`ccsuper -t ... | head`)
		// must fail with EPIPE, not kill ccsuper with the host terminal
		// left raw and nothing torn down.
		signal.Ignore(unix.SIGPIPE)
		close(notified)
	}()

	endSelf := rec.Begin("read our own PID and start time")
	me, err := self()
	if err != nil {
		return initproc.ExitSetup, err
	}
	endSelf()
	endLayer := rec.Begin("volumes, overlay layer")
	vols, err := hostVolumes(c.Volumes)
	if err != nil {
		return initproc.ExitSetup, err
	}
	lay, err := prepareLayer(c, rootfs, me)
	if err != nil {
		return initproc.ExitSetup, err
	}
	ran := false // ccinit was told to go (see layer.release)
	endLayer()
	defer func() {
		defer rec.Begin("tear down: overlay layer")()
		kept, rerr := lay.release(ran)
		if rerr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", rerr))
		}
		if kept != "" && c.KeptLayer != nil {
			c.KeptLayer(kept)
		}
	}()
	endNet := rec.Begin("network: lease, bridge, /etc files")
	plan, err := prepareNetwork(c, me)
	endNet()
	if err != nil {
		return initproc.ExitSetup, err
	}
	defer func() {
		defer rec.Begin("tear down: lease, bridge, /etc files")()
		if rerr := plan.release(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", rerr))
		}
	}()

	endCg := rec.Begin("cgroup: make, limits")
	cg, err := containerCgroup(c, me)
	endCg()
	if err != nil {
		return initproc.ExitSetup, err
	}
	defer func() {
		defer rec.Begin("tear down: cgroup")()
		if rerr := cg.remove(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", rerr))
		}
	}()

	endPipes := rec.Begin("sync socket, stdio, sockets")
	syncOurs, syncTheirs, err := syncSocket()
	if err != nil {
		return initproc.ExitSetup, err
	}
	defer syncOurs.Close()
	defer syncTheirs.Close() // closed early once ccinit has it; a second close is harmless
	if err := lay.watch(syncTheirs); err != nil {
		_ = syncTheirs.Close()
		return initproc.ExitSetup, err
	}

	std, err := newStdio(c.Interactive && !c.TTY)
	if err != nil {
		return initproc.ExitSetup, err
	}
	defer std.finish()
	files := []uintptr{std.files[0].Fd(), std.files[1].Fd(), std.files[2].Fd(), syncTheirs.Fd()}
	var consSock, consTheirs *os.File
	if c.TTY {
		if consSock, consTheirs, err = consoleSocket(); err != nil {
			return initproc.ExitSetup, err
		}
		defer consSock.Close()
		files = append(files, consTheirs.Fd())
	}

	// ccinit sends its own steps back on this pipe when it exits.
	var traceR, traceW *os.File
	if rec != nil {
		if traceR, traceW, err = os.Pipe(); err != nil {
			return initproc.ExitSetup, fmt.Errorf("trace pipe: %w", err)
		}
		defer traceR.Close()
		defer traceW.Close()
		files = append(files, traceW.Fd())
	}
	endPipes()

	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil {
		return initproc.ExitSetup, fmt.Errorf("read CPU affinity: %w", err)
	}
	opts := initproc.Options{
		CPUs:      initproc.FormatCPUs(&cpus),
		Rootfs:    rootfs,
		Hostname:  c.Hostname,
		Env:       c.Env,
		CleanEnv:  true,
		Workdir:   c.Workdir,
		Grace:     initproc.DefaultGrace,
		Binds:     plan.binds,
		ReadOnly:  c.ReadOnly,
		KeepLayer: c.Keep,
		Volumes:   vols,
		Args:      c.Args,
	}
	if c.TTY {
		opts.ConsoleSocket = consoleFD
	}
	if traceW != nil {
		opts.TraceFD = len(files) - 1
	}
	if lay != nil {
		opts.Overlay = lay.dir
	}
	hardenOptions(c, &opts)
	flags := uintptr(cloneFlags)
	if c.Net != NetHost {
		flags |= unix.CLONE_NEWNET
	}
	pidfd := -1
	defer func() {
		if pidfd >= 0 {
			_ = unix.Close(pidfd)
		}
	}()
	attr := &syscall.ProcAttr{
		Env:   []string{}, // nothing of the host's environment
		Files: files,
		Sys: &syscall.SysProcAttr{
			Cloneflags: flags,
			Pdeathsig:  unix.SIGKILL,
			// Signals go through a pidfd: once ccinit is reaped, its PID
			// may be another process's, its pidfd never is.
			PidFD: &pidfd,
			// A group of its own: a ^C typed at the terminal while
			// ccsuper is in the foreground reaches ccsuper only, which
			// forwards it once, instead of reaching ccinit twice. Not
			// a session of its own: with the kernel's scheduler
			// autogroups, a new session is a new scheduling group,
			// and that cost about 5 ms per start on this loaded
			// machine (docs/security.md). ccinit gives up the
			// controlling terminal instead (see initproc.Run).
			Setpgid: true,
		},
	}
	if fd := cg.cloneInto(); fd >= 0 {
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, fd
	}
	// The configuration goes over the sync socket, not on ccinit's
	// command line, which the container sees as /proc/1/cmdline.
	argv := []string{"ccinit", "--sync-fd", strconv.Itoa(syncFD)}
	if err := sendConfig(syncOurs, opts); err != nil {
		return initproc.ExitSetup, err
	}
	endClone := rec.Begin("read-only clone of ccinit to exec")
	exe, exeFD, err := readOnlyInit(initPath, len(files))
	endClone()
	if err != nil {
		return initproc.ExitSetup, err
	}
	// Closed only once the container is over (in the background, see
	// below; this close is for the paths that fail first). Closing the last
	// descriptor of a detached mount unmounts it there and then (the exec
	// keeps the clone itself alive), and doing that right after the clone
	// made TestCgroupForkBomb and TestNetworkAddressReuse fail every time:
	// the cause is not pinned down (the unmount waits for an RCU grace
	// period, during which ccsuper's host setup is held back).
	defer exeFD.Close()

	// syscall.ForkExec and wait4 rather than os/exec: os/exec probes for
	// pidfd support by forking a throwaway process on first use, which costs
	// more than a whole step of the container's start here.
	type result struct {
		ws  unix.WaitStatus
		err error
	}
	var winch func() // with a pty: how to pass a new window size on
	closeConsole := func() {}
	started := make(chan error, 1)
	exited := make(chan result, 1)
	var pid int
	var forkStart, forkEnd int64 // with a trace only
	go func() {
		// Pdeathsig fires when the thread that forked the child exits, not
		// the process: fork and wait from one locked thread, and never
		// unlock it, so the thread lives exactly as long as the wait.
		runtime.LockOSThread()
		var err error
		unpin := pinToThisCPU(&cpus)
		if rec != nil {
			forkStart = trace.Now()
		}
		pid, err = syscall.ForkExec(exe, argv, attr)
		if rec != nil {
			forkEnd = trace.Now()
		}
		unpin()
		started <- err
		if err != nil {
			return
		}
		var res result
		for {
			_, res.err = unix.Wait4(pid, &res.ws, 0, nil)
			if !errors.Is(res.err, unix.EINTR) {
				break
			}
		}
		exited <- res
	}()
	err = <-started
	rec.Record("clone+exec ccinit (new namespaces)", forkStart, forkEnd)
	_ = syncTheirs.Close() // ccinit has its own copy
	std.started()
	if traceW != nil {
		_ = traceW.Close()
	}
	if consTheirs != nil {
		// Likewise its end of the console socket: without our copy,
		// the socket reads EOF if ccinit dies before sending the pty.
		_ = consTheirs.Close()
	}
	if err != nil {
		return initproc.ExitSetup, fmt.Errorf("start %s: %w", initPath, err)
	}
	// notCCinit is the error for a program that ended without the sync
	// protocol's hello (see initproc/sync.go): whatever it printed, it was
	// no ccinit of ours.
	notCCinit := func(res result) (int, error) {
		how := "closed the sync socket"
		if res.err == nil && res.ws.Exited() {
			how = fmt.Sprintf("exited with status %d", res.ws.ExitStatus())
		}
		return initproc.ExitSetup, fmt.Errorf("--init %q is not a ccinit: it %s without the sync handshake", initPath, how)
	}
	hello := false
	// abort stops ccinit after a failure of ours. If ccinit had already
	// exited by itself (its own setup failed, and it said why), the failure
	// seen here is only a consequence: report ccinit's status, not ours;
	// unless it never said hello, when it was not a ccinit at all.
	abort := func(err error) (int, error) {
		// Killed, not told by EOF: a live ccinit would exit 125 by
		// itself, and look like one that failed on its own. The socket
		// stays open until its hello (if any) has been looked for.
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		res := <-exited
		if res.err == nil && res.ws.Exited() {
			if !hello && receiveHello(syncOurs, false) != nil {
				return notCCinit(res)
			}
			return res.ws.ExitStatus(), nil
		}
		return initproc.ExitSetup, err
	}
	if err := hostSetup(pid, plan, cg, rec); err != nil {
		return abort(err)
	}
	endHello := rec.Begin("ccinit's hello on the sync socket")
	switch err := awaitHello(syncOurs, pidfd); {
	case errors.Is(err, errNoHello):
		// It may live on without its end of the socket.
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		return notCCinit(<-exited)
	case err != nil:
		// Another version's hello, or a socket error: ours to say,
		// whatever it did since.
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		<-exited
		return initproc.ExitSetup, fmt.Errorf("--init %q %w", initPath, err)
	}
	hello = true
	endHello()
	if consSock != nil {
		endPTY := rec.Begin("pty: receive master from ccinit, attach")
		master, err := receiveConsole(consSock)
		if err != nil {
			return abort(err)
		}
		cons := &console{master: master}
		closeConsole = func() {
			defer rec.Begin("pty: last output, restore terminal")()
			cons.close()
		}
		// Deferred before anything else can return: the host terminal
		// is given back on every path from here.
		defer closeConsole()
		// Raw mode only once a SIGTERM or SIGINT would be caught: one
		// that killed ccsuper now would leave the terminal raw.
		<-notified
		if err := cons.attach(c.Interactive); err != nil {
			return abort(err)
		}
		winch = cons.resize
		endPTY()
	}
	endGo := rec.Begin(`send "go" on the sync socket`)
	if err := unix.Send(int(syncOurs.Fd()), []byte(initproc.SyncGo), 0); err != nil {
		return abort(fmt.Errorf("signal container to start: %w", err))
	}
	ran = true
	_ = syncOurs.Close()
	endGo()
	endRun := rec.Begin("container runs (until ccinit exits)")

	<-notified
	for {
		select {
		case s := <-sigs:
			if s == unix.SIGWINCH && winch != nil {
				// The kernel signals the pty's foreground group.
				winch()
				continue
			}
			// ccinit has a handler for every signal, so this reaches it
			// even though it is PID 1 of its namespace.
			_ = unix.PidfdSendSignal(pidfd, s.(syscall.Signal), nil, 0)
		case res := <-exited:
			endRun()
			// The clone's unmount waits for an RCU grace period, long
			// on a loaded VM: let it run while we tear down.
			go exeFD.Close()
			if traceR != nil {
				// Everything that held the write end is gone.
				events, _ := trace.Receive(traceR) // a partial trace is still worth showing
				rec.Add(events)
				rec.Add(betweenSides(events, forkEnd, trace.Now()))
			}
			if res.err != nil {
				return initproc.ExitSetup, fmt.Errorf("wait for container: %w", res.err)
			}
			status := initproc.ExitStatus(res.ws)
			// The container's last output, and the terminal back to
			// normal, before anything ccsuper itself prints (--stats).
			closeConsole()
			std.finish()
			return status, cg.finish(status, c.Stats)
		}
	}
}

// betweenSides names the two stretches of a traced run that neither side
// can time alone: from ccinit's exec (ForkExec returned at execDone) to its
// first step in main, which is the Go runtime starting; and from ccinit's
// last step to our wait4 returning at reaped, which is its exit and the
// kernel's teardown of its namespaces.
func betweenSides(ccinit []trace.Event, execDone, reaped int64) []trace.Event {
	if len(ccinit) == 0 {
		return nil
	}
	first, last := ccinit[0].Start, ccinit[0].End
	for _, e := range ccinit {
		first, last = min(first, e.Start), max(last, e.End)
	}
	return []trace.Event{
		{Side: "ccinit", Step: "(exec done -> main: Go runtime start)", Start: execDone, End: max(first, execDone)},
		{Side: "ccinit", Step: "(exit, namespaces torn down, reaped)", Start: last, End: max(reaped, last)},
	}
}

// hostSetup is everything done from the host between ccinit's start and "go".
func hostSetup(pid int, plan *netPlan, cg *cgroup, rec *trace.Recorder) error {
	if cg != nil {
		end := rec.Begin("cgroup: place ccinit")
		err := cg.place(pid)
		end()
		if err != nil {
			return err
		}
	}
	if plan.mode == NetHost {
		return nil
	}
	return plan.attach(pid)
}

// findInit returns the ccinit to start: the one given, or the one installed
// next to ccsuper. It is always the host's own copy, never the rootfs's
// /sbin/ccinit: ccinit runs before pivot_root with the host's mounts in view,
// so a binary supplied by the image must not be the one that runs there.
func findInit(given string) (string, error) {
	p := given
	if p == "" {
		self, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("find ccinit: %w", err)
		}
		p = filepath.Join(filepath.Dir(self), "ccinit")
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return "", fmt.Errorf("ccinit %q: %w (build it with make, or pass --init)", p, err)
	}
	return p, nil
}

// pinToThisCPU restricts the calling thread to the CPU it runs on, so that
// the process it forks next starts on one CPU, and returns how to undo that.
// ccinit's start-up is a series of hand-offs between Go runtime threads (one
// per signal it asks for), and on a small VM a hand-off to another CPU costs
// several times one on the same CPU. ccinit gives the command the full set
// back (Options.CPUs). Nothing to do with a single CPU allowed.
//
// Preconditions: the calling goroutine is locked to its thread.
func pinToThisCPU(all *unix.CPUSet) (undo func()) {
	if all.Count() < 2 {
		return func() {}
	}
	cpu, err := getcpu()
	if err != nil {
		return func() {}
	}
	var one unix.CPUSet
	one.Set(cpu)
	if unix.SchedSetaffinity(0, &one) != nil {
		return func() {}
	}
	return func() { _ = unix.SchedSetaffinity(0, all) }
}

// inForeground reports whether stdin is our controlling terminal and our
// process group is its foreground group.
func inForeground() bool {
	fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}
