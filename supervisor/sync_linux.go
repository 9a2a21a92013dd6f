package supervisor

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// syncSocket returns the two ends of the sync channel, both close-on-exec:
// ours, and the one ccinit inherits as syncFD.
func syncSocket() (ours, theirs *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sync socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync socket"), os.NewFile(uintptr(fds[1]), "sync socket (ccinit)"), nil
}

// sendConfig queues ccinit's configuration on the sync channel, before
// ccinit exists: it finds it there as soon as it looks.
func sendConfig(s *os.File, o initproc.Options) error {
	msg := initproc.EncodeConfig(o)
	fd := int(s.Fd())
	// A message must fit the send buffer whole (about 208 KiB by default);
	// a long environment may not. Root may raise it past the sysctl limit.
	if size, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil && len(msg)+4096 > size/2 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, len(msg)+64<<10); err != nil {
			return fmt.Errorf("sync socket: configuration of %d bytes: %w", len(msg), err)
		}
	}
	if err := unix.Send(fd, msg, 0); err != nil {
		return fmt.Errorf("sync socket: send configuration (%d bytes): %w", len(msg), err)
	}
	return nil
}

// awaitHello waits until ccinit has sent its hello or exited (its pidfd
// reads ready), and takes the hello. Waiting on the exit too, not only on
// EOF, matters: a copy of ccinit's end held elsewhere (the overlay layer's,
// with --keep) would hold EOF back.
func awaitHello(s *os.File, pidfd int) error {
	fds := []unix.PollFd{{Fd: int32(s.Fd()), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sync socket: wait for handshake: %w", err)
		}
		return receiveHello(s, false)
	}
}

// errNoHello is what receiveHello returns when nothing came.
var errNoHello = errors.New("no handshake")

// receiveHello takes ccinit's hello from the sync channel. With wait false it
// only looks at what is already queued. errNoHello: ccinit ended without
// saying it (or, without wait, has not said it yet).
func receiveHello(s *os.File, wait bool) error {
	flags := 0
	if !wait {
		flags = unix.MSG_DONTWAIT
	}
	buf := make([]byte, 64)
	for {
		n, _, _, _, err := unix.Recvmsg(int(s.Fd()), buf, nil, flags)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ECONNRESET), err == nil && n == 0:
			return errNoHello
		case err != nil:
			return fmt.Errorf("sync socket: receive handshake: %w", err)
		case string(buf[:n]) != initproc.SyncVersion:
			return fmt.Errorf("speaks %q on the sync socket, want %q: a ccinit of another version", buf[:n], initproc.SyncVersion)
		}
		return nil
	}
}
