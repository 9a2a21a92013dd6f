package initproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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

// CheckUser checks the form of a --user value, USER[:GROUP], where each is
// a name or a number, without looking anything up: names are looked up
// inside the container, in its own /etc/passwd and /etc/group.
func CheckUser(spec string) error {
	u, g, hasGroup := strings.Cut(spec, ":")
	if u == "" || hasGroup && (g == "" || strings.Contains(g, ":")) || strings.ContainsAny(spec, "\x00\n") {
		return fmt.Errorf("--user %q: want USER[:GROUP], names or numbers", spec)
	}
	for _, part := range []string{u, g} {
		if isNumber(part) {
			if _, err := strconv.ParseUint(part, 10, 32); err != nil {
				return fmt.Errorf("--user %q: %s is out of range", spec, part)
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
		return nil, fmt.Errorf("read %s: %w", path, unwrapPath(err))
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
		if f[0] == userPart || isNumber(userPart) && f[2] == userPart {
			uid, err1 := strconv.ParseUint(f[2], 10, 32)
			gid, err2 := strconv.ParseUint(f[3], 10, 32)
			if err1 != nil || err2 != nil {
				continue // a broken line cannot be this user
			}
			c.UID, c.GID, c.Home, name, found = uint32(uid), uint32(gid), f[5], f[0], true
			break
		}
	}
	if !found {
		if !isNumber(userPart) {
			return c, fmt.Errorf("--user %q: no user %q in the container's /etc/passwd", spec, userPart)
		}
		n, _ := strconv.ParseUint(userPart, 10, 32) // checked by CheckUser
		c.UID = uint32(n)
	}
	if c.Home == "" {
		c.Home = "/"
	}
	groups, err := entries(group, 4)
	if err != nil {
		return c, fmt.Errorf("read /etc/group: %w", err)
	}
	if hasGroup {
		gid, ok := groupID(groupPart, groups)
		if !ok {
			return c, fmt.Errorf("--user %q: no group %q in the container's /etc/group", spec, groupPart)
		}
		c.GID = gid
	}
	if name == "" {
		return c, nil
	}
	for _, f := range groups {
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		for _, member := range strings.Split(f[3], ",") {
			if member == name {
				c.Groups = append(c.Groups, uint32(gid))
			}
		}
	}
	return c, nil
}

// groupID resolves a group name or number.
func groupID(g string, groups [][]string) (uint32, bool) {
	if isNumber(g) {
		n, _ := strconv.ParseUint(g, 10, 32) // checked by CheckUser
		return uint32(n), true
	}
	for _, f := range groups {
		if f[0] == g {
			n, err := strconv.ParseUint(f[2], 10, 32)
			return uint32(n), err == nil
		}
	}
	return 0, false
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
