// Package initproc is everything ccinit does as a container's first process: it
// prepares the container's root (mounts, /dev, pivot_root), waits for the
// supervisor's go-ahead, builds the command's environment, starts the command by
// absolute path, and then owns the only wait4 loop: it reaps every child that
// dies, keeps the command's exact status and forwards signals to the command.
//
// The same code runs standalone, as a tini replacement: `ccinit -- CMD ARGS...`.
package initproc

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultGrace is how long the processes left behind by the command get between
// SIGTERM and SIGKILL once the command itself has exited.
const DefaultGrace = 2 * time.Second

// Options is ccinit's whole configuration. The supervisor builds one, turns it
// into an argv with Argv, sends it over the sync channel (EncodeConfig), and
// ccinit reads it back with ParseArgs, so both sides share one definition of
// the command line, which is also ccinit's own when it runs standalone.
type Options struct {
	// Rootfs, when set, is the host path of the directory to pivot_root into.
	// Empty means standalone mode: ccinit stays in the root it was started in.
	Rootfs string
	// SyncFD, when above 0, is ccinit's end of the supervisor's sync
	// channel (0 is stdin, never the channel, so 0 means none). Given on the
	// command line (`ccinit --sync-fd 3`, and nothing else), it says the rest
	// of the configuration comes over the channel. See sync.go.
	SyncFD int
	// Hostname is set in the (new) UTS namespace when not empty.
	Hostname string
	// Env holds KEY=VALUE pairs laid over the default environment.
	Env []string
	// CleanEnv drops the environment ccinit inherited; the supervisor sets it
	// so that nothing of the host's environment, PATH above all, leaks in.
	CleanEnv bool
	// Workdir is the command's working directory inside the container.
	Workdir string
	// Group forwards signals to the command's whole process group instead of
	// only to the command.
	Group bool
	// Grace is the time between SIGTERM and SIGKILL for processes left over
	// after the command exits.
	Grace time.Duration
	// CPUs, when set, is the CPU list (as in "0-3,8") the command runs on.
	// ccsuper starts ccinit pinned to one CPU, because the Go runtime's
	// start-up hand-offs between threads are much cheaper on one CPU, and
	// passes the set it had itself here so that the command gets it back.
	CPUs string
	// Binds are SRC:DST pairs: the host file SRC is bound on DST inside the
	// rootfs (with --rootfs), DST resolved within the rootfs.
	Binds []string
	// Caps, when set, is the command's capability set as a hex mask (see
	// CapSet). ccsuper passes Docker's default set, tweaked by --cap-add and
	// --cap-drop; empty (standalone) leaves capabilities to whoever started
	// ccinit (podman, docker).
	Caps string
	// User runs the command as USER[:GROUP] (names or numbers, names from
	// the container's /etc/passwd and /etc/group); empty: as ccinit.
	User string
	// AddGroups are supplementary groups the command keeps, whatever its
	// User: a rootless user's own groups that the container's gid map maps,
	// as IDs inside (docs/rootless.md). Not with OCI, whose groups are
	// exactly its config's.
	AddGroups []uint32
	// NoNewPrivs sets no_new_privs for the command: setuid bits and file
	// capabilities no longer raise its rights.
	NoNewPrivs bool
	// Seccomp runs the command under the default seccomp filter, for the
	// capabilities it has (see package seccomp).
	Seccomp bool
	// ProcUnmasked leaves /proc and /sys as mounted, without the masks of
	// maskProc (--privileged).
	ProcUnmasked bool
	// ConsoleSocket, when above 0, is a unix socket to the supervisor: ccinit
	// makes a pty in the container's devpts, sends its master there and gives
	// the slave to the command as controlling terminal (see tty_linux.go).
	ConsoleSocket int
	// TraceFD, when above 0, is where ccinit writes the steps it took, when
	// it exits (ccsuper --trace; see package trace).
	TraceFD int
	// ReadOnly makes the container's root mount read-only once everything
	// is mounted in it and the working directory exists (with --rootfs).
	ReadOnly bool
	// Overlay, when set, is the host directory of this container's layer:
	// its upper and work directories make the rootfs the lower layer of an
	// overlayfs, so the rootfs itself is never written (with --rootfs).
	Overlay string
	// KeepLayer says the layer outlives the container. Without it the
	// overlay is volatile: nothing is synced, as nothing is kept.
	KeepLayer bool
	// Volumes are bound into the container after its own mounts (with
	// --rootfs).
	Volumes []Volume
	// OCI is what only an OCI bundle's config.json asks for (see oci.go).
	OCI OCI
	// Cgroup2 mounts the root of ccinit's cgroup namespace, read-only, on
	// /sys/fs/cgroup (with --rootfs): ccsuper clones ccinit into the
	// container's own cgroup and a new cgroup namespace on a pure v2 host,
	// so the container sees its own limits and usage, and nothing above.
	Cgroup2 bool
	// Cgroup1 are the container's own v1 cgroup directories on the host,
	// as HOSTDIR:NAME, bound read-only on /sys/fs/cgroup/NAME (a tmpfs made
	// for them) on a v1 or hybrid host, as Docker lays them out there
	// (with --rootfs). NAME is the hierarchy's directory under the host's
	// /sys/fs/cgroup: "memory", "pids", "cpu,cpuacct".
	Cgroup1 []string
	// UserNS says ccinit runs in a user namespace of its own (rootless,
	// --userns=auto): it may not make device nodes, so those of /dev are
	// bound from the host's, and devpts gets the tty group only where
	// group 5 is mapped.
	UserNS bool
	// Loopback says ccinit brings the loopback of its network namespace up
	// itself (ccsuper --net none: two ioctls here against a netlink socket
	// made inside the namespace from the host; BENCHMARKS.md, issue 16).
	// In a user namespace of its own it always does.
	Loopback bool
	// HostFDs says the supervisor sends the rootfs and the sources of the
	// binds and volumes over the sync channel as detached mounts, after the
	// configuration (see ReceiveHostFiles): ccinit, whose root is no
	// host user, opens no host path itself (--userns=auto).
	HostFDs bool
	// Args is the command and its arguments.
	Args []string

	// hostFDs are the mounts received with HostFDs (ReceiveConfig).
	hostFDs []int
	// sigs gets the early signals, asked for by ReceiveConfig before its
	// hello; nil: Run asks for them itself.
	sigs chan os.Signal
}

