package supervisor

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// initProcess is a started ccinit: its PID, a pidfd for signals that can
// never reach a reused PID, and its exit, reported by the thread that forked
// it (which waits for it and so lives as long as it; see spawnInit).
type initProcess struct {
	pid    int
	pidfd  int
	exited chan waitResult
	reaped *waitResult // once received from exited
}

type waitResult struct {
	ws  unix.WaitStatus
	err error
}

// spawnSpec is how to start ccinit.
type spawnSpec struct {
	path  string
	argv  []string
	files []uintptr
	clone uintptr
	// join are namespaces entered by path before the clone: the thread that
	// forks enters them, so the child starts in them.
	join     []nsJoin
	cgroupFD int // clone straight into this v2 cgroup, or -1
	// pdeathsig kills ccinit when the forking thread dies: ccsuper's own
	// runs, never an OCI container, which outlives the create.
	pdeathsig bool
}

// spawnInit clones and execs ccinit. The forking thread is locked and never
// unlocked: it may have entered other namespaces, and Pdeathsig fires when
// it exits, so it stays for the wait.
func spawnInit(s spawnSpec) (*initProcess, error) {
	p := &initProcess{pidfd: -1, exited: make(chan waitResult, 1)}
	attr := &syscall.ProcAttr{
		Env:   []string{},
		Files: s.files,
		Sys: &syscall.SysProcAttr{
			Cloneflags: s.clone,
			PidFD:      &p.pidfd,
			Setsid:     true, // no controlling terminal of the host's
		},
	}
	if s.pdeathsig {
		attr.Sys.Pdeathsig = unix.SIGKILL
	}
	if s.cgroupFD >= 0 {
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, s.cgroupFD
	}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		for _, j := range s.join {
			if err := setnsPath(j); err != nil {
				started <- err
				return
			}
		}
		var err error
		p.pid, err = syscall.ForkExec(s.path, s.argv, attr)
		started <- err
		if err != nil {
			return
		}
		var res waitResult
		for {
			_, res.err = unix.Wait4(p.pid, &res.ws, 0, nil)
			if !errors.Is(res.err, unix.EINTR) {
				break
			}
		}
		p.exited <- res
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", s.path, err)
	}
	return p, nil
}

// setnsPath enters the namespace at j.path on the calling thread.
//
// Preconditions: the calling goroutine is locked to its thread for good.
func setnsPath(j nsJoin) error {
	f, err := os.Open(j.path)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", j.path, withoutPath(err))
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), int(j.flag)); err != nil {
		return fmt.Errorf("enter namespace %s: %w", j.path, err)
	}
	return nil
}

// wait returns ccinit's end, waiting for it the first time.
func (p *initProcess) wait() waitResult {
	if p.reaped == nil {
		res := <-p.exited
		p.reaped = &res
	}
	return *p.reaped
}

// kill sends SIGKILL and waits for ccinit's end.
func (p *initProcess) kill() waitResult {
	if p.reaped == nil {
		_ = unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
	}
	return p.wait()
}

// close releases the pidfd.
func (p *initProcess) close() {
	if p.pidfd >= 0 {
		_ = unix.Close(p.pidfd)
		p.pidfd = -1
	}
}
