package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
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
//
// Run is a thin driver of the OCI lifecycle's steps, the same the OCI front
// end takes (container_linux.go): create (everything up to ccinit waiting
// for "go"), start ("go"), wait, delete (the teardown, on every path).
func Run(c Config) (status int, err error) {
	k, err := newContainer(c)
	if err != nil {
		return initproc.ExitSetup, err
	}
	defer func() {
		if derr := k.delete(); derr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", derr))
		}
	}()
	if status, err := k.create(); err != nil {
		return status, quiet(err)
	}
	if status, err := k.start(); err != nil {
		return status, quiet(err)
	}
	return k.wait()
}

// quiet drops errEnded: ccinit ended by itself and has said why; its status
// is the run's, with nothing more to say.
func quiet(err error) error {
	if errors.Is(err, errEnded) {
		return nil
	}
	return err
}

// container is one run of ccsuper's own front end, in the lifecycle's steps.
type container struct {
	c        Config
	rec      *trace.Recorder
	rootfs   string
	initPath string
	me       owner
	sigs     chan os.Signal
	notified chan struct{} // closed once sigs gets the forwarded signals

	lay  *layer
	ran  bool    // ccinit was told to go (see layer.release)
	uns  *userNS // the user namespace's plan (rootless, --userns=auto), or nil
	plan *netPlan
	cg   *cgroup
	std  *stdio
	opts initproc.Options
	proc *initProcess

	consSock     *os.File
	closeConsole func()
	winch        func() // with a pty: how to pass a new window size on
	traceR       *os.File

	// undo are the teardown steps of what create made, run by delete in
	// reverse order.
	undo []func() error
}

// newContainer checks c and finds ccinit: nothing is made yet.
func newContainer(c Config) (*container, error) {
	k := &container{c: c, rec: c.Trace, closeConsole: func() {}}
	endCheck := k.rec.Begin("check configuration, find ccinit")
	// Whatever descriptors ccsuper inherited (a shell's `9</`, a job
	// server's pipe, a service manager's sockets) must not reach ccinit and
	// the container: a directory descriptor of the host's is a way out of
	// the new root. ccsuper opens everything of its own close-on-exec.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return nil, fmt.Errorf("mark inherited descriptors close-on-exec: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var err error
	if k.rootfs, err = filepath.Abs(c.Rootfs); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	if k.initPath, err = findInit(c.Init); err != nil {
		return nil, err
	}
	endCheck()

	// The Go runtime enables each signal with a round trip to a thread of its
	// own, so ask for them while the network is prepared and ccinit starts;
	// start waits for them before "go" (see there). From then on a SIGINT or
	// SIGTERM goes to the container, and ccsuper tears down as usual; one
	// that comes before has its default action and kills ccsuper, leaving a
	// record the next start or `ccsuper cleanup` undoes (a SIGUSR1 or
	// SIGUSR2 then is dropped: nothing runs yet to take it). They are not
	// given back with signal.Stop: ccsuper exits as soon as Run returns, and
	// giving them back would cost as much again.
	k.sigs = make(chan os.Signal, 32)
	k.notified = make(chan struct{})
	go func() {
		testDelaySignals()
		signal.Notify(k.sigs, forwarded...)
		// A write to a closed pipe on stdout (`ccsuper -t ... | head`)
		// must fail with EPIPE, not kill ccsuper with the host terminal
		// left raw and nothing torn down. Caught, not ignored: an ignored
		// signal stays ignored across exec, and pasta refuses to start
		// with SIGPIPE ignored; a caught one is reset to its default.
		signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)
		close(k.notified)
	}()
	return k, nil
}

