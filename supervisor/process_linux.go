package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
	"github.com/ccontainer/ccontainer/trace"
)

// The ccinit child of both front ends (`ccsuper --rootfs` and the OCI
// commands): its start, the sync protocol's hello and "go" (drawn in
// initproc/sync.go), the signals and the wait. Everything else (network,
// cgroup, rootfs layers, stdio) is the caller's.

// initProcess is a started ccinit.
type initProcess struct {
	path  string // the host's ccinit, for messages
	pid   int
	pidfd int // signals through it never reach a reused PID
	// sync is our end of the sync socket until "go" is sent.
	sync *os.File
	// exe is the read-only clone ccinit was executed from; closed once
	// the container is over (see initToExec).
	exe *os.File
	// exited gets ccinit's end from the thread that forked it (and waits
	// for it); reaped keeps it once received.
	exited chan waitResult
	reaped *waitResult
	hello  bool
	// forkStart and forkEnd time the clone (with a trace only).
	forkStart, forkEnd int64
}

type waitResult struct {
	ws  unix.WaitStatus
	err error
}

// spawnSpec is how to start ccinit.
type spawnSpec struct {
	path string           // the host's ccinit
	opts initproc.Options // its configuration, sent over the sync socket
	// stdio are ccinit's descriptors 0, 1 and 2; extra the rest after the
	// sync socket, as fds_linux.go lays them out: opts names them by number.
	stdio [3]uintptr
	extra childFDs
	clone uintptr
	// join are namespaces entered by path before the clone: the thread
	// that forks enters them, so the child starts in them.
	join []nsJoin
	// mountNS, when set, is a mount namespace ccinit joins from its entry
	// point, before the Go runtime starts (cmd/ccinit/entry_linux_amd64.s):
	// setns into one needs a single-threaded process, which neither the
	// forking thread's process nor ccinit's Go code is.
	mountNS string
	// userNS, when set, is a user namespace ccinit's entry point joins,
	// after mountNS, and makes the namespaces of clone in (see
	// userns_join_linux.go): the clone itself then makes none. OCI only:
	// the entry point's own clone, PID 1, has no parent-death signal.
	userNS   string
	cgroupFD int // clone straight into this v2 cgroup, or -1
	// pdeathsig kills ccinit when the forking thread dies: ccsuper's own
	// runs, never an OCI container, which outlives the create.
	pdeathsig bool
	// cpus, when set, pins the clone to the CPU it runs on (pinToThisCPU).
	cpus *unix.CPUSet
	rec  *trace.Recorder
	// watch, when set, is given ccinit's end of the sync socket before the
	// clone (the --keep overlay layer holds a copy, see layer.watch).
	watch func(theirs *os.File) error
	// sys, when set, adds to the clone's attributes (a user namespace's
	// maps and credentials).
	sys func(*syscall.SysProcAttr)
	// configLater: the caller sends the configuration itself, once ccinit
	// can take it (after newuidmap, see initproc.AwaitMapping), and ccinit
	// is asked to wait for the maps from its entry point.
	configLater bool
	// bornIn are v1 cgroup directories ccinit is to be born in: the
	// forking thread moves into them for the clone and back out after it.
	// A new cgroup namespace is rooted where its first process is at the
	// clone, so this is how a v1 container sees its own cgroups.
	bornIn []string
}

