package supervisor

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// readOnlyInit returns a path through which to exec the ccinit at path
// without the container ever holding the host's file: a detached, read-only
// clone of the file's mount (open_tree with OPEN_TREE_CLONE, then
// MOUNT_ATTR_RDONLY), reached as /proc/self/fd/N of the returned descriptor.
//
// Every process of the container that runs ccinit (PID 1, or the command
// itself through a `#!/proc/self/exe` script) then has that clone as
// /proc/PID/exe: chmod, chown, utimes, setxattr and writes through it fail
// with EROFS, and its path names no host directory. The clone is in no mount
// namespace, so no process inside can remount it (a mount outside its own
// namespace is out of reach of mount(2)). It lives as long as the last
// process executing it, and nothing is left to clean up. See
// docs/security.md for why not a sealed memfd copy (runc's way): a copy of
// ccinit costs about 0.9 ms per start here, the clone tens of microseconds.
//
// The descriptor is numbered above 2*files+2: syscall.ForkExec moves the
// child's files (files of them) into place with dup2 onto 0..files-1 and,
// for those in the way, onto the numbers just above, which must not be the
// one exec is about to open. The caller closes it once the container is over.
func readOnlyInit(path string, files int) (exe string, fd *os.File, err error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return "", nil, fmt.Errorf("ccinit %q: open_tree: %w", path, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		_ = unix.Close(tree)
		return "", nil, fmt.Errorf("ccinit %q: make the clone read-only: %w", path, err)
	}
	high, err := unix.FcntlInt(uintptr(tree), unix.F_DUPFD_CLOEXEC, 2*files+3)
	_ = unix.Close(tree)
	if err != nil {
		return "", nil, fmt.Errorf("ccinit %q: %w", path, err)
	}
	return fmt.Sprintf("/proc/self/fd/%d", high), os.NewFile(uintptr(high), "ccinit (read-only clone)"), nil
}

// initToExec returns the path to exec ccinit at path through, and the
// descriptor to close once the container is over: root's read-only clone
// of its mount, or for a rootless ccsuper, which may not clone mounts,
// rootlessInit's.
func initToExec(path string, files int) (exe string, fd *os.File, err error) {
	if !Rootless() {
		return readOnlyInit(path, files)
	}
	return rootlessInit(path, files)
}

// rootlessInit returns a path to exec ccinit at path through when ccsuper
// runs as an ordinary user. The container's processes are that user on the
// host, so through /proc/PID/exe they can do to ccinit's file what the user
// can: nothing to a ccinit of root's (installed, or built by root), which
// is exec'd as it is, through a descriptor (a rename of the path between the
// check and the exec changes nothing); everything to one the user owns or
// may write, which is exec'd from a sealed copy in memory instead (a memfd,
// runc's way, about 0.9 ms per start here: docs/security.md).
//
// The descriptor is numbered as readOnlyInit's, for the same reason.
func rootlessInit(path string, files int) (exe string, fd *os.File, err error) {
	src, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("ccinit %q: %w", path, err)
	}
	defer src.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return "", nil, fmt.Errorf("ccinit %q: %w", path, err)
	}
	use := int(src.Fd())
	if int(st.Uid) == os.Geteuid() || unix.Faccessat(int(src.Fd()), "", unix.W_OK, unix.AT_EMPTY_PATH|unix.AT_EACCESS) == nil ||
		st.Mode&0o022 != 0 {
		mfd, err := sealedCopy(src)
		if err != nil {
			return "", nil, fmt.Errorf("ccinit %q: %w", path, err)
		}
		defer unix.Close(mfd)
		use = mfd
	}
	high, err := unix.FcntlInt(uintptr(use), unix.F_DUPFD_CLOEXEC, 2*files+3)
	if err != nil {
		return "", nil, fmt.Errorf("ccinit %q: %w", path, err)
	}
	return fmt.Sprintf("/proc/self/fd/%d", high), os.NewFile(uintptr(high), "ccinit"), nil
}

// sealedCopy copies src into a memfd that can no longer be written, grown,
// shrunk or unsealed.
func sealedCopy(src *os.File) (int, error) {
	mfd, err := unix.MemfdCreate("ccinit", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("memfd: %w", err)
	}
	dst := os.NewFile(uintptr(mfd), "ccinit (memfd)")
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return -1, fmt.Errorf("copy into memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(mfd), unix.F_ADD_SEALS, seals); err != nil {
		_ = dst.Close()
		return -1, fmt.Errorf("seal memfd: %w", err)
	}
	// dst's finalizer must not close mfd under the caller.
	fd, err := unix.FcntlInt(dst.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	_ = dst.Close()
	if err != nil {
		return -1, fmt.Errorf("memfd: %w", err)
	}
	return fd, nil
}
