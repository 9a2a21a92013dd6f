package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// pastaPath is Debian's pasta (package passt): user-mode networking for a
// network namespace an ordinary user owns. It gives the namespace a tap
// interface with the host's addresses and routes (--config-net) and carries
// its traffic through ordinary sockets of the host: outbound connections
// work without a bridge, a veth or any privilege, connections to the
// gateway's address reach the host's loopback, and -t/-u forward ports of
// the host into the container.
var pastaPath = "/usr/bin/pasta"

// pasta is one running pasta, a child of ours.
type pasta struct {
	pid   int
	pidfd int
	done  chan struct{} // closed by stop: the thread that forked pasta may go
}

// startPasta connects the network namespace of pid (a container's ccinit)
// through pasta, forwarding the published ports, and returns once pasta has
// configured it.
//
// pasta runs in the foreground, as a child of ours with a parent-death
// signal: when targeting a PID it does not quit by itself once the
// namespace is gone, and a daemon would outlive a ccsuper killed with
// SIGKILL. Its PID file is a FIFO of ours: pasta writes its PID there once
// the namespace's interface, addresses and routes are in place, which is
// the moment to go on. Until then its pidfd tells if it died instead; what
// it said is then in the error. dns: the container's resolv.conf names
// pastaDNS, to be forwarded to the host's first name server.
func startPasta(pid int, ports []Publish, dns bool) (_ *pasta, err error) {
	if unix.Access(pastaPath, unix.X_OK) != nil {
		return nil, fmt.Errorf("--net pasta: %s is not installed (Debian package passt); --net none needs nothing", pastaPath)
	}
	stateDir, err := stateRoot()
	if err != nil {
		return nil, err
	}
	fifo := filepath.Join(stateDir, fmt.Sprintf("pasta-%d.fifo", os.Getpid()))
	_ = os.Remove(fifo) // a PID reused after a SIGKILL
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return nil, fmt.Errorf("pasta: %w", err)
	}
	defer os.Remove(fifo)
	ready, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("pasta: %w", err)
	}
	defer unix.Close(ready)
	// What pasta says goes to an unnamed file, read if it fails: a pipe
	// nobody reads once pasta runs could fill and stop it.
	logf, err := os.OpenFile(stateDir, os.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pasta: %w", err)
	}
	defer logf.Close()

	args := []string{pastaPath, "--foreground", "--config-net", "--quiet", "--pid", fifo,
		// Nothing forwarded but what -p asks for: pasta's default
		// forwards every port bound inside to the host (-t auto), and
		// the other direction (-T, -U) likewise.
		"-T", "none", "-U", "none"}
	tcp, udp := 0, 0
	for _, p := range ports {
		flag, spec := p.pastaSpec()
		args = append(args, flag, spec)
		if p.UDP {
			udp++
		} else {
			tcp++
		}
	}
	if tcp == 0 {
		args = append(args, "-t", "none")
	}
	if udp == 0 {
		args = append(args, "-u", "none")
	}
	if dns {
		args = append(args, "--dns-forward", pastaDNS.String())
	}
	args = append(args, strconv.Itoa(pid))

	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("pasta: %w", err)
	}
	defer null.Close()
	p := &pasta{pidfd: -1, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the forking thread exits: keep it until
		// stop, as Run keeps ccinit's.
		runtime.LockOSThread()
		var err error
		p.pid, err = syscall.ForkExec(pastaPath, args, &syscall.ProcAttr{
			Env:   []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
			Files: []uintptr{null.Fd(), null.Fd(), logf.Fd()},
			Sys:   &syscall.SysProcAttr{Pdeathsig: unix.SIGTERM, PidFD: &p.pidfd},
		})
		started <- err
		if err == nil {
			<-p.done
		}
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", pastaPath, err)
	}
	defer func() {
		if err != nil {
			_ = p.stop()
		}
	}()
	fds := []unix.PollFd{{Fd: int32(ready), Events: unix.POLLIN}, {Fd: int32(p.pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return nil, fmt.Errorf("pasta: wait until ready: %w", err)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			return p, nil // its PID: configured
		}
		if fds[1].Revents != 0 {
			said, _ := io.ReadAll(io.NewSectionReader(logf, 0, 64<<10))
			lines := strings.Split(strings.TrimSpace(string(said)), "\n")
			return nil, fmt.Errorf("pasta failed: %s", lines[len(lines)-1])
		}
	}
}

// stop ends pasta and reaps it. It is safe to call on nil.
func (p *pasta) stop() error {
	if p == nil {
		return nil
	}
	defer close(p.done)
	defer unix.Close(p.pidfd)
	if err := unix.PidfdSendSignal(p.pidfd, unix.SIGTERM, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("stop pasta: %w", err)
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reap pasta: %w", err)
		}
		return nil
	}
}
