package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// OverlayDir holds the writable layers of the containers run with --overlay,
// one directory per supervisor, named like its files directory (ownerDir),
// with the overlay's upper and work directories in it. It is on disk, not
// under /run: a layer holds whatever its container writes, and /run is a
// small tmpfs. Only root may enter it: a layer can hold set-user-ID files
// that the container made.
const OverlayDir = "/var/lib/ccontainer/overlay"

// overlayRoot is OverlayDir for root. A rootless ccsuper keeps its layers in
// $XDG_DATA_HOME/ccontainer/overlay (~/.local/share/... by default), on disk
// like root's; a user without a home of their own has them in the state
// directory.
func overlayRoot() (string, error) {
	if !Rootless() {
		return OverlayDir, nil
	}
	base := os.Getenv("XDG_DATA_HOME")
	if !filepath.IsAbs(base) {
		base = ""
		if home := os.Getenv("HOME"); filepath.IsAbs(home) && ownedBy(home, os.Geteuid()) {
			base = filepath.Join(home, ".local", "share")
		}
	}
	if base == "" {
		root, err := stateRoot()
		return filepath.Join(root, "overlay"), err
	}
	return filepath.Join(base, "ccontainer", "overlay"), nil
}

// ownedBy reports whether path is a directory of uid's.
func ownedBy(path string, uid int) bool {
	var st unix.Stat_t
	return unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && int(st.Uid) == uid
}

// keptSuffix is added to the name of a layer kept with --keep. It is then no
// owner's directory, so reclaimLayers leaves it alone.
const keptSuffix = ".kept"

// layer is the overlay layer of one container on the host.
type layer struct {
	dir  string
	keep bool
	sync int // a copy of ccinit's end of the sync socket (see watch), or -1
}

// prepareLayer removes the layers of supervisors that are gone and, when c
// asks for an overlay, makes the layer of the supervisor me. It returns nil
// when there is no overlay.
func prepareLayer(c Config, rootfs string, me owner) (_ *layer, err error) {
	_ = reclaimLayers() // best effort: `ccsuper cleanup` reports what fails
	if !c.Overlay {
		return nil, nil
	}
	var st unix.Stat_t
	if err := unix.Stat(rootfs, &st); err != nil {
		return nil, fmt.Errorf("rootfs %q: %w", rootfs, err)
	}
	dir, err := overlayRoot()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("overlay directory: %w", err)
	}
	l := &layer{dir: ownerDir(dir, me), keep: c.Keep, sync: -1}
	if err := os.Mkdir(l.dir, 0o700); err != nil {
		return nil, fmt.Errorf("overlay layer: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(l.dir) // nothing was written in it yet
		}
	}()
	// The upper directory is what the container sees as its /: give it the
	// rootfs's mode and owner, not ours.
	upper := filepath.Join(l.dir, "upper")
	if err := os.Mkdir(upper, 0o700); err != nil {
		return nil, fmt.Errorf("overlay layer: %w", err)
	}
	if err := unix.Chown(upper, int(st.Uid), int(st.Gid)); err != nil {
		return nil, fmt.Errorf("overlay layer: chown %s: %w", upper, err)
	}
	if err := unix.Chmod(upper, st.Mode&0o7777); err != nil {
		return nil, fmt.Errorf("overlay layer: chmod %s: %w", upper, err)
	}
	if err := os.Mkdir(filepath.Join(l.dir, "work"), 0o700); err != nil {
		return nil, fmt.Errorf("overlay layer: %w", err)
	}
	return l, nil
}

// watch keeps a copy of ccinit's end r of the sync socket, for release to
// see whether ccinit took the "go" from it. Only a layer to keep needs it.
func (l *layer) watch(r *os.File) error {
	if l == nil || !l.keep {
		return nil
	}
	fd, err := unix.FcntlInt(r.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync socket: %w", err)
	}
	l.sync = fd
	return nil
}

// release removes the layer, unless it is to be kept and ccinit took the
// "go" that ccsuper wrote (ran): then it is renamed out of reclaimLayers'
// way, and its new path returned. It is safe to call on a nil layer.
//
// A send on the socket succeeds while ccinit lives, even if it is about to
// fail its setup (an overlay the kernel refuses), so ran alone does not say
// the container ran: "go" still unread in the socket says it did not.
func (l *layer) release(ran bool) (kept string, err error) {
	if l == nil {
		return "", nil
	}
	if l.sync >= 0 {
		unread, err := unix.IoctlGetInt(l.sync, unix.TIOCINQ) // FIONREAD
		_ = unix.Close(l.sync)                                // only asked how much it holds
		ran = ran && err == nil && unread == 0
	}
	if l.keep && ran {
		kept = l.dir + keptSuffix
		if err := os.Rename(l.dir, kept); err != nil {
			return "", fmt.Errorf("keep overlay layer: %w", err)
		}
		return kept, nil
	}
	if err := removeLayer(l.dir); err != nil {
		return "", fmt.Errorf("remove overlay layer: %w", err)
	}
	return "", nil
}

// removeLayer removes a layer. Rootless, the kernel makes overlayfs's
// work/work directory with mode 0, and the container may leave directories
// without write or search permission for their owner, the user: those of
// the user's are opened up first (ccinit has removed what the range's IDs
// own; see initproc's emptyLayer).
func removeLayer(dir string) error {
	if Rootless() {
		// WalkDir calls back for a directory before it reads it: the
		// chmod comes first. Others' directories refuse it; so be it.
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
	}
	return os.RemoveAll(dir)
}

// reclaimLayers removes the layers of supervisors that are gone. Their
// overlays went with their containers' mount namespaces; a container
// outlives its supervisor only until the kernel delivers ccinit's
// parent-death signal.
func reclaimLayers() error {
	dir, err := overlayRoot()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range staleDirs(dir) {
		if err := removeLayer(d); err != nil {
			errs = append(errs, fmt.Errorf("remove stale overlay layer: %w", err))
		}
	}
	return errors.Join(errs...)
}
