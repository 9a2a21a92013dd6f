package initproc

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// MountNSVar names the environment variable through which the supervisor
// asks ccinit's entry point (cmd/ccinit/entry_linux_amd64.s) to join a mount
// namespace: "CCMNTNS=" and one byte, the descriptor's number. setns(2) into
// a mount namespace needs a single-threaded process, and a Go program is
// multithreaded from the runtime's start: the entry point, in assembly, runs
// before it. It leaves the variable marked: "cCMNTNS=" once joined,
// "ECMNTNS=" with the errno as the byte on failure.
const MountNSVar = "CCMNTNS"

// CheckEntry reports whether the mount namespace the supervisor asked for
// was joined, and removes the variable from ccinit's environment. Nothing
// was asked: nil.
func CheckEntry() error {
	for _, kv := range os.Environ() {
		name, val, _ := strings.Cut(kv, "=")
		if len(name) != len(MountNSVar) || name[1:] != MountNSVar[1:] {
			continue // the entry point changes only the first byte
		}
		_ = os.Unsetenv(name) // ccinit's own: nothing else reads it
		switch {
		case name == MountNSVar:
			return errors.New("join a mount namespace: this ccinit was built without its entry point (go build -ldflags=-E=main.entry, as the Makefile does)")
		case name[0] == 'E' && len(val) == 1:
			return fmt.Errorf("join a mount namespace: %w", unix.Errno(val[0]))
		case name[0] == 'c':
			return nil
		}
		return fmt.Errorf("join a mount namespace: %s is malformed", MountNSVar)
	}
	return nil
}
