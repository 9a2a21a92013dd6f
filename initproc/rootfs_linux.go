package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/trace"
)

// A device node made in the container's /dev.
type devNode struct {
	name         string
	major, minor uint32
}

// The nodes every container gets, the same set the OCI runtime spec requires.
var devNodes = []devNode{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

var devLinks = [][2]string{
	{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	{"pts/ptmx", "ptmx"},
}

// A host file that is bound inside the container.
type hostFile struct {
	path string // on the host, as given
	fd   int    // a detached clone of it (open_tree), taken before pivot_root
}

// EnterRoot makes o.Rootfs the root of the calling process's mount
// namespace: it pivots into it, detaches the old root, so no host mount is
// reachable from inside, and then mounts proc, sys and a fresh /dev in it and
// binds each of o.Binds ("SRC:DST": the host file SRC on DST
// inside) and each of o.Volumes. With o.Overlay the root is an overlayfs
// whose lower layer is the rootfs and whose upper layer is o.Overlay/upper,
// so that nothing below, mount points included, is made in the rootfs.
//
// The rootfs may be written to while this runs, by another container on the
// same directory for one, so only three things are done in the host's tree:
// making / private, mounting the root (a bind of the rootfs on itself, or the
// overlay on it) and taking hold of the host files to bind. Everything else
// is done after pivot_root, where every path, symlinks included, resolves
// inside the rootfs: a mount point swapped for a symlink between a check and
// a use can send a mount or a node elsewhere in the container, never onto the
// host's files.
//
// o.ReadOnly is not applied here: the working directory may still have to
// be made (see makeRootReadOnly).
//
// Preconditions: the caller is alone in a new mount namespace and is the first
// process of a new PID namespace (so the proc instance shows the container's
// processes only).
func EnterRoot(o Options, rec *trace.Recorder) error {
	rootfs := o.Rootfs
	// Without this, with systemd's shared / the mounts below would propagate
	// back to the host's namespace and outlive the container.
	end := rec.Begin("  / private, bind (or overlay) rootfs")
	defer func() { end() }()
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / recursively private: %w", err)
	}
	received := slices.Clone(o.hostFDs)
	defer func() {
		for _, fd := range received {
			if fd >= 0 {
				_ = unix.Close(fd)
			}
		}
	}()
	// take hands out the next of the mounts the supervisor sent (HostFDs),
	// which come in the order: the rootfs, the binds' sources, the
	// volumes' sources.
	take := func(path string) (hostFile, error) {
		for i, fd := range received {
			if fd >= 0 {
				received[i] = -1
				return hostFile{path: path, fd: fd}, nil
			}
		}
		return hostFile{}, fmt.Errorf("sync channel: no mount sent for %q", path)
	}
	var tree hostFile // the rootfs, when sent
	if o.HostFDs {
		var err error
		if tree, err = take(rootfs); err != nil {
			return err
		}
		defer unix.Close(tree.fd)
	} else if o.Overlay != "" {
		if err := mountOverlay(rootfs, o.Overlay, !o.KeepLayer); err != nil {
			return err
		}
	} else if err := mountFS(rootfs, rootfs, "", "", unix.MS_BIND|unix.MS_REC); err != nil {
		// pivot_root needs the new root to be a mount point.
		return fmt.Errorf("bind rootfs: %w", err)
	}
	if o.OCI.Enabled {
		return ociRoot(o, tree, take)
	}

	var held []hostFile
	defer func() {
		for _, f := range held {
			_ = unix.Close(f.fd) // an unused clone goes with its descriptor
		}
	}()
	hold := func(path string, recursive bool) (hostFile, error) {
		var f hostFile
		var err error
		if o.HostFDs {
			f, err = take(path)
		} else {
			f, err = cloneHostFile(path, recursive)
		}
		if err == nil {
			held = append(held, f)
		}
		return f, err
	}
	end()
	end = rec.Begin("  hold host files (open_tree clones)")
	type bind struct {
		src hostFile
		dst string
	}
	var bs []bind
	for _, b := range o.Binds {
		src, dst, _ := strings.Cut(b, ":")
		f, err := hold(src, false)
		if err != nil {
			return fmt.Errorf("bind source: %w", err)
		}
		bs = append(bs, bind{f, dst})
	}
	// In a user namespace mknod is refused: the nodes are the host's,
	// bound (the OCI runtime spec's way for rootless containers).
	var devs []bind
	if o.UserNS {
		for _, n := range devNodes {
			f, err := cloneHostFile("/dev/"+n.name, false)
			if err != nil {
				return fmt.Errorf("device: %w", err)
			}
			held = append(held, f)
			devs = append(devs, bind{f, "/dev/" + n.name})
		}
	}
	// In a user namespace the kernel mounts a new proc or sysfs only
	// while one of the host's, unmasked, is in the namespace (it would
	// otherwise uncover what the host's hides): they are made now, before
	// the old root goes, and attached after the pivot as root's are.
	var special map[string]int
	if o.UserNS {
		special = map[string]int{}
		defer func() {
			for _, fd := range special {
				_ = unix.Close(fd)
			}
		}()
		for _, fs := range []struct{ name, dst string }{{"proc", "/proc"}, {"sysfs", "/sys"}} {
			fd, err := newMount(fs.name, specialAttrs[fs.dst])
			if err != nil {
				return err
			}
			special[fs.dst] = fd
		}
	}
	// Held in the order given (the order the supervisor sends them in),
	// bound parents first.
	type volume struct {
		v   Volume
		src hostFile
	}
	vols := make([]volume, len(o.Volumes))
	for i, v := range o.Volumes {
		src, err := hold(v.Source, true)
		if err != nil {
			return fmt.Errorf("volume source: %w", err)
		}
		// A sent volume is made read-only by the supervisor: its
		// detached mount is out of ccinit's reach.
		if !o.HostFDs {
			if err := prepareVolume(src, v.ReadOnly); err != nil {
				return err
			}
		}
		vols[i] = volume{v, src}
	}
	slices.SortStableFunc(vols, func(a, b volume) int { return a.v.depth() - b.v.depth() })

	cgroups := make([]hostFile, len(o.Cgroup1))
	for i, c := range o.Cgroup1 {
		dir, _ := SplitCgroup1(c)
		if dir == "" {
			continue // shown empty (mountCgroup1)
		}
		var err error
		if cgroups[i], err = hold(dir, false); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
	}

	end()
	end = rec.Begin("  pivot_root, detach old root")
	pivotErr := error(nil)
	if o.HostFDs {
		pivotErr = pivotTree(tree)
	} else {
		pivotErr = pivot(rootfs)
	}
	if pivotErr != nil {
		return pivotErr
	}
	end()
	end = rec.Begin("  mount proc, sysfs, /dev tmpfs")
	if err := mountSpecial(special); err != nil {
		return err
	}
	if o.Cgroup2 {
		if err := mountCgroup2(); err != nil {
			return err
		}
	}
	if len(o.Cgroup1) > 0 {
		if err := mountCgroup1(o.Cgroup1, cgroups); err != nil {
			return err
		}
	}
	end()
	end = rec.Begin("  /dev nodes, devpts, shm, mqueue")
	if err := populateDev(!o.UserNS); err != nil {
		return err
	}
	end()
	end = rec.Begin("  bind /etc files, volumes")
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open new root: %w", err)
	}
	defer unix.Close(root)
	for _, b := range append(devs, bs...) {
		if err := bindFile(root, b.src, b.dst); err != nil {
			return err
		}
	}
	// After the /etc files: a volume on /etc/hosts replaces the generated
	// one, and a volume on /etc does not get files made in it.
	for _, v := range vols {
		if err := bindVolume(root, v.src, v.v.Target); err != nil {
			return err
		}
	}
	return nil
}

