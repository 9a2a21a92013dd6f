package initproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// `ccsuper exec` enters a running container through its PID 1: ccinit
// listens on a socket that ccsuper create made (STATE/exec.sock) and starts
// each process asked for there as its own child, already inside every
// namespace, the cgroup and the root. A Go program cannot setns into a mount
// namespace (it is multi-threaded from its first instruction), and ccinit
// is already where the process must be.
//
//	ccsuper exec (stays, as the process's proxy)   ccinit (PID 1)
//	connect STATE/exec.sock (SEQPACKET)
//	send "ccinit-exec-1\0ARGS\0...", SCM_RIGHTS
//	  stdin, stdout, stderr [, console socket] ──> accept; parse ARGS (ccinit's own
//	                                               flags: user, caps, env, cwd...);
//	                                               fork+exec on a hardened thread
//	recv "started" + the process's pidfd  <─────── (or "error CODE MESSAGE")
//	write --pid-file: ccsuper's own PID
//	a signal to ccsuper: pidfd_send_signal        the process ends, ccinit reaps it
//	recv "exit CODE" or "signal N"        <─────── and sends how it ended
//	exit CODE, or die of signal N
//
// The engine's shim waits for the PID in the pid file, which must be its
// child: ccsuper (re-executed as the proxy when detached) is, and it ends
// as the process ended and passes it every signal it can catch. Its death
// (SIGKILL) closes the connection, and ccinit kills the process: the two
// live and die together.

// ExecVersion heads every exec request.
const ExecVersion = "ccinit-exec-1"

// EncodeExec renders o as an exec request (o.Argv, NUL-separated).
func EncodeExec(o Options) []byte { return encodeArgs(ExecVersion, o) }

// decodeExec reads an exec request. Only what a process takes counts; the
// flags of ccinit's own set-up are refused.
func decodeExec(msg []byte) (Options, error) {
	args, ok := splitArgs(ExecVersion, msg)
	if !ok {
		return Options{}, errors.New("exec request: malformed")
	}
	var o Options
	fs := NewFlagSet(&o, io.Discard)
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("exec request: %w", err)
	}
	o.Args = fs.Args()
	if len(o.Args) == 0 || o.Args[0] == "" {
		return o, errors.New("exec request: no command")
	}
	if o.Rootfs != "" || o.SyncFD != 0 || len(o.OCI.Mounts) > 0 || o.OCI.ExecFIFO != 0 || o.OCI.ExecSock != 0 {
		return o, errors.New("exec request: set-up flags in a process request")
	}
	return o, nil
}

// execServer starts and watches the processes of exec requests.
type execServer struct {
	mu sync.Mutex
	// conns maps each live process to its requester's connection. The
	// lock is held from before the fork until the PID is in and "started"
	// sent, so that the reaper never misses an exit nor reports one first.
	conns map[int]int
}

// serve accepts requests on the listening socket fd until it fails.
func (s *execServer) serve(fd int) {
	for {
		c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
			continue
		}
		if err != nil {
			return // nothing to do: ccinit runs on without exec
		}
		go s.handle(c)
	}
}

// handle runs one request on connection c.
func (s *execServer) handle(c int) {
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := unix.Recvmsg(c, buf, oob, unix.MSG_CMSG_CLOEXEC)
	var fds []int
	if err == nil {
		fds, err = receivedFDs(oob[:oobn])
	}
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}()
	if err != nil {
		s.refuse(c, ExitSetup, err)
		return
	}
	o, err := decodeExec(buf[:n])
	if err == nil && len(fds) != 3 && !(len(fds) == 4 && o.ConsoleSocket > 0) {
		err = fmt.Errorf("exec request: %d descriptors", len(fds))
	}
	if err != nil {
		s.refuse(c, ExitSetup, err)
		return
	}
	pid, err := s.start(c, o, fds)
	// The process has its own copies now. Ours must not outlive the start:
	// they are `ccsuper exec`'s stdio, with a terminal the engine's pipe
	// for the runtime's output, which a shim reads to the end
	// (containerd's waits for that before it answers the exec).
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
	fds = nil
	if err != nil {
		code := ExitSetup
		var ee *ExecError
		if errors.As(err, &ee) {
			code = ee.Code
		}
		s.refuse(c, code, err)
		return
	}
	// Whatever ends the connection from the other side (the proxy killed)
	// ends the process: nothing could wait for it or signal it any more.
	var one [16]byte
	for {
		m, _, _, _, rerr := unix.Recvmsg(c, one[:], nil, 0)
		if errors.Is(rerr, unix.EINTR) {
			continue
		}
		if rerr != nil || m == 0 {
			break
		}
	}
	s.mu.Lock()
	_, live := s.conns[pid]
	delete(s.conns, pid)
	s.mu.Unlock()
	if live {
		_ = unix.Kill(pid, unix.SIGKILL) // the reaper collects it
	}
	_ = unix.Close(c)
}

