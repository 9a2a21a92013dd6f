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

// MapWaitVar names the environment variable through which the supervisor
// asks ccinit's entry point (cmd/ccinit/mapwait_linux_amd64.s) to wait for
// the maps of its user namespace and exec ccinit again, before any Go
// runtime starts: set by MapWaitEnv, marked by the entry point, read by
// AwaitMapping.
const MapWaitVar = "CCMAPFD"

// MapWaitEnv is MapWaitVar's entry for the sync socket fd (below 128): the
// descriptor as one byte, then a slot for the parent-death signal, '@' (the
// entry point writes 0x40 plus the signal there).
func MapWaitEnv(fd int) string { return MapWaitVar + "=" + string(rune(fd)) + "@" }

// mapWaitMark reads and removes the mark ccinit's entry point left on
// MapWaitVar: mapped reports that it waited for the maps and exec'd ccinit
// again, sig the parent-death signal to arm again (0: none). Neither, and no
// error, when nothing was asked or no entry point ran (an arm64 ccinit, or
// one built without it: AwaitMapping then waits itself).
func mapWaitMark() (mapped bool, sig int, err error) {
	for _, kv := range os.Environ() {
		name, val, _ := strings.Cut(kv, "=")
		if len(name) != len(MapWaitVar) || name[1:] != MapWaitVar[1:] {
			continue // the entry point changes only the first byte
		}
		_ = os.Unsetenv(name) // ccinit's own: nothing else reads it
		if len(val) != 2 {
			return false, 0, fmt.Errorf("wait for the user namespace's maps: %s is malformed", MapWaitVar)
		}
		switch name[0] {
		case 'C':
			return false, 0, nil
		case 'c':
			return true, int(val[1]) - 0x40, nil
		case 'E':
			return false, 0, fmt.Errorf("wait for the user namespace's maps: %w", unix.Errno(val[0]))
		case 'G':
			return false, 0, ErrSupervisorGone
		case 'M':
			return false, 0, fmt.Errorf("sync channel: want %q, got another message", SyncMapped)
		}
		return false, 0, fmt.Errorf("wait for the user namespace's maps: %s is malformed", MapWaitVar)
	}
	return false, 0, nil
}
