package supervisor

import (
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// getcpu returns the CPU the calling thread is running on. x/sys/unix has no
// wrapper for getcpu(2): a raw system call, as rt_sigaction in dieOf.
func getcpu() (int, error) {
	var cpu uint32
	if _, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); errno != 0 {
		return 0, errno
	}
	return int(cpu), nil
}

// dieOf ends this process by sig at the signal's default action, as the
// process the detached proxy stood for died of it. Not through os/signal:
// the Go runtime's handler, which signal.Reset puts back, takes a SIGQUIT,
// SIGABRT or SIGSEGV sent to the program for a crash and exits with status
// 2 instead. So the handler is replaced raw by SIG_DFL, the signal unblocked
// on this thread and sent to it. RLIMIT_CORE 0 first: the proxy's memory is
// no core file anyone wants. It returns only when sig does not end a
// process at its default (SIGKILL's action cannot be changed, but SIGKILL
// ends it anyway).
func dieOf(sig unix.Signal) {
	runtime.LockOSThread()
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	var dfl [4]uint64 // struct sigaction on amd64 and arm64: SIG_DFL, no flags
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	var set unix.Sigset_t
	n := uint(sig) - 1
	set.Val[n/64] |= 1 << (n % 64)
	_ = unix.PthreadSigmask(unix.SIG_UNBLOCK, &set, nil)
	_ = unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
}