// create makes everything up to ccinit waiting for "go": the rootfs layer,
// the network, the cgroup, ccinit in its namespaces (its hello received),
// the host side of its network, its pty. It returns the status to exit with
// when it fails (ccinit's own when ccinit said why).
func (k *container) create() (int, error) {
	c, rec := k.c, k.rec
	endSelf := rec.Begin("create: read our own PID and start time")
	me, err := self()
	if err != nil {
		return initproc.ExitSetup, err
	}
	k.me = me
	endSelf()
	endLayer := rec.Begin("create: volumes, overlay layer")
	vols, err := hostVolumes(c.Volumes)
	if err != nil {
		return initproc.ExitSetup, err
	}
	if k.lay, err = prepareLayer(c, k.rootfs, me); err != nil {
		return initproc.ExitSetup, err
	}
	endLayer()
	k.undo = append(k.undo, func() error {
		defer rec.Begin("delete: overlay layer")()
		kept, err := k.lay.release(k.ran)
		if kept != "" && c.KeptLayer != nil {
			c.KeptLayer(kept)
		}
		return err
	})
	endNet := rec.Begin("create: network: lease, bridge, /etc files")
	k.plan, err = prepareNetwork(c, me)
	endNet()
	if err != nil {
		return initproc.ExitSetup, err
	}
	k.undo = append(k.undo, func() error {
		defer rec.Begin("delete: lease, bridge, /etc files")()
		return k.plan.release()
	})

	endUserNS := rec.Begin("create: user namespace: maps")
	k.uns, err = planUserNS(c, me)
	endUserNS()
	if err != nil {
		return initproc.ExitSetup, err
	}
	k.undo = append(k.undo, func() error { return k.uns.release() })

	endCg := rec.Begin("create: cgroup: make, limits")
	k.cg, err = containerCgroup(c, me)
	endCg()
	if err != nil {
		return initproc.ExitSetup, err
	}
	k.undo = append(k.undo, func() error {
		defer rec.Begin("delete: cgroup")()
		return k.cg.remove()
	})

	endPipes := rec.Begin("create: stdio, sockets")
	if k.std, err = newStdio(c.Interactive && !c.TTY); err != nil {
		return initproc.ExitSetup, err
	}
	k.undo = append(k.undo, func() error { k.std.finish(); return nil })
	var extra childFDs
	var consTheirs *os.File
	var consoleFD, traceFD int
	if c.TTY {
		if k.consSock, consTheirs, err = consoleSocket(); err != nil {
			return initproc.ExitSetup, err
		}
		k.undo = append(k.undo, k.consSock.Close)
		defer consTheirs.Close() // ccinit has its own copy once started
		consoleFD = extra.add(consTheirs.Fd())
	}
	// ccinit sends its own steps back on this pipe when it exits.
	var traceW *os.File
	if rec != nil {
		if k.traceR, traceW, err = os.Pipe(); err != nil {
			return initproc.ExitSetup, fmt.Errorf("trace pipe: %w", err)
		}
		k.undo = append(k.undo, k.traceR.Close)
		defer traceW.Close() // ccinit has its own copy once started
		traceFD = extra.add(traceW.Fd())
	}
	endPipes()

	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil {
		return initproc.ExitSetup, fmt.Errorf("read CPU affinity: %w", err)
	}
	k.opts = initproc.Options{
		CPUs:      initproc.FormatCPUs(&cpus),
		Rootfs:    k.rootfs,
		Hostname:  c.Hostname,
		Env:       c.Env,
		CleanEnv:  true,
		Workdir:   c.Workdir,
		Grace:     initproc.DefaultGrace,
		Binds:     k.plan.binds,
		ReadOnly:  c.ReadOnly,
		KeepLayer: c.Keep,
		Volumes:   vols,
		Args:      c.Args,
	}
	k.opts.ConsoleSocket, k.opts.TraceFD = consoleFD, traceFD
	if k.lay != nil {
		k.opts.Overlay = k.lay.dir
	}
	hardenOptions(c, &k.opts)
	flags := uintptr(cloneFlags)
	if c.Net != NetHost {
		flags |= unix.CLONE_NEWNET
	}
	// Nothing but the loopback to set up inside: ccinit does it with two
	// ioctls, where ccsuper would make a netlink socket inside the
	// namespace from a thread moved there and back (hostSetup).
	k.opts.Loopback = c.Net == NetNone
	if k.cg.ownNamespace() {
		flags |= unix.CLONE_NEWCGROUP
		k.opts.Cgroup2 = true
	}
	k.opts.Cgroup1 = k.cg.v1View()
	uns := k.uns
	if uns != nil {
		flags |= unix.CLONE_NEWUSER
		k.opts.UserNS = true
		k.opts.HostFDs = uns.auto != nil
		k.opts.AddGroups = uns.groups
	}
	spec := spawnSpec{
		path: k.initPath, opts: k.opts, stdio: [3]uintptr{k.std.files[0].Fd(), k.std.files[1].Fd(), k.std.files[2].Fd()},
		extra: extra, clone: flags, cgroupFD: k.cg.cloneInto(), pdeathsig: true, cpus: &cpus, rec: rec,
		watch: k.lay.watch,
		// With maps written by newuidmap ccinit waits until they are
		// (see initproc.AwaitMapping), and takes its configuration then.
		configLater: uns != nil && uns.helper,
	}
	if uns != nil {
		// Root's own IDs are not in an --userns=auto range.
		spec.sys = func(sys *syscall.SysProcAttr) { uns.cloneAttrs(sys, uns.auto != nil) }
	}
	k.proc, err = spawnInit(spec)
	k.std.started()
	if err != nil {
		return initproc.ExitSetup, err
	}
	k.undo = append(k.undo, func() error { k.proc.close(); return nil })
	if traceW != nil {
		_ = traceW.Close()
	}
	if consTheirs != nil {
		// Likewise its end of the console socket: without our copy,
		// the socket reads EOF if ccinit dies before sending the pty.
		_ = consTheirs.Close()
	}
	if uns != nil && uns.helper {
		end := rec.Begin("create: user namespace: newuidmap, newgidmap, config")
		mapped := func() error {
			if err := unix.Send(int(k.proc.sync.Fd()), []byte(initproc.SyncMapped), 0); err != nil {
				return fmt.Errorf("sync socket: %w", err)
			}
			return nil
		}
		if err := uns.writeMaps(k.proc.pid, mapped); err != nil {
			return k.proc.abort(err)
		}
		if err := sendConfig(k.proc.sync, k.opts); err != nil {
			return k.proc.abort(err)
		}
		end()
	}
	if k.opts.HostFDs {
		end := rec.Begin("create: user namespace: idmapped mounts to ccinit")
		if err := sendHostMounts(k.proc.sync, k.proc.pid, k.opts, int(uns.uids[0].Outside), int(uns.gids[0].Outside)); err != nil {
			return k.proc.abort(err)
		}
		end()
	}
	if err := hostSetup(k.proc.pid, k.plan, k.cg, rec); err != nil {
		return k.proc.abort(err)
	}
	if c.Net == NetPasta {
		end := rec.Begin("create: pasta: connect the network namespace")
		pst, err := startPasta(k.proc.pid, c.Publish, k.plan.dnsForward)
		if err != nil {
			return k.proc.abort(err)
		}
		k.undo = append(k.undo, pst.stop)
		end()
	}
	endHello := rec.Begin("create: ccinit's hello on the sync socket")
	if err := k.proc.awaitHello(); err != nil {
		return initproc.ExitSetup, err
	}
	endHello()
	if k.consSock != nil {
		if err := k.attachConsole(); err != nil {
			return k.proc.abort(err)
		}
	}
	return 0, nil
}

