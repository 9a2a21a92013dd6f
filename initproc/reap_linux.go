package initproc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/trace"
)

// Why not github.com/hashicorp/go-reap: it reaps with wait4(-1) on every
// SIGCHLD and reports only the PIDs it reaped, never their status. Next to a
// second waiter for the command (exec.Cmd.Wait, say) the two race, and
// whichever wins takes the command's status: the other sees ECHILD. Its own
// doc comment asks callers to hold a lock around their waits for that reason.
// A PID 1 must keep the command's exact status, so here one loop owns wait4
// for every child, the command included, and keeps the status when the PID
// is the command's.

// early are the signals ccinit asks for before anything else:
//   - those whose Go default is to kill or crash the program (SIGHUP, SIGINT,
//     SIGTERM, SIGQUIT, SIGABRT, SIGSYS, SIGSTKFLT, and SIGILL, SIGTRAP,
//     SIGBUS, SIGFPE, SIGSEGV when sent by kill): PID 1 must survive them;
//   - SIGTSTP, SIGTTIN and SIGTTOU, whose default would stop it;
//   - SIGCHLD, and SIGUSR1, SIGUSR2 and SIGWINCH, which ccsuper forwards.
//
// Until they are asked for, the Go runtime ignores all the others.
var early = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGTERM, unix.SIGQUIT, unix.SIGABRT, unix.SIGSYS, unix.SIGSTKFLT,
	unix.SIGILL, unix.SIGTRAP, unix.SIGBUS, unix.SIGFPE, unix.SIGSEGV,
	unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
	unix.SIGCHLD, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// rest lists the other signals ccinit catches, so that together with early
// that is all of 1..64 but SIGKILL and SIGSTOP, which cannot be caught, and
// SIGURG. The Go runtime preempts its own goroutines with SIGURG, and
// signal.Notify cannot tell those from a real one, so forwarding it would send
// the command spurious SIGURGs. A real SIGURG is sent by the kernel to a
// socket's owner, not to PID 1, so nothing is lost.
func rest() []os.Signal {
	skip := map[os.Signal]bool{unix.SIGKILL: true, unix.SIGSTOP: true, unix.SIGURG: true}
	for _, s := range early {
		skip[s] = true
	}
	var s []os.Signal
	for n := syscall.Signal(1); n <= 64; n++ {
		if !skip[n] {
			s = append(s, n)
		}
	}
	return s
}

type reaper struct {
	sigs   chan os.Signal
	group  bool // forward to the command's process group
	grace  time.Duration
	pid1   bool
	pty    int          // the container's pty slave for the command's stdio, or -1
	cpus   *unix.CPUSet // see Options.CPUs; nil: leave as is
	harden hardening    // see Options.Caps, User, NoNewPrivs, Seccomp
	tini   *tiniRun     // under tini's name, else nil (see RunTini)
	execs  *execServer  // processes of ccsuper exec; nil: none

	child int // the command's PID

	trace     *trace.Recorder
	startAt   int64 // with a trace: when start was called
	execDone  int64 // with a trace: when the command's exec had succeeded
	childDone int64 // with a trace: when the command's status was reaped
}

// start forks and execs the command in a process group of its own. When
// stdin is our controlling terminal and the foreground is ours to give, the
// new group becomes the terminal's foreground, so its ^C and ^Z reach the
// command and not ccinit, as in a shell.
func (r *reaper) start(path string, argv, env []string, dir string) error {
	if r.trace != nil {
		r.startAt = trace.Now()
	}
	// ccinit the OOM killer's last choice (oom_linux.go). Here, not on the
	// hardened thread that forks: that thread may have lost the capability.
	afterFork := oomBeforeFork()
	defer afterFork()
	sys := &syscall.SysProcAttr{Setpgid: true}
	stdio := []uintptr{0, 1, 2}
	if r.pty >= 0 {
		stdio = []uintptr{uintptr(r.pty), uintptr(r.pty), uintptr(r.pty)}
		// A session of its own with the pty as controlling terminal,
		// so that a shell has job control and ^C reaches its
		// foreground job through the line discipline.
		sys = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	} else if fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil && fg == unix.Getpgrp() {
		// TIOCGPGRP fails unless fd 0 is our controlling terminal.
		sys.Foreground = true
		sys.Ctty = 0
	}
	forkExec := func() (int, error) {
		// An ignored signal stays ignored across execve, a caught one
		// does not: reservedRT are caught (and dropped) for the fork,
		// so that the command gets them at their default, and ignored
		// again after. Best effort, as in Run: at worst the command
		// inherits them ignored. Never at their default in ccinit,
		// where one would end a ccinit that is not PID 1.
		_ = catchReservedRT()
		pid, err := forkExecUnblocked(path, argv, &syscall.ProcAttr{
			Dir:   dir,
			Env:   env,
			Files: stdio,
			Sys:   sys,
		})
		_ = ignoreReservedRT() // best effort, as in Run
		if err != nil {
			return 0, execError(argv[0], err)
		}
		if r.trace != nil {
			r.execDone = trace.Now()
		}
		return pid, nil
	}
	var stamps *[2]int64
	if r.trace != nil {
		stamps = new([2]int64)
	}
	pid, err := onHardenedThread(r.cpus, r.harden, forkExec, stamps)
	if err == nil && stamps != nil && r.harden.active() {
		r.trace.Record("  a thread of its own for the command's rights", r.startAt, stamps[0])
		r.trace.Record("  CPUs, capabilities, seccomp, no_new_privs", stamps[0], stamps[1])
		r.trace.Record("  fork+exec", stamps[1], r.execDone)
	}
	r.child = pid
	return err
}

