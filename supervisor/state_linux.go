package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// StateDir holds what must outlive one ccsuper: the address leases of each
// bridge and each container's generated /etc files. It is under /run, so a
// reboot clears it, and every entry names the supervisor that owns it, so
// that the next ccsuper (or `ccsuper cleanup`) can reclaim what a supervisor
// killed with SIGKILL left behind.
const StateDir = "/run/ccontainer"

// owner identifies a live process across PID reuse: its PID and its start
// time in clock ticks since boot (field 22 of /proc/PID/stat).
type owner struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

func self() (owner, error) {
	pid := os.Getpid()
	st, err := startTime(pid)
	if err != nil {
		return owner{}, fmt.Errorf("read own start time: %w", err)
	}
	return owner{pid, st}, nil
}

// alive reports whether the process o names still runs.
func (o owner) alive() bool {
	st, err := startTime(o.PID)
	return err == nil && st == o.Start
}

func startTime(pid int) (uint64, error) {
	f, err := initproc.StatFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f[initproc.StatStartTime], 10, 64)
}

// lease is one container's address on a bridge.
type lease struct {
	Owner owner  `json:"owner"`
	Addr  string `json:"addr"`
	Veth  string `json:"veth"`
	NAT   bool   `json:"nat"`
}

// bridgeState is the shared state of one bridge, kept in a file that is
// locked (flock) for as long as it is read and changed.
type bridgeState struct {
	Subnet string `json:"subnet"`
	// ForwardBefore is net.ipv4.ip_forward as it was before the first NAT
	// user turned it on, to be put back when the last one is gone. Empty
	// when NAT is off.
	ForwardBefore string  `json:"forward_before,omitempty"`
	Leases        []lease `json:"leases"`
}

func (s *bridgeState) natUsers() int {
	n := 0
	for _, l := range s.Leases {
		if l.NAT {
			n++
		}
	}
	return n
}

// lockedState is a bridge's state file, open and locked.
type lockedState struct{ f *os.File }

// lockBridgeState opens and locks the state of bridge, creating it empty.
// The lock is held until unlock.
func lockBridgeState(bridge string) (*lockedState, *bridgeState, error) {
	dir := filepath.Join(StateDir, "net")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("state directory: %w", err)
	}
	p := filepath.Join(dir, bridge+".json")
	for {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("open network state: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("lock %s: %w", p, err)
		}
		// The last user removes the file while holding the lock; if that
		// happened while we waited, we hold the lock of a file nobody else
		// will open again: start over with the one at p now.
		if !samePath(f, p) {
			f.Close()
			continue
		}
		var st bridgeState
		b, err := io.ReadAll(f)
		if err == nil && len(b) > 0 {
			err = json.Unmarshal(b, &st)
		}
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("read %s: %w", p, err)
		}
		return &lockedState{f}, &st, nil
	}
}

func samePath(f *os.File, p string) bool {
	var a, b unix.Stat_t
	return unix.Fstat(int(f.Fd()), &a) == nil && unix.Stat(p, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

func (l *lockedState) save(st *bridgeState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("write network state: %w", err)
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("write network state: %w", err)
	}
	return nil
}

// remove deletes the state file while still holding its lock; whoever waits
// for the lock next finds the file gone from the directory and starts anew.
func (l *lockedState) remove() error {
	err := os.Remove(l.f.Name())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (l *lockedState) unlock() { _ = l.f.Close() } // closing drops the flock

// filesDir is where a supervisor keeps the /etc files it binds into its
// container; its name carries the owner, so stale ones can be found.
func filesDir(o owner) string {
	return filepath.Join(StateDir, fmt.Sprintf("c%d-%d", o.PID, o.Start))
}

// staleFilesDirs returns the files directories whose owner is gone.
func staleFilesDirs() []string {
	ents, err := os.ReadDir(StateDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		var o owner
		if _, err := fmt.Sscanf(e.Name(), "c%d-%d", &o.PID, &o.Start); err != nil || filesDir(o) != filepath.Join(StateDir, e.Name()) {
			continue
		}
		if !o.alive() {
			out = append(out, filepath.Join(StateDir, e.Name()))
		}
	}
	return out
}
