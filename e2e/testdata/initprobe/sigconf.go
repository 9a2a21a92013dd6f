package main

import (
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Signals sigconf starts the init with, as a launcher that blocked and
// ignored some would (tini's own test does the same with TTOU, SEGV and INT
// ignored, TTIN, ILL and TERM blocked): ignored: INT QUIT USR1 SEGV PIPE
// TTOU; blocked: HUP ILL USR2 TERM ALRM TTIN WINCH.
var (
	sigconfIgnored = []syscall.Signal{2, 3, 10, 11, 13, 22}
	sigconfBlocked = []syscall.Signal{1, 4, 12, 14, 15, 21, 28}
)

// sigconf execs argv with sigconfIgnored at SIG_IGN and sigconfBlocked
// blocked. Both survive execve; the Go runtime's own handlers do not, and
// the mask is the execing thread's.
func sigconf(argv []string) {
	runtime.LockOSThread()
	// struct sigaction as the kernel reads it on amd64 and arm64:
	// handler, flags, restorer, mask.
	ign := [4]uint64{1} // SIG_IGN
	for _, s := range sigconfIgnored {
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s), uintptr(unsafe.Pointer(&ign)), 0, 8, 0, 0); e != 0 {
			fail("sigconf: ignore " + s.String() + ": " + e.Error())
		}
	}
	var set unix.Sigset_t
	for _, s := range sigconfBlocked {
		set.Val[(s-1)/64] |= 1 << ((s - 1) % 64)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
		fail("sigconf: block: " + err.Error())
	}
	err := unix.Exec(argv[0], argv, os.Environ())
	fail("exec " + argv[0] + ": " + err.Error())
}