// spawnInit queues ccinit's configuration on a new sync socket, then clones
// and execs ccinit from a read-only clone of its file, and returns at once:
// ccinit's hello is awaitHello's. The forking thread is locked and never
// unlocked: it may have entered other namespaces, and Pdeathsig fires when it
// exits, so it stays for the wait. syscall.ForkExec and wait4 rather than
// os/exec: os/exec probes for pidfd support by forking a throwaway process on
// first use, which costs more than a whole step of a start here.
func spawnInit(s spawnSpec) (_ *initProcess, err error) {
	p := &initProcess{path: s.path, pidfd: -1, exited: make(chan waitResult, 1)}
	ours, theirs, err := syncSocket()
	if err != nil {
		return nil, err
	}
	defer theirs.Close() // ccinit has its own copy once started
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	p.sync = ours
	if s.watch != nil {
		if err := s.watch(theirs); err != nil {
			return nil, err
		}
	}
	if !s.configLater {
		if err := sendConfig(ours, s.opts); err != nil {
			return nil, err
		}
	}
	env := []string{} // nothing of the host's environment
	if s.mountNS != "" {
		ns, err := os.Open(s.mountNS)
		if err != nil {
			return nil, fmt.Errorf("mount namespace %s: %w", s.mountNS, initproc.WithoutPath(err))
		}
		defer ns.Close() // ccinit's copy is closed by its entry point
		// The descriptor's number is one byte: ccinit has a handful.
		env = append(env, initproc.MountNSVar+"="+string(rune(s.extra.add(ns.Fd()))))
	}
	if s.configLater {
		// ccinit's entry point waits for the maps and execs ccinit
		// again before its Go runtime starts (initproc.MapWaitVar).
		// After CCMNTNS, which the entry point finds first only: a
		// mount namespace is joined once ccinit has its capabilities.
		env = append(env, initproc.MapWaitEnv(syncFD))
	}
	clone := s.clone
	var pidR, pidW *os.File // the entry point's join: PID 1's PID, 0, or why not
	if s.userNS != "" {
		if clone&^userNSFlags != 0 {
			return nil, fmt.Errorf("in a joined user namespace: namespaces %#x cannot be made", clone&^userNSFlags)
		}
		ns, err := openUserNS(s.userNS)
		if err != nil {
			return nil, err
		}
		defer ns.Close() // ccinit's copy is closed by its entry point
		// The entry point says on this pipe when it has joined, or why
		// not (userns_join_linux.go): always waited for, before
		// anything reads the process's namespaces or acts on it.
		if pidR, pidW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("pipe for the user namespace's join: %w", err)
		}
		defer pidR.Close()
		defer pidW.Close()
		nsFD, pipeFD := s.extra.add(ns.Fd()), s.extra.add(pidW.Fd())
		env = append(env, userNSVar(nsFD, clone, pipeFD)) // after CCMNTNS: joined after it
		clone = 0
	}
	files := append([]uintptr{s.stdio[0], s.stdio[1], s.stdio[2], theirs.Fd()}, s.extra.files...)
	end := s.rec.Begin("read-only clone of ccinit to exec")
	exe, exeFD, err := initToExec(s.path, len(files))
	end()
	if err != nil {
		return nil, err
	}
	p.exe = exeFD
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Cloneflags: clone,
			PidFD:      &p.pidfd,
			// A group of its own: a ^C typed at the terminal while
			// ccsuper is in the foreground reaches ccsuper only, which
			// forwards it once, instead of reaching ccinit twice. Not
			// a session of its own: with the kernel's scheduler
			// autogroups, a new session is a new scheduling group,
			// and that cost about 5 ms per start on this loaded
			// machine (docs/security.md). ccinit gives up the
			// controlling terminal instead (see initproc.Run).
			Setpgid: true,
		},
	}
	if s.pdeathsig {
		attr.Sys.Pdeathsig = unix.SIGKILL
	}
	if s.cgroupFD >= 0 {
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, s.cgroupFD
	}
	if s.sys != nil {
		s.sys(attr.Sys)
	}
	if s.userNS != "" {
		// The host root's groups would stay with ccinit in the joined
		// namespace (unmapped there, but still its groups on the host's
		// files): dropped while ccsuper may.
		attr.Sys.Credential = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}
	}
	// The configuration went over the sync socket, not on ccinit's
	// command line, which the container sees as /proc/1/cmdline.
	argv := []string{"ccinit", "--sync-fd", strconv.Itoa(syncFD)}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child exits, not
		// the process: fork and wait from one locked thread, and never
		// unlock it, so the thread lives exactly as long as the wait.
		runtime.LockOSThread()
		for _, j := range s.join {
			if err := setnsPath(j); err != nil {
				started <- err
				return
			}
		}
		back, err := moveThread(s.bornIn)
		if err != nil {
			started <- err
			return
		}
		unpin := func() {}
		if s.cpus != nil {
			unpin = pinToThisCPU(s.cpus)
		}
		if s.rec != nil {
			p.forkStart = trace.Now()
		}
		p.pid, err = syscall.ForkExec(exe, argv, attr)
		if s.rec != nil {
			p.forkEnd = trace.Now()
		}
		unpin()
		if _, berr := moveThread(back); berr != nil && err == nil {
			// ccinit is where it should be; this thread stays in the
			// container's cgroup, which a delete would then find busy.
			err = fmt.Errorf("leave the container's cgroup: %w", berr)
			_ = unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
		}
		if err == nil && pidW != nil {
			err = p.takeClone(pidR, pidW)
		}
		started <- err
		if err != nil {
			return
		}
		var res waitResult
		for {
			_, res.err = unix.Wait4(p.pid, &res.ws, 0, nil)
			if !errors.Is(res.err, unix.EINTR) {
				break
			}
		}
		p.exited <- res
	}()
	err = <-started
	s.rec.Record("clone+exec ccinit (new namespaces)", p.forkStart, p.forkEnd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.path, err)
	}
	return p, nil
}

