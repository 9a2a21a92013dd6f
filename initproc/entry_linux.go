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

// UserNSVar names the variable through which the supervisor asks the entry
// point to join a user namespace and make the container's new namespaces in
// it (cmd/ccinit/entry_userns_linux_amd64.s): "CCUSRNS=" and four bytes,
// the last a pipe on which the entry point says how it went (see
// EntryFailure). Marked 'c' as MountNSVar is once joined; a failure never
// reaches ccinit's Go code.
const UserNSVar = "CCUSRNS"

// userNSSteps names the steps of the user namespace's join, as the entry
// point reports a failure on its pipe; 'e' is ccinit's own, when no entry
// point ran (ReportNoEntry).
var userNSSteps = map[byte]string{
	'm': "join a mount namespace",
	'u': "join a user namespace",
	'g': "become gid 0 of the joined user namespace",
	'i': "become uid 0 of the joined user namespace",
	'n': "make the container's namespaces in the joined user namespace",
	'f': "fork PID 1 of the new PID namespace",
}

// noEntry is why ccinit refuses a variable no entry point marked.
const noEntry = "this ccinit was built without its entry point (go build -ldflags=-E=main.entry, as the Makefile does)"

// EntryFailure is the error of a failure the entry point, or
// ReportNoEntry, wrote on UserNSVar's pipe: the errno and the step.
func EntryFailure(errno, step byte) error {
	if step == 'e' {
		return errors.New("join a user namespace: " + noEntry)
	}
	what, ok := userNSSteps[step]
	if !ok {
		return fmt.Errorf("join a user namespace: unknown step %q failed: %w", step, unix.Errno(errno))
	}
	if (step == 'g' || step == 'i') && unix.Errno(errno) == unix.EINVAL {
		// setresuid and setresgid's EINVAL: the ID has no mapping.
		what += " (the joined user namespace does not map 0)"
	}
	return fmt.Errorf("%s: %w", what, unix.Errno(errno))
}

// ReportNoEntry reports whether the supervisor asked for a user namespace's
// join that no entry point made (UserNSVar unmarked: a ccinit built without
// it), and then says so on the variable's pipe, where the supervisor waits
// for the join, and closes it: ccinit is then to exit, and the supervisor
// says why.
func ReportNoEntry() bool {
	v, ok := os.LookupEnv(UserNSVar)
	if !ok || len(v) != 4 || v[3] == 0 {
		return false
	}
	fd := int(v[3])
	_, _ = unix.Write(fd, []byte{0, 'e', 0, 0x80}) // the supervisor reads EOF otherwise
	_ = unix.Close(fd)
	return true
}

// CheckEntry reports whether what the supervisor asked of the entry point
// (MountNSVar, UserNSVar) was done, and removes the variables from ccinit's
// environment. Nothing was asked: nil.
func CheckEntry() error {
	var errs []error
	for _, kv := range os.Environ() {
		name, val, _ := strings.Cut(kv, "=")
		var want, what string
		switch {
		case len(name) == len(MountNSVar) && name[1:] == MountNSVar[1:]:
			want, what = MountNSVar, "join a mount namespace"
		case len(name) == len(UserNSVar) && name[1:] == UserNSVar[1:]:
			want, what = UserNSVar, "join a user namespace"
		default:
			continue // the entry point changes only the first byte
		}
		_ = os.Unsetenv(name) // ccinit's own: nothing else reads it
		switch {
		case name == want:
			errs = append(errs, fmt.Errorf("%s: %s", what, noEntry))
		case name[0] == 'E' && want == MountNSVar && len(val) == 1:
			errs = append(errs, fmt.Errorf("%s: %w", what, unix.Errno(val[0])))
		case name[0] == 'c':
		default:
			errs = append(errs, fmt.Errorf("%s: %s is malformed", what, want))
		}
	}
	return errors.Join(errs...)
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