// ErrHelp is returned by ParseArgs when -h or --help was given.
var ErrHelp = flag.ErrHelp

type envList []string

func (e *envList) String() string  { return strings.Join(*e, ",") }
func (e *envList) elems() []string { return *e }
func (e *envList) Set(v string) error {
	if err := CheckEnv(v); err != nil {
		return err
	}
	*e = append(*e, v)
	return nil
}

type gidList []uint32

func (g *gidList) String() string { return strings.Join(g.elems(), ",") }
func (g *gidList) elems() []string {
	s := make([]string, len(*g))
	for i, id := range *g {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return s
}
func (g *gidList) Set(v string) error {
	id, err := parseID(v)
	if err != nil {
		return fmt.Errorf("group %w", err)
	}
	*g = append(*g, id)
	return nil
}

type cgroup1List []string

func (c *cgroup1List) String() string  { return strings.Join(*c, ",") }
func (c *cgroup1List) elems() []string { return *c }
func (c *cgroup1List) Set(v string) error {
	src, name := SplitCgroup1(v)
	if (src != "" && !strings.HasPrefix(src, "/")) || name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return fmt.Errorf("--cgroup1 %q: want HOSTDIR:NAME, HOSTDIR absolute or empty, NAME a plain name", v)
	}
	*c = append(*c, v)
	return nil
}

// SplitCgroup1 splits an Options.Cgroup1 entry at its last colon.
func SplitCgroup1(v string) (hostDir, name string) {
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return v, ""
	}
	return v[:i], v[i+1:]
}

type bindList []string

func (b *bindList) String() string  { return strings.Join(*b, ",") }
func (b *bindList) elems() []string { return *b }
func (b *bindList) Set(v string) error {
	src, dst, ok := strings.Cut(v, ":")
	if !ok || !strings.HasPrefix(src, "/") || !strings.HasPrefix(dst, "/") {
		return fmt.Errorf("--bind %q: want SRC:DST, both absolute", v)
	}
	*b = append(*b, v)
	return nil
}

type volumeList []Volume

func (l *volumeList) String() string { return strings.Join(l.elems(), ",") }
func (l *volumeList) elems() []string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = v.String()
	}
	return s
}

func (l *volumeList) Set(spec string) error {
	v, err := ParseVolume(spec)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(v.Source, "/") {
		return fmt.Errorf("volume %q: host path is not absolute", spec)
	}
	*l = append(*l, v)
	return nil
}

