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
// command without its init, so ccinit ignores them instead: they are dropped,
// as the kernel drops them for a PID 1, and an ignored signal is dropped when
// it is sent, at no cost to ccinit however many come.
//
// But an ignored signal stays ignored across execve, and the command must get
// them at their default. So while ccinit forks the command they are caught
// by sigDrop, which drops them too, and a caught signal goes back to its
// default in a new program. ccinit never has them at their default: setting
// the default for the fork, as ccinit once did, let a kill in those
// microseconds end it. SIGSETXID (33) is not among them: the runtime handles
// it.
var reservedRT = []syscall.Signal{32, 34}

// sigDrop (sigdrop_linux_*.s) is a signal handler that returns at once, to
// the restorer the kernel put on the stack: it touches no register and no
// memory. Only the kernel calls it.
func sigDrop()

// sigDropPC returns the address of sigDrop's own code, for sa_handler: a Go
// func value of it would name an ABI wrapper instead.
func sigDropPC() uintptr

// sigaction is struct sigaction as the kernel reads it on amd64 and arm64:
// handler, flags, restorer, mask.
type sigaction [4]uint64

const (
	sigIgn     = 1          // SIG_IGN
	saOnstack  = 0x08000000 // SA_ONSTACK, the same on amd64 and arm64
	sigsetSize = 8          // _NSIG/8, _NSIG being 64
)

// rtSigaction is rt_sigaction(2), raw: the syscall package has no
// sigaction, and os/signal refuses the signals of reservedRT.
func rtSigaction(sig syscall.Signal, act, old *sigaction) error {
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), sigsetSize, 0, 0)
	if e != 0 {
		return fmt.Errorf("rt_sigaction of signal %d: %w", sig, e)
	}
	return nil
}

// ignoreReservedRT ignores the signals of reservedRT; any of them pending is
// discarded.
func ignoreReservedRT() error {
	act := sigaction{sigIgn}
	for _, s := range reservedRT {
		if err := rtSigaction(s, &act, nil); err != nil {
			return err
		}
	}
	return nil
}

// catchReservedRT gives the signals of reservedRT the handler sigDrop. The
// flags and the restorer are those the Go runtime gave SIGUSR1 (its handler
// is installed before main): on the signal stack each thread of the runtime
// has, since a goroutine's stack has no room for the kernel's signal frame,
// and on amd64 the runtime's rt_sigreturn.
func catchReservedRT() error {
	var act sigaction
	if err := rtSigaction(unix.SIGUSR1, nil, &act); err != nil {
		return err
	}
	if act[1]&saOnstack == 0 {
		return fmt.Errorf("SIGUSR1's handler has flags %#x, not SA_ONSTACK: no signal stack to borrow", act[1])
	}
	act[0] = uint64(sigDropPC())
	act[3] = ^uint64(0) // nothing else while it runs
	for _, s := range reservedRT {
		if err := rtSigaction(s, &act, nil); err != nil {
			return err
		}
	}
	return nil
}
