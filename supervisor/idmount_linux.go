package supervisor

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// sendHostMounts opens for the container of pid, in a user namespace of
// --userns=auto, what ccinit would otherwise take hold of itself (see
// initproc.EnterRoot), and sends it over the sync socket s: detached clones
// of the rootfs and of the binds' sources, idmapped through the container's
// user namespace, and of the volumes' sources, as they are.
//
// Idmapped (mount_setattr with MOUNT_ATTR_IDMAP): the container's IDs are
// written to and read from the disk through its namespace's map, so a rootfs
// of root-owned files shows root-owned files inside, and what the container's
// root writes there is root's on disk, with no chown of the rootfs. The
// kernel lets only the owner of the file system's user namespace (for ext4,
// tmpfs or overlayfs mounted on the host, real root) make such a mount,
// which is why ccsuper, not ccinit, makes it.
//
// The volumes are not idmapped: files the container writes there are its
// range's on the host, never root's, and the host's root-owned files in them
// are nobody's inside (docs/rootless.md).
func sendHostMounts(s *os.File, pid int, opts initproc.Options) (err error) {
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("--userns=auto: open the user namespace: %w", err)
	}
	defer unix.Close(ns)
	var fds []int
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd) // ccinit has its own copies once sent
		}
	}()
	clone := func(path string, recursive bool, attr *unix.MountAttr) error {
		flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
		at := uint(0)
		if recursive {
			flags |= unix.AT_RECURSIVE
			at = unix.AT_RECURSIVE
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, path, flags)
		if err != nil {
			return fmt.Errorf("--userns=auto: %q: %w", path, err)
		}
		fds = append(fds, fd)
		if attr == nil {
			return nil
		}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|at, attr); err != nil {
			why := ""
			if errors.Is(err, unix.EINVAL) {
				why = " (its file system cannot be idmapped)"
			}
			return fmt.Errorf("--userns=auto: %q: mount_setattr: %w%s", path, err, why)
		}
		return nil
	}
	idmap := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns)}
	if err := clone(opts.Rootfs, true, idmap); err != nil {
		return err
	}
	for _, b := range opts.Binds {
		src, _, _ := strings.Cut(b, ":")
		if err := clone(src, false, idmap); err != nil {
			return err
		}
	}
	for _, v := range opts.Volumes {
		var attr *unix.MountAttr
		if v.ReadOnly {
			attr = &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		}
		if err := clone(v.Source, true, attr); err != nil {
			return err
		}
	}
	if len(fds) > initproc.MaxHostFDs {
		return fmt.Errorf("--userns=auto: %d binds and volumes, at most %d", len(fds)-1, initproc.MaxHostFDs-1)
	}
	if err := unix.Sendmsg(int(s.Fd()), []byte(initproc.SyncHostFDs), unix.UnixRights(fds...), nil, 0); err != nil {
		return fmt.Errorf("sync socket: send mounts: %w", err)
	}
	return nil
}
