package seccomp

import "golang.org/x/sys/unix"

// The tables below are Docker's default seccomp profile
// (moby's profiles/seccomp/default.json) restricted to x86_64: the same
// syscalls allowed, with the same argument rules and the same capabilities
// unlocking more. The 32-bit-only names of that profile (chown32, _llseek,
// the *_time64 calls, socketcall, ...) have no x86_64 number and are left out;
// 32-bit code is refused by the architecture check instead.

// base is allowed to every container, whatever its capabilities. ptrace and
// process_vm_* are in it as in Docker for kernels from 4.8 on: they no longer
// bypass seccomp there, and the ordinary ptrace rules (same user, dumpable,
// capability subset) still apply.
//
// io_uring_setup, io_uring_enter and io_uring_register are not in it, nor
// unlocked by any capability, as in Docker since 25.0: a ring performs
// opens, reads, writes, connects and more in kernel context, where no filter
// sees them, so allowing the ring would allow what the rest of this table
// refuses to check, and io_uring has been the kernel's largest source of
// local privilege escalations. docs/security.md lists every difference from
// Docker's profile.
var base = []uintptr{
	unix.SYS_ACCEPT, unix.SYS_ACCEPT4, unix.SYS_ACCESS, unix.SYS_ADJTIMEX, unix.SYS_ALARM, unix.SYS_BIND,
	unix.SYS_BRK, unix.SYS_CAPGET, unix.SYS_CAPSET, unix.SYS_CHDIR, unix.SYS_CHMOD, unix.SYS_CHOWN,
	unix.SYS_CLOCK_ADJTIME, unix.SYS_CLOCK_GETRES, unix.SYS_CLOCK_GETTIME, unix.SYS_CLOCK_NANOSLEEP,
	unix.SYS_CLOSE, unix.SYS_CLOSE_RANGE, unix.SYS_CONNECT, unix.SYS_COPY_FILE_RANGE, unix.SYS_CREAT,
	unix.SYS_DUP, unix.SYS_DUP2, unix.SYS_DUP3, unix.SYS_EPOLL_CREATE, unix.SYS_EPOLL_CREATE1,
	unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_CTL_OLD, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2,
	unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_WAIT_OLD, unix.SYS_EVENTFD, unix.SYS_EVENTFD2, unix.SYS_EXECVE,
	unix.SYS_EXECVEAT, unix.SYS_EXIT, unix.SYS_EXIT_GROUP, unix.SYS_FACCESSAT, unix.SYS_FACCESSAT2,
	unix.SYS_FADVISE64, unix.SYS_FALLOCATE, unix.SYS_FANOTIFY_MARK, unix.SYS_FCHDIR, unix.SYS_FCHMOD,
	unix.SYS_FCHMODAT, unix.SYS_FCHOWN, unix.SYS_FCHOWNAT, unix.SYS_FCNTL, unix.SYS_FDATASYNC,
	unix.SYS_FGETXATTR, unix.SYS_FLISTXATTR, unix.SYS_FLOCK, unix.SYS_FORK, unix.SYS_FREMOVEXATTR,
	unix.SYS_FSETXATTR, unix.SYS_FSTAT, unix.SYS_FSTATFS, unix.SYS_FSYNC, unix.SYS_FTRUNCATE, unix.SYS_FUTEX,
	unix.SYS_FUTEX_WAITV, unix.SYS_FUTIMESAT, unix.SYS_GETCPU, unix.SYS_GETCWD, unix.SYS_GETDENTS,
	unix.SYS_GETDENTS64, unix.SYS_GETEGID, unix.SYS_GETEUID, unix.SYS_GETGID, unix.SYS_GETGROUPS,
	unix.SYS_GETITIMER, unix.SYS_GETPEERNAME, unix.SYS_GETPGID, unix.SYS_GETPGRP, unix.SYS_GETPID,
	unix.SYS_GETPPID, unix.SYS_GETPRIORITY, unix.SYS_GETRANDOM, unix.SYS_GETRESGID, unix.SYS_GETRESUID,
	unix.SYS_GETRLIMIT, unix.SYS_GET_ROBUST_LIST, unix.SYS_GETRUSAGE, unix.SYS_GETSID, unix.SYS_GETSOCKNAME,
	unix.SYS_GETSOCKOPT, unix.SYS_GET_THREAD_AREA, unix.SYS_GETTID, unix.SYS_GETTIMEOFDAY, unix.SYS_GETUID,
	unix.SYS_GETXATTR, unix.SYS_INOTIFY_ADD_WATCH, unix.SYS_INOTIFY_INIT, unix.SYS_INOTIFY_INIT1,
	unix.SYS_INOTIFY_RM_WATCH, unix.SYS_IO_CANCEL, unix.SYS_IOCTL, unix.SYS_IO_DESTROY, unix.SYS_IO_GETEVENTS,
	unix.SYS_IO_PGETEVENTS, unix.SYS_IOPRIO_GET, unix.SYS_IOPRIO_SET, unix.SYS_IO_SETUP, unix.SYS_IO_SUBMIT,
	unix.SYS_KILL,
	unix.SYS_LANDLOCK_ADD_RULE, unix.SYS_LANDLOCK_CREATE_RULESET, unix.SYS_LANDLOCK_RESTRICT_SELF,
	unix.SYS_LCHOWN, unix.SYS_LGETXATTR, unix.SYS_LINK, unix.SYS_LINKAT, unix.SYS_LISTEN, unix.SYS_LISTXATTR,
	unix.SYS_LLISTXATTR, unix.SYS_LREMOVEXATTR, unix.SYS_LSEEK, unix.SYS_LSETXATTR, unix.SYS_LSTAT,
	unix.SYS_MADVISE, unix.SYS_MEMBARRIER, unix.SYS_MEMFD_CREATE, unix.SYS_MEMFD_SECRET, unix.SYS_MINCORE,
	unix.SYS_MKDIR, unix.SYS_MKDIRAT, unix.SYS_MKNOD, unix.SYS_MKNODAT, unix.SYS_MLOCK, unix.SYS_MLOCK2,
	unix.SYS_MLOCKALL, unix.SYS_MMAP, unix.SYS_MPROTECT, unix.SYS_MQ_GETSETATTR, unix.SYS_MQ_NOTIFY,
	unix.SYS_MQ_OPEN, unix.SYS_MQ_TIMEDRECEIVE, unix.SYS_MQ_TIMEDSEND, unix.SYS_MQ_UNLINK, unix.SYS_MREMAP,
	unix.SYS_MSGCTL, unix.SYS_MSGGET, unix.SYS_MSGRCV, unix.SYS_MSGSND, unix.SYS_MSYNC, unix.SYS_MUNLOCK,
	unix.SYS_MUNLOCKALL, unix.SYS_MUNMAP, unix.SYS_NAME_TO_HANDLE_AT, unix.SYS_NANOSLEEP, unix.SYS_NEWFSTATAT,
	unix.SYS_OPEN, unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_PAUSE, unix.SYS_PIDFD_OPEN,
	unix.SYS_PIDFD_SEND_SIGNAL, unix.SYS_PIPE, unix.SYS_PIPE2, unix.SYS_PKEY_ALLOC, unix.SYS_PKEY_FREE,
	unix.SYS_PKEY_MPROTECT, unix.SYS_POLL, unix.SYS_PPOLL, unix.SYS_PRCTL, unix.SYS_PREAD64, unix.SYS_PREADV,
	unix.SYS_PREADV2, unix.SYS_PRLIMIT64, unix.SYS_PROCESS_MRELEASE, unix.SYS_PSELECT6, unix.SYS_PWRITE64,
	unix.SYS_PWRITEV, unix.SYS_PWRITEV2, unix.SYS_READ, unix.SYS_READAHEAD, unix.SYS_READLINK,
	unix.SYS_READLINKAT, unix.SYS_READV, unix.SYS_RECVFROM, unix.SYS_RECVMMSG, unix.SYS_RECVMSG,
	unix.SYS_REMAP_FILE_PAGES, unix.SYS_REMOVEXATTR, unix.SYS_RENAME, unix.SYS_RENAMEAT, unix.SYS_RENAMEAT2,
	unix.SYS_RESTART_SYSCALL, unix.SYS_RMDIR, unix.SYS_RSEQ, unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPENDING,
	unix.SYS_RT_SIGPROCMASK, unix.SYS_RT_SIGQUEUEINFO, unix.SYS_RT_SIGRETURN, unix.SYS_RT_SIGSUSPEND,
	unix.SYS_RT_SIGTIMEDWAIT, unix.SYS_RT_TGSIGQUEUEINFO, unix.SYS_SCHED_GETAFFINITY, unix.SYS_SCHED_GETATTR,
	unix.SYS_SCHED_GETPARAM, unix.SYS_SCHED_GET_PRIORITY_MAX, unix.SYS_SCHED_GET_PRIORITY_MIN,
	unix.SYS_SCHED_GETSCHEDULER, unix.SYS_SCHED_RR_GET_INTERVAL, unix.SYS_SCHED_SETAFFINITY,
	unix.SYS_SCHED_SETATTR, unix.SYS_SCHED_SETPARAM, unix.SYS_SCHED_SETSCHEDULER, unix.SYS_SCHED_YIELD,
	unix.SYS_SECCOMP, unix.SYS_SELECT, unix.SYS_SEMCTL, unix.SYS_SEMGET, unix.SYS_SEMOP, unix.SYS_SEMTIMEDOP,
	unix.SYS_SENDFILE, unix.SYS_SENDMMSG, unix.SYS_SENDMSG, unix.SYS_SENDTO, unix.SYS_SETFSGID,
	unix.SYS_SETFSUID, unix.SYS_SETGID, unix.SYS_SETGROUPS, unix.SYS_SETITIMER, unix.SYS_SETPGID,
	unix.SYS_SETPRIORITY, unix.SYS_SETREGID, unix.SYS_SETRESGID, unix.SYS_SETRESUID, unix.SYS_SETREUID,
	unix.SYS_SETRLIMIT, unix.SYS_SET_ROBUST_LIST, unix.SYS_SETSID, unix.SYS_SETSOCKOPT,
	unix.SYS_SET_THREAD_AREA, unix.SYS_SET_TID_ADDRESS, unix.SYS_SETUID, unix.SYS_SETXATTR, unix.SYS_SHMAT,
	unix.SYS_SHMCTL, unix.SYS_SHMDT, unix.SYS_SHMGET, unix.SYS_SHUTDOWN, unix.SYS_SIGALTSTACK,
	unix.SYS_SIGNALFD, unix.SYS_SIGNALFD4, unix.SYS_SOCKETPAIR, unix.SYS_SPLICE, unix.SYS_STAT, unix.SYS_STATFS,
	unix.SYS_STATX, unix.SYS_SYMLINK, unix.SYS_SYMLINKAT, unix.SYS_SYNC, unix.SYS_SYNC_FILE_RANGE,
	unix.SYS_SYNCFS, unix.SYS_SYSINFO, unix.SYS_TEE, unix.SYS_TGKILL, unix.SYS_TIME, unix.SYS_TIMER_CREATE,
	unix.SYS_TIMER_DELETE, unix.SYS_TIMER_GETOVERRUN, unix.SYS_TIMER_GETTIME, unix.SYS_TIMER_SETTIME,
	unix.SYS_TIMERFD_CREATE, unix.SYS_TIMERFD_GETTIME, unix.SYS_TIMERFD_SETTIME, unix.SYS_TIMES, unix.SYS_TKILL,
	unix.SYS_TRUNCATE, unix.SYS_UMASK, unix.SYS_UNAME, unix.SYS_UNLINK, unix.SYS_UNLINKAT, unix.SYS_UTIME,
	unix.SYS_UTIMENSAT, unix.SYS_UTIMES, unix.SYS_VFORK, unix.SYS_VMSPLICE, unix.SYS_WAIT4, unix.SYS_WAITID,
	unix.SYS_WRITE, unix.SYS_WRITEV, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV, unix.SYS_PTRACE,
	unix.SYS_ARCH_PRCTL, unix.SYS_MODIFY_LDT,
	// Linux 6.5 to 6.7, allowed by Docker's profile since: C libraries use
	// fchmodat2 and the futex2 calls without a fallback on EPERM.
	unix.SYS_CACHESTAT, unix.SYS_FCHMODAT2, unix.SYS_MAP_SHADOW_STACK,
	unix.SYS_FUTEX_WAKE, unix.SYS_FUTEX_WAIT, unix.SYS_FUTEX_REQUEUE,
	// Linux 6.11, allowed by Docker's profile since: only the code the
	// kernel maps for a uretprobe the host set calls it, and the kernel
	// kills any other caller; refused, a probed program would die.
	unix.SYS_URETPROBE,
}