// takeClone waits for ccinit's entry point to join the user namespace
// (userns_join_linux.go): a PID of 0 says the process p stands for did, and
// is ccinit; another PID is PID 1 of the new PID namespace, which the entry
// point cloned as a child of ccsuper's, and p then stands for it once the
// first process has exited. A failure, or EOF, ends the first process,
// reaped here: nothing else acts on a process in namespaces it was not meant
// to have.
//
// Preconditions: called by the thread that forked p, once.
func (p *initProcess) takeClone(r, w *os.File) error {
	_ = w.Close() // else no EOF, should the first process die first
	pid, err := readClonePID(r)
	if err == nil && pid == 0 {
		return nil
	}
	if err != nil {
		// It exits after writing a failure; anything else is not
		// to be left running.
		_ = unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
	}
	var ws unix.WaitStatus
	for {
		_, werr := unix.Wait4(p.pid, &ws, 0, nil)
		if !errors.Is(werr, unix.EINTR) {
			break
		}
	}
	if err == nil && (!ws.Exited() || ws.ExitStatus() != 0) {
		err = errors.New("ccinit's first process failed after it cloned PID 1")
	}
	if err != nil {
		// PID 1, if there, waits on the sync socket: EOF ends it.
		return err
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("open PID 1 of the new PID namespace: %w", err)
	}
	_ = unix.Close(p.pidfd)
	p.pid, p.pidfd = pid, fd
	return nil
}

// moveThread moves the calling thread into each v1 cgroup directory of
// dirs, and returns the directories it was in, to move back to.
//
// Preconditions: the calling goroutine is locked to its thread for good.
func moveThread(dirs []string) (back []string, err error) {
	if len(dirs) == 0 {
		return nil, nil
	}
	mine, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	for _, dir := range dirs {
		// dir is ROOT/PATH of a hierarchy mounted at ROOT under cgroupFS
		// (a name such as "memory" or "cpu,cpuacct"): our own directory
		// there is ROOT plus the path /proc/thread-self/cgroup gives for
		// the line naming the same controllers.
		root := dir
		for filepath.Dir(root) != cgroupFS && root != "/" {
			root = filepath.Dir(root)
		}
		name := filepath.Base(root)
		for _, line := range strings.Split(strings.TrimSpace(string(mine)), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) == 3 && f[1] == name {
				back = append(back, filepath.Join(root, f[2]))
			}
		}
		// "0" is the writing thread itself. Named by its TID instead, the
		// kernel takes the global threadgroup lock for writing, which waits
		// out an RCU grace period: several milliseconds per create on this
		// loaded VM. A thread moving itself needs no such lock (Linux 6.0,
		// "cgroup: Optimize single thread migration").
		if err := writeCgroup(dir, "tasks", "0"); err != nil {
			return back, err
		}
	}
	return back, nil
}

