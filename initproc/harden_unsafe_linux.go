package initproc

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setCred switches this thread, and this thread only, to c: the raw
// syscalls, because the Go and x/sys wrappers change every thread of the
// process, and ccinit itself stays root.
func setCred(c Cred) error {
	groups := make([]uint32, len(c.Groups))
	copy(groups, c.Groups)
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	// In a user namespace whose gid map an ordinary user wrote, the
	// kernel denies setgroups for good (/proc/self/setgroups is "deny"):
	// the groups the user had stay, unmapped, and none can be dropped or
	// added (docs/rootless.md). Wanting none is then not an error.
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0); e != 0 && !(e == unix.EPERM && len(groups) == 0) {
		return fmt.Errorf("setgroups %v: %w", groups, e)
	}
	runtime.KeepAlive(groups)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(c.GID), uintptr(c.GID), uintptr(c.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", c.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(c.UID), uintptr(c.UID), uintptr(c.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", c.UID, e)
	}
	return nil
}

// nameSelf sets the command name of ccinit's main thread, which ps shows
// for the process: with PR_SET_NAME from the main thread, which needs no
// /proc file; /proc/self/comm from another. Cosmetic: a failure changes
// nothing else.
func nameSelf(name string) {
	if unix.Gettid() != unix.Getpid() {
		_ = os.WriteFile("/proc/self/comm", []byte(name), 0) // cosmetic
		return
	}
	b := append([]byte(name), 0)
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0) // cosmetic
}
