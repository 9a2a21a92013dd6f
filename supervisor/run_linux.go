package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// cloneFlags are the namespaces every container gets.
const cloneFlags = unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWNET

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
func Run(c Config) (int, error) {
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

	r, w, err := os.Pipe() // both ends close-on-exec
	if err != nil {
		return initproc.ExitSetup, fmt.Errorf("sync pipe: %w", err)
	}
	defer w.Close()

	opts := initproc.Options{
		Rootfs:   rootfs,
		SyncFD:   syncFD,
		Hostname: c.Hostname,
		Env:      c.Env,
		CleanEnv: true,
		Workdir:  c.Workdir,
		Grace:    initproc.DefaultGrace,
		Console:  terminalPath(),
		Args:     c.Args,
		// ccinit gets a process group of its own (below), so it cannot see
		// that we hold the terminal's foreground: tell it.
		Foreground: inForeground(),
	}
	cmd := &exec.Cmd{
		Path:       initPath,
		Args:       append([]string{"ccinit"}, opts.Argv()...),
		Env:        []string{}, // not nil: nil would hand ccinit our environment
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{r},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: cloneFlags,
			Pdeathsig:  unix.SIGKILL,
			// A group of its own: a ^C typed at the terminal while
			// ccsuper is in the foreground reaches ccsuper only, which
			// forwards it once, instead of reaching ccinit twice.
			Setpgid: true,
		},
	}

	// Catch before starting, so no signal between start and the loop below
	// kills ccsuper and leaves the container to Pdeathsig.
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)

	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child exits, not
		// the process: fork and wait from one locked thread, and never
		// unlock it, so the thread lives exactly as long as the wait.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	err = <-started
	_ = r.Close() // ccinit has its own copy of the read end
	if err != nil {
		return initproc.ExitSetup, fmt.Errorf("start %s: %w", initPath, err)
	}

	if err := hostSetup(cmd.Process.Pid); err != nil {
		_ = w.Close() // EOF: ccinit exits without running anything
		_ = cmd.Process.Kill()
		<-exited
		return initproc.ExitSetup, err
	}
	if _, err := w.Write([]byte(initproc.SyncGo)); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return initproc.ExitSetup, fmt.Errorf("signal container to start: %w", err)
	}
	_ = w.Close()

	for {
		select {
		case s := <-sigs:
			// ccinit has a handler for every signal, so this reaches it
			// even though it is PID 1 of its namespace.
			_ = cmd.Process.Signal(s)
		case err := <-exited:
			return exitStatus(cmd.ProcessState, err)
		}
	}
}

// hostSetup is everything done from the host between ccinit's start and "go".
func hostSetup(pid int) error {
	return setupNetwork(pid)
}

func exitStatus(ps *os.ProcessState, err error) (int, error) {
	if ps == nil {
		return initproc.ExitSetup, fmt.Errorf("wait for container: %w", err)
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return ps.ExitCode(), nil
	}
	return initproc.ExitStatus(unix.WaitStatus(ws)), nil
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
		return "", fmt.Errorf("ccinit %s: %w (build it with make, or pass --init)", p, err)
	}
	return p, nil
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
