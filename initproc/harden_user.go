package initproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Cred is who the command runs as.
type Cred struct {
	UID, GID uint32
	// Groups are the supplementary groups: those /etc/group lists the user
	// in, when the user has a name.
	Groups []uint32
	// Home is the user's home from /etc/passwd, or / when it has none.
	Home string
}

// MaxID is the largest user or group ID a command may run as. IDs are 32-bit
// and 4294967295, (uid_t)-1, is not one: setresuid and setresgid read it as
// "leave this ID as it is", so a command asked to run as it would keep
// ccinit's root. Everywhere else too the kernel keeps it as the invalid ID:
// no user namespace can map it.
const MaxID = 1<<32 - 2

// parseID reads a user or group ID in 0..MaxID.
func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > MaxID {
		return 0, fmt.Errorf("%s is out of range 0 to %d", s, MaxID)
	}
	return uint32(n), nil
}

// CheckUser checks the form of a --user value, USER[:GROUP], where each is
// a name or a number, without looking anything up: names are looked up
// inside the container, in its own /etc/passwd and /etc/group. Numbers must
// be IDs (parseID); a negative one, -1 above all, is refused rather than
// taken for a name.
func CheckUser(spec string) error {
	u, g, hasGroup := strings.Cut(spec, ":")
	if u == "" || hasGroup && (g == "" || strings.Contains(g, ":")) || strings.ContainsAny(spec, "\x00\n") {
		return fmt.Errorf("--user %q: want USER[:GROUP], names or numbers", spec)
	}
	for _, part := range []string{u, g} {
		if isNumber(strings.TrimPrefix(part, "-")) {
			if _, err := parseID(part); err != nil {
				return fmt.Errorf("--user %q: %w", spec, err)
			}
		}
	}
	return nil
}

// LookupUser resolves spec against the container's /etc/passwd and
// /etc/group, as Docker does: a number needs no entry (its group is then 0
// unless given), a name must have one; the user's group comes from passwd
// unless GROUP is given, and the supplementary groups from group.
//
// Preconditions: after pivot_root, so the files are the container's.
func LookupUser(spec string) (Cred, error) {
	passwd, err := openOptional("/etc/passwd")
	if err != nil {
		return Cred{}, err
	}
	defer passwd.Close()
	group, err := openOptional("/etc/group")
	if err != nil {
		return Cred{}, err
	}
	defer group.Close()
	return lookupUser(spec, passwd, group)
}

// openOptional opens path; a missing file reads as empty.
func openOptional(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, WithoutPath(err))
	}
	return f, nil
}

func lookupUser(spec string, passwd, group io.Reader) (Cred, error) {
	if err := CheckUser(spec); err != nil {
		return Cred{}, err
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	c := Cred{Home: "/"}
	name := ""
	users, err := entries(passwd, 7)
	if err != nil {
		return c, fmt.Errorf("read /etc/passwd: %w", err)
	}
	found := false
	for _, f := range users {
		if f[0] != userPart && !(isNumber(userPart) && f[2] == userPart) {
			continue
		}
		// An entry's IDs are the rootfs author's word: one out of range
		// would leave the command root (MaxID), so it is an error, not a
		// line to skip.
		uid, err := parseID(f[2])
		if err != nil {
			return c, fmt.Errorf("--user %q: user %q in the container's /etc/passwd: uid %w", spec, f[0], err)
		}
		gid, err := parseID(f[3])
		if err != nil {
			return c, fmt.Errorf("--user %q: user %q in the container's /etc/passwd: gid %w", spec, f[0], err)
		}
		c.UID, c.GID, c.Home, name, found = uid, gid, f[5], f[0], true
		break
	}
	if !found {
		if !isNumber(userPart) {
			return c, fmt.Errorf("--user %q: no user %q in the container's /etc/passwd", spec, userPart)
		}
		c.UID, _ = parseID(userPart) // checked by CheckUser
	}
	if c.Home == "" {
		c.Home = "/"
	}
	groups, err := entries(group, 4)
	if err != nil {
		return c, fmt.Errorf("read /etc/group: %w", err)
	}
	if hasGroup {
		gid, err := groupID(groupPart, groups)
		if err != nil {
			return c, fmt.Errorf("--user %q: %w", spec, err)
		}
		c.GID = gid
	}
	if name == "" {
		return c, nil
	}
	for _, f := range groups {
		if !slices.Contains(strings.Split(f[3], ","), name) {
			continue
		}
		gid, err := parseID(f[2])
		if err != nil {
			return c, fmt.Errorf("--user %q: group %q in the container's /etc/group: gid %w", spec, f[0], err)
		}
		c.Groups = append(c.Groups, gid)
	}
	return c, nil
}

// groupID resolves a group name or number.
func groupID(g string, groups [][]string) (uint32, error) {
	if isNumber(g) {
		return parseID(g) // checked by CheckUser
	}
	for _, f := range groups {
		if f[0] == g {
			gid, err := parseID(f[2])
			if err != nil {
				return 0, fmt.Errorf("group %q in the container's /etc/group: gid %w", g, err)
			}
			return gid, nil
		}
	}
	return 0, fmt.Errorf("no group %q in the container's /etc/group", g)
}

// entries reads colon-separated lines of at least n fields, skipping
// comments, blank and short lines.
func entries(r io.Reader, n int) ([][]string, error) {
	var out [][]string
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := s.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if f := strings.Split(line, ":"); len(f) >= n {
			out = append(out, f)
		}
	}
	return out, s.Err()
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
