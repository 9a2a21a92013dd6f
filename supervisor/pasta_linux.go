package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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

// pasta is one running pasta, a child of ours (see startPasta).
type pasta struct {
	pid int
}

// startPasta connects the network namespace of pid (a container's ccinit)
// through pasta, forwarding the published ports, and returns once pasta has
// configured it: pasta forks into the background only when the namespace's
// interface, addresses and routes are in place, and the process we started
// exits then.
//
// ccsuper is made a child subreaper first, so that the daemon pasta leaves
// becomes our child: its PID stays its own until we reap it, and stop can
// signal it without the risk of hitting a reused PID.
func startPasta(pid int, ports []Publish) (*pasta, error) {
	stateDir, err := stateRoot()
	if err != nil {
		return nil, err
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("pasta: become a subreaper: %w", err)
	}
	pidFile := filepath.Join(stateDir, fmt.Sprintf("pasta-%d.pid", os.Getpid()))
	defer os.Remove(pidFile)
	args := []string{pastaPath, "--config-net", "--quiet", "--pid", pidFile,
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
	args = append(args, strconv.Itoa(pid))
	if err := runHelper(args); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return nil, fmt.Errorf("pasta: its PID: %w", err)
	}
	daemon, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || daemon <= 0 {
		return nil, fmt.Errorf("pasta: its PID file holds %q", b)
	}
	return &pasta{pid: daemon}, nil
}

// stop ends pasta and reaps it. It is safe to call on nil.
func (p *pasta) stop() error {
	if p == nil {
		return nil
	}
	if err := unix.Kill(p.pid, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("stop pasta: %w", err)
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil && !errors.Is(err, unix.ECHILD) {
			return fmt.Errorf("reap pasta: %w", err)
		}
		return nil
	}
}
