// Command probe makes one syscall-level attempt from inside a container, for
// the escape tests: `probe NAME [ARG]` prints "ok" and exits 0 when the
// attempt worked, or prints the errno's name and exits 1 when it did not.
// It is built static by the tests and copied into a test rootfs.
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// probes are the attempts by name; each returns nil when it worked.
var probes = map[string]func(arg string) error{
	// New namespaces: refused by the seccomp filter, even though a user
	// namespace needs no capability at all.
	"unshare-net": func(string) error { return unix.Unshare(unix.CLONE_NEWNET) },
	// A user namespace needs no capability at all; unshare cannot make one
	// in a multi-threaded process, so these clone a child that exits.
	"clone-newuser": func(string) error { return cloneExit(unix.CLONE_NEWUSER) },
	"clone-newns":   func(string) error { return cloneExit(unix.CLONE_NEWNS) },
	// clone3 with no arguments: EINVAL from the kernel, ENOSYS from the filter.
	"clone3": func(string) error { return rawErr(unix.SYS_CLONE3, 0, 0, 0) },
	"setns": func(string) error {
		fd, err := unix.Open("/proc/self/ns/uts", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Setns(fd, unix.CLONE_NEWUTS)
	},
	"add_key": func(string) error {
		_, err := unix.AddKey("user", "ccontainer-probe", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
		return err
	},
	"keyctl": func(string) error {
		_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 1, 0, 0)
		return err
	},
	"bpf": func(string) error {
		// An array map of one 4-byte entry.
		attr := [5]uint32{unix.BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0}
		fd, _, e := unix.RawSyscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if e != 0 {
			return e
		}
		return unix.Close(int(fd))
	},
	"perf_event_open": func(string) error {
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{}))}
		fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	},
	"userfaultfd": func(string) error {
		fd, _, e := unix.RawSyscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC, 0, 0)
		if e != 0 {
			return e
		}
		return unix.Close(int(fd))
	},
	// finit_module of a file that is not a module: the kernel says ENOEXEC
	// (or EPERM without CAP_SYS_MODULE); the filter says EPERM first.
	"finit_module": func(arg string) error {
		fd, err := unix.Open(arg, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.FinitModule(fd, "", 0)
	},
	"personality": func(string) error {
		const addrNoRandomize = 0x0040000
		return rawErr(unix.SYS_PERSONALITY, addrNoRandomize, 0, 0)
	},
	"vsock": func(string) error {
		fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	},
	"raw-socket": func(string) error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	},
	// packet-ifaces opens a packet socket, which sees every interface of
	// its network namespace, and prints those interfaces.
	"packet-ifaces": func(string) error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		var names []string
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		fmt.Println("interfaces:", strings.Join(names, ","))
		return nil
	},
	// ptrace attaches to PID ARG and detaches.
	"ptrace": func(arg string) error {
		pid, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		// A tracer is a thread: attach, wait and detach from the same
		// one (seen failing with ESRCH when Go moved the goroutine).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := unix.PtraceAttach(pid); err != nil {
			return err
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
			return err
		}
		return unix.PtraceDetach(pid)
	},
	"mknod-disk": func(arg string) error { return unix.Mknod(arg, unix.S_IFBLK|0o600, int(unix.Mkdev(8, 0))) },
	"mount-proc": func(arg string) error { return unix.Mount("proc", arg, "proc", 0, "") },
	"mount-dev":  func(arg string) error { return unix.Mount("/dev/null", arg, "", unix.MS_BIND, "") },
	// chroot-escape is the classic escape from a chroot: chroot into a
	// subdirectory while keeping the working directory outside it, climb
	// out with "..", chroot there, and look for ARG, a path only the host
	// has. ok means the host's root was reached.
	"chroot-escape": func(arg string) error {
		if err := os.MkdirAll("/tmp/escape-jail", 0o755); err != nil {
			return err
		}
		if err := unix.Chdir("/"); err != nil {
			return err
		}
		if err := unix.Chroot("/tmp/escape-jail"); err != nil {
			return err
		}
		for range 64 {
			if err := unix.Chdir(".."); err != nil {
				return err
			}
		}
		if err := unix.Chroot("."); err != nil {
			return err
		}
		return unix.Access(arg, unix.F_OK)
	},
	// io_uring_setup of a ring of one entry. io_uring does its reads,
	// writes, opens and connects in kernel threads, out of the filter's
	// sight, so the filter refuses the ring itself.
	"io_uring_setup": func(string) error {
		var params [120]byte // struct io_uring_params, all zero
		fd, _, e := unix.RawSyscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params)), 0)
		if e != 0 {
			return e
		}
		return unix.Close(int(fd))
	},
	// io_uring_enter and io_uring_register on fd -2, never open: EBADF
	// from the kernel, EPERM from the filter before the kernel looks. (-1
	// means "no ring" to io_uring_register, which then says EINVAL.)
	"io_uring_enter":    func(string) error { return rawErr(unix.SYS_IO_URING_ENTER, noFD, 0, 0) },
	"io_uring_register": func(string) error { return rawErr(unix.SYS_IO_URING_REGISTER, noFD, 0, 0) },
	// getpid through the x32 ABI's numbers, which the filter answers by
	// killing the process.
	"x32-getpid": func(string) error { return rawErr(x32Bit|unix.SYS_GETPID, 0, 0, 0) },
	// tiocsti pushes ARG into the input of every terminal it can reach (its
	// stdin, stdout, stderr, /dev/tty, /dev/console, PID 1's stdio) with
	// TIOCSTI, printing one line per target; ok means one took it.
	"tiocsti": func(arg string) error {
		var last error = unix.ENOTTY
		took := false
		for _, target := range []string{"0", "1", "2", "/dev/tty", "/dev/console", "/proc/1/fd/0", "/proc/1/fd/1", "/proc/1/fd/2"} {
			err := tiocsti(target, arg)
			res := "ok"
			if err != nil {
				res, last = unix.ErrnoName(errnoOf(err)), err
			} else {
				took = true
			}
			fmt.Printf("tiocsti %s: %s\n", target, res)
		}
		if took {
			return nil
		}
		return last
	},
	// setcap gives the file ARG the file capabilities cap_setuid,cap_setgid=ep
	// (a security.capability xattr, version 2).
	"setcap": func(arg string) error {
		const setuid, setgid = 1 << unix.CAP_SETUID, 1 << unix.CAP_SETGID
		v := make([]byte, 20)
		binary.LittleEndian.PutUint32(v[0:], 0x02000000|1)  // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
		binary.LittleEndian.PutUint32(v[4:], setuid|setgid) // permitted, low word
		return unix.Setxattr(arg, "security.capability", v, 0)
	},
	// open-write opens ARG for writing and writes nothing: a read-only
	// mount refuses the open, and a write to /proc/sysrq-trigger would act.
	"open-write": func(arg string) error {
		fd, err := unix.Open(arg, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	},
}

