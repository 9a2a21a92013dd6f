package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/u-root/u-root/pkg/mount"
	"golang.org/x/sys/unix"
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
	{"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"},
}

// EnterRoot makes rootfs the root of the calling process's mount namespace:
// it mounts proc, sys and a fresh /dev in it, then pivots into it and detaches
// the old root, so no host mount is reachable from inside.
//
// Preconditions: the caller is alone in a new mount namespace and is the first
// process of a new PID namespace (so the proc instance shows the container's
// processes only).
func EnterRoot(rootfs, console string, binds []string) error {
	// Without this, with systemd's shared / the mounts below would propagate
	// back to the host's namespace and outlive the container.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / recursively private: %w", err)
	}
	// pivot_root needs the new root to be a mount point.
	if _, err := mount.Mount(rootfs, rootfs, "", "", unix.MS_BIND|unix.MS_REC); err != nil {
		return fmt.Errorf("bind rootfs: %w", err)
	}
	if err := mountSpecial(rootfs, console); err != nil {
		return err
	}
	for _, b := range binds {
		src, dst, _ := strings.Cut(b, ":")
		if err := bindFileIn(rootfs, src, dst); err != nil {
			return err
		}
	}
	return pivot(rootfs)
}

func mountSpecial(root, console string) error {
	const common = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	mounts := []struct {
		src, dst, fstype, data string
		flags                  uintptr
	}{
		{"proc", "proc", "proc", "", common},
		{"sysfs", "sys", "sysfs", "", common | unix.MS_RDONLY},
		{"tmpfs", "dev", "tmpfs", "mode=755,size=65536k", unix.MS_NOSUID | unix.MS_STRICTATIME},
	}
	for _, m := range mounts {
		dst := filepath.Join(root, m.dst)
		if err := mkdirIn(dst, 0o755); err != nil {
			return err
		}
		if _, err := mount.Mount(m.src, dst, m.fstype, m.data, m.flags); err != nil {
			return err
		}
	}
	return populateDev(filepath.Join(root, "dev"), console)
}

func populateDev(dev, console string) error {
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, n := range devNodes {
		p := filepath.Join(dev, n.name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", p, err)
		}
	}
	for _, l := range devLinks {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	pts := filepath.Join(dev, "pts")
	shm := filepath.Join(dev, "shm")
	mqueue := filepath.Join(dev, "mqueue")
	for _, d := range []string{pts, shm, mqueue} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", d, err)
		}
	}
	// newinstance: the container's ptys are its own, not the host's; ptmx
	// above points at this instance's ptmx.
	if _, err := mount.Mount("devpts", pts, "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5", unix.MS_NOSUID|unix.MS_NOEXEC); err != nil {
		return err
	}
	if _, err := mount.Mount("shm", shm, "tmpfs", "mode=1777,size=65536k", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
		return err
	}
	// mqueue belongs to the new IPC namespace.
	if _, err := mount.Mount("mqueue", mqueue, "mqueue", "", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
		return err
	}
	if console == "" {
		return nil
	}
	c := filepath.Join(dev, "console")
	if err := os.WriteFile(c, nil, 0o600); err != nil {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	if _, err := mount.Mount(console, c, "", "", unix.MS_BIND); err != nil {
		return fmt.Errorf("bind terminal on /dev/console: %w", err)
	}
	return nil
}

// pivot switches the root to dir with the pivot_root(".", ".") idiom: the old
// root ends up stacked on top of the new one and is detached straight away, so
// no directory for it is needed in the rootfs.
func pivot(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
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

// mkdirIn creates a mount point that the rootfs lacks. It refuses to follow a
// symlink there, which could point the mount at the host's tree.
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

// bindFileIn binds the host file src on dst inside root. dst is resolved as
// if root were / (openat2 with RESOLVE_IN_ROOT): a symlink in the rootfs, such
// as Debian's /etc/resolv.conf, cannot point the mount at the host's files.
// A missing dst is created empty, as a mount point must exist.
func bindFileIn(root, src, dst string) error {
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	defer unix.Close(rootfd)
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(rootfd, dst, &how)
	if errors.Is(err, unix.ENOENT) {
		// Create it where the resolved parent is, still inside root.
		how.Flags = unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC
		dirfd, derr := unix.Openat2(rootfd, filepath.Dir(dst), &how)
		if derr != nil {
			return fmt.Errorf("bind on %s: parent: %w", dst, derr)
		}
		cfd, cerr := unix.Openat(dirfd, filepath.Base(dst), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		unix.Close(dirfd)
		if cerr != nil {
			return fmt.Errorf("bind on %s: create: %w", dst, cerr)
		}
		unix.Close(cfd)
		how.Flags = unix.O_PATH | unix.O_CLOEXEC
		fd, err = unix.Openat2(rootfd, dst, &how)
	}
	if err != nil {
		return fmt.Errorf("bind on %s: %w", dst, err)
	}
	defer unix.Close(fd)
	// Mount on the resolved file through its descriptor, not its path.
	if err := unix.Mount(src, fmt.Sprintf("/proc/self/fd/%d", fd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, dst, err)
	}
	return nil
}
