package initproc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The terminal protocol, when the supervisor asks for one (--console-socket):
//
//	ccsuper                                      ccinit (after pivot_root)
//	socketpair; ccinit's end is the fd
//	its --console-socket names
//	                                             open /dev/ptmx (this container's
//	                                             devpts instance), unlock it, open
//	                                             the slave through TIOCGPTPEER,
//	                                             bind the slave on /dev/console
//	recvmsg: the master          <── SCM_RIGHTS  sendmsg(master); close it
//	(EOF instead: ccinit failed and said why)
//	copy stdin -> master, master -> stdout,
//	window size on start and on SIGWINCH
//	"go" on the sync socket      ───────────>    slave becomes the command's stdio
//	                                             and controlling terminal (setsid)
//
// The pty lives in the container's own devpts, so `tty` inside names a path
// that exists inside (/dev/pts/0), and nothing of it is visible on the host.

// openConsole makes a new pseudo-terminal in the container's devpts, binds
// its slave on /dev/console, hands the master to the supervisor over the unix
// socket sock and returns the slave.
//
// Preconditions: / is the container's root, with /dev and /dev/pts mounted.
func openConsole(sock int) (slave int, err error) {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer unix.Close(master) // the supervisor has its own copy once sent
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return -1, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
	if err != nil {
		return -1, fmt.Errorf("pty number: %w", err)
	}
	// TIOCGPTPEER opens the slave from the master, without looking a path
	// up in a /dev/pts that the rootfs could have replaced.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		return -1, fmt.Errorf("open pty slave: %w", errno)
	}
	slave = int(r)
	if err := bindConsole(slave, n); err != nil {
		_ = unix.Close(slave)
		return -1, err
	}
	rights := unix.UnixRights(master)
	if err := unix.Sendmsg(sock, []byte{'t'}, rights, nil, 0); err != nil {
		_ = unix.Close(slave)
		return -1, fmt.Errorf("send pty to supervisor: %w", err)
	}
	return slave, nil
}

// bindConsole binds /dev/pts/n on /dev/console, so that programs that write
// to the console (an init's messages, `echo > /dev/console`) reach the same
// terminal as the command.
func bindConsole(slave int, n uint32) error {
	fd, err := unix.Open("/dev/console", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	_ = unix.Close(fd) // only a mount point
	// Bind the slave's own file, through its descriptor: /proc/self/fd/N
	// names exactly the inode just opened, whatever /dev/pts holds now.
	src := fmt.Sprintf("/proc/self/fd/%d", slave)
	if err := unix.Mount(src, "/dev/console", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind pty %d on /dev/console: %w", n, err)
	}
	return nil
}
