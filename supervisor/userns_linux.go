package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Rootless reports whether ccsuper runs as an ordinary user: the container
// then gets a user namespace whose root is that user.
func Rootless() bool { return os.Geteuid() != 0 }

// The helpers of Debian's uidmap package. They are set-user-ID root (or
// hold CAP_SETUID as a file capability) and write a child's uid_map or
// gid_map with the ranges /etc/subuid and /etc/subgid give the caller, which
// the kernel lets no unprivileged process write itself beyond its own ID.
var (
	newuidmap = "/usr/bin/newuidmap"
	newgidmap = "/usr/bin/newgidmap"
)

// Where the subordinate ranges are listed (shadow-utils' files).
const (
	subuidFile = "/etc/subuid"
	subgidFile = "/etc/subgid"
)

// userNS is the user namespace of one container: its maps and how they are
// written.
type userNS struct {
	uids, gids []IDRange
	// helper: the maps go through newuidmap and newgidmap, after ccinit
	// has started (see writeMaps); otherwise ccsuper writes them itself
	// between clone and exec (syscall.SysProcAttr's UidMappings).
	helper bool
	// setgroups: the container may call setgroups(2). The kernel refuses
	// a map written by an unprivileged process unless setgroups is denied
	// first, so without a helper a rootless container has one group.
	setgroups bool
	// auto is the range --userns=auto allocated (nil otherwise).
	auto *autoRange
	// groups are the rootless user's supplementary groups that the gid
	// map maps, as IDs inside: the container's processes keep them
	// (initproc.Options.AddGroups). Only with setgroups: without, the
	// kernel keeps every group the user has, mapped or not.
	groups []uint32
}

// planUserNS returns the user namespace of the container c: a rootless
// one, a range of --userns=auto's for the supervisor me, or none (nil).
func planUserNS(c Config, me owner) (*userNS, error) {
	switch {
	case Rootless():
		return planRootless()
	case c.UserNS == UserNSAuto:
		return allocAuto(me)
	}
	return nil, nil
}

// planRootless makes the maps of a container run by the calling, unprivileged
// user: the user is 0 inside, the user's ranges in /etc/subuid and
// /etc/subgid the rest, through newuidmap and newgidmap; with no range for
// either, or no helper installed, the single mapping of the user to 0.
func planRootless() (*userNS, error) {
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	name := ""
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		name = u.Username
	}
	subu, err := readSubIDs(subuidFile, name, uid)
	if err != nil {
		return nil, err
	}
	subg, err := readSubIDs(subgidFile, name, uid)
	if err != nil {
		return nil, err
	}
	ns := &userNS{uids: rootlessMap(uid, nil), gids: rootlessMap(gid, nil)}
	if len(subu) == 0 || len(subg) == 0 || unix.Access(newuidmap, unix.X_OK) != nil || unix.Access(newgidmap, unix.X_OK) != nil {
		return ns, nil
	}
	ns.uids, ns.gids = rootlessMap(uid, subu), rootlessMap(gid, subg)
	ns.helper, ns.setgroups = true, true
	groups, err := unix.Getgroups()
	if err != nil {
		return nil, fmt.Errorf("read supplementary groups: %w", err)
	}
	ids := make([]uint32, len(groups))
	for i, g := range groups {
		ids[i] = uint32(g)
	}
	ns.groups = insideIDs(ids, ns.gids)
	return ns, nil
}

// readSubIDs reads the ranges of one user in /etc/subuid or /etc/subgid; a
// missing file gives none.
func readSubIDs(path, name string, id uint32) ([]subRange, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	rs, err := parseSubIDs(f, name, id)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rs, nil
}

// sysMaps returns the maps in syscall's form, for ccsuper to write between
// clone and exec; nil when a helper writes them later.
func (u *userNS) sysMaps() (uids, gids []syscall.SysProcIDMap) {
	if u.helper {
		return nil, nil
	}
	conv := func(rs []IDRange) []syscall.SysProcIDMap {
		out := make([]syscall.SysProcIDMap, len(rs))
		for i, r := range rs {
			out[i] = syscall.SysProcIDMap{ContainerID: int(r.Inside), HostID: int(r.Outside), Size: int(r.Count)}
		}
		return out
	}
	return conv(u.uids), conv(u.gids)
}