// NewFlagSet returns ccinit's flag set writing usage to w, bound to o.
func NewFlagSet(o *Options, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ccinit", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.StringVar(&o.Rootfs, "rootfs", "", "pivot_root into this directory, then mount proc, sys and /dev in it")
	fs.IntVar(&o.SyncFD, "sync-fd", 0, "take the configuration from the supervisor's sync channel on this `FD`, and wait for its \"go\" (alone)")
	fs.StringVar(&o.Hostname, "hostname", "", "set this hostname (needs a private UTS namespace)")
	fs.Var((*envList)(&o.Env), "e", "set `KEY=VALUE` in the command's environment (repeatable)")
	fs.BoolVar(&o.CleanEnv, "clean-env", false, "start from an empty environment instead of the inherited one")
	fs.StringVar(&o.Workdir, "workdir", "", "run the command in this directory")
	fs.BoolVar(&o.Group, "g", false, "forward signals to the command's process group, not only the command")
	fs.DurationVar(&o.Grace, "grace", DefaultGrace, "time between SIGTERM and SIGKILL for processes left after the command exits")
	fs.Var((*bindList)(&o.Binds), "bind", "bind host file `SRC:DST` into the rootfs (repeatable, with --rootfs)")
	fs.StringVar(&o.Caps, "caps", "", "run the command with these capabilities, a hex `MASK` (bit N: capability N)")
	fs.StringVar(&o.User, "user", "", "run the command as `USER[:GROUP]`, names or numbers")
	fs.Var((*gidList)(&o.AddGroups), "add-group", "keep the supplementary group `GID` whatever --user says (repeatable)")
	fs.BoolVar(&o.NoNewPrivs, "no-new-privs", false, "set no_new_privs for the command")
	fs.BoolVar(&o.Seccomp, "seccomp", false, "run the command under the default seccomp filter")
	fs.BoolVar(&o.ProcUnmasked, "proc-unmasked", false, "do not mask or freeze the host-wide parts of /proc and /sys (with --rootfs)")
	fs.StringVar(&o.CPUs, "cpus", "", "run the command on these CPUs (a list such as 0-3,8)")
	fs.IntVar(&o.TraceFD, "trace-fd", 0, "write the steps taken, with their times, to this `FD` at exit")
	fs.IntVar(&o.ConsoleSocket, "console-socket", 0, "make a pty, send its master over this unix socket `FD`, run the command on it")
	fs.BoolVar(&o.ReadOnly, "read-only", false, "make the container's root read-only (with --rootfs)")
	fs.StringVar(&o.Overlay, "overlay", "", "use `DIR`/upper and DIR/work as the writable layer of an overlay on the rootfs (with --rootfs)")
	fs.BoolVar(&o.KeepLayer, "keep-layer", false, "the overlay layer is kept after the run: sync it (with --overlay)")
	fs.Var((*cgroup1List)(&o.Cgroup1), "cgroup1", "bind the v1 cgroup `HOSTDIR:NAME` read-only on /sys/fs/cgroup/NAME, an empty directory for an empty HOSTDIR (repeatable, with --rootfs)")
	fs.BoolVar(&o.Cgroup2, "cgroup2", false, "mount the root of our cgroup namespace read-only on /sys/fs/cgroup (with --rootfs)")
	fs.BoolVar(&o.UserNS, "userns", false, "ccinit is in a user namespace of its own: bind /dev's nodes from the host's (with --rootfs)")
	fs.BoolVar(&o.Loopback, "lo", false, "bring the loopback interface up (ccinit is in a network namespace of its own)")
	fs.BoolVar(&o.HostFDs, "host-fds", false, "take the rootfs, binds and volumes as mounts sent over the sync channel (with --sync-fd)")
	fs.Var((*volumeList)(&o.Volumes), "volume", "bind host `SRC:DST:ro|rw` into the rootfs, DST created if missing (repeatable, with --rootfs)")
	ociFlags(fs, &o.OCI)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ccinit [flags] [--] COMMAND [ARG...]\n\n")
		fs.PrintDefaults()
	}
	return fs
}

