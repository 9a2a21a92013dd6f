package initproc

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The created state of an OCI container, and how `ccsuper start` ends it:
//
//	ccsuper create                         ccinit
//	mkfifo STATE/exec.fifo
//	open it O_PATH, pass as --exec-fifo
//	clone+exec ccinit ───────────────────> pivot_root, the config's mounts,
//	host setup, "go" on the sync pipe ───> resolve the command, plan its rights
//	read the ready pipe <──── "ready" ──── (ccsuper may go now: no Pdeathsig)
//	  (or "fail: REASON", then EOF:
//	  ccsuper's error for create;
//	  see ready.go)
//	write the pid file, exit 0             open /proc/self/fd/FIFO O_WRONLY:
//	                                       blocks, the command not started
//	ccsuper start
//	open exec.fifo O_RDONLY|O_NONBLOCK ──> the open returns; write one byte
//	poll: the byte, or ccinit's pidfd      startContainer hooks, start the
//	  (ccinit died: start fails)             command; once it is executed,
//	                                         a second byte, close the FIFO
//	the second byte, then EOF: it runs <──
//	  (EOF after one byte: start fails)
//	remove exec.fifo: "running"; poststart hooks
//
// No process of ccsuper's lives between create and start: the FIFO in the
// state directory is the only thing start needs, as in runc. A signal that
// would end the container (TERM, INT, HUP, QUIT) ends ccinit while it waits;
// SIGKILL does anyway.