// cloneAttrs puts the maps into the attributes of ccinit's clone, and with
// becomeRoot makes the child the namespace's root once they are written and
// before its exec, which then grants it every capability in the namespace:
// the caller's own IDs may not be in the maps (root's, with --userns=auto or
// an OCI config's maps), and a process exec'd as an unmapped ID has none.
func (u *userNS) cloneAttrs(sys *syscall.SysProcAttr, becomeRoot bool) {
	sys.UidMappings, sys.GidMappings = u.sysMaps()
	sys.GidMappingsEnableSetgroups = u.setgroups
	if becomeRoot {
		// With setgroups denied (an ordinary user's single mapping) the
		// kernel refuses setgroups(2): the groups stay as they are.
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: !u.setgroups}
	}
}

// writeMaps writes the maps of the user namespace of pid through newuidmap
// and newgidmap, both at once (each is a set-user-ID program's start, a
// good part of a rootless start). They check the ranges against /etc/subuid
// and /etc/subgid themselves: a map this user may not have is refused
// there, with the helper's own words. uidMapped runs as soon as newuidmap
// has succeeded, while newgidmap may still run: the uid map alone makes
// an exec the namespace's root, with every capability, so ccinit's second
// exec need not wait for the gid map (nothing it does before its
// configuration, sent after both, depends on its gid). newgidmap still
// finds ccinit's gid_map the user's to write after that exec, which makes
// ccinit non-dumpable: the kernel then gives its /proc files to the root of
// its namespace, the user once the uid map is written.
func (u *userNS) writeMaps(pid int, uidMapped func() error) error {
	uids, err := startMapHelper(newuidmap, pid, u.uids)
	if err != nil {
		return err
	}
	gids, gerr := startMapHelper(newgidmap, pid, u.gids)
	err = uids.wait()
	if err == nil && gerr == nil {
		err = uidMapped()
	}
	if gerr != nil {
		return errors.Join(err, gerr)
	}
	return errors.Join(err, gids.wait())
}

// startMapHelper starts newuidmap or newgidmap (path) for pid with the
// ranges m.
func startMapHelper(path string, pid int, m []IDRange) (*helper, error) {
	args := []string{path, strconv.Itoa(pid)}
	for _, r := range m {
		args = append(args, strconv.FormatUint(uint64(r.Inside), 10),
			strconv.FormatUint(uint64(r.Outside), 10), strconv.FormatUint(uint64(r.Count), 10))
	}
	return startHelper(args)
}

// helper is a host program ccsuper runs to its end (newuidmap, newgidmap).
type helper struct {
	name string
	pid  int
	out  *os.File // the read end of its stderr
}

// startHelper starts a host program with nothing of ccsuper's environment
// but PATH, its stderr kept for wait to quote. syscall.ForkExec rather than
// os/exec: see Run.
func startHelper(args []string) (*helper, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", args[0], err)
	}
	defer w.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("%s: %w", args[0], err)
	}
	defer null.Close()
	pid, err := syscall.ForkExec(args[0], args, &syscall.ProcAttr{
		Env:   []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		Files: []uintptr{null.Fd(), null.Fd(), w.Fd()},
	})
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	return &helper{name: args[0], pid: pid, out: r}, nil
}

// wait waits for the helper to end and returns its failure with the last
// line it wrote on stderr.
func (h *helper) wait() error {
	defer h.out.Close()
	out, _ := io.ReadAll(io.LimitReader(h.out, 64<<10)) // what it said, if anything
	var ws unix.WaitStatus
	var err error
	for {
		_, err = unix.Wait4(h.pid, &ws, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("wait for %s: %w", h.name, err)
	}
	if ws.Exited() && ws.ExitStatus() == 0 {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return fmt.Errorf("%s failed (%s): %s", h.name, describeStatus(ws), lines[len(lines)-1])
}

// describeStatus says how a process ended, in a few words.
func describeStatus(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return "status " + strconv.Itoa(ws.ExitStatus())
}
