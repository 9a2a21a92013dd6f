package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// ExecOptions are exec's flags. The process is ProcessFile (a process.json
// of the spec) or, when that is empty, the container's own process with
// Args, and the other fields laid over it.
type ExecOptions struct {
	ProcessFile   string
	Args          []string
	TTY           bool
	ConsoleSocket string
	PidFile       string
	Detach        bool
	Cwd           string
	Env           []string
	User          string // UID[:GID]
	// Proxy is how to start the detached proxy: this program's path and
	// the arguments that select its proxy mode (see ExecProxy).
	Proxy []string
}

const execSockFile = "exec.sock"

// execProcess builds the process exec runs, from o and the container's.
func execProcess(base *specs.Process, o ExecOptions) (*specs.Process, error) {
	if o.ProcessFile != "" {
		b, err := os.ReadFile(o.ProcessFile)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", initproc.WithoutPath(err))
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", o.ProcessFile, err)
		}
		return &p, nil
	}
	if base == nil {
		return nil, errors.New("the container's process is not known (made by an older ccsuper)")
	}
	p := *base
	if len(o.Args) == 0 {
		return nil, errors.New("exec: no command given")
	}
	p.Args = o.Args
	p.Terminal = o.TTY
	p.ConsoleSize = nil
	if o.Cwd != "" {
		p.Cwd = o.Cwd
	}
	p.Env = append(append([]string(nil), p.Env...), o.Env...)
	if o.User != "" {
		u, g, hasG := strings.Cut(o.User, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %q: want UID[:GID], numbers", o.User)
		}
		p.User = specs.User{UID: uint32(uid)}
		if hasG {
			gid, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user %q: want UID[:GID], numbers", o.User)
			}
			p.User.GID = uint32(gid)
		}
	}
	return &p, nil
}

