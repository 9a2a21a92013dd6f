package supervisor

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// sendHostMounts opens for the container of pid, in a user namespace of
// --userns=auto, what ccinit would otherwise take hold of itself (see
// initproc.EnterRoot), and sends it over the sync socket s: detached clones
// of the rootfs and of the binds' sources, idmapped through the container's
// user namespace, and of the volumes' sources, as they are. With
// opts.Overlay, the rootfs sent is an overlay of idmapped layers
// (idmappedOverlay).
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
//
// rootUID and rootGID are the host's IDs of the container's root.
func sendHostMounts(s *os.File, pid int, opts initproc.Options, rootUID, rootGID int) (err error) {
	h, err := openHostMounts(pid, "--userns=auto")
	if err != nil {
		return err
	}
	defer h.close()
	if opts.Overlay != "" {
		fd, err := idmappedOverlay(opts.Rootfs, opts.Overlay, !opts.KeepLayer, h.idmap(), rootUID, rootGID)
		if err != nil {
			return err
		}
		h.fds = append(h.fds, fd)
	} else if err := h.clone(opts.Rootfs, true, h.idmap()); err != nil {
		return err
	}
	for _, b := range opts.Binds {
		src, _, _ := strings.Cut(b, ":")
		if err := h.clone(src, false, h.idmap()); err != nil {
			return err
		}
	}
	for _, v := range opts.Volumes {
		var attr *unix.MountAttr
		if v.ReadOnly {
			attr = &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		}
		if err := h.clone(v.Source, true, attr); err != nil {
			return err
		}
	}
	return h.send(s)
}

// sendOCIMounts is sendHostMounts for an OCI container with a user
// namespace, or a mount namespace joined by path: the rootfs, then the source of each bind mount of the config in
// its order, opened by ccsuper, whose host root may walk to them where the
// container's root may not (a bundle in a directory of mode 0700, as engines
// and the validation suite make them), and which a joined mount namespace
// may not have. The binds of idmapped (their indexes
// in opts.OCI.Mounts) are idmapped through the container's user namespace;
// the rest are plain clones, as ccinit would have made them.
func sendOCIMounts(s *os.File, pid int, opts initproc.Options, idmapped []int) error {
	h, err := openHostMounts(pid, "rootfs and binds")
	if err != nil {
		return err
	}
	defer h.close()
	if err := h.clone(opts.Rootfs, true, nil); err != nil {
		return err
	}
	for i, m := range opts.OCI.Mounts {
		if m.Flags&unix.MS_BIND == 0 {
			continue
		}
		rec := m.Flags&unix.MS_REC != 0
		var attr *unix.MountAttr
		if slices.Contains(idmapped, i) {
			attr = h.idmap()
		}
		if err := h.clone(m.Source, rec, attr); err != nil {
			return err
		}
	}
	return h.send(s)
}

// hostMounts are detached mounts (open_tree clones) ccsuper takes for a
// ccinit in a user namespace, sent to it in one message.
type hostMounts struct {
	why string // what they are for, in errors
	ns  int    // the container's user namespace
	fds []int
}

// openHostMounts opens the user namespace of pid for idmapped clones.
func openHostMounts(pid int, why string) (*hostMounts, error) {
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: open the user namespace: %w", why, err)
	}
	return &hostMounts{why: why, ns: ns}, nil
}

// idmap is the attribute that idmaps a clone through the container's user
// namespace (on each of its mounts, when the clone is recursive).
func (h *hostMounts) idmap() *unix.MountAttr {
	return &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(h.ns)}
}

