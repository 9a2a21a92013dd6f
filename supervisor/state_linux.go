package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
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
//
// A rootless ccsuper keeps its state in a directory of the user's own
// instead (see stateRoot): nothing under /run is its to write.
const StateDir = "/run/ccontainer"

// stateRoot is StateDir for root; for an ordinary user it is
// $XDG_RUNTIME_DIR/ccontainer (the per-user tmpfs a login session gets,
// cleared at logout and reboot), or /tmp/ccontainer-UID when there is no
// runtime directory, as with su or setpriv. Either must be the user's own
// directory, not a symlink: another user could otherwise have laid it out
// for us.
func stateRoot() (string, error) {
	uid := os.Geteuid()
	if uid == 0 {
		return StateDir, nil
	}
	base, dir := os.Getenv("XDG_RUNTIME_DIR"), ""
	if filepath.IsAbs(base) && ownDir(base, uid) == nil {
		dir = filepath.Join(base, "ccontainer")
	} else {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("ccontainer-%d", uid))
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("state directory: %w", err)
	}
	if err := ownDir(dir, uid); err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	return dir, nil
}

// ownDir checks that path is a directory, not a symlink, owned by uid and
// closed to everyone else.
func ownDir(path string, uid int) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != uid || st.Mode&0o077 != 0 {
		return fmt.Errorf("%s is not a directory of uid %d's alone (mode %o, owner %d)", path, uid, st.Mode&0o7777, st.Uid)
	}
	return nil
}

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

// bridgeState is the shared state of one bridge. Every change is written
// down before it is made (the lease, NAT, that we own the bridge), so that
// whatever a supervisor killed half-way did can be found and undone.
type bridgeState struct {
	Subnet string `json:"subnet"`
	// Owned: ccontainer made the bridge (or adopted one of its own kind left
	// without a record). It stays after its last lease, until `ccsuper
	// cleanup` removes it.
	Owned bool `json:"owned"`
	// NAT: the bridge's nftables table may exist and the bridge counts as a
	// user of ip_forward (see forwardState).
	NAT    bool    `json:"nat"`
	Leases []lease `json:"leases"`
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

// lockedFile is a JSON state file under StateDir/net, held under an
// exclusive flock on a lock file beside it. The lock file is never removed,
// so every process locks the same inode; the state file is replaced whole
// (write, then rename), so a crash leaves the old or the new state, never
// half of one.
type lockedFile struct {
	lock *os.File
	path string
}

// lockState locks StateDir/net/NAME.lock and reads NAME.json into v, which
// stays as it is when there is no such file yet.
func lockState(name string, v any) (*lockedFile, error) {
	root, err := stateRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "net")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	lp := filepath.Join(dir, name+".lock")
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", lp, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lp, err)
	}
	l := &lockedFile{lock: f, path: filepath.Join(dir, name+".json")}
	b, err := os.ReadFile(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		l.unlock()
		return nil, fmt.Errorf("read %s: %w", l.path, err)
	}
	return l, nil
}

// stateFile is the path of the state file NAME that lockState reads, or
// "" when there is no state directory.
func stateFile(name string) string {
	root, err := stateRoot()
	if err != nil {
		return ""
	}
	return filepath.Join(root, "net", name+".json")
}

func (l *lockedFile) save(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.path + ".new"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return fmt.Errorf("replace %s: %w", l.path, err)
	}
	return nil
}

// remove deletes the state file; the lock file stays for the next user.
func (l *lockedFile) remove() error {
	if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (l *lockedFile) unlock() { _ = l.lock.Close() } // closing drops the flock

// lockBridgeState locks the state of bridge and reads it.
func lockBridgeState(bridge string) (*lockedFile, *bridgeState, error) {
	var st bridgeState
	l, err := lockState(bridge, &st)
	return l, &st, err
}

// ownerDir is the directory in base that belongs to the supervisor o.
func ownerDir(base string, o owner) string {
	return filepath.Join(base, fmt.Sprintf("c%d-%d", o.PID, o.Start))
}

// staleDirs returns the directories in base named by ownerDir whose owner is
// gone.
func staleDirs(base string) []string {
	ents, err := os.ReadDir(base)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		var o owner
		if _, err := fmt.Sscanf(e.Name(), "c%d-%d", &o.PID, &o.Start); err != nil || ownerDir(base, o) != filepath.Join(base, e.Name()) {
			continue
		}
		if !o.alive() {
			out = append(out, filepath.Join(base, e.Name()))
		}
	}
	return out
}