// refuse answers a request that started nothing, and closes c.
func (s *execServer) refuse(c, code int, err error) {
	msg := fmt.Sprintf("error %d %s", code, strings.ReplaceAll(err.Error(), "\n", `\n`))
	_ = unix.Sendmsg(c, []byte(msg), nil, nil, 0)
	_ = unix.Close(c)
}

// receivedFDs returns the descriptors of an SCM_RIGHTS message.
func receivedFDs(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("exec request: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		f, err := unix.ParseUnixRights(&m)
		if err != nil {
			return fds, fmt.Errorf("exec request: %w", err)
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

// start forks and execs the process o asks for, with stdio fds (and a
// console socket as fds[3], for a pty of its own), and says "started" on
// c with the process's pidfd.
func (s *execServer) start(c int, o Options, fds []int) (int, error) {
	h, err := planHardening(o)
	if err != nil {
		return 0, err
	}
	home := "/root"
	if h.cred != nil {
		home = h.cred.Home
	}
	hostname, _ := os.Hostname()
	env := BuildEnv(EnvSpec{Clean: true, Hostname: hostname, Home: home, Extra: o.Env})
	dir := o.Workdir
	if dir == "" {
		dir = "/"
	}
	path, err := Resolve(o.Args[0], Getenv(env, "PATH"), dir)
	if err != nil {
		return 0, err
	}
	stdio := []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])}
	sys := &syscall.SysProcAttr{Setsid: true}
	if len(fds) == 4 {
		master, slave, err := openPTY()
		if err != nil {
			return 0, err
		}
		defer unix.Close(slave)
		err = setWinsize(slave, o.OCI.ConsoleRows, o.OCI.ConsoleCols)
		if err == nil {
			err = unix.Sendmsg(fds[3], []byte{'t'}, unix.UnixRights(master), nil, 0)
		}
		_ = unix.Close(master)
		if err != nil {
			return 0, fmt.Errorf("send pty: %w", err)
		}
		stdio = []uintptr{uintptr(slave), uintptr(slave), uintptr(slave)}
		sys = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	// The pidfd comes from the clone itself: the reaper may collect the
	// process before we could open one by PID.
	pidfd := -1
	sys.PidFD = &pidfd
	s.mu.Lock()
	defer s.mu.Unlock()
	pid, err := onHardenedThread(nil, h, func() (int, error) {
		pid, err := forkExecUnblocked(path, o.Args, &syscall.ProcAttr{Dir: dir, Env: env, Files: stdio, Sys: sys})
		if err != nil {
			return 0, execError(o.Args[0], err)
		}
		return pid, nil
	}, nil)
	if err != nil {
		return 0, err
	}
	s.conns[pid] = c
	// A failure leaves the requester without "started": the handler then
	// reads its end, kills the process, and the reaper collects it.
	_ = unix.Sendmsg(c, []byte("started"), unix.UnixRights(pidfd), nil, 0)
	_ = unix.Close(pidfd)
	return pid, nil
}

// exited reports how the exec'd process pid ended to its requester, and
// wakes the handler waiting on the connection. The reaper calls it for
// every child that is not the command; pid may be none of ours (an orphan).
func (s *execServer) exited(pid int, ws unix.WaitStatus) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[pid]
	if !ok {
		return
	}
	delete(s.conns, pid)
	msg := "exit " + strconv.Itoa(ws.ExitStatus())
	if ws.Signaled() {
		msg = "signal " + strconv.Itoa(int(ws.Signal()))
	}
	_ = unix.Sendmsg(c, []byte(msg), nil, nil, 0) // a requester gone is fine
	_ = unix.Shutdown(c, unix.SHUT_RDWR)
}

// openPTY makes a pseudo-terminal in the container's devpts and returns its
// master and slave.
func openPTY() (master, slave int, err error) {
	master, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		_ = unix.Close(master)
		return -1, -1, fmt.Errorf("unlock pty: %w", err)
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		_ = unix.Close(master)
		return -1, -1, fmt.Errorf("open pty slave: %w", errno)
	}
	return master, int(r), nil
}