// clone takes a detached clone of path (with the mounts below it when
// recursive) and sets attr on it.
func (h *hostMounts) clone(path string, recursive bool, attr *unix.MountAttr) error {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	at := uint(0)
	if recursive {
		flags |= unix.AT_RECURSIVE
		at = unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, flags)
	if err != nil {
		return fmt.Errorf("%s: %q: %w", h.why, path, err)
	}
	h.fds = append(h.fds, fd)
	// A clone of a shared mount (an engine's overlay, made in a mount
	// namespace whose mounts are shared) is a peer of it: pivot_root
	// refuses such a root (EINVAL), and a mount made on it would reach the
	// host. Private, whatever the source was.
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Propagation: unix.MS_PRIVATE}); err != nil {
		return fmt.Errorf("%s: %q: make private: %w", h.why, path, err)
	}
	if attr == nil {
		return nil
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|at, attr); err != nil {
		why := ""
		if errors.Is(err, unix.EINVAL) && attr.Attr_set&unix.MOUNT_ATTR_IDMAP != 0 {
			why = " (its file system cannot be idmapped)"
		}
		return fmt.Errorf("%s: %q: mount_setattr: %w%s", h.why, path, err, why)
	}
	return nil
}

// send sends the clones to ccinit over the sync socket s.
func (h *hostMounts) send(s *os.File) error {
	if len(h.fds) > initproc.MaxHostFDs {
		return fmt.Errorf("%s: %d binds and volumes, at most %d", h.why, len(h.fds)-1, initproc.MaxHostFDs-1)
	}
	if err := unix.Sendmsg(int(s.Fd()), []byte(initproc.SyncHostFDs), unix.UnixRights(h.fds...), nil, 0); err != nil {
		return fmt.Errorf("sync socket: send mounts: %w", err)
	}
	return nil
}

// close closes ccsuper's copies: ccinit has its own once sent.
func (h *hostMounts) close() {
	for _, fd := range h.fds {
		_ = unix.Close(fd)
	}
	_ = unix.Close(h.ns)
}

// idmappedOverlay makes the overlay of --userns=auto with --overlay,
// detached, for ccinit to take as its root: its layers (the rootfs below,
// layer/upper and layer/work above) are seen through idmap, as the rootfs
// is without an overlay, so that root's files are root's inside and what the
// container writes is root's on the host.
//
// overlayfs takes idmapped layers (Linux 5.19), but clones each layer's
// mount, which kernels before 6.15 refuse for a mount outside the caller's
// mount namespace (a detached clone): the idmapped clones are attached over
// the rootfs and the layer in a mount namespace that one thread of ours
// enters for this and leaves, where the overlay is made; the host's mounts
// never change. (ccinit cannot do it: only real root may idmap the host's
// file systems, and the layer's path is root's.)
//
// overlayfs does its own work in the upper layer (work/work, copy-ups) as
// its mounter, and an idmapped layer refuses an ID outside its map
// (EOVERFLOW; the kernel then mounts the overlay read-only): the thread
// mounts it as the container's root, rootUID and rootGID as its file system
// IDs, keeping its capabilities (SECBIT_NO_SETUID_FIXUP).
func idmappedOverlay(rootfs, layer string, volatile bool, idmap *unix.MountAttr, rootUID, rootGID int) (int, error) {
	type made struct {
		fd  int
		err error
	}
	done := make(chan made, 1)
	go func() {
		runtime.LockOSThread()
		saved, err := saveThread()
		if err != nil {
			runtime.UnlockOSThread() // nothing changed yet
			done <- made{-1, err}
			return
		}
		fd, err := overlayInPrivateNS(rootfs, layer, volatile, idmap, rootUID, rootGID)
		// A thread put back as it was returns to Go's pool; one that
		// could not be stays locked, and ends with this goroutine (Go
		// kills it, or parks it for good if it is the main thread).
		if saved.restore() == nil {
			runtime.UnlockOSThread()
		}
		done <- made{fd, err}
	}()
	m := <-done
	if m.err != nil {
		return -1, fmt.Errorf("--userns=auto with --overlay: %w", m.err)
	}
	return m.fd, nil
}

// secbitNoSetuidFixup is SECBIT_NO_SETUID_FIXUP (linux/securebits.h): a
// change of the thread's IDs away from 0 keeps its capabilities.
const secbitNoSetuidFixup = 1 << 2

// threadState is what overlayInPrivateNS changes in its thread: its mount
// namespace, working directory, securebits and file system IDs.
type threadState struct {
	mntNS, cwd   int
	secbits      uintptr
	fsuid, fsgid int
}

