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
// The main thread makes that namespace (unshare(CLONE_NEWNS) moves that
// thread alone) and stays in it: cmd/ccinit locks main to it from init, and
// everything ccinit does with paths afterwards (resolving the command, its
// reads of /proc to find its descendants, the fork of the command when no
// hardening asks for a thread of its own) runs on the main goroutine, so it
// sees the same /proc as the command. A thread that takes on the command's
// rights to fork it (onHardenedThread) joins the namespace first
// (privateNS.join). The Go runtime's other threads stay in the namespace
// ccinit was started in: no other goroutine of a standalone ccinit may open
// a path.
//
// An earlier ccinit re-executed itself in the namespace instead, which put
// every thread of the new image there at the price of a second Go runtime
// start: 2.5 ms of CPU, as much as all the rest of a standalone start
// (BENCHMARKS.md, issue 16). That stays the fallback should the namespace
// not be held open for a join; only from the main thread: an exec from
// another one would lose what the parent set on the main thread, such as
// the parent-death signal.

// privateNS is the mount namespace ccinit made for itself standalone, held
// for a thread that joins it: the namespace, and its root and ccinit's
// working directory there (a join moves a thread to the namespace's own
// root, out of the chroot).
type privateNS struct {
	ns, root, cwd int
}

// enterPrivateMounts mounts /proc and /sys where they are missing (both
// directories there, nothing mounted on them), in a new mount namespace of
// the calling thread (see the top of this file). changed says the thread is
// then in a namespace of its own, and must stay locked so that the runtime
// never reuses it; ns, when not nil, is that namespace held for the threads
// that must join it. Nothing is mounted when nothing is missing, nor when
// ccinit may not mount (unprivileged: it runs without them, as tini would).
// Should the namespace not be held, ccinit re-executes itself in it and
// enterPrivateMounts does not return.
//
// Preconditions: on the main thread, locked.
func enterPrivateMounts() (changed bool, ns *privateNS, err error) {
	missing := missingMounts()
	if len(missing) == 0 {
		return false, nil, nil
	}
	// CLONE_NEWNS gives this thread alone a new namespace, and a
	// filesystem context (root, working directory) of its own.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		if errors.Is(err, unix.EPERM) {
			return false, nil, nil
		}
		return false, nil, fmt.Errorf("new mount namespace: %w", err)
	}
	if err := stopPropagation(); err != nil {
		return true, nil, err
	}
	mounted := 0
	for _, m := range missing {
		if err := unix.Mount(m.fstype, m.dir, m.fstype, m.flags, ""); err != nil {
			if errors.Is(err, unix.EPERM) {
				continue // a user namespace that does not own the PID namespace
			}
			return true, nil, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
		mounted++
	}
	if mounted == 0 {
		return true, nil, nil // the namespace holds nothing the old one lacks
	}
	if ns, ok := holdNamespace(); ok {
		return true, ns, nil
	}
	if err := unix.Exec(self(), os.Args, os.Environ()); err != nil {
		return true, nil, fmt.Errorf("re-execute ccinit in its mount namespace: %w", err)
	}
	return true, nil, nil // not reached
}

// holdNamespace opens this thread's mount namespace, its root and working
// directory, for join. ok is false when one cannot be opened (a /proc of a
// PID namespace this thread is not seen in).
//
// Preconditions: on the thread that made the namespace, /proc mounted.
func holdNamespace() (ns *privateNS, ok bool) {
	fds := make([]int, 0, 3)
	for i, p := range []string{"/proc/thread-self/ns/mnt", "/", "."} {
		flags := unix.O_PATH // enough for fchdir
		if i == 0 {
			flags = unix.O_RDONLY // setns refuses an O_PATH descriptor
		}
		fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			for _, fd := range fds {
				_ = unix.Close(fd) // nothing was done with them
			}
			return nil, false
		}
		fds = append(fds, fd)
	}
	return &privateNS{ns: fds[0], root: fds[1], cwd: fds[2]}, true
}

// join moves the calling thread into n, at the root and working directory
// ccinit has there. The descriptors stay open for any other thread to join.
//
// Preconditions: on a locked thread that is never unlocked (its goroutine
// ends locked and the runtime discards the thread): the thread ends with a
// filesystem context and a namespace of its own.
func (n *privateNS) join() error {
	// setns into a mount namespace wants a filesystem context no other
	// thread shares, and Go's threads share one.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("join ccinit's mount namespace: unshare the filesystem context: %w", err)
	}
	if err := unix.Setns(n.ns, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join ccinit's mount namespace: %w", err)
	}
	// setns left the thread at the namespace's own root, the host's.
	if err := unix.Fchdir(n.root); err != nil {
		return fmt.Errorf("join ccinit's mount namespace: its root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("join ccinit's mount namespace: its root: %w", err)
	}
	if err := unix.Fchdir(n.cwd); err != nil {
		return fmt.Errorf("join ccinit's mount namespace: the working directory: %w", err)
	}
	return nil
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