// waitStart says "ready" on o.ReadyFD and blocks until `ccsuper start` opens
// the exec FIFO. It returns the status to exit with when a signal ended the
// wait instead (128+N), or -1 to go on, and the FIFO's write end: closing it
// once the command is executed tells start so (it runs the poststart hooks
// then, "after the user-specified process is executed", as the spec says).
func waitStart(o OCI, sigs <-chan os.Signal) (int, int, error) {
	if o.ReadyFD > 0 {
		_, err := unix.Write(o.ReadyFD, []byte(ReadyMsg))
		_ = unix.Close(o.ReadyFD)
		if err != nil {
			return ExitSetup, -1, fmt.Errorf("say ready: %w", err)
		}
	}
	if o.ExecFIFO <= 0 {
		return -1, -1, nil
	}
	type result struct {
		fd  int
		err error
	}
	opened := make(chan result, 1)
	go func() {
		// Through /proc/self/fd: the FIFO is in the host's state
		// directory, out of reach of paths after pivot_root.
		p := fmt.Sprintf("/proc/self/fd/%d", o.ExecFIFO)
		var fd int
		var err error
		for {
			fd, err = unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err == nil {
			if _, err = unix.Write(fd, []byte{0}); err != nil {
				_ = unix.Close(fd)
			}
		}
		opened <- result{fd, err}
	}()
	for {
		select {
		case r := <-opened:
			_ = unix.Close(o.ExecFIFO)
			if r.err != nil {
				return ExitSetup, -1, fmt.Errorf("wait for start on the exec FIFO: %w", r.err)
			}
			return -1, r.fd, nil
		case s := <-sigs:
			if sig := s.(syscall.Signal); isTermination(sig) || sig == unix.SIGUSR1 || sig == unix.SIGUSR2 {
				return 128 + int(sig), -1, nil
			}
		}
	}
}

// toldError is a setup failure ccinit has sent ccsuper on the ready pipe:
// ccsuper says it, ccinit need not (see Told).
type toldError struct{ error }

func (e toldError) Unwrap() error { return e.error }

// TellSupervisor sends err, ccinit's setup failure, to `ccsuper create` on
// the ready pipe o.OCI.ReadyFD (see ready.go), if there is one and it has
// not said "ready" yet, and returns err marked as told. Otherwise, or when
// the pipe refuses it (ccsuper gone), it returns err as it was: ccinit then
// says it on stderr itself. ErrSupervisorGone is never sent: nobody is
// there to hear it.
func TellSupervisor(o Options, err error) error {
	if err == nil || o.OCI.ReadyFD <= 0 || errors.Is(err, ErrSupervisorGone) {
		return err
	}
	msg := EncodeFailure(KernelTooOld(err).Error())
	for {
		n, werr := unix.Write(o.OCI.ReadyFD, msg)
		if errors.Is(werr, unix.EINTR) {
			continue
		}
		if werr != nil || n != len(msg) {
			return err
		}
		return toldError{err}
	}
}

// Told reports whether err went to ccsuper on the ready pipe
// (TellSupervisor), which then reports it: ccinit says nothing more.
func Told(err error) bool {
	var t toldError
	return errors.As(err, &t)
}

// ociRoot is EnterRoot for an OCI bundle: the config's mounts in its order,
// instead of ccinit's own set, then its devices. With o.HostFDs the rootfs
// is tree and the bind sources come from take, in the config's order (see
// supervisor.sendOCIMounts); otherwise ccinit takes hold of them itself.
//
// In a user namespace (o.UserNS) the kernel refuses two things ccinit does
// otherwise: a new proc or sysfs once the host's are out of the mount
// namespace (it would uncover what they hide), and mknod. So proc and sysfs
// are made before pivot_root and attached in their turn, and every device
// node is the host's, bound, as runc does for a rootless container.
//
// Preconditions: / is private and the rootfs is a mount or tree (EnterRoot's
// first step); the caller is alone in a new mount namespace.
func ociRoot(o Options, tree hostFile, take func(string) (hostFile, error)) error {
	// Bind sources are host paths: take hold of each before pivot_root.
	held := make([]hostFile, len(o.OCI.Mounts))
	// Without a cgroup namespace of its own, a v1 container's cgroups are
	// its own directories, bound (see mountCgroup1): held here too.
	cgroups := make([]hostFile, len(o.Cgroup1))
	var devs []hostFile // the host's nodes, in a user namespace
	defer func() {
		for _, hs := range [][]hostFile{held, cgroups, devs} {
			for _, h := range hs {
				if h.fd > 0 {
					_ = unix.Close(h.fd)
				}
			}
		}
	}()
	for i, c := range o.Cgroup1 {
		dir, _ := SplitCgroup1(c)
		if dir == "" {
			continue // shown empty (mountCgroup1)
		}
		h, err := cloneHostFile(dir, false)
		if err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
		cgroups[i] = h
	}
	for i, m := range o.OCI.Mounts {
		var h hostFile
		var err error
		switch {
		case m.Flags&unix.MS_BIND != 0 && o.HostFDs:
			h, err = take(m.Source)
		case m.Flags&unix.MS_BIND != 0:
			h, err = cloneHostFile(m.Source, m.Flags&unix.MS_REC != 0)
		case o.UserNS && (m.Type == "proc" || m.Type == "sysfs"):
			h, err = earlyMount(m)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
		held[i] = h
	}
	if o.UserNS {
		for _, p := range devPaths(o.OCI.Devices) {
			h, err := cloneHostFile(p, false)
			if err != nil {
				return fmt.Errorf("device: %w", err)
			}
			devs = append(devs, h)
		}
	}
	var err error
	if o.HostFDs {
		err = pivotTree(tree)
	} else {
		err = pivot(o.Rootfs)
	}
	if err != nil {
		return err
	}
	// After pivot_root every path, symlinks included, resolves inside the
	// container's root: nothing below can reach a host path.
	if o.OCI.NoDev {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV}
		if err := unix.MountSetattr(unix.AT_FDCWD, "/", unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("rootfs: set nodev: %w", err)
		}
	}
	for i, m := range o.OCI.Mounts {
		if m.Type == "cgroup" && len(o.Cgroup1) > 0 && m.Target == "/sys/fs/cgroup" {
			if err := mountCgroup1(o.Cgroup1, cgroups); err != nil {
				return err
			}
			continue
		}
		if err := ociMount(m, held[i], o.OCI.NoDev); err != nil {
			return err
		}
	}
	if err := ociDev(o.OCI.Devices, devs); err != nil {
		return err
	}
	if p := o.OCI.RootPropagation; p != 0 {
		if err := unix.Mount("", "/", "", p, ""); err != nil {
			return fmt.Errorf("rootfsPropagation of /: %w", err)
		}
	}
	return nil
}

// earlyMount makes the proc or sysfs of m as a detached mount, for a user
// namespace (see ociRoot). A sysfs the kernel refuses, the container having
// no network namespace of its own (sysfs shows the network devices of the
// namespace it is mounted in), is the host's /sys bound instead, read-only
// whatever the config says, as runc does.
func earlyMount(m Mount) (hostFile, error) {
	var attrs int
	for _, b := range bindAttrs {
		if m.Flags&b.ms != 0 {
			attrs |= int(b.attr)
		}
	}
	fd, err := newMountData(m.Type, m.Source, m.Data, attrs)
	if err == nil {
		return hostFile{path: m.Type + " (new)", fd: fd}, nil
	}
	if m.Type != "sysfs" || !errors.Is(err, unix.EPERM) {
		return hostFile{}, err
	}
	h, err := cloneHostFile(hostSys, true)
	if err != nil {
		return h, err
	}
	ro := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(h.fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &ro); err != nil {
		_ = unix.Close(h.fd)
		return hostFile{}, fmt.Errorf("bind the host's /sys read-only: %w", err)
	}
	return h, nil
}

// hostSys is the host's sysfs with the mounts below it, bound by earlyMount
// where no sysfs of the container's may be made.
const hostSys = "/sys"

// newMountData is newMount with the config's source (what mountinfo shows,
// and engines and the validation suite look for) and the file system's
// options (data, as for mount(2): "key=value,flag").
func newMountData(fstype, source, data string, attrs int) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("mount %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	if source != "" {
		if err := unix.FsconfigSetString(fsfd, "source", source); err != nil {
			return -1, fmt.Errorf("mount %s: source %q: %w", fstype, source, err)
		}
	}
	for _, opt := range strings.Split(data, ",") {
		if opt == "" {
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if ok {
			err = unix.FsconfigSetString(fsfd, k, v)
		} else {
			err = unix.FsconfigSetFlag(fsfd, k)
		}
		if err != nil {
			return -1, fmt.Errorf("mount %s: option %q: %w", fstype, opt, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("mount %s: %w", fstype, err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("mount %s: %w", fstype, err)
	}
	return fd, nil
}

// devPaths are the nodes of /dev an OCI container has: the spec's default
// devices, then the config's own (whose host node of the same path is bound
// in a user namespace).
func devPaths(devs []Device) []string {
	var ps []string
	for _, n := range devNodes {
		ps = append(ps, "/dev/"+n.name)
	}
	for _, d := range devs {
		ps = append(ps, d.Path)
	}
	return ps
}

// bindAttrs maps the MS_* flags a bind mount may carry to mount_setattr's.
var bindAttrs = []struct {
	ms   uintptr
	attr uint64
}{
	{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
	{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	{unix.MS_NOATIME, unix.MOUNT_ATTR_NOATIME}, {unix.MS_RELATIME, unix.MOUNT_ATTR_RELATIME},
	{unix.MS_STRICTATIME, unix.MOUNT_ATTR_STRICTATIME},
}

// ociMount makes one mount of the config inside the new root. src is the
// held source of a bind mount, or the proc or sysfs made before pivot_root.
// With nodev a bind whose source is not a device node is made nodev (see
// OCI.NoDev): a node bound on its own is the engine's explicit choice.
func ociMount(m Mount, src hostFile, nodev bool) error {
	// A proc or sysfs made before pivot_root is attached as a bind is.
	bind := m.Flags&unix.MS_BIND != 0 || src.fd > 0
	dir := true
	if bind {
		var st unix.Stat_t
		if err := unix.Fstat(src.fd, &st); err != nil {
			return fmt.Errorf("mount %s: stat source: %w", m.Target, err)
		}
		dir = st.Mode&unix.S_IFMT == unix.S_IFDIR
		if t := st.Mode & unix.S_IFMT; t == unix.S_IFCHR || t == unix.S_IFBLK {
			nodev = false
		}
	}
	if err := mountPoint(m.Target, dir); err != nil {
		return fmt.Errorf("mount %s: %w", m.Target, err)
	}
	switch {
	case bind:
		var attr unix.MountAttr
		for _, b := range bindAttrs {
			if m.Flags&b.ms != 0 {
				attr.Attr_set |= b.attr
			}
		}
		if nodev {
			attr.Attr_set |= unix.MOUNT_ATTR_NODEV
		}
		if m.Flags&(unix.MS_NOATIME|unix.MS_RELATIME|unix.MS_STRICTATIME) != 0 {
			// The access-time mode is one field: clear it to set it.
			attr.Attr_clr |= unix.MOUNT_ATTR__ATIME
		}
		recursive := uint(0)
		if m.Flags&unix.MS_REC != 0 || src.path == hostSys {
			recursive = unix.AT_RECURSIVE
		}
		// The clone was made before pivot_root, ahead of the mounts before
		// it in the config, and the kernel lists mounts (mountinfo) in the
		// order they were made: clone it again here, in its turn, now that
		// it is in our namespace, and put the new clone in its place.
		if err := unix.MoveMount(src.fd, "", unix.AT_FDCWD, m.Target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("bind %s on %s: %w", src.path, m.Target, err)
		}
		again, err := unix.OpenTree(unix.AT_FDCWD, m.Target, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|recursive)
		if err != nil {
			return fmt.Errorf("bind %s on %s: clone: %w", src.path, m.Target, err)
		}
		defer unix.Close(again)
		if err := unix.Unmount(m.Target, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("bind %s on %s: %w", src.path, m.Target, err)
		}
		if attr.Attr_set != 0 || attr.Attr_clr != 0 {
			if err := unix.MountSetattr(again, "", unix.AT_EMPTY_PATH|recursive, &attr); err != nil {
				return fmt.Errorf("mount %s: set options: %w", m.Target, err)
			}
		}
		if err := unix.MoveMount(again, "", unix.AT_FDCWD, m.Target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("bind %s on %s: %w", src.path, m.Target, err)
		}
	case m.Type == "cgroup":
		if err := mountCgroups(m); err != nil {
			return err
		}
	default:
		if err := unix.Mount(m.Source, m.Target, m.Type, m.Flags, m.Data); err != nil {
			return fmt.Errorf("mount %s (%s) on %s: %w", m.Source, m.Type, m.Target, err)
		}
	}
	if m.Propagation != 0 {
		if err := unix.Mount("", m.Target, "", m.Propagation, ""); err != nil {
			return fmt.Errorf("mount %s: propagation: %w", m.Target, err)
		}
	}
	return nil
}

// mountPoint makes the directory, or the empty file, p.
func mountPoint(p string, dir bool) error {
	if dir {
		return os.MkdirAll(p, 0o755)
	}
	if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
		return err
	}
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("create mount point: %w", err)
	}
	return unix.Close(fd)
}

// mountCgroups mounts the container's view of the cgroups on m.Target: the
// cgroup2 file system on a pure v2 host; on a v1 or hybrid host a tmpfs with
// each v1 hierarchy ccinit is in mounted below it, as runc does. With a
// cgroup namespace each shows the container's own cgroup as its root.
func mountCgroups(m Mount) error {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return fmt.Errorf("mount cgroups on %s: %w", m.Target, WithoutPath(err))
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) == 1 && strings.HasPrefix(lines[0], "0::") {
		if err := unix.Mount("cgroup2", m.Target, "cgroup2", m.Flags, ""); err != nil {
			return fmt.Errorf("mount cgroup2 on %s: %w", m.Target, err)
		}
		return nil
	}
	if err := unix.Mount("tmpfs", m.Target, "tmpfs", m.Flags&^unix.MS_RDONLY, "mode=755"); err != nil {
		return fmt.Errorf("mount cgroup tmpfs on %s: %w", m.Target, err)
	}
	for _, line := range lines {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[1] == "" {
			continue // the unified line of a hybrid host: nothing in it
		}
		opts := f[1]
		name := strings.TrimPrefix(opts, "name=")
		if name != opts {
			opts = "none,name=" + name
		}
		dst := filepath.Join(m.Target, name)
		if err := os.Mkdir(dst, 0o755); err != nil {
			return fmt.Errorf("mount cgroups: %w", err)
		}
		if err := unix.Mount("cgroup", dst, "cgroup", m.Flags, opts); err != nil {
			return fmt.Errorf("mount cgroup %s on %s: %w", opts, dst, err)
		}
	}
	if m.Flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", m.Target, "", unix.MS_REMOUNT|m.Flags, "mode=755"); err != nil {
			return fmt.Errorf("make %s read-only: %w", m.Target, err)
		}
	}
	return nil
}

// ociDev makes the nodes and links every OCI container has in /dev (the
// spec's default devices), then the config's own. In a user namespace, where
// mknod is refused, bound holds the host's nodes, in devPaths' order: each
// is bound on an empty file instead, with the host's owner and mode.
func ociDev(devs []Device, bound []hostFile) error {
	old := unix.Umask(0)
	defer unix.Umask(old)
	if err := os.MkdirAll("/dev", 0o755); err != nil {
		return err
	}
	bind := func(p string, h hostFile) error {
		if err := mountPoint(p, false); err != nil {
			return fmt.Errorf("device %s: %w", p, err)
		}
		if err := unix.MoveMount(h.fd, "", unix.AT_FDCWD, p, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("bind device %s: %w", p, err)
		}
		return nil
	}
	for i, n := range devNodes {
		p := "/dev/" + n.name
		if bound != nil {
			if err := bind(p, bound[i]); err != nil {
				return err
			}
			continue
		}
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mknod %s: %w", p, err)
		}
	}
	for _, l := range devLinks {
		p := "/dev/" + l[1]
		if l[1] == "ptmx" && !isMounted("/dev/pts", unix.DEVPTS_SUPER_MAGIC) {
			continue
		}
		if err := unix.Symlink(l[0], p); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink %s: %w", p, err)
		}
	}
	for i, d := range devs {
		if err := os.MkdirAll(path.Dir(d.Path), 0o755); err != nil {
			return err
		}
		_ = unix.Unlink(d.Path) // the config's node replaces whatever was there
		if bound != nil {
			if err := bind(d.Path, bound[len(devNodes)+i]); err != nil {
				return err
			}
			continue
		}
		if err := unix.Mknod(d.Path, d.Mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
			return fmt.Errorf("mknod %s: %w", d.Path, err)
		}
		if err := unix.Lchown(d.Path, int(d.UID), int(d.GID)); err != nil {
			return fmt.Errorf("chown %s: %w", d.Path, err)
		}
	}
	return nil
}