// byCap lists the syscalls a capability unlocks, as Docker's profile does: a
// container given CAP_SYS_ADMIN may mount and unshare, one given
// CAP_SYS_MODULE may load modules, and so on. Without the capability the
// kernel would refuse most of these anyway; the filter removes the kernel
// code behind them from what an attacker can reach.
//
// A slice, not a map: a map literal is built by code at program start, a
// slice of constants is data in the binary, and every ccinit start pays
// for the former.
var byCap = []struct {
	cap int
	nrs []uintptr
}{
	{unix.CAP_DAC_READ_SEARCH, []uintptr{unix.SYS_OPEN_BY_HANDLE_AT}},
	{unix.CAP_SYS_ADMIN, []uintptr{
		unix.SYS_BPF, unix.SYS_CLONE, unix.SYS_CLONE3, unix.SYS_FANOTIFY_INIT, unix.SYS_FSCONFIG,
		unix.SYS_FSMOUNT, unix.SYS_FSOPEN, unix.SYS_FSPICK, unix.SYS_LOOKUP_DCOOKIE, unix.SYS_MOUNT,
		unix.SYS_MOUNT_SETATTR, unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_PERF_EVENT_OPEN,
		unix.SYS_QUOTACTL, unix.SYS_QUOTACTL_FD, unix.SYS_SETDOMAINNAME, unix.SYS_SETHOSTNAME,
		unix.SYS_SETNS, unix.SYS_SYSLOG, unix.SYS_UMOUNT2, unix.SYS_UNSHARE,
	}},
	{unix.CAP_SYS_BOOT, []uintptr{unix.SYS_REBOOT}},
	{unix.CAP_SYS_CHROOT, []uintptr{unix.SYS_CHROOT}},
	{unix.CAP_SYS_MODULE, []uintptr{unix.SYS_DELETE_MODULE, unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE}},
	{unix.CAP_SYS_PACCT, []uintptr{unix.SYS_ACCT}},
	{unix.CAP_SYS_PTRACE, []uintptr{unix.SYS_KCMP, unix.SYS_PIDFD_GETFD, unix.SYS_PROCESS_MADVISE}},
	{unix.CAP_SYS_RAWIO, []uintptr{unix.SYS_IOPL, unix.SYS_IOPERM}},
	{unix.CAP_SYS_TIME, []uintptr{unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME}},
	{unix.CAP_SYS_TTY_CONFIG, []uintptr{unix.SYS_VHANGUP}},
	{unix.CAP_SYS_NICE, []uintptr{unix.SYS_GET_MEMPOLICY, unix.SYS_MBIND, unix.SYS_SET_MEMPOLICY, unix.SYS_SET_MEMPOLICY_HOME_NODE}},
	{unix.CAP_SYSLOG, []uintptr{unix.SYS_SYSLOG}},
	{unix.CAP_BPF, []uintptr{unix.SYS_BPF}},
	{unix.CAP_PERFMON, []uintptr{unix.SYS_PERF_EVENT_OPEN}},
}

// namespaceFlags are the clone flags that make new namespaces: CLONE_NEWNS,
// NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID and NEWNET. Docker's profile
// refuses clone with any of them unless the container has CAP_SYS_ADMIN.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// personalities are the personality(2) arguments Docker allows: the default
// (PER_LINUX), PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff,
// which only queries the current one. The others (ADDR_NO_RANDOMIZE above
// all) weaken the protections of the processes that inherit them.
var personalities = []uint32{0, 0x8, 0x20000, 0x20008, 0xffffffff}

// afVsock is AF_VSOCK, refused as in Docker's profile: a vsock reaches the
// hypervisor or the VMs of this host, outside any network namespace.
const afVsock = unix.AF_VSOCK
