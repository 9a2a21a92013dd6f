package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
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
	c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return initproc.ExitSetup, fmt.Errorf("exec socket: %w", err)
	}
	defer func() {
		if c >= 0 {
			_ = unix.Close(c)
		}
	}()
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
	if !o.Detach {
		if o.PidFile != "" {
			if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(os.Getpid()))); err != nil {
				return initproc.ExitSetup, fmt.Errorf("pid file: %w", err)
			}
		}
		return proxyWait(c, pidfd, sigs), nil
	}
	// Detached: a proxy of our own takes the connection and the pidfd,
	// and outlives us as the engine's child (its subreaper's).
	// Its stdio is /dev/null: it must not hold the engine's pipes open.
	null, err := os.Open(os.DevNull)
	if err != nil {
		return initproc.ExitSetup, fmt.Errorf("exec proxy: %w", err)
	}
	defer null.Close()
	n := null.Fd()
	// The proxy closes its end of ready once it catches the signals: only
	// then may the engine, told its PID by the pid file, signal it.
	ready, readyW, err := os.Pipe()
	if err != nil {
		return initproc.ExitSetup, fmt.Errorf("exec proxy: %w", err)
	}
	defer ready.Close()
	pid, err := syscall.ForkExec(o.Proxy[0], o.Proxy, &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{n, n, n, uintptr(c), uintptr(pidfd), readyW.Fd()}, // proxyConnFD, proxyPidfdFD, proxyReadyFD
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	_ = readyW.Close() // the proxy has its own copy
	if err != nil {
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		return initproc.ExitSetup, fmt.Errorf("start exec proxy: %w", err)
	}
	// EOF either way: the proxy is ready, or it died (and the process's
	// end is then the engine's to see).
	_, _ = ready.Read(make([]byte, 1))
	if o.PidFile != "" {
		if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(pid))); err != nil {
			return initproc.ExitSetup, fmt.Errorf("pid file: %w", err)
		}
	}
	return 0, nil
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
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil || len(msgs) != 1 {
				return -1, initproc.ExitSetup, errors.New("exec: no pidfd with the answer")
			}
			fds, err := unix.ParseUnixRights(&msgs[0])
			if err != nil || len(fds) != 1 {
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

// ExecProxy is the detached proxy's whole life: its connection to ccinit,
// the process's pidfd and the pipe it closes once it catches signals are
// where fds_linux.go says. It returns the status to exit with.
func ExecProxy() int {
	sigs := catchAll()
	_ = unix.Close(proxyReadyFD)
	return proxyWait(proxyConnFD, proxyPidfdFD, sigs)
}

// catchAll asks for every signal there is.
func catchAll() chan os.Signal {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	return sigs
}

// proxyWait passes every signal of sigs (catchAll) to the process and
// returns its status when ccinit says it ended; a process killed by signal N
// makes the proxy die of N too, so the engine sees what it would with runc.
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
			if sig == unix.SIGCHLD || sig == unix.SIGURG || sig == unix.SIGPIPE {
				continue // ours, not the process's
			}
			_ = unix.PidfdSendSignal(pidfd, sig, nil, 0)
		case msg := <-done:
			var n int
			if _, err := fmt.Sscanf(msg, "exit %d", &n); err == nil {
				return n
			}
			if _, err := fmt.Sscanf(msg, "signal %d", &n); err == nil {
				signal.Reset(syscall.Signal(n))
				_ = unix.Kill(os.Getpid(), syscall.Signal(n))
				return 128 + n // a signal that does not kill by default
			}
			return initproc.ExitSetup // ccinit went away: the container is gone
		}
	}
}
