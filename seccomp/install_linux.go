package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install loads prog as a seccomp filter on the calling thread only: without
// SECCOMP_FILTER_FLAG_TSYNC the process's other threads keep running
// unfiltered. Children forked from this thread inherit it.
//
// Preconditions: the calling goroutine is locked to its thread and never
// unlocks it (the thread must not run other goroutines afterwards); the
// thread has no_new_privs set or CAP_SYS_ADMIN in its effective set.
func Install(prog []unix.SockFilter) error {
	if len(prog) == 0 {
		return fmt.Errorf("install seccomp filter: empty program")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return fmt.Errorf("install seccomp filter: %w", errno)
	}
	return nil
}
