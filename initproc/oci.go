package initproc

import (
	"encoding/hex"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// The parts of Options only an OCI bundle asks for (ccsuper create/run).
// ccsuper translates a config.json into these; ccinit applies them after
// pivot_root, in the order the OCI runtime spec gives.

// Mount is one entry of an OCI config's mounts, as ccinit makes it inside the
// new root. A bind mount's source is a host path, held before pivot_root.
type Mount struct {
	Type, Source, Target string
	// Flags are mount(2)'s MS_* flags; MS_BIND (with MS_REC for rbind)
	// marks a bind mount.
	Flags uintptr
	// Propagation, when not 0, is MS_SHARED, MS_SLAVE, MS_PRIVATE or
	// MS_UNBINDABLE (with MS_REC), applied once mounted.
	Propagation uintptr
	// Data is the file system's own options ("mode=755,size=65536k").
	Data string
}

// sep separates the fields of a Mount on ccinit's command line: no path or
// option of a config holds it (ccsuper refuses those that do).
const sep = "\x1f"

// String renders m for --mount; ParseMount reads it back.
func (m Mount) String() string {
	return strings.Join([]string{m.Type, m.Source, m.Target, strconv.FormatUint(uint64(m.Flags), 16),
		strconv.FormatUint(uint64(m.Propagation), 16), m.Data}, sep)
}

// ParseMount reads a Mount written by String.
func ParseMount(s string) (Mount, error) {
	f := strings.Split(s, sep)
	if len(f) != 6 || !strings.HasPrefix(f[2], "/") {
		return Mount{}, fmt.Errorf("--mount %q: malformed", s)
	}
	flags, err1 := strconv.ParseUint(f[3], 16, 64)
	prop, err2 := strconv.ParseUint(f[4], 16, 64)
	if err1 != nil || err2 != nil {
		return Mount{}, fmt.Errorf("--mount %q: malformed flags", s)
	}
	return Mount{Type: f[0], Source: f[1], Target: f[2], Flags: uintptr(flags), Propagation: uintptr(prop), Data: f[5]}, nil
}

// Rlimit is one resource limit of the command (setrlimit(2)).
type Rlimit struct {
	Resource   int
	Soft, Hard uint64
}

func (r Rlimit) String() string { return fmt.Sprintf("%d=%d:%d", r.Resource, r.Soft, r.Hard) }

// ParseRlimit reads an Rlimit written by String.
func ParseRlimit(s string) (Rlimit, error) {
	var r Rlimit
	res, lim, ok1 := strings.Cut(s, "=")
	soft, hard, ok2 := strings.Cut(lim, ":")
	var err1, err2, err3 error
	r.Resource, err1 = strconv.Atoi(res)
	r.Soft, err2 = strconv.ParseUint(soft, 10, 64)
	r.Hard, err3 = strconv.ParseUint(hard, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil || r.Soft > r.Hard {
		return r, fmt.Errorf("--rlimit %q: want RESOURCE=SOFT:HARD, SOFT not above HARD", s)
	}
	return r, nil
}

// numbers parses each of fs as a base-10 integer into the matching pointer
// of out (*int64, *uint32 or *uint16). Not fmt.Sscanf: its scanner would add
// tens of KB to ccinit.
func numbers(fs []string, out ...any) error {
	for i, f := range fs {
		switch p := out[i].(type) {
		case *int64:
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return err
			}
			*p = n
		case *uint32:
			n, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return err
			}
			*p = uint32(n)
		case *uint16:
			n, err := strconv.ParseUint(f, 10, 16)
			if err != nil {
				return err
			}
			*p = uint16(n)
		}
	}
	return nil
}

// Device is a node the config asks for in the container's /dev.
type Device struct {
	Path         string
	Mode         uint32 // S_IFCHR, S_IFBLK or S_IFIFO with the permission bits
	Major, Minor int64
	UID, GID     uint32
}

func (d Device) String() string {
	return fmt.Sprintf("%o:%d:%d:%d:%d:%s", d.Mode, d.Major, d.Minor, d.UID, d.GID, d.Path)
}

// ParseDevice reads a Device written by String.
func ParseDevice(s string) (Device, error) {
	var d Device
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || !strings.HasPrefix(f[5], "/dev/") {
		return d, fmt.Errorf("--device %q: malformed", s)
	}
	mode, err := strconv.ParseUint(f[0], 8, 32)
	if err != nil {
		return d, fmt.Errorf("--device %q: malformed mode", s)
	}
	d.Mode, d.Path = uint32(mode), f[5]
	if err := numbers(f[1:5], &d.Major, &d.Minor, &d.UID, &d.GID); err != nil {
		return d, fmt.Errorf("--device %q: malformed numbers", s)
	}
	return d, nil
}