// tiocsti pushes text into the input queue of the terminal target, a
// descriptor number or a path to open.
func tiocsti(target, text string) error {
	fd, err := strconv.Atoi(target)
	if err != nil {
		if fd, err = unix.Open(target, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
			return err
		}
		defer unix.Close(fd)
	}
	for i := 0; i < len(text); i++ {
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&[]byte(text)[i]))); e != 0 {
			return e
		}
	}
	return nil
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EINVAL
}

// noFD is -2 as a syscall argument: a file descriptor that is never open.
const noFD = ^uintptr(1)

// x32Bit marks an x32 syscall number.
const x32Bit = 0x40000000

// cloneExit clones a child with flags that exits at once, and waits for it.
func cloneExit(flags uintptr) error {
	pid, _, e := unix.RawSyscall6(unix.SYS_CLONE, flags|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	if pid == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	var ws unix.WaitStatus
	_, err := unix.Wait4(int(pid), &ws, 0, nil)
	return err
}

func rawErr(nr, a1, a2, a3 uintptr) error {
	if _, _, e := unix.RawSyscall(nr, a1, a2, a3); e != 0 {
		return e
	}
	return nil
}

func main() {
	// Some attempts hold per-thread state across calls: the tracer of a
	// ptrace is the thread that attached, and a detach from any other
	// thread fails with ESRCH. The goroutine may change threads between two
	// syscalls (after a blocking one, when the machine is busy), so keep
	// it on one.
	runtime.LockOSThread()
	if len(os.Args) < 2 || probes[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: probe NAME [ARG]")
		os.Exit(2)
	}
	arg := ""
	if len(os.Args) > 2 {
		arg = os.Args[2]
	}
	err := probes[os.Args[1]](arg)
	var errno unix.Errno
	switch {
	case err == nil:
		fmt.Println("ok")
		return
	case errors.As(err, &errno):
		fmt.Println(unix.ErrnoName(errno))
	default:
		fmt.Println(err)
	}
	os.Exit(1)
}