// ParseArgs parses ccinit's arguments (without argv[0]). The usage text
// goes to usage for -h only: a bad flag is only the error returned, for the
// caller's one line.
func ParseArgs(args []string, usage io.Writer) (Options, error) {
	var o Options
	fs := NewFlagSet(&o, io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, ErrHelp) {
			fs.SetOutput(usage)
			fs.Usage()
		}
		return o, err
	}
	o.Args = fs.Args()
	if o.SyncFD < 0 {
		return o, fmt.Errorf("--sync-fd %d is negative", o.SyncFD)
	}
	if o.SyncFD > 0 {
		if fs.NFlag() != 1 || len(o.Args) > 0 {
			return o, errors.New("--sync-fd comes alone: the rest of the configuration comes over the channel")
		}
		return o, nil
	}
	if len(o.Args) == 0 {
		return o, errors.New("no command given")
	}
	if o.TraceFD < 0 {
		return o, fmt.Errorf("--trace-fd %d is negative", o.TraceFD)
	}
	if o.ConsoleSocket < 0 {
		return o, fmt.Errorf("--console-socket %d is negative", o.ConsoleSocket)
	}
	if o.ConsoleSocket > 0 && o.Rootfs == "" {
		// Standalone, the pty's bind on /dev/console could land in a
		// mount namespace shared with the host, and nothing undoes it.
		return o, errors.New("--console-socket needs --rootfs")
	}
	if o.CPUs != "" {
		if _, err := ParseCPUs(o.CPUs); err != nil {
			return o, err
		}
	}
	if o.Caps != "" {
		if _, err := ParseCapSet(o.Caps); err != nil {
			return o, err
		}
	}
	if o.User != "" {
		if err := CheckUser(o.User); err != nil {
			return o, err
		}
	}
	if o.Grace < 0 {
		return o, fmt.Errorf("--grace %s is negative", o.Grace)
	}
	if o.Rootfs == "" && (o.ReadOnly || o.Overlay != "" || len(o.Volumes) > 0 || o.Cgroup2 || len(o.Cgroup1) > 0) {
		return o, errors.New("--read-only, --overlay, --volume, --cgroup1 and --cgroup2 need --rootfs")
	}
	if o.Overlay != "" && !strings.HasPrefix(o.Overlay, "/") {
		return o, fmt.Errorf("--overlay %q is not absolute", o.Overlay)
	}
	if (o.OCI.Enabled || o.OCI.ExecFIFO > 0) && o.Rootfs == "" {
		return o, errors.New("--oci and --exec-fifo need --rootfs")
	}
	if o.KeepLayer && o.Overlay == "" {
		return o, errors.New("--keep-layer needs --overlay")
	}
	return o, nil
}

// Argv renders o as the arguments ParseArgs reads back (without argv[0]),
// from ccinit's own flag set, so that no flag can be left out: a flag whose
// value differs from its default is written once, a repeatable one once per
// element, a boolean one by its name alone.
func (o Options) Argv() []string {
	// Bound to a zero Options, every flag's default is its zero; then the
	// fields the flags point at are given o's values.
	var v Options
	fs := NewFlagSet(&v, io.Discard)
	v = o
	var a []string
	fs.VisitAll(func(f *flag.Flag) {
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name
		}
		if r, ok := f.Value.(repeatable); ok {
			for _, e := range r.elems() {
				a = append(a, name, e)
			}
			return
		}
		val := f.Value.String()
		if val == f.DefValue {
			return
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			a = append(a, name)
			return
		}
		a = append(a, name, val)
	})
	a = append(a, "--")
	return append(a, o.Args...)
}

// repeatable is a flag given once per element of a list.
type repeatable interface{ elems() []string }

// listFlag is a repeatable flag whose every use parses one element.
type listFlag[T any] struct {
	list   *[]T
	parse  func(string) (T, error)
	format func(T) string
}

func (l listFlag[T]) Set(v string) error {
	x, err := l.parse(v)
	if err != nil {
		return err
	}
	*l.list = append(*l.list, x)
	return nil
}

func (l listFlag[T]) String() string { return strings.Join(l.elems(), ",") }

func (l listFlag[T]) elems() []string {
	if l.list == nil { // the flag package's zero value, for its help text
		return nil
	}
	s := make([]string, len(*l.list))
	for i, x := range *l.list {
		s[i] = l.format(x)
	}
	return s
}

// fieldFlag is a flag whose field is not a plain string, number or
// boolean: set parses into it, get renders it ("" when unset).
type fieldFlag struct {
	set func(string) error
	get func() string
}

func (f fieldFlag) Set(v string) error { return f.set(v) }

func (f fieldFlag) String() string {
	if f.get == nil { // the flag package's zero value
		return ""
	}
	return f.get()
}