// cloneHostFile takes hold of the host file at path as a detached clone of
// it, ready to be attached anywhere. A plain descriptor would not do: once the
// old root is detached, mount(2) refuses to bind from it (EINVAL, the source
// is in no mount namespace of ours), while a clone made by open_tree lives in
// a namespace of its own, which move_mount may attach.
//
// With recursive the mounts below path come along, as they do for a bind
// mount made with MS_REC.
func cloneHostFile(path string, recursive bool) (hostFile, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, flags)
	if err != nil {
		return hostFile{}, fmt.Errorf("open_tree %q: %w", path, err)
	}
	return hostFile{path: path, fd: fd}, nil
}

// specialAttrs are the mount attributes of proc and sys as newMount makes
// them: the flags mountSpecial gives them.
var specialAttrs = map[string]int{
	"/proc": unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC,
	"/sys":  unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_RDONLY,
}

// newMount makes a detached mount of a new instance of the file system
// fstype, with the mount attributes attrs.
func newMount(fstype string, attrs int) (int, error) {
	return newMountData(fstype, "", "", attrs)
}

// mountSpecial mounts proc, sys and the /dev tmpfs, from inside the new
// root; proc and sys are the detached mounts in made when they are there
// (see EnterRoot).
func mountSpecial(made map[string]int) error {
	const common = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	mounts := []struct {
		src, dst, fstype, data string
		flags                  uintptr
	}{
		{"proc", "/proc", "proc", "", common},
		{"sysfs", "/sys", "sysfs", "", common | unix.MS_RDONLY},
		{"tmpfs", "/dev", "tmpfs", "mode=755,size=65536k", unix.MS_NOSUID | unix.MS_STRICTATIME},
	}
	for _, m := range mounts {
		if err := mkdirIn(m.dst, 0o755); err != nil {
			return err
		}
		if fd, ok := made[m.dst]; ok {
			if err := unix.MoveMount(fd, "", unix.AT_FDCWD, m.dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
				return fmt.Errorf("attach %s: %w", m.dst, err)
			}
			continue
		}
		if err := mountFS(m.src, m.dst, m.fstype, m.data, m.flags); err != nil {
			return err
		}
	}
	return nil
}

