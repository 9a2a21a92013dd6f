package initproc

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reservedRT are the real-time signals the Go runtime reserves for C
// libraries: glibc's SIGCANCEL (32) and musl's SIGSYNCCALL (34, glibc's
// SIGRTMIN). The runtime installs no handler for them and signal.Notify
// cannot ask for one; its handler, copied onto them, passes them to their
// default, as it does every signal it was not told to handle. At the default,
// one kill(2) of either ends ccinit when it is not PID 1 and leaves the
// command without its init, so ccinit gives them a handler of its own that
// drops them, as the kernel drops them for a PID 1. A caught signal goes back
// to its default in a new program, so the command gets them at their default
// with nothing to do around the fork. (Ignoring them instead would have to be
// undone for the fork, process-wide: a kill in between ended ccinit.)
// SIGSETXID (33) is not among them: the runtime handles it.
var reservedRT = []syscall.Signal{32, 34}

// sigDrop (sigdrop_linux_*.s) is a signal handler that returns at once, to
// the restorer the kernel put on the stack: it touches no register and no
// memory. Only the kernel calls it.
func sigDrop()

// sigDropPC returns the address of sigDrop's own code, for sa_handler: a Go
// func value of it would name an ABI wrapper instead.
func sigDropPC() uintptr

// dropReservedRT gives the signals in reservedRT the handler sigDrop, with
// a raw rt_sigaction: the syscall package has no sigaction, and os/signal
// refuses these signals. The flags and the restorer are those the Go runtime
// gave SIGUSR1 (its handler is installed before main): on the signal stack
// each thread of the runtime has, since a goroutine's stack has no room for
// the kernel's signal frame, and (amd64) the runtime's rt_sigreturn.
func dropReservedRT() error {
	// struct sigaction as the kernel reads it on amd64 and arm64: handler,
	// flags, restorer, mask.
	var act [4]uint64
	const sigsetSize = 8 // _NSIG/8, _NSIG being 64
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGUSR1), 0, uintptr(unsafe.Pointer(&act)), sigsetSize, 0, 0); e != 0 {
		return fmt.Errorf("read the disposition of SIGUSR1: %w", e)
	}
	const saOnstack = 0x08000000 // SA_ONSTACK, the same on amd64 and arm64
	if act[1]&saOnstack == 0 {
		return fmt.Errorf("SIGUSR1's handler has flags %#x, not SA_ONSTACK: no signal stack to borrow", act[1])
	}
	act[0] = uint64(sigDropPC())
	act[3] = ^uint64(0) // nothing else while it runs
	for _, s := range reservedRT {
		_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s), uintptr(unsafe.Pointer(&act)), 0, sigsetSize, 0, 0)
		if e != 0 {
			return fmt.Errorf("set the handler of signal %d: %w", s, e)
		}
	}
	return nil
}