// Exec runs a process in the running container id: ccinit starts it (see
// initproc/exec_linux.go) and this ccsuper, or with Detach a proxy it
// leaves behind, stands for it: its PID goes to the pid file, it passes on
// signals and ends as the process ends. Without Detach the returned status
// is the process's.
func (r Runtime) Exec(id string, o ExecOptions) (int, error) {
	// What the engine left open without close-on-exec (a pipe it reads to
	// EOF) must not live on in the proxy: only 0 to 2 go to the process,
	// through ccinit, and the proxy gets its own.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return initproc.ExitSetup, fmt.Errorf("mark inherited descriptors close-on-exec: %w", err)
	}
	var proxy func() (*execProxy, error)
	if o.Detach {
		// The proxy is started first, from a goroutine of its own: its
		// fork and exec and its Go start-up (together a few ms) then run
		// while we read the state and ccinit starts the process, instead
		// of after them, on the engine's wait (docs/oci.md). Every
		// descriptor inherited or made meanwhile is close-on-exec: none
		// leaks into it.
		started := make(chan startedProxy, 1)
		go func() {
			p, err := startExecProxy(o.Proxy)
			started <- startedProxy{p, err}
		}()
		proxy = sync.OnceValues(func() (*execProxy, error) {
			s := <-started
			return s.p, s.err
		})
		defer func() {
			if p, err := proxy(); err == nil {
				p.abandon() // unless handed the process
			}
		}()
	}
	end := r.Trace.Begin("exec: read state.json, plan the process")
	defer func() { end() }()
	st, dir, err := r.load(id)
	if err != nil {
		return initproc.ExitSetup, err
	}
	if s := st.status(dir); s != specs.StateRunning {
		return initproc.ExitSetup, fmt.Errorf("container %s is %s, not running", id, s)
	}
	base, err := st.process()
	if err != nil {
		return initproc.ExitSetup, err
	}
	proc, err := execProcess(base, o)
	if err != nil {
		return initproc.ExitSetup, err
	}
	if proc.Terminal != (o.ConsoleSocket != "") {
		return initproc.ExitSetup, errors.New("a terminal (-t, process.terminal) needs --console-socket, and only it")
	}
	plan := &bundlePlan{}
	if err := planProcess(plan, proc); err != nil {
		return initproc.ExitSetup, err
	}
	if len(proc.Rlimits) > 0 && !sameRlimits(proc.Rlimits, base) {
		return initproc.ExitSetup, errors.New("exec: process.rlimits other than the container's are not supported")
	}
	req := initproc.Options{
		Env: plan.init.Env, Workdir: plan.init.Workdir, User: plan.init.User, Caps: plan.init.Caps,
		NoNewPrivs: plan.init.NoNewPrivs, Args: plan.init.Args,
	}
	req.OCI = initproc.OCI{
		Groups: plan.init.OCI.Groups, Bounding: plan.init.OCI.Bounding, Inheritable: plan.init.OCI.Inheritable,
		Ambient: plan.init.OCI.Ambient, Seccomp: st.Seccomp,
		ConsoleRows: plan.init.OCI.ConsoleRows, ConsoleCols: plan.init.OCI.ConsoleCols,
	}
	files := []int{0, 1, 2}
	if o.ConsoleSocket != "" {
		conn, err := net.Dial("unix", o.ConsoleSocket)
		if err != nil {
			return initproc.ExitSetup, fmt.Errorf("console socket: %w", err)
		}
		defer conn.Close()
		f, err := conn.(*net.UnixConn).File()
		if err != nil {
			return initproc.ExitSetup, fmt.Errorf("console socket: %w", err)
		}
		defer f.Close()
		files = append(files, int(f.Fd()))
		req.ConsoleSocket = len(files) - 1
	}
	end()
	end = r.Trace.Begin("exec: ccinit starts the process")
	c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return initproc.ExitSetup, fmt.Errorf("exec socket: %w", err)
	}
	defer unix.Close(c)
	if err := onSocketPath(filepath.Join(dir, execSockFile), func(name string) error { return unix.Connect(c, &unix.SockaddrUnix{Name: name}) }); err != nil {
		return initproc.ExitSetup, fmt.Errorf("reach container %s: %w", id, err)
	}
	var sigs chan os.Signal
	if !o.Detach {
		// Caught before the process can run: a Go program that has not
		// asked for a signal drops SIGUSR1 or SIGUSR2 and dies of SIGTERM.
		sigs = catchAll()
	}
	if err := unix.Sendmsg(c, initproc.EncodeExec(req), unix.UnixRights(files...), nil, 0); err != nil {
		return initproc.ExitSetup, fmt.Errorf("exec request: %w", err)
	}
	pidfd, code, err := receiveStarted(c)
	if err != nil {
		return code, err
	}
	defer unix.Close(pidfd)
	end()
	if !o.Detach {
		if o.PidFile != "" {
			if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(os.Getpid()))); err != nil {
				return initproc.ExitSetup, fmt.Errorf("pid file: %w", err)
			}
		}
		return proxyWait(c, pidfd, sigs), nil
	}
	end = r.Trace.Begin("exec: hand the process to the proxy, pid file")
	px, err := proxy()
	if err == nil {
		err = px.handOver(c, pidfd)
	}
	if err != nil {
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		return initproc.ExitSetup, err
	}
	if o.PidFile != "" {
		if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(px.pid))); err != nil {
			// The engine, told 125, will not wait for them: the process
			// ends, and the proxy, our child still, is killed and reaped.
			_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
			px.handed = false
			px.abandon()
			return initproc.ExitSetup, fmt.Errorf("pid file: %w", err)
		}
	}
	return 0, nil
}

// An execProxy is the detached exec's proxy, started before the process
// and handed it once ccinit started it. Its control socket carries, one
// message each way:
//
//	ccsuper exec                             proxy (ccsuper exec-proxy)
//	socketpair, fork+exec the proxy  ──────> catch the signals that are
//	  with every signal blocked               not left blocked (ExecProxy)
//	                                 <────── "ready"; catch the rest
//	(state, plan, ccinit starts the process)
//	"go" + SCM_RIGHTS [connection to  ─────> wait on the connection, pass
//	  ccinit, the process's pidfd]           on signals (proxyWait)
//	read "ready"; write the pid file; exit
//
// EOF instead of "go" (the exec failed, or ccsuper died): the proxy exits,
// and ccsuper, when alive, kills and reaps it (abandon).
type execProxy struct {
	pid    int
	ctl    int // our end of the control socket
	handed bool
}

// startedProxy is startExecProxy's answer, from its goroutine.
type startedProxy struct {
	p   *execProxy
	err error
}

