package supervisor

import (
	"fmt"
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
