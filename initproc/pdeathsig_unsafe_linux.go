package initproc

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// parentDeathSignal returns this process's parent-death signal, 0 for none.
func parentDeathSignal() (int, error) {
	var v int32
	// PR_GET_PDEATHSIG writes the signal to the int at arg2.
	if err := unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&v)), 0, 0, 0); err != nil {
		return 0, fmt.Errorf("parent-death signal: %w", err)
	}
	return int(v), nil
}
