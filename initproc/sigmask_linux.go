package initproc

import (
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// The command starts with no signal blocked and none ignored, whatever ccinit
// itself was started with, under any name.
//
// Go's fork gives the child the signal mask of the thread that forks, and a
// Go thread's mask is the one the program started with less the signals the
// runtime needs unblocked: a launcher's blocked SIGUSR1 or SIGPIPE would
// survive into the command while its blocked SIGTERM would not. So the mask
// is emptied on the forking thread for the fork. Dispositions need nothing:
// ccinit catches every signal it can, and the child resets every caught
// signal to its default (reservedRT are set back by hand).
//
// tini gives the command its launcher's mask and ignored set instead. ccinit
// cannot: by the time a Go program's first line runs, the runtime has
// replaced both, and it keeps the originals to itself. A clean slate is also
// what systemd gives a service and what Docker and podman launchers give
// anyway, and a signal left blocked or ignored by whatever started the init
// is a classic cause of a container that will not stop.

// forkExecUnblocked is syscall.ForkExec with an empty signal mask in the
// child.
func forkExecUnblocked(path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var none, old unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &none, &old); err != nil {
		// Cannot fail with these arguments; the child would get this
		// thread's mask, as before.
		return syscall.ForkExec(path, argv, attr)
	}
	// Restored before the thread is unlocked, so no other goroutine runs
	// on it with the empty mask.
	defer func() { _ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil) }()
	return syscall.ForkExec(path, argv, attr)
}
