package initproc

import (
	"fmt"
	"path"
	"strings"
)

// Volume is a host file or directory bound into the container.
type Volume struct {
	// Source is the host path. ccsuper makes a relative one absolute
	// before handing it to ccinit, which accepts only absolute ones.
	Source string
	// Target is the path inside the container, absolute and clean. It is
	// resolved within the rootfs, symlinks included.
	Target string
	// ReadOnly makes the bind read-only, submounts included.
	ReadOnly bool
}

// ParseVolume parses HOST:CONTAINER[:ro|rw], the form of ccsuper's -v. HOST
// may be relative; CONTAINER must be absolute, and may be neither / nor in
// /proc or /sys: a bind there would cover what the container's root is made
// of, or undo the masking of the host-wide parts of /proc and /sys. Neither
// path can hold a colon, which separates them.
func ParseVolume(spec string) (Volume, error) {
	parts := strings.Split(spec, ":")
	v := Volume{}
	switch {
	case len(parts) == 3 && (parts[2] == "ro" || parts[2] == "rw"):
		v.ReadOnly = parts[2] == "ro"
	case len(parts) != 2:
		return v, fmt.Errorf("volume %q: want HOST:CONTAINER[:ro|rw]", spec)
	}
	v.Source, v.Target = parts[0], parts[1]
	if v.Source == "" || strings.ContainsRune(spec, 0) {
		return v, fmt.Errorf("volume %q: want HOST:CONTAINER[:ro|rw]", spec)
	}
	if !path.IsAbs(v.Target) {
		return v, fmt.Errorf("volume %q: container path %q is not absolute", spec, v.Target)
	}
	v.Target = path.Clean(v.Target)
	if v.Target == "/" {
		return v, fmt.Errorf("volume %q: cannot bind over the container's /", spec)
	}
	for _, special := range []string{"/proc", "/sys"} {
		if v.Target == special || strings.HasPrefix(v.Target, special+"/") {
			return v, fmt.Errorf("volume %q: cannot bind in %s", spec, special)
		}
	}
	return v, nil
}

// String renders v as ParseVolume reads it back, the mode always given.
func (v Volume) String() string {
	mode := "rw"
	if v.ReadOnly {
		mode = "ro"
	}
	return v.Source + ":" + v.Target + ":" + mode
}

// depth is the number of names in v.Target: a volume is bound after those
// it lies in, so that -v a:/x/y -v b:/x still shows a inside b.
func (v Volume) depth() int { return strings.Count(v.Target, "/") }