// start tells ccinit to go: it starts the command.
func (k *container) start() (int, error) {
	// Not one instruction of the command before ccsuper has its signals:
	// until signal.Notify has returned, the Go runtime drops a SIGUSR1 or
	// SIGUSR2 (and a SIGHUP or SIGINT that ccsuper was started with
	// ignored) without a trace, and a command that had said "ready"
	// would never see it. The registration runs in parallel with create
	// and has long finished by now, unless the machine is loaded.
	endSigs := k.rec.Begin("start: wait for the forwarded signals to be caught")
	<-k.notified
	endSigs()
	endGo := k.rec.Begin(`start: send "go" on the sync socket`)
	if err := k.proc.sendGo(); err != nil {
		return k.proc.abort(err)
	}
	k.ran = true
	endGo()
	return 0, nil
}

// wait passes signals on to ccinit until it exits, and returns the
// container's status.
func (k *container) wait() (int, error) {
	endRun := k.rec.Begin("container runs (until ccinit exits)")
	for {
		select {
		case s := <-k.sigs:
			if s == unix.SIGWINCH && k.winch != nil {
				// The kernel signals the pty's foreground group.
				k.winch()
				continue
			}
			k.proc.signal(s.(syscall.Signal))
		case res := <-k.proc.exited:
			k.proc.reaped = &res
			endRun()
			k.proc.close() // the read-only clone goes, in the background
			if k.traceR != nil {
				// Everything that held the write end is gone.
				events, _ := trace.Receive(k.traceR) // a partial trace is still worth showing
				k.rec.Add(events)
				k.rec.Add(betweenSides(events, k.proc.forkEnd, trace.Now()))
			}
			if res.err != nil {
				return initproc.ExitSetup, fmt.Errorf("wait for container: %w", res.err)
			}
			status := initproc.ExitStatus(res.ws)
			// The container's last output, and the terminal back to
			// normal, before anything ccsuper itself prints (--stats).
			k.closeConsole()
			k.std.finish()
			return status, k.cg.finish(status, k.c.Stats)
		}
	}
}

// delete tears down what create made, in reverse order, on every path: a
// ccinit still alive (a create that failed half-way) is killed first.
func (k *container) delete() error {
	if k.proc != nil && k.proc.reaped == nil {
		k.proc.kill()
	}
	var errs []error
	for i := len(k.undo) - 1; i >= 0; i-- {
		errs = append(errs, k.undo[i]())
	}
	return errors.Join(errs...)
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
		end := rec.Begin("create: cgroup: place ccinit")
		err := cg.place(pid)
		end()
		if err != nil {
			return err
		}
	}
	// A rootless ccsuper has no capability in the container's network
	// namespace (ccinit brings its loopback up itself); pasta configures
	// the rest. With --net none ccinit brings it up too (Options.Loopback).
	if plan.mode == NetHost || plan.mode == NetNone || Rootless() {
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