// OCI is the part of ccinit's configuration that only a bundle's config.json
// gives. Its zero value changes nothing.
type OCI struct {
	// Mounts, when Enabled, replace ccinit's own set (proc, sys, /dev and
	// its submounts): the config lists every mount the container has.
	Enabled bool
	Mounts  []Mount
	Devices []Device
	// NoDev mounts the rootfs and every bind whose source is not itself a
	// device node nodev: a rootless container has no device rules, and a
	// node its rootfs or a bound directory holds would open as the host's
	// device (see supervisor.rootlessDevices). The nodes ccinit binds into
	// /dev are mounts of their own and keep working.
	NoDev bool
	// RootPropagation is applied to / after pivot_root (rootfsPropagation).
	RootPropagation uintptr
	Sysctl          []string // KEY=VALUE, KEY dotted
	MaskedPaths     []string
	ReadonlyPaths   []string
	Rlimits         []Rlimit
	// Groups are the command's supplementary groups, exactly (the user is
	// then numeric, as the config's uid and gid are).
	Groups []uint32
	// Umask, when set, is the command's umask, in octal.
	Umask string
	// Bounding is the command's bounding set as a hex mask (Caps is its
	// effective and permitted set), Inheritable and Ambient its other two.
	Bounding, Inheritable, Ambient string
	// Seccomp is a compiled filter, hex of its struct sock_filter array.
	Seccomp string
	// ConsoleRows and ConsoleCols size the pty (consoleSize).
	ConsoleRows, ConsoleCols uint16
	// ExecFIFO, when above 0, is an O_PATH descriptor of the FIFO `ccsuper
	// start` opens: once ready, ccinit blocks opening it for writing, and
	// starts the command only when start has opened it (see oci_linux.go).
	ExecFIFO int
	// ReadyFD, when above 0, is where ccinit says it is ready: everything
	// but the command's start is done.
	ReadyFD int
	// ExecSock, when above 0, is a listening socket on which ccinit takes
	// exec requests once the command runs (see exec_linux.go).
	ExecSock int
	// Hooks are the config's createContainer and startContainer hooks,
	// which run in the container (see hooks_linux.go); HookState is the
	// container's state as JSON ("created"), without its pid, which
	// ccinit adds.
	Hooks     []Hook
	HookState string
}

// Hook is one createContainer (Start false) or startContainer hook.
type Hook struct {
	Start   bool
	Timeout int // seconds; 0 for none
	Path    string
	Args    []string
	Env     []string
}

// String renders h for --hook; ParseHook reads it back. The fields are
// joined by sep (ccsuper refuses a hook whose strings hold it).
func (h Hook) String() string {
	kind := "create"
	if h.Start {
		kind = "start"
	}
	f := []string{kind, strconv.Itoa(h.Timeout), h.Path, strconv.Itoa(len(h.Args))}
	f = append(f, h.Args...)
	return strings.Join(append(f, h.Env...), sep)
}

// ParseHook reads a Hook written by String.
func ParseHook(s string) (Hook, error) {
	var h Hook
	f := strings.Split(s, sep)
	if len(f) < 4 || (f[0] != "create" && f[0] != "start") || !strings.HasPrefix(f[2], "/") {
		return h, fmt.Errorf("--hook %q: malformed", s)
	}
	t, err1 := strconv.Atoi(f[1])
	n, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || t < 0 || n < 0 || 4+n > len(f) {
		return h, fmt.Errorf("--hook %q: malformed numbers", s)
	}
	h.Start, h.Timeout, h.Path = f[0] == "start", t, f[2]
	h.Args, h.Env = f[4:4+n], f[4+n:]
	return h, nil
}

