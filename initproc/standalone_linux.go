package initproc

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Standalone in a bare chroot, ccinit mounts /proc and /sys for the command.
// A plain chroot shares the host's mount namespace, so mounts made there are
// the host's: an unmount at exit is skipped when ccinit is SIGKILLed (or
// OOM-killed), and they stay, where `cp -a` or `rm -rf` of the tree walks
// into them. So the mounts are made in a mount namespace of ccinit's own,
// which the kernel tears down with its last process: whatever kills ccinit
// and the command, nothing is left on the host.
//
// The main thread makes that namespace and then re-executes ccinit in it
// (the same PID, the same arguments and environment); the new image finds
// /proc and /sys mounted and goes on as usual, and the command inherits the
// namespace. Re-executing, rather than moving only the thread that forks the
// command, gives ccinit's own reads of /proc (finding its descendants) the
// same /proc as the command. Only the main thread: an exec from another one
// would lose what the parent set on the main thread, such as the parent-death
// signal. cmd/ccinit locks main to it from init.

// enterPrivateMounts mounts /proc and /sys where they are missing (both
// directories there, nothing mounted on them), in a new mount namespace, and
// re-executes ccinit in it. It returns only when there was nothing to mount,
// when ccinit may not mount (unprivileged: it runs without them, as tini
// would), or with an error; changed says the thread is then in a namespace
// of its own, and must stay locked so that the runtime never reuses it.
//
// Preconditions: on the main thread, locked.
func enterPrivateMounts() (changed bool, err error) {
	missing := missingMounts()
	if len(missing) == 0 {
		return false, nil
	}
	// CLONE_NEWNS gives this thread alone a new namespace, and a
	// filesystem context (root, working directory) of its own.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		if errors.Is(err, unix.EPERM) {
			return false, nil
		}
		return false, fmt.Errorf("new mount namespace: %w", err)
	}
	if err := stopPropagation(); err != nil {
		return true, err
	}
	mounted := 0
	for _, m := range missing {
		if err := unix.Mount(m.fstype, m.dir, m.fstype, m.flags, ""); err != nil {
			if errors.Is(err, unix.EPERM) {
				continue // a user namespace that does not own the PID namespace
			}
			return true, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
		mounted++
	}
	if mounted == 0 {
		return true, nil // nothing to re-execute for
	}
	if err := unix.Exec(self(), os.Args, os.Environ()); err != nil {
		return true, fmt.Errorf("re-execute ccinit in its mount namespace: %w", err)
	}
	return true, nil // not reached
}

// self is the path to re-execute ccinit by: the one it was started by when
// that still names the same file, so that its name in ps (taken from the
// path) stays the same, else /proc/self/exe. /proc is there (missingMounts
// wants the directory): mounted now, or before and copied into the namespace.
func self() string {
	const exe = "/proc/self/exe"
	var a, b unix.Stat_t
	if strings.ContainsRune(os.Args[0], '/') && unix.Stat(os.Args[0], &a) == nil && unix.Stat(exe, &b) == nil &&
		a.Dev == b.Dev && a.Ino == b.Ino {
		return os.Args[0]
	}
	return exe
}

// kernelFS is one file system ccinit standalone provides.
type kernelFS struct {
	dir, fstype string
	magic       int64
	flags       uintptr
}

// missingMounts returns the file systems to mount: /proc and /sys where the
// directory exists and has nothing of that type on it. Without a /proc
// directory there is nothing: the re-execution goes through /proc/self/exe,
// and a root with /sys but no /proc is not one a command expects to run in.
func missingMounts() []kernelFS {
	var out []kernelFS
	for _, m := range []kernelFS{
		{"/proc", "proc", unix.PROC_SUPER_MAGIC, unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/sys", "sysfs", unix.SYSFS_MAGIC, unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY},
	} {
		st, err := os.Lstat(m.dir)
		switch {
		case err != nil || !st.IsDir():
			if m.dir == "/proc" {
				return nil
			}
		case !isMounted(m.dir, m.magic):
			out = append(out, m)
		}
	}
	return out
}

// stopPropagation makes every mount of this thread's new namespace a slave:
// the namespace is a copy of the host's, and a copy of a shared mount (as /
// is on systemd hosts) passes mounts made on it back to the host's. As a
// slave it still receives the host's mounts and unmounts, and passes none.
//
// Preconditions: on a locked thread, right after unshare(CLONE_NEWNS).
func stopPropagation() error {
	const flags = unix.MS_REC | unix.MS_SLAVE
	err := unix.Mount("", "/", "", flags, "")
	if !errors.Is(err, unix.EINVAL) {
		if err != nil {
			return fmt.Errorf("make the mount namespace a slave of the host's: %w", err)
		}
		return nil
	}
	// EINVAL: our root is a directory inside a larger mount (a plain
	// chroot), and a propagation change wants the root of a mount. Do it
	// from the namespace's root, which the thread reaches the way a chroot
	// is escaped, and come back. The thread's filesystem context is its
	// own since the unshare, so no other thread sees this.
	if err := fromNamespaceRoot(func() error { return unix.Mount("", "/", "", flags, "") }); err != nil {
		return fmt.Errorf("make the mount namespace a slave of the host's: %w", err)
	}
	return nil
}

// fromNamespaceRoot runs f with this thread's root and working directory at
// the root of its mount namespace, then puts both back.
//
// Preconditions: on a locked thread with a filesystem context of its own,
// root (CAP_SYS_CHROOT), /proc a directory.
func fromNamespaceRoot(f func() error) (err error) {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	defer unix.Close(root)
	cwd, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the working directory: %w", err)
	}
	defer unix.Close(cwd)
	defer func() {
		// Back to the root and working directory we had. Should this
		// fail, the thread is unusable, and the caller fails ccinit.
		e := unix.Fchdir(root)
		if e == nil {
			e = unix.Chroot(".")
		}
		if e == nil {
			e = unix.Fchdir(cwd)
		}
		if e != nil && err == nil {
			err = fmt.Errorf("back to our root: %w", e)
		}
	}()
	// Rooted one level down, in /proc, the working directory is outside
	// the root, and ".." from there is not stopped at the root: climb
	// until ".." is "." itself.
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	if err := unix.Chroot("/proc"); err != nil {
		return fmt.Errorf("chroot /proc: %w", err)
	}
	for range 4096 { // deeper than any path can be
		var here, up unix.Stat_t
		if err := errors.Join(unix.Stat(".", &here), unix.Stat("..", &up)); err != nil {
			return fmt.Errorf("climb to the namespace's root: %w", err)
		}
		if here.Dev == up.Dev && here.Ino == up.Ino {
			if err := unix.Chroot("."); err != nil {
				return fmt.Errorf("chroot to the namespace's root: %w", err)
			}
			return f()
		}
		if err := unix.Chdir(".."); err != nil {
			return fmt.Errorf("climb to the namespace's root: %w", err)
		}
	}
	return errors.New("climb to the namespace's root: no end")
}
