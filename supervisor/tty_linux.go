package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// console is the host end of the container's terminal: the pty master that
// ccinit made in the container's devpts, joined to ccsuper's stdin and stdout.
type console struct {
	master *os.File
	// restore puts the host terminal back as it was; nil when it was not
	// changed.
	restore func()
	// out is closed when everything the container wrote has been copied
	// to stdout: the master reads EIO once the last slave is closed.
	out    chan struct{}
	closed bool
}

// consoleSocket returns a connected pair of unix sockets, both
// close-on-exec: ours, and the one ccinit inherits (fds_linux.go). See
// initproc/tty_linux.go for the protocol.
func consoleSocket() (ours, theirs *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("console socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console socket"), os.NewFile(uintptr(fds[1]), "console socket (ccinit)"), nil
}

// receiveConsole waits for the pty master ccinit sends on sock. EOF means
// ccinit exited before sending one (it says why itself).
func receiveConsole(sock *os.File) (*os.File, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("receive the container's terminal: %w", err)
	}
	if n == 0 && oobn == 0 {
		return nil, errors.New("receive the container's terminal: ccinit exited")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive the container's terminal: bad control message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
		return nil, fmt.Errorf("receive the container's terminal: want one descriptor (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), "pty master"), nil
}

// attach joins the container's terminal to ours: the window size now, raw
// mode on the host terminal when stdin is one and ours to change (we are in
// its foreground), stdin copied in when interactive, and the output copied
// out. An input that is not a terminal ends with ^D, the terminal's end of
// file, as a person typing it would.
func (c *console) attach(interactive bool) error {
	c.resize()
	if interactive && initproc.IsTerminal(0) && inForeground() {
		restore, err := makeRaw(0)
		if err != nil {
			return err
		}
		c.restore = restore
	}
	c.out = make(chan struct{})
	go func() {
		defer close(c.out)
		// Ends with EIO once every slave is closed: the container is gone.
		_, err := io.Copy(os.Stdout, c.master)
		if err != nil && !errors.Is(err, unix.EIO) {
			// stdout is gone (a pipe whose reader quit): go on
			// reading, or the container blocks on a full terminal.
			_, _ = io.Copy(io.Discard, c.master)
		}
	}()
	if interactive {
		go func() {
			_, err := io.Copy(c.master, os.Stdin)
			if err == nil && !initproc.IsTerminal(0) {
				_, _ = c.master.Write([]byte{4}) // ^D
			}
		}()
	}
	return nil
}

// resize gives the container's terminal the size of ours.
func (c *console) resize() {
	for _, fd := range []int{0, 1} {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err == nil {
			// The kernel sends SIGWINCH to the pty's foreground group.
			_ = unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, ws)
			return
		}
	}
}

// drainTimeout bounds the wait for the container's last output after ccinit
// has exited. ccinit exits only once every process of the container is gone,
// so the master should read EIO at once; this guards against a slave kept
// open by a process outside (one that was handed the descriptor).
const drainTimeout = 2 * time.Second

// close copies out what the container wrote last, then gives the host
// terminal back as it was.
func (c *console) close() {
	if c.closed {
		return
	}
	c.closed = true
	if c.out != nil {
		select {
		case <-c.out:
		case <-time.After(drainTimeout):
		}
	}
	if c.restore != nil {
		c.restore()
	}
	_ = c.master.Close()
}

// makeRaw puts the terminal on fd in raw mode, as cfmakeraw(3) does: every
// key, ^C and ^Z included, goes to the container's terminal, whose own line
// discipline gives them their meaning there. It returns how to undo it.
func makeRaw(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("read terminal settings: %w", err)
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, fmt.Errorf("set terminal to raw mode: %w", err)
	}
	// TCSETSW: the output already written is shown with the settings it
	// was written for.
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETSW, old) }, nil
}

// WantTTY is the default of -t when it is not given: a pseudo-terminal when
// stdin and stdout are both a terminal and ccsuper is in its foreground, which
// is a person typing at a shell. A pipe on either side, or a start in the
// background, keeps plain stdio.
func WantTTY() bool { return initproc.IsTerminal(0) && initproc.IsTerminal(1) && inForeground() }

// attachConsole receives the pty master ccinit made in the container and
// joins it to ccsuper's terminal. The caller aborts ccinit when it fails.
func (k *container) attachConsole() error {
	rec := k.rec
	defer rec.Begin("create: pty: receive master from ccinit, attach")()
	master, err := receiveConsole(k.consSock)
	if err != nil {
		return err
	}
	cons := &console{master: master}
	k.closeConsole = func() {
		defer rec.Begin("delete: pty: last output, restore terminal")()
		cons.close()
		k.closeConsole = func() {}
	}
	// In the teardown before anything else can return: the host terminal
	// is given back on every path from here.
	k.undo = append(k.undo, func() error { k.closeConsole(); return nil })
	// Raw mode only once a SIGTERM or SIGINT would be caught: one that
	// killed ccsuper now would leave the terminal raw.
	<-k.notified
	if err := cons.attach(k.c.Interactive); err != nil {
		return err
	}
	k.winch = cons.resize
	return nil
}