// startExecProxy starts argv (this program in its proxy mode, see
// ExecProxy) with its end of a new control socket as proxyCtlFD.
func startExecProxy(argv []string) (*execProxy, error) {
	// The proxy starts with every signal blocked (a child gets the forking
	// thread's mask, and exec keeps it): what is sent to it before it asks
	// for a signal waits, pending, instead of being dropped, and it can
	// say "ready" before it has asked for them all (ExecProxy).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^all.Val[i]
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err == nil {
		// Restored before the thread is unlocked: no other goroutine
		// runs on it with every signal blocked.
		defer func() { _ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil) }()
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("exec proxy: %w", err)
	}
	defer unix.Close(fds[1])
	// Its stdio is /dev/null: it must not hold the engine's pipes open.
	null, err := os.Open(os.DevNull)
	if err != nil {
		_ = unix.Close(fds[0])
		return nil, fmt.Errorf("exec proxy: %w", err)
	}
	defer null.Close()
	n := null.Fd()
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{n, n, n, uintptr(fds[1])}, // proxyCtlFD
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		_ = unix.Close(fds[0])
		return nil, fmt.Errorf("start exec proxy: %w", err)
	}
	return &execProxy{pid: pid, ctl: fds[0]}, nil
}

// handOver gives the proxy the connection to ccinit and the process's
// pidfd, and returns once the proxy catches signals: only then may its PID
// go to the pid file. A proxy that died meanwhile is an error.
func (p *execProxy) handOver(c, pidfd int) error {
	if err := unix.Sendmsg(p.ctl, []byte("go"), unix.UnixRights(c, pidfd), nil, unix.MSG_NOSIGNAL); err != nil {
		return fmt.Errorf("exec proxy: %w", err)
	}
	buf := make([]byte, 16)
	for {
		n, _, err := unix.Recvfrom(p.ctl, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || string(buf[:n]) != "ready" {
			return fmt.Errorf("exec proxy: died before it caught signals (%q, %v)", buf[:n], err)
		}
		break
	}
	// The connection and the pidfd are in flight or the proxy's: it stands
	// for the process from here, whether we exit before it reads them or
	// not (a socket's queued descriptors live as long as the socket).
	p.handed = true
	_ = unix.Close(p.ctl)
	p.ctl = -1
	return nil
}

// abandon ends a proxy that was not handed a process, or whose process
// the engine will not hear of (the pid file failed): its control socket
// closes, it is killed and reaped, so that no stray child of ours reaches
// the engine.
func (p *execProxy) abandon() {
	if p.handed {
		return
	}
	if p.ctl >= 0 {
		_ = unix.Close(p.ctl)
	}
	_ = unix.Kill(p.pid, unix.SIGKILL) // our unreaped child: the PID is still its
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(p.pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// sameRlimits reports whether rs are the container's own limits.
func sameRlimits(rs []specs.POSIXRlimit, p *specs.Process) bool {
	if p == nil || len(p.Rlimits) != len(rs) {
		return false
	}
	for i := range rs {
		if rs[i] != p.Rlimits[i] {
			return false
		}
	}
	return true
}

// receiveStarted reads ccinit's answer to an exec request: the process's
// pidfd, or why it did not start and the status to exit with (127 for a
// command not found, 126 not executable, 125 otherwise).
func receiveStarted(c int) (int, int, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(c, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, initproc.ExitSetup, fmt.Errorf("exec: %w", err)
		}
		msg := string(buf[:n])
		if msg == "started" {
			fds, ok := rightsIn(oob[:oobn], 1)
			if !ok {
				return -1, initproc.ExitSetup, errors.New("exec: no pidfd with the answer")
			}
			return fds[0], 0, nil
		}
		var code int
		if _, err := fmt.Sscanf(msg, "error %d", &code); err == nil {
			_, why, _ := strings.Cut(strings.TrimPrefix(msg, "error "), " ")
			return -1, code, fmt.Errorf("exec: %s", why)
		}
		return -1, initproc.ExitSetup, fmt.Errorf("exec: unexpected answer %q (the container ended?)", msg)
	}
}

// ExecProxy is the detached proxy's whole life (see execProxy): it catches
// signals, says "ready" on its control socket (proxyCtlFD, fds_linux.go),
// takes the connection to ccinit and the process's pidfd, and stands for
// the process until it ends. It returns the status to exit with.
//
// Asking for a signal is a round trip with the Go runtime's signal thread,
// 65 of them for every signal: 0.5 ms, and several on a loaded machine,
// before "ready", on the engine's wait. Started with every signal blocked
// (startExecProxy), the proxy asks first for only those the runtime
// unblocks at start on every thread (runtimeUnblocked), says "ready", then
// asks for the rest, which wait pending until then. (Whether a signal of the
// rest is caught or still pending when the proxy exits after the process,
// its status is the same: a Go program drops what it did not ask for.)
func ExecProxy() int {
	sigs := make(chan os.Signal, 32)
	var mask unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, nil, &mask); err == nil && sigBlocked(&mask, unix.SIGUSR1) {
		signal.Notify(sigs, runtimeUnblocked...)
	} else {
		signal.Notify(sigs) // started some other way: all before "ready"
	}
	if err := unix.Sendmsg(proxyCtlFD, []byte("ready"), nil, nil, unix.MSG_NOSIGNAL); err != nil {
		return initproc.ExitSetup // ccsuper is gone: nothing to stand for
	}
	// The rest, while it waits for the process: a process that ends at
	// once is not kept waiting on them.
	go signal.Notify(sigs)
	c, pidfd, ok := receiveHandOver(proxyCtlFD)
	_ = unix.Close(proxyCtlFD)
	if !ok {
		return initproc.ExitSetup // the exec did not start
	}
	return proxyWait(c, pidfd, sigs)
}

// runtimeUnblocked are the signals the Go runtime never leaves blocked
// (runtime.blockableSig: those that kill or crash a program that did not
// ask for them, and those it must see at once), but SIGCHLD and SIGURG,
// which the proxy drops anyway (proxyWait). 32 to 34 are glibc's and musl's
// own, which an engine may still send.
var runtimeUnblocked = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP, unix.SIGABRT, unix.SIGBUS,
	unix.SIGFPE, unix.SIGSEGV, unix.SIGTERM, unix.SIGSTKFLT, unix.SIGPROF, unix.SIGSYS,
	syscall.Signal(32), syscall.Signal(33), syscall.Signal(34),
}