// setnsPath enters the namespace at j.path on the calling thread.
//
// Preconditions: the calling goroutine is locked to its thread for good.
func setnsPath(j nsJoin) error {
	f, err := os.Open(j.path)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", j.path, initproc.WithoutPath(err))
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), int(j.flag)); err != nil {
		return fmt.Errorf("enter namespace %s: %w", j.path, err)
	}
	return nil
}

// awaitHello waits for ccinit's hello (see initproc/sync.go). A program that
// ended or closed the socket without it, or spoke another version, is no
// ccinit of ours: it is killed, and the error says so.
func (p *initProcess) awaitHello() error {
	err := awaitHello(p.sync, p.pidfd)
	if err == nil {
		p.hello = true
		return nil
	}
	res := p.kill()
	if errors.Is(err, errNoHello) {
		return p.notCCinit(res)
	}
	// Another version's hello, or a socket error: ours to say, whatever
	// it did since.
	return fmt.Errorf("--init %q %w", p.path, err)
}

// notCCinit is the error for a program that ended without the sync
// protocol's hello: whatever it printed, it was no ccinit of ours.
func (p *initProcess) notCCinit(res waitResult) error {
	how := "closed the sync socket"
	if res.err == nil && res.ws.Exited() {
		how = fmt.Sprintf("exited with status %d", res.ws.ExitStatus())
	}
	return fmt.Errorf("--init %q is not a ccinit: it %s without the sync handshake", p.path, how)
}

// sendGo tells ccinit to go on, and closes our end of the sync socket.
func (p *initProcess) sendGo() error {
	err := unix.Send(int(p.sync.Fd()), []byte(initproc.SyncGo), 0)
	_ = p.sync.Close()
	p.sync = nil
	if err != nil {
		return fmt.Errorf("signal container to start: %w", err)
	}
	return nil
}

// errEnded is abort's error when ccinit had ended by itself: the status
// returned with it is ccinit's, and ccinit said why.
var errEnded = errors.New("ccinit ended by itself")

// abort stops ccinit after a failure of ours (err) and returns the status to
// exit with. If ccinit had already exited by itself (its own setup failed,
// and it said why), the failure seen here is only a consequence: its status
// is returned, not ours, with errEnded; unless it never said hello, when it
// was not a ccinit at all.
func (p *initProcess) abort(err error) (int, error) {
	// Killed, not told by EOF: a live ccinit would exit 125 by itself, and
	// look like one that failed on its own. The socket stays open until its
	// hello (if any) has been looked for.
	res := p.kill()
	if res.err == nil && res.ws.Exited() {
		if !p.hello && p.sync != nil && receiveHello(p.sync, false) != nil {
			return initproc.ExitSetup, p.notCCinit(res)
		}
		return res.ws.ExitStatus(), errEnded
	}
	return initproc.ExitSetup, err
}

// signal passes sig to ccinit, which has a handler for every signal, so it
// reaches it even though it is PID 1 of its namespace.
func (p *initProcess) signal(sig syscall.Signal) {
	_ = unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
}

// wait returns ccinit's end, waiting for it the first time.
func (p *initProcess) wait() waitResult {
	if p.reaped == nil {
		res := <-p.exited
		p.reaped = &res
	}
	return *p.reaped
}

// kill sends SIGKILL and waits for ccinit's end.
func (p *initProcess) kill() waitResult {
	if p.reaped == nil {
		p.signal(unix.SIGKILL)
	}
	return p.wait()
}

// close releases what is still held: the sync socket, the pidfd and, in the
// background, the read-only clone ccinit ran from (its unmount waits for an
// RCU grace period, long on a loaded VM).
func (p *initProcess) close() {
	if p.sync != nil {
		_ = p.sync.Close()
		p.sync = nil
	}
	if p.pidfd >= 0 {
		_ = unix.Close(p.pidfd)
		p.pidfd = -1
	}
	if p.exe != nil {
		go p.exe.Close()
		p.exe = nil
	}
}