// mountCgroup2 mounts the cgroup2 hierarchy on /sys/fs/cgroup, read-only as
// Docker does: from inside a cgroup namespace, a cgroup2 mount shows the
// namespace's root, which ccsuper made the container's own cgroup. Programs
// that size themselves from their limits (Go's GOMAXPROCS, the JVM, free)
// read them there; read-only, as the limits are the supervisor's to set.
// /sys/fs/cgroup is a directory of sysfs itself, there whenever the kernel
// has cgroups.
func mountCgroup2() error {
	const flags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", flags, ""); err != nil {
		return fmt.Errorf("mount cgroup2 on /sys/fs/cgroup: %w", err)
	}
	return nil
}

// mountCgroup1 lays out the container's own v1 cgroups as Docker does on a
// v1 host: a tmpfs on /sys/fs/cgroup with each hierarchy's directory of the
// container (held in dirs, see Options.Cgroup1) bound read-only on its name,
// a co-mounted one ("cpu,cpuacct") reached by each of its names too, and the
// tmpfs itself read-only. There is no cgroup namespace on v1 (ccinit is moved
// into its cgroups only after the clone), so /proc/self/cgroup still shows
// the host's paths; the files are what the container reads.
func mountCgroup1(specs []string, dirs []hostFile) error {
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("cgroup", "/sys/fs/cgroup", "tmpfs", flags, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("mount tmpfs on /sys/fs/cgroup: %w", err)
	}
	fd, err := unix.Open("/sys/fs/cgroup", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /sys/fs/cgroup: %w", err)
	}
	defer unix.Close(fd)
	ro := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	for i, spec := range specs {
		_, name := SplitCgroup1(spec)
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			return fmt.Errorf("mkdir /sys/fs/cgroup/%s: %w", name, err)
		}
		// No host directory: an empty directory of the read-only tmpfs,
		// where showing the cgroup would show the whole hierarchy (a
		// rootless container whose ccsuper is in its root).
		if dirs[i].fd > 0 {
			if err := unix.MountSetattr(dirs[i].fd, "", unix.AT_EMPTY_PATH, &ro); err != nil {
				return fmt.Errorf("cgroup %q: make read-only: %w", dirs[i].path, err)
			}
			if err := unix.MoveMount(dirs[i].fd, "", fd, name, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
				return fmt.Errorf("bind cgroup %q on /sys/fs/cgroup/%s: %w", dirs[i].path, name, err)
			}
		}
		if !strings.Contains(name, ",") {
			continue
		}
		for _, c := range strings.Split(name, ",") {
			if err := unix.Symlinkat(name, fd, c); err != nil {
				return fmt.Errorf("symlink /sys/fs/cgroup/%s: %w", c, err)
			}
		}
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &ro); err != nil {
		return fmt.Errorf("make /sys/fs/cgroup read-only: %w", err)
	}
	return nil
}

