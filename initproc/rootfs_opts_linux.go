package initproc

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOverlay mounts an overlayfs on rootfs, in the caller's (private) mount
// namespace: rootfs is its lower layer, layer/upper and layer/work its
// writable ones. The lower layer is looked up before the overlay covers it,
// so the overlay does not stack on itself.
func mountOverlay(rootfs, layer string, volatile bool) error {
	mfd, err := NewOverlay(rootfs, layer, volatile)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	// pivot_root needs the new root to be a mount point: the overlay on
	// the rootfs's path is one. A rootfs given as a symlink is followed, as
	// pivot's chdir follows it.
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, rootfs, unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_SYMLINKS); err != nil {
		return fmt.Errorf("attach overlay on %q: %w", rootfs, err)
	}
	return nil
}

// NewOverlay makes an overlayfs, detached (a descriptor of its mount, for
// move_mount), whose lower layer is rootfs and whose writable ones are
// layer/upper and layer/work. A volatile overlay never syncs: its layer is
// deleted after the run, so a crash loses nothing of value.
//
// The layers are given to the kernel as /proc/self/fd paths of descriptors
// opened here, so that no character of the host paths (a colon separates
// lower layers) can change what the options say.
func NewOverlay(rootfs, layer string, volatile bool) (int, error) {
	var fds []int
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd) // the mount holds its own references
		}
	}()
	opts := [][2]string{}
	for _, l := range [][2]string{{"lowerdir", rootfs}, {"upperdir", layer + "/upper"}, {"workdir", layer + "/work"}} {
		fd, err := unix.Open(l[1], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("overlay %s %q: %w", l[0], l[1], err)
		}
		fds = append(fds, fd)
		opts = append(opts, [2]string{l[0], "/proc/self/fd/" + strconv.Itoa(fd)})
	}

	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("overlayfs is not available: %w", err)
	}
	defer unix.Close(fsfd)
	fail := func(err error) error {
		why := kernelSays(fsfd)
		if why == "" {
			why = " (the kernel log says why: dmesg)"
		}
		return fmt.Errorf("overlayfs refused rootfs %q (%s) with layer %q (%s): %w%s",
			rootfs, fsType(fds[0]), layer, fsType(fds[1]), err, why)
	}
	for _, o := range opts {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return -1, fail(err)
		}
	}
	if volatile {
		if err := unix.FsconfigSetFlag(fsfd, "volatile"); err != nil {
			return -1, fail(err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fail(err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return -1, fail(err)
	}
	return mfd, nil
}

// kernelSays returns what the kernel logged on the file system context fsfd
// (why a mount was refused, say "upper fs does not support tmpfile"), as
// " (...)", or "" when it said nothing.
func kernelSays(fsfd int) string {
	var msgs []string
	buf := make([]byte, 512)
	for range 16 { // the context keeps only a few messages
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		// Each message is "e ", "w " or "i " and the text.
		_, text, _ := strings.Cut(string(buf[:n]), " ")
		msgs = append(msgs, strings.TrimSpace(text))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (" + strings.Join(msgs, "; ") + ")"
}

// fsTypes names the file systems a rootfs or a layer is most often on.
var fsTypes = map[int64]string{
	unix.EXT4_SUPER_MAGIC: "ext4", unix.XFS_SUPER_MAGIC: "xfs", unix.BTRFS_SUPER_MAGIC: "btrfs",
	unix.TMPFS_MAGIC: "tmpfs", unix.OVERLAYFS_SUPER_MAGIC: "overlayfs", unix.NFS_SUPER_MAGIC: "nfs",
	unix.FUSE_SUPER_MAGIC: "fuse", unix.SQUASHFS_MAGIC: "squashfs", 0x2fc12fc1: "zfs",
}

// fsType names the file system of fd, for an error message.
func fsType(fd int) string {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return "file system unknown"
	}
	if name, ok := fsTypes[int64(st.Type)]; ok {
		return "on " + name
	}
	return fmt.Sprintf("on file system %#x", st.Type)
}

// prepareVolume makes the clone of a volume's source read-only if asked,
// every mount in it included. Done on the clone before it is attached, the
// container never sees a moment where the volume is writable.
func prepareVolume(src hostFile, readOnly bool) error {
	if !readOnly {
		return nil
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(src.fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("volume %q: make read-only: %w", src.path, err)
	}
	return nil
}

// bindVolume attaches the clone src on dst, resolved inside root. A missing
// dst is made, with its missing parents: a directory for a directory, an
// empty file for anything else. Every lookup is confined to root, so a
// symlink in the rootfs (absolute, relative, full of "..", or swapped in
// while the container starts) can only send the volume elsewhere inside the
// container, never onto a host path.
func bindVolume(root int, src hostFile, dst string) error {
	var st unix.Stat_t
	if err := unix.Fstat(src.fd, &st); err != nil {
		return fmt.Errorf("volume %q: stat: %w", src.path, err)
	}
	dir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	fd, err := volumeTarget(root, dst, dir)
	if err != nil {
		return fmt.Errorf("volume %q on %q: %w", src.path, dst, err)
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("volume %q on %q: stat: %w", src.path, dst, err)
	}
	if isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR; isDir != dir {
		kind := map[bool]string{true: "a directory", false: "not a directory"}
		return fmt.Errorf("volume %q on %q: the source is %s, the target %s", src.path, dst, kind[dir], kind[isDir])
	}
	// The text check in ParseVolume sees the path, not where symlinks take
	// it: check what the target is.
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return fmt.Errorf("volume on %q: statfs: %w", dst, err)
	}
	if t := int64(sfs.Type); t == unix.PROC_SUPER_MAGIC || t == unix.SYSFS_MAGIC {
		return fmt.Errorf("volume on %q: the target is in /proc or /sys", dst)
	}
	if err := unix.MoveMount(src.fd, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("volume %q on %q: %w", src.path, dst, err)
	}
	return nil
}

// volumeTarget returns a descriptor of the mount point dst inside root,
// made if missing: a directory when dir, else an empty file (see bindTarget).
func volumeTarget(root int, dst string, dir bool) (int, error) {
	if dir {
		return mkdirAllIn(root, dst)
	}
	parent, err := mkdirAllIn(root, path.Dir(dst))
	if err != nil {
		return -1, err
	}
	_ = unix.Close(parent) // only needed to exist
	fd, err := bindTarget(root, dst)
	if err == nil && fd < 0 {
		return -1, errors.New("a symlink to a missing directory")
	}
	return fd, err
}

// mkdirAllIn returns a descriptor of the directory p inside root, made with
// its missing parents. Each directory is made relative to its parent's
// descriptor, itself resolved inside root, and mkdirat does not follow a
// symlink at the name it makes: a swapped-in link makes it fail, not escape.
func mkdirAllIn(root int, p string) (int, error) {
	fd, err := openInRoot(root, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if !errors.Is(err, unix.ENOENT) || p == "/" {
		return fd, err
	}
	parent, err := mkdirAllIn(root, path.Dir(p))
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	// EEXIST: made meanwhile, or a dangling symlink; the open says which.
	if err := unix.Mkdirat(parent, path.Base(p), 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("mkdir %s: %w", p, err)
	}
	fd, err = openInRoot(root, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", p, err)
	}
	return fd, nil
}

// makeRootReadOnly makes the container's root mount read-only, and only it:
// /proc, /sys, /dev and its submounts, the /etc files and the volumes are
// mounts of their own and keep their modes.
//
// Preconditions: after EnterRoot, and after anything still to be made in the
// root (the working directory).
func makeRootReadOnly() error {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(unix.AT_FDCWD, "/", 0, &attr); err != nil {
		return fmt.Errorf("make / read-only: %w", err)
	}
	return nil
}
