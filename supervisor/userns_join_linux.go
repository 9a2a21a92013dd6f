package supervisor

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// A user namespace joined by path (a config's {"type": "user", "path": P}):
// how podman shares one user namespace between the containers of a pod or
// with `--userns=container:X`. ccsuper's threads cannot enter it (setns into
// a user namespace needs a single-threaded process), so ccinit's entry point
// does, before the Go runtime starts (cmd/ccinit/entry_userns_linux_amd64.s):
//
//	ccsuper (forking thread)            ccinit's first process (A)
//	  enter the config's other
//	  namespaces by path (root may
//	  enter them whoever owns them)
//	  make the join's pipe
//	  clone+exec ccinit, no CLONE_NEW*
//	  flags, groups dropped  ──────────>  entry: [join the mount namespace]
//	                                        join the user namespace, become
//	                                        its uid and gid 0
//	                                        unshare the config's new
//	                                        namespaces: the joined one owns
//	                                        them
//	                                        new PID namespace: clone with
//	                                        CLONE_PARENT ──> B, PID 1 of it,
//	                                        ccsuper's child, runs ccinit
//	  read 4 bytes     <──── pipe ──────  B's PID; A exits 0
//	                                      or 0: no clone, A runs ccinit
//	                                      or errno, step, 0, 0x80 on a
//	                                      failure; A exits 125
//	  B's PID: reap A, pidfd_open(B), wait for B from now on
//	  0: read A's namespaces and maps, go on with A
//	  failure or EOF (A died): reap A; the create fails in one line,
//	  before any mount, hook or network touches the process
//
// The read is the synchronisation point: before it, A may still be in the
// host's user namespace. A ccinit built without the entry point writes a
// failure of step 'e' from its Go code (initproc.ReportNoEntry) and exits.

// openUserNS opens the user namespace to join at path, and checks that it is
// one, and not ccsuper's own (setns into one's own user namespace fails).
func openUserNS(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("user namespace %s: %w", path, initproc.WithoutPath(err))
	}
	if t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE); err != nil || t != unix.CLONE_NEWUSER {
		_ = f.Close()
		return nil, fmt.Errorf("linux.namespaces: %s is not a user namespace", path)
	}
	var got, own unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &got); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("user namespace %s: %w", path, err)
	}
	if err := unix.Stat("/proc/self/ns/user", &own); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("own user namespace: %w", err)
	}
	if got.Dev == own.Dev && got.Ino == own.Ino {
		_ = f.Close()
		return nil, fmt.Errorf("linux.namespaces: %s is ccsuper's own user namespace (leave the user namespace out of the config instead)", path)
	}
	return f, nil
}

// userNSVar is the environment variable that asks ccinit's entry point to
// join the user namespace at descriptor nsFD, make the namespaces of flags
// in it, and say how it went on descriptor pipeFD (see the diagram above).
// Descriptors are one byte each, and every byte is non-zero.
func userNSVar(nsFD int, flags uintptr, pipeFD int) string {
	b := []byte{byte(nsFD), 0x80 | byte(flags>>17)&0x7f, 0x80 | byte(flags>>24)&0x7f, byte(pipeFD)}
	return initproc.UserNSVar + "=" + string(b)
}

// userNSFlags are the namespaces ccinit's entry point can make in a joined
// user namespace: those userNSVar encodes.
const userNSFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET

// readClonePID reads what ccinit's first process writes on the pipe r once
// the entry point has joined the user namespace: the PID of the PID 1 it
// cloned, 0 when it did not clone and runs ccinit itself, or a failure.
func readClonePID(r *os.File) (int, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, errors.New("ccinit ended before it joined the user namespace")
		}
		return 0, fmt.Errorf("read how ccinit joined the user namespace: %w", err)
	}
	if v := int32(binary.LittleEndian.Uint32(b[:])); v >= 0 {
		return int(v), nil
	}
	return 0, initproc.EntryFailure(b[0], b[1])
}

// joinedRoot returns the host IDs of uid and gid 0 in the user namespace of
// pid, which it checks has the maps of want, if given (sorted alike: the
// kernel keeps a map's lines in the order written).
func joinedRoot(pid int, want *userNS) (uid, gid uint32, err error) {
	for _, m := range []struct {
		file string
		out  *uint32
		want []IDRange
	}{{"uid_map", &uid, nil}, {"gid_map", &gid, nil}} {
		if want != nil {
			m.want = want.uids
			if m.file == "gid_map" {
				m.want = want.gids
			}
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, m.file))
		if err != nil {
			return 0, 0, fmt.Errorf("read the joined user namespace's %s: %w", m.file, initproc.WithoutPath(err))
		}
		rs, err := parseIDMap(string(b))
		if err != nil {
			return 0, 0, fmt.Errorf("the joined user namespace's %s: %w", m.file, err)
		}
		if m.want != nil && !sameMap(rs, m.want) {
			return 0, 0, fmt.Errorf("linux.namespaces: the user namespace joined by path has the %s [%s], not the config's [%s]", m.file, mapLine(rs), mapLine(m.want))
		}
		id, ok := hostID(rs, 0)
		if !ok {
			return 0, 0, fmt.Errorf("the joined user namespace's %s does not map 0", m.file)
		}
		*m.out = id
	}
	return uid, gid, nil
}

// mapLine renders a map on one line.
func mapLine(rs []IDRange) string {
	lines := make([]string, len(rs))
	for i, r := range rs {
		lines[i] = r.String()
	}
	return strings.Join(lines, ", ")
}

// sameMap reports whether a and b hold the same lines, in any order.
func sameMap(a, b []IDRange) bool {
	by := func(x, y IDRange) int { return cmp.Compare(x.Inside, y.Inside) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, by)
	slices.SortFunc(b, by)
	return slices.Equal(a, b)
}

// parseIDMap reads the text of /proc/PID/uid_map or gid_map.
func parseIDMap(s string) ([]IDRange, error) {
	var rs []IDRange
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r IDRange
		if n, err := fmt.Sscan(line, &r.Inside, &r.Outside, &r.Count); n != 3 || err != nil {
			return nil, fmt.Errorf("line %q: want three numbers", line)
		}
		rs = append(rs, r)
	}
	return rs, nil
}
