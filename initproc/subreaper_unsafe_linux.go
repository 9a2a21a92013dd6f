package initproc

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// isSubreaper reports whether this process is a child subreaper, set by
// itself or by whoever exec'd it (the attribute survives execve). An error
// reads as "no": the caller only warns on it.
func isSubreaper() bool {
	var v int32
	// PR_GET_CHILD_SUBREAPER writes the attribute to the int at arg2.
	if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0); err != nil {
		return false
	}
	return v != 0
}