// ociFlags binds o's fields to ccinit's flag set.
func ociFlags(fs *flag.FlagSet, o *OCI) {
	fs.BoolVar(&o.Enabled, "oci", false, "make the mounts of --mount only (an OCI bundle's), not ccinit's own set")
	fs.Var(listFlag[Mount]{&o.Mounts, ParseMount, Mount.String}, "mount", "make this OCI mount after pivot_root (repeatable)")
	fs.Var(listFlag[Device]{&o.Devices, ParseDevice, Device.String}, "device", "make this device node in /dev (repeatable)")
	fs.BoolVar(&o.NoDev, "nodev", false, "mount the rootfs, and binds of anything but a device node, nodev")
	fs.Var(fieldFlag{
		set: func(v string) error {
			n, err := strconv.ParseUint(v, 16, 64)
			o.RootPropagation = uintptr(n)
			return err
		},
		get: func() string {
			if o.RootPropagation == 0 {
				return ""
			}
			return strconv.FormatUint(uint64(o.RootPropagation), 16)
		},
	}, "root-propagation", "propagation flags (hex) of / after pivot_root")
	fs.Var(listFlag[string]{&o.Sysctl, func(v string) (string, error) {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return "", fmt.Errorf("--sysctl %q: want KEY=VALUE", v)
		}
		return v, nil
	}, plain}, "sysctl", "write KEY=VALUE under /proc/sys (repeatable)")
	fs.Var(listFlag[string]{&o.MaskedPaths, anyString, plain}, "mask", "hide this path (repeatable)")
	fs.Var(listFlag[string]{&o.ReadonlyPaths, anyString, plain}, "ro-path", "make this path read-only (repeatable)")
	fs.Var(listFlag[Rlimit]{&o.Rlimits, ParseRlimit, Rlimit.String}, "rlimit", "set RESOURCE=SOFT:HARD for the command (repeatable)")
	fs.Var(fieldFlag{
		set: func(v string) error {
			for _, g := range strings.Split(v, ",") {
				n, err := strconv.ParseUint(g, 10, 32)
				if err != nil {
					return fmt.Errorf("--groups %q: %w", v, err)
				}
				o.Groups = append(o.Groups, uint32(n))
			}
			return nil
		},
		get: func() string {
			g := make([]string, len(o.Groups))
			for i, n := range o.Groups {
				g[i] = strconv.FormatUint(uint64(n), 10)
			}
			return strings.Join(g, ",")
		},
	}, "groups", "the command's supplementary groups, comma-separated numbers")
	fs.Var(fieldFlag{
		set: func(v string) error {
			if n, err := strconv.ParseUint(v, 8, 32); err != nil || n > 0o777 {
				return fmt.Errorf("--umask %q: want an octal mask", v)
			}
			o.Umask = v
			return nil
		},
		get: func() string { return o.Umask },
	}, "umask", "the command's umask (octal)")
	fs.StringVar(&o.Bounding, "bounding", "", "the command's bounding set, a hex mask")
	fs.StringVar(&o.Inheritable, "inheritable", "", "the command's inheritable set, a hex mask (with --bounding)")
	fs.StringVar(&o.Ambient, "ambient", "", "the command's ambient set, a hex mask (with --bounding)")
	fs.Var(fieldFlag{
		set: func(v string) error {
			if _, err := hex.DecodeString(v); err != nil || len(v)%16 != 0 {
				return fmt.Errorf("--seccomp-bpf: not a hex filter")
			}
			o.Seccomp = v
			return nil
		},
		get: func() string { return o.Seccomp },
	}, "seccomp-bpf", "install this compiled filter (hex) for the command")
	fs.Var(fieldFlag{
		set: func(v string) error {
			rows, cols, ok := strings.Cut(v, "x")
			if !ok {
				return fmt.Errorf("--console-size %q: want ROWSxCOLS", v)
			}
			return numbers([]string{rows, cols}, &o.ConsoleRows, &o.ConsoleCols)
		},
		get: func() string {
			if o.ConsoleRows == 0 && o.ConsoleCols == 0 {
				return ""
			}
			return fmt.Sprintf("%dx%d", o.ConsoleRows, o.ConsoleCols)
		},
	}, "console-size", "ROWSxCOLS of the pty")
	fs.IntVar(&o.ExecFIFO, "exec-fifo", 0, "once ready, wait for the start FIFO on this `FD` (O_PATH)")
	fs.IntVar(&o.ReadyFD, "ready-fd", 0, "say \"ready\" on this `FD` before waiting for the start")
	fs.Var(listFlag[Hook]{&o.Hooks, ParseHook, Hook.String}, "hook", "run this createContainer or startContainer hook (repeatable)")
	fs.StringVar(&o.HookState, "hook-state", "", "the container's state (JSON, no pid) for the hooks' stdin")
	fs.IntVar(&o.ExecSock, "exec-sock", 0, "take exec requests on this listening socket `FD` once the command runs")
}

func anyString(v string) (string, error) { return v, nil }
func plain(v string) string              { return v }

// CapNames returns the names, CAP_ prefix included, of every capability
// ccinit knows, by number.
func CapNames() []string {
	out := make([]string, len(capNames))
	for i, n := range capNames {
		out[i] = "CAP_" + n
	}
	return out
}
