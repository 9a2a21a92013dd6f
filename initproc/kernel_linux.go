package initproc

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// MinKernel is the oldest Linux with every system call ccsuper and ccinit
// make (the README's "Kernel" section lists them): mount_setattr, for
// read-only mounts, came last, in 5.12.
const MinKernel = "5.12"

// KernelTooOld adds to err, when a system call failed because the kernel
// does not have it (ENOSYS), which kernel ccontainer needs, so that the one
// line a user sees says what to do rather than "function not implemented".
// Any other error is returned as it is.
func KernelTooOld(err error) error {
	if !errors.Is(err, unix.ENOSYS) {
		return err
	}
	return fmt.Errorf("%w (this kernel lacks a system call ccontainer needs: Linux %s or later)", err, MinKernel)
}