// sigBlocked reports whether sig is in mask.
func sigBlocked(mask *unix.Sigset_t, sig unix.Signal) bool {
	n := uint(sig) - 1
	return mask.Val[n/64]&(1<<(n%64)) != 0
}

// receiveHandOver reads "go" with the connection and the pidfd on ctl.
func receiveHandOver(ctl int) (c, pidfd int, ok bool) {
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(2*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(ctl, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || string(buf[:n]) != "go" {
			return -1, -1, false
		}
		fds, ok := rightsIn(oob[:oobn], 2)
		if !ok {
			return -1, -1, false
		}
		return fds[0], fds[1], true
	}
}

// rightsIn returns the n descriptors of the one SCM_RIGHTS message in
// oob, closing what it got when that is not what came.
func rightsIn(oob []byte, n int) ([]int, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return nil, false
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != n {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
		return nil, false
	}
	return fds, true
}

// catchAll asks for every signal there is.
func catchAll() chan os.Signal {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	return sigs
}

// stopsOrIgnored reports whether sig, at its default action, stops a
// process or is ignored: no process dies of it, and the proxy must not
// stop itself.
func stopsOrIgnored(sig unix.Signal) bool {
	switch sig {
	case unix.SIGCHLD, unix.SIGCONT, unix.SIGURG, unix.SIGWINCH, unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return true
	}
	return false
}

// proxyWait passes every signal of sigs (catchAll) to the process and
// (os/signal keeps one pending instance per signal number: realtime
// signals sent faster than they are passed on arrive coalesced, however
// deep the channel; runc's shim-less exec has the process itself take
// them, queued by the kernel)
// returns its status when ccinit says it ended; a process killed by signal N
// makes the proxy die of N too (dieOf), so the engine sees what it would
// with runc, where the process is the shim's child: conmon and
// containerd's shim wait on the pid file's PID and report a death by N as
// 128+N.
func proxyWait(c, pidfd int, sigs chan os.Signal) int {
	done := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		for {
			n, _, _, _, err := unix.Recvmsg(c, buf, nil, 0)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || n == 0 {
				done <- ""
				return
			}
			done <- string(buf[:n])
			return
		}
	}()
	for {
		select {
		case s := <-sigs:
			sig := s.(syscall.Signal)
			if sig == unix.SIGCHLD || sig == unix.SIGURG {
				continue // ours, not the process's
			}
			// SIGPIPE is passed on: the proxy writes to no pipe (its
			// stdio is /dev/null, its sockets MSG_NOSIGNAL), nor does a
			// plain exec while it waits, so one is the engine's.
			_ = unix.PidfdSendSignal(pidfd, sig, nil, 0)
		case msg := <-done:
			var n int
			if _, err := fmt.Sscanf(msg, "exit %d", &n); err == nil {
				return n
			}
			if _, err := fmt.Sscanf(msg, "signal %d", &n); err == nil {
				if !stopsOrIgnored(unix.Signal(n)) {
					dieOf(unix.Signal(n))
				}
				return 128 + n // a signal that does not kill by default
			}
			return initproc.ExitSetup // ccinit went away: the container is gone
		}
	}
}
