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
// as the kernel drops them for a PID 1. SIGSETXID (33) is not among them: the
// runtime handles it.
var reservedRT = []syscall.Signal{32, 34}

// Dispositions for setReservedRT.
const (
	sigDfl = 0 // SIG_DFL
	sigIgn = 1 // SIG_IGN
)

// setReservedRT sets the disposition of the signals in reservedRT to sigDfl
// or sigIgn, with a raw rt_sigaction: the syscall package has no sigaction,
// and os/signal refuses these signals.
func setReservedRT(disposition uintptr) error {
	// struct sigaction as the kernel reads it on amd64 and arm64: handler,
	// flags, restorer, mask. No flags: nothing to restore from.
	act := [4]uint64{uint64(disposition), 0, 0, 0}
	const sigsetSize = 8 // _NSIG/8, _NSIG being 64
	for _, s := range reservedRT {
		_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s), uintptr(unsafe.Pointer(&act)), 0, sigsetSize, 0, 0)
		if e != 0 {
			return fmt.Errorf("set the disposition of signal %d: %w", s, e)
		}
	}
	return nil
}