// saveThread records the calling thread's state, for restore.
//
// Preconditions: the calling goroutine is locked to its thread.
func saveThread() (*threadState, error) {
	s := &threadState{mntNS: -1, cwd: -1}
	var err error
	if s.mntNS, err = unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("open mount namespace: %w", err)
	}
	if s.cwd, err = unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		_ = unix.Close(s.mntNS) // read only
		return nil, fmt.Errorf("open working directory: %w", err)
	}
	bits, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_GET_SECUREBITS, 0, 0)
	if e != 0 {
		s.close()
		return nil, fmt.Errorf("read securebits: %w", e)
	}
	s.secbits = bits
	// setfsuid with an invalid ID (-1) changes nothing and reports the
	// current one.
	s.fsuid, _ = unix.SetfsuidRetUid(-1)
	s.fsgid, _ = unix.SetfsgidRetGid(-1)
	return s, nil
}

// restore puts the calling thread back as saveThread found it: IDs first,
// while the capabilities to change them back are kept, then the mount
// namespace (setns also moves the thread to its root) and the working
// directory. Its file system context stays its own (unshare made it so):
// only a chdir elsewhere would tell it apart, and ccsuper never changes
// directory.
func (s *threadState) restore() error {
	defer s.close()
	_ = unix.Setfsgid(s.fsgid)
	_ = unix.Setfsuid(s.fsuid)
	if u, _ := unix.SetfsuidRetUid(-1); u != s.fsuid {
		return fmt.Errorf("setfsuid %d: still %d", s.fsuid, u)
	}
	if g, _ := unix.SetfsgidRetGid(-1); g != s.fsgid {
		return fmt.Errorf("setfsgid %d: still %d", s.fsgid, g)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, s.secbits, 0); e != 0 {
		return fmt.Errorf("restore securebits: %w", e)
	}
	if err := unix.Setns(s.mntNS, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("back to the mount namespace: %w", err)
	}
	if err := unix.Fchdir(s.cwd); err != nil {
		return fmt.Errorf("back to the working directory: %w", err)
	}
	return nil
}

func (s *threadState) close() {
	for _, fd := range []int{s.mntNS, s.cwd} {
		if fd >= 0 {
			_ = unix.Close(fd) // read only
		}
	}
	s.mntNS, s.cwd = -1, -1
}

// overlayInPrivateNS is idmappedOverlay's work on its thread.
//
// Preconditions: the calling goroutine is locked to its thread, whose state
// saveThread recorded.
func overlayInPrivateNS(rootfs, layer string, volatile bool, idmap *unix.MountAttr, rootUID, rootGID int) (int, error) {
	// CLONE_NEWNS unshares the thread's file system context (CLONE_FS)
	// too: only this thread is in the new namespace.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return -1, fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return -1, fmt.Errorf("make / recursively private: %w", err)
	}
	for _, dir := range []string{rootfs, layer} {
		fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return -1, fmt.Errorf("%q: %w", dir, err)
		}
		err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, idmap)
		if errors.Is(err, unix.EINVAL) {
			err = fmt.Errorf("mount_setattr: %w (its file system cannot be idmapped)", err)
		} else if err == nil {
			err = unix.MoveMount(fd, "", unix.AT_FDCWD, dir, unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_SYMLINKS)
		}
		_ = unix.Close(fd) // attached, or to be dropped
		if err != nil {
			return -1, fmt.Errorf("%q: %w", dir, err)
		}
	}
	// Raw calls, as setfsuid is: this thread's credentials alone.
	if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, secbitNoSetuidFixup, 0); e != 0 {
		return -1, fmt.Errorf("keep capabilities: %w", e)
	}
	// setfsuid reports the previous ID, never an error: read it back.
	_ = unix.Setfsgid(rootGID)
	_ = unix.Setfsuid(rootUID)
	if prev, _ := unix.SetfsuidRetUid(-1); prev != rootUID {
		return -1, fmt.Errorf("setfsuid %d: still %d", rootUID, prev)
	}
	return initproc.NewOverlay(rootfs, layer, volatile)
}