// populateDev makes the nodes, links and mounts of the /dev tmpfs. There is
// no /dev/console unless the container has a pty of its own (-t), which
// ccinit binds there later: the host's terminal never is (see
// docs/security.md, terminal injection).
//
// Without nodes (in a user namespace) the nodes are left to the caller, and
// devpts gets the tty group only if group 5 is mapped: the kernel refuses a
// gid option it cannot map.
func populateDev(nodes bool) error {
	dev, err := unix.Open("/dev", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev: %w", err)
	}
	defer unix.Close(dev)
	// The nodes are made relative to the tmpfs just mounted, checked to be
	// it: a directory renamed to /dev since could be the rootfs's own.
	fresh, err := isMountRoot(dev, unix.TMPFS_MAGIC)
	if err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	if !fresh {
		return errors.New("/dev is no longer the tmpfs mounted on it")
	}

	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, n := range devNodes {
		if !nodes {
			break
		}
		if err := unix.Mknodat(dev, n.name, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("mknod /dev/%s: %w", n.name, err)
		}
	}
	for _, l := range devLinks {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	for _, d := range []string{"pts", "shm", "mqueue"} {
		if err := unix.Mkdirat(dev, d, 0o755); err != nil {
			return fmt.Errorf("mkdir /dev/%s: %w", d, err)
		}
	}
	// newinstance: the container's ptys are its own, not the host's; ptmx
	// above points at this instance's ptmx.
	pts := "newinstance,ptmxmode=0666,mode=0620,gid=5"
	err = mountFS("devpts", "/dev/pts", "devpts", pts, unix.MS_NOSUID|unix.MS_NOEXEC)
	if errors.Is(err, unix.EINVAL) && !nodes {
		pts = "newinstance,ptmxmode=0666,mode=0620"
		err = mountFS("devpts", "/dev/pts", "devpts", pts, unix.MS_NOSUID|unix.MS_NOEXEC)
	}
	if err != nil {
		return err
	}
	if err := mountFS("shm", "/dev/shm", "tmpfs", "mode=1777,size=65536k", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
		return err
	}
	// mqueue belongs to the new IPC namespace.
	if err := mountFS("mqueue", "/dev/mqueue", "mqueue", "", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
		return err
	}
	return nil
}

// isMountRoot reports whether fd is the root directory of a mount of a file
// system of type magic (see statfs(2)).
func isMountRoot(fd int, magic int64) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return false, fmt.Errorf("statfs: %w", err)
	}
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &stx); err != nil {
		return false, fmt.Errorf("statx: %w", err)
	}
	root := stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
	return root && int64(st.Type) == magic, nil
}

// pivot switches the root to dir with the pivot_root(".", ".") idiom: the old
// root ends up stacked on top of the new one and is detached straight away, so
// no directory for it is needed in the rootfs. Nothing may be looked up in
// between: while the old root is stacked there, "/.." climbs onto it, so a
// symlink to /../x would reach the host's /x.
func pivot(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	return pivotHere(dir)
}

