// Command initprobe is the command the init compatibility tests
// (ccinit_compat_test.go) run under ccinit, tini and catatonit, for what a
// busybox script cannot do exactly: make exactly N orphans die at the same
// instant, and start an init under a seccomp filter that refuses
// PR_SET_CHILD_SUBREAPER. The test builds it static. (Signals are probed with
// busybox traps instead: the Go runtime keeps SIGPROF, SIGURG and signals
// 32 to 34 from signal.Notify.)
//
//	initprobe zombies N         make N orphans of the init, kill them at once, wait until reaped
//	initprobe nosubreaper CMD   exec CMD unable to become a child subreaper
//	initprobe sigconf CMD       exec CMD with some signals blocked and some ignored (sigconf.go)
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: initprobe zombies|nosubreaper ...")
	}
	switch args := os.Args[2:]; os.Args[1] {
	case "zombies":
		n, err := strconv.Atoi(firstArg(args))
		if err != nil || n < 1 {
			fail("zombies: want a count")
		}
		zombies(n)
	case "spawn":
		n, _ := strconv.Atoi(firstArg(args)) // checked by the caller, zombies
		spawn(n)
	case "block":
		// Exit when the pipe on fd 3 reaches EOF, that is when zombies
		// closes its end: every blocker exits at the same instant.
		var b [1]byte
		_, _ = unix.Read(3, b[:])
	case "nosubreaper":
		if len(args) == 0 {
			fail("nosubreaper: want a command")
		}
		noSubreaper(args)
	case "sigconf":
		if len(args) == 0 {
			fail("sigconf: want a command")
		}
		sigconf(args)
	default:
		fail("unknown mode " + os.Args[1])
	}
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "initprobe: "+msg)
	os.Exit(2)
}

// zombies makes n processes orphans of the init, then makes them exit at the
// same instant, so that their SIGCHLDs coalesce, and waits until none is left.
// It fails if the orphans were not re-parented to the init (our parent), or
// if any is still there, a zombie, after 20 s: far longer than reaping
// takes, and shorter than the suite's deadline, so that the failure says why.
func zombies(n int) {
	release, hold, err := os.Pipe() // the blockers read release; closing hold frees them
	if err != nil {
		fail(err.Error())
	}
	pidsR, pidsW, err := os.Pipe()
	if err != nil {
		fail(err.Error())
	}
	spawner, err := os.StartProcess("/proc/self/exe", []string{os.Args[0], "spawn", strconv.Itoa(n)}, &os.ProcAttr{
		Files: []*os.File{nil, pidsW, os.Stderr, release},
	})
	if err != nil {
		fail("start spawner: " + err.Error())
	}
	pidsW.Close()
	release.Close()
	line, _ := bufio.NewReader(pidsR).ReadString('\n')
	if st, err := spawner.Wait(); err != nil || !st.Success() {
		fail(fmt.Sprintf("spawner: %v %v", st, err))
	}
	// The spawner is gone: its children are the init's now.
	init := os.Getppid()
	start := map[int]string{}
	for _, f := range strings.Fields(line) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			fail("spawner said " + line)
		}
		ppid, st, ok := stat(pid)
		if !ok {
			fail(fmt.Sprintf("orphan %d vanished before it was released", pid))
		}
		if ppid != init {
			fmt.Printf("orphan %d re-parented to %d, not to the init %d\n", pid, ppid, init)
			os.Exit(1)
		}
		start[pid] = st
	}
	if len(start) != n {
		fail(fmt.Sprintf("spawner made %d orphans, want %d", len(start), n))
	}
	hold.Close()
	deadline := time.Now().Add(20 * time.Second)
	for len(start) > 0 && time.Now().Before(deadline) {
		for pid, st := range start {
			if _, now, ok := stat(pid); !ok || now != st {
				delete(start, pid)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(start) > 0 {
		fmt.Printf("%d of %d orphans never reaped\n", len(start), n)
		os.Exit(1)
	}
	fmt.Printf("reaped %d\n", n)
}

// spawn starts n blockers, prints their PIDs on one line and exits.
func spawn(n int) {
	var pids []string
	for range n {
		p, err := os.StartProcess("/proc/self/exe", []string{os.Args[0], "block"}, &os.ProcAttr{
			Files: []*os.File{nil, nil, os.Stderr, os.NewFile(3, "release")},
		})
		if err != nil {
			fail("start blocker: " + err.Error())
		}
		pids = append(pids, strconv.Itoa(p.Pid))
	}
	fmt.Println(strings.Join(pids, " "))
}

// stat returns the parent and the start time of pid, from /proc/PID/stat;
// the start time tells the process from a later one given the same PID.
func stat(pid int) (ppid int, start string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[19], err == nil
}

// noSubreaper execs argv with a seccomp filter that fails
// prctl(PR_SET_CHILD_SUBREAPER) with EPERM: the one way to show what an
// init does, not as PID 1, when it cannot become a child subreaper.
func noSubreaper(argv []string) {
	arch, ok := map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}[runtime.GOARCH]
	if !ok {
		fail("nosubreaper: no seccomp architecture for " + runtime.GOARCH)
	}
	const (
		offNr   = 0  // offsetof(struct seccomp_data, nr)
		offArch = 4  // offsetof(struct seccomp_data, arch)
		offArg0 = 16 // offsetof(struct seccomp_data, args[0]), low half (little-endian)
	)
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jeq := func(k uint32, skipIfFalse uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jf: skipIfFalse}
	}
	filter := []unix.SockFilter{
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch),
		jeq(arch, 5),
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr),
		jeq(unix.SYS_PRCTL, 3),
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArg0),
		jeq(unix.PR_SET_CHILD_SUBREAPER, 1),
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM)),
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW),
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// The filter is per thread: install it on the thread that execs.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("no_new_privs: " + err.Error())
	}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		fail("seccomp: " + err.Error())
	}
	err := unix.Exec(argv[0], argv, os.Environ())
	fail("exec " + argv[0] + ": " + err.Error())
}
