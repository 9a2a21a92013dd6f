package supervisor

import (
	"errors"
	"fmt"
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
	if err := os.MkdirAll(OverlayDir, 0o700); err != nil {
		return nil, fmt.Errorf("overlay directory: %w", err)
	}
	l := &layer{dir: ownerDir(OverlayDir, me), keep: c.Keep, sync: -1}
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
	if err := os.RemoveAll(l.dir); err != nil {
		return "", fmt.Errorf("remove overlay layer: %w", err)
	}
	return "", nil
}

// reclaimLayers removes the layers of supervisors that are gone. Their
// overlays went with their containers' mount namespaces; a container
// outlives its supervisor only until the kernel delivers ccinit's
// parent-death signal.
func reclaimLayers() error {
	var errs []error
	for _, d := range staleDirs(OverlayDir) {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("remove stale overlay layer: %w", err))
		}
	}
	return errors.Join(errs...)
}