// onHardenedThread runs fork (a fork and exec) on a thread that took on h
// and the CPU set cpus first, or on the calling thread when there is
// nothing to take on. With stamps, it notes when the thread ran and when
// it was set up (for a trace; the recorder has one writer, the caller).
//
// The child inherits the affinity, the capabilities, the user, the
// no_new_privs bit and the seccomp filter of the thread that forks it, and
// all are per thread: they are set on a thread of its own, which exits with
// its goroutine (never unlocked), so that no other goroutine ever runs with
// them and ccinit's other threads keep their full rights.
func onHardenedThread(cpus *unix.CPUSet, h hardening, fork func() (int, error), stamps *[2]int64) (int, error) {
	if cpus == nil && !h.active() {
		return fork()
	}
	type started struct {
		pid int
		err error
	}
	done := make(chan started, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread: Go never ends it, it parks a main
			// thread whose goroutine ends locked, with whatever
			// that goroutine took on, and /proc/1/status shows the
			// main thread's seccomp and capabilities. Hold it while
			// another thread takes the hardening, then give it
			// back untouched.
			pid, err := onHardenedThread(cpus, h, fork, stamps)
			runtime.UnlockOSThread()
			done <- started{pid, err}
			return
		}
		if stamps != nil {
			stamps[0] = trace.Now()
		}
		if cpus != nil {
			if err := unix.SchedSetaffinity(0, cpus); err != nil {
				done <- started{err: fmt.Errorf("give the command its CPUs back: %w", err)}
				return
			}
		}
		if err := h.apply(); err != nil {
			done <- started{err: err}
			return
		}
		if stamps != nil {
			stamps[1] = trace.Now()
		}
		pid, err := fork()
		done <- started{pid, err}
	}()
	s := <-done
	return s.pid, s.err
}

// loop is the only place that waits for children. It returns the command's
// exit status once the command has exited and every other process has been
// reaped (after SIGTERM, the grace period and SIGKILL if needed).
//
// SIGCHLDs coalesce: one signal may stand for many deaths, so every wake-up
// reaps until wait4 says there is nothing more to reap.
func (r *reaper) loop() int {
	status := -1 // the command's status, -1 while it runs
	terminated := false
	var deadline <-chan time.Time
	for {
		alive := r.reap(&status)
		if status >= 0 && r.tini != nil {
			return r.tini.exitStatus(status) // tini leaves the rest
		}
		if !alive && status >= 0 {
			return status
		}
		if status >= 0 && !terminated {
			// The command is gone but something it started lives on.
			terminated = true
			r.signalRest(unix.SIGTERM)
			deadline = time.After(r.grace)
		}
		select {
		case s := <-r.sigs:
			sig := s.(syscall.Signal)
			switch {
			case sig == unix.SIGCHLD:
			case sig == unix.SIGTTIN || sig == unix.SIGTTOU:
				// Only a stopping signal for us: PID 1 must never stop.
			case status < 0:
				r.forward(sig)
			case isTermination(sig):
				// Told to stop while we wait out the grace period:
				// do not make the sender wait for it.
				deadline = time.After(0)
			}
		case <-deadline:
			r.signalRest(unix.SIGKILL)
			// As a subreaper the kill goes to a list read from /proc,
			// and a process forking in a loop can add children after
			// it was read; they come to us when their parent dies. So
			// keep killing, every killRepeat, until nothing is left.
			deadline = time.After(killRepeat)
		}
	}
}

// killRepeat is how often the SIGKILL after the grace period is repeated
// while processes remain.
const killRepeat = 50 * time.Millisecond

func isTermination(sig syscall.Signal) bool {
	return sig == unix.SIGTERM || sig == unix.SIGINT || sig == unix.SIGHUP || sig == unix.SIGQUIT
}

// reap collects every child that has exited and reports whether any child is
// still alive. The command's status goes to *status.
func (r *reaper) reap(status *int) bool {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return false
		case err != nil:
			return true // cannot happen with these arguments; try again later
		case pid == 0:
			return true
		case pid == r.child:
			*status = ExitStatus(ws)
			if r.trace != nil {
				r.childDone = trace.Now()
			}
		default:
			r.execs.exited(pid, ws)
		}
		if r.tini != nil {
			r.tini.reaped(pid, pid == r.child, ws)
		}
	}
}

func (r *reaper) forward(sig syscall.Signal) {
	target := r.child
	if r.group {
		target = -r.child
	}
	if r.tini != nil {
		r.tini.forwarding(sig, target)
	}
	// ESRCH: the command is exiting; its SIGCHLD is on the way.
	_ = unix.Kill(target, sig)
}

// signalRest sends sig to every process left after the command. As PID 1 of
// a PID namespace that is everything but us, kill(-1); as a subreaper it is
// our descendants only, found through /proc.
func (r *reaper) signalRest(sig syscall.Signal) {
	if r.pid1 {
		_ = unix.Kill(-1, sig) // ESRCH: nothing left
		return
	}
	for _, pid := range descendants(os.Getpid()) {
		_ = unix.Kill(pid, sig)
	}
}

// descendants returns the PIDs below root in the process tree.
func descendants(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	kids := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			kids[ppid] = append(kids[ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range kids[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// parentOf reads the PPID from /proc/PID/stat.
func parentOf(pid int) (int, bool) {
	f, err := StatFields(pid)
	if err != nil {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[StatPPID])
	return ppid, err == nil
}

// Indexes into StatFields: proc(5)'s field numbers less 3.
const (
	StatPPID      = 4 - 3
	StatStartTime = 22 - 3
)

// StatFields returns the fields of /proc/PID/stat that follow the command
// name, which may itself hold spaces and parentheses: the first is the state.
func StatFields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) <= StatStartTime {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

// ExitStatus maps a wait status to a shell-style exit code: the code itself,
// or 128+N for death by signal N.
func ExitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