// pivotHere is pivot's idiom on the working directory, the root of a mount,
// named dir in errors.
func pivotHere(dir string) error {
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", dir, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// mountFS is mount(2) with an error that says what was mounted where: the
// type, source and flags (in hex) tell apart the many mounts of a start.
func mountFS(src, dst, fstype, data string, flags uintptr) error {
	if err := unix.Mount(src, dst, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s %q on %s (flags %#x): %w", fstype, src, dst, flags, err)
	}
	return nil
}

// pivotTree makes the detached mount tree the root, as pivot does with a
// directory: attached on top of the current root, made the working
// directory, and pivoted into with the same idiom. It needs no path to the
// rootfs: the supervisor opened it, and ccinit, whose root is no user of the
// host's (--userns=auto), may not be able to walk the host's directories to
// it.
func pivotTree(tree hostFile) error {
	if err := unix.MoveMount(tree.fd, "", unix.AT_FDCWD, "/", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach rootfs %q: %w", tree.path, err)
	}
	if err := unix.Fchdir(tree.fd); err != nil {
		return fmt.Errorf("chdir to rootfs %q: %w", tree.path, err)
	}
	return pivotHere(tree.path)
}

// mkdirIn creates a mount point that the rootfs lacks. It refuses a symlink
// there: images have /proc, /sys and /dev as plain directories.
func mkdirIn(p string, mode os.FileMode) error {
	st, err := os.Lstat(p)
	switch {
	case err == nil && st.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("mount point %s is not a directory", p)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := os.Mkdir(p, mode); err != nil {
		return fmt.Errorf("create mount point: %w", err)
	}
	return nil
}

// isMounted reports whether dir is a mount point of type magic (see statfs(2)).
func isMounted(dir string, magic int64) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return int64(st.Type) == magic
}

// bindFile binds the host file src on dst, resolved inside the directory
// root (the new root): a symlink at dst, such as Debian's /etc/resolv.conf, is
// followed as the container would follow it, and is confined to the rootfs
// even if it was swapped in while the container starts.
func bindFile(root int, src hostFile, dst string) error {
	fd, err := bindTarget(root, dst)
	if err != nil {
		return fmt.Errorf("bind on %q: %w", dst, err)
	}
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	if err := unix.MoveMount(src.fd, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind %q on %q: %w", src.path, dst, err)
	}
	return nil
}

// bindTarget returns a descriptor of the file at dst, resolved inside root,
// to mount on. As a mount point must exist, a missing file is created empty,
// and so is the missing target of a symlink at dst.
//
// It returns -1 and no error when dst is a symlink whose target's directory
// is missing too. The image ships a dangling link and keeps it: Ubuntu's
// /etc/resolv.conf points to ../run/systemd/resolve/stub-resolv.conf, which
// only systemd-resolved makes, and a container without it lives without
// that file rather than not starting.
func bindTarget(root int, dst string) (int, error) {
	fd, err := openInRoot(root, dst, unix.O_PATH|unix.O_CLOEXEC, 0)
	if !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	// dst is missing, or it is a symlink to a missing file: the link opens
	// when it is not followed.
	link, err := openInRoot(root, dst, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		fd, err := openInRoot(root, dst, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return -1, fmt.Errorf("create: %w", err)
		}
		return fd, nil
	}
	if err != nil {
		return -1, err
	}
	_ = unix.Close(link) // only needed to tell a dangling link from nothing
	// O_CREAT without O_EXCL follows the link and creates its target.
	// O_NONBLOCK: a FIFO put there meanwhile fails the open instead of
	// blocking the start.
	fd, err = openInRoot(root, dst, unix.O_CREAT|unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o644)
	switch {
	case errors.Is(err, unix.ENOENT):
		return -1, nil
	case err != nil:
		return -1, fmt.Errorf("create symlink target: %w", err)
	}
	return fd, nil
}

// openInRoot opens path resolved inside the directory root as if it were /,
// never through a /proc magic link.
func openInRoot(root int, path string, flags, mode uint64) (int, error) {
	how := unix.OpenHow{Flags: flags, Mode: mode, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	// openat2 fails with EAGAIN when a rename or a mount anywhere on the
	// machine races with a lookup through "..", which a link such as
	// ../run/systemd/resolve/stub-resolv.conf makes, and containers starting
	// next to this one mount all the time. The lookup is simply made again.
	const attempts = 128
	for i := 1; ; i++ {
		fd, err := unix.Openat2(root, path, &how)
		if !errors.Is(err, unix.EAGAIN) || i == attempts {
			return fd, err
		}
	}
}