// ociPaths writes the config's sysctls, then makes its read-only paths
// read-only and hides its masked paths: a directory under an empty read-only
// tmpfs, anything else under /dev/null. A path this kernel lacks is skipped.
//
// Preconditions: after ociRoot, with /proc mounted.
func ociPaths(o OCI) error {
	for _, kv := range o.Sysctl {
		k, v, _ := strings.Cut(kv, "=")
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s: %w", k, WithoutPath(err))
		}
	}
	for _, p := range o.ReadonlyPaths {
		if err := readOnly(p); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	for _, p := range o.MaskedPaths {
		st, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, WithoutPath(err))
		}
		if st.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

// ociProcess applies to ccinit itself what the command inherits and that is
// process-wide anyway: resource limits and the umask.
func ociProcess(o OCI) error {
	for _, r := range o.Rlimits {
		// syscall's, not a raw prlimit: for RLIMIT_NOFILE it also drops the
		// soft limit the Go runtime saved at start, which ForkExec would
		// otherwise put back in the command.
		if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fmt.Errorf("rlimit %d: %w", r.Resource, err)
		}
	}
	if o.Umask != "" {
		m, err := strconv.ParseUint(o.Umask, 8, 32)
		if err != nil {
			return fmt.Errorf("umask %q: %w", o.Umask, err)
		}
		unix.Umask(int(m))
	}
	return nil
}

// decodeFilter turns the hex of a compiled filter back into its program.
func decodeFilter(h string) ([]unix.SockFilter, error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b)%8 != 0 {
		return nil, errors.New("seccomp filter: malformed")
	}
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		c := b[8*i:]
		prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(c), Jt: c[2], Jf: c[3], K: binary.LittleEndian.Uint32(c[4:])}
	}
	return prog, nil
}

// EncodeFilter renders a compiled filter for --seccomp-bpf.
func EncodeFilter(prog []unix.SockFilter) string {
	b := make([]byte, 8*len(prog))
	for i, in := range prog {
		c := b[8*i:]
		binary.LittleEndian.PutUint16(c, in.Code)
		c[2], c[3] = in.Jt, in.Jf
		binary.LittleEndian.PutUint32(c[4:], in.K)
	}
	return hex.EncodeToString(b)
}

// setWinsize sizes the pty whose slave is fd.
func setWinsize(fd int, rows, cols uint16) error {
	if rows == 0 && cols == 0 {
		return nil
	}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		return fmt.Errorf("console size: %w", err)
	}
	return nil
}
