package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// cloneFlags are the namespaces every container gets; a network namespace
// too unless it shares the host's.
const cloneFlags = unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC

// syncFD is where ccinit finds the sync pipe: the first of ExtraFiles.
const syncFD = 3

// forwarded are the signals ccsuper passes on to the container. ccinit passes
// them on to the command.
var forwarded = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// Run runs the container described by c and returns its exit status: the
// command's own, or 128+N when it was killed by signal N. An error means the
// container could not be started; the status is then initproc.ExitSetup and
// nothing is left behind.
func Run(c Config) (_ int, err error) {
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
		close(notified)
	}()

	me, err := self()
	if err != nil {
		return initproc.ExitSetup, err
	}
	plan, err := prepareNetwork(c, me)
	if err != nil {
		return initproc.ExitSetup, err
	}
	defer func() {
		if rerr := plan.release(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", rerr))
		}
	}()

	r, w, err := os.Pipe() // both ends close-on-exec
	if err != nil {
		return initproc.ExitSetup, fmt.Errorf("sync pipe: %w", err)
	}
	defer w.Close()

	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil {
		return initproc.ExitSetup, fmt.Errorf("read CPU affinity: %w", err)
	}
	opts := initproc.Options{
		CPUs:     initproc.FormatCPUs(&cpus),
		Rootfs:   rootfs,
		SyncFD:   syncFD,
		Hostname: c.Hostname,
		Env:      c.Env,
		CleanEnv: true,
		Workdir:  c.Workdir,
		Grace:    initproc.DefaultGrace,
		Console:  terminalPath(),
		Binds:    plan.binds,
		Args:     c.Args,
		// ccinit gets a process group of its own (below), so it cannot see
		// that we hold the terminal's foreground: tell it.
		Foreground: inForeground(),
	}
	hardenOptions(c, &opts)
	flags := uintptr(cloneFlags)
	if c.Net != NetHost {
		flags |= unix.CLONE_NEWNET
	}
	attr := &syscall.ProcAttr{
		Env:   []string{}, // nothing of the host's environment
		Files: []uintptr{0, 1, 2, r.Fd()},
		Sys: &syscall.SysProcAttr{
			Cloneflags: flags,
			Pdeathsig:  unix.SIGKILL,
			// A group of its own: a ^C typed at the terminal while
			// ccsuper is in the foreground reaches ccsuper only, which
			// forwards it once, instead of reaching ccinit twice.
			Setpgid: true,
		},
	}
	argv := append([]string{"ccinit"}, opts.Argv()...)

	// syscall.ForkExec and wait4 rather than os/exec: os/exec probes for
	// pidfd support by forking a throwaway process on first use, which costs
	// more than a whole step of the container's start here.
	type result struct {
		ws  unix.WaitStatus
		err error
	}
	started := make(chan error, 1)
	exited := make(chan result, 1)
	var pid int
	go func() {
		// Pdeathsig fires when the thread that forked the child exits, not
		// the process: fork and wait from one locked thread, and never
		// unlock it, so the thread lives exactly as long as the wait.
		runtime.LockOSThread()
		var err error
		unpin := pinToThisCPU(&cpus)
		pid, err = syscall.ForkExec(initPath, argv, attr)
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
	_ = r.Close() // ccinit has its own copy of the read end
	if err != nil {
		return initproc.ExitSetup, fmt.Errorf("start %s: %w", initPath, err)
	}
	// abort stops ccinit after a failure of ours. If ccinit had already
	// exited by itself (its own setup failed, and it said why), the failure
	// seen here is only a consequence: report ccinit's status, not ours.
	abort := func(err error) (int, error) {
		// Kill before closing the pipe: on EOF a live ccinit would exit
		// 125 by itself, and look like one that failed on its own.
		_ = unix.Kill(pid, unix.SIGKILL)
		_ = w.Close()
		res := <-exited
		if res.err == nil && res.ws.Exited() {
			return res.ws.ExitStatus(), nil
		}
		return initproc.ExitSetup, err
	}
	if err := hostSetup(pid, plan); err != nil {
		return abort(err)
	}
	if _, err := w.Write([]byte(initproc.SyncGo)); err != nil {
		return abort(fmt.Errorf("signal container to start: %w", err))
	}
	_ = w.Close()

	<-notified
	for {
		select {
		case s := <-sigs:
			// ccinit has a handler for every signal, so this reaches it
			// even though it is PID 1 of its namespace.
			_ = unix.Kill(pid, s.(syscall.Signal))
		case res := <-exited:
			if res.err != nil {
				return initproc.ExitSetup, fmt.Errorf("wait for container: %w", res.err)
			}
			return initproc.ExitStatus(res.ws), nil
		}
	}
}

// hostSetup is everything done from the host between ccinit's start and "go".
func hostSetup(pid int, plan *netPlan) error {
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

// terminalPath returns the path of the terminal on stdin, or "" when stdin is
// not a terminal.
func terminalPath() string {
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err != nil {
		return ""
	}
	p, err := os.Readlink("/proc/self/fd/0")
	if err != nil || !filepath.IsAbs(p) {
		return ""
	}
	return p
}
