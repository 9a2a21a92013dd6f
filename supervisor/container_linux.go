package supervisor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
	"github.com/ccontainer/ccontainer/trace"
)

// DefaultRoot is where ccsuper keeps the state of OCI containers (--root).
const DefaultRoot = "/run/ccsuper"

// Runtime is ccsuper as an OCI runtime: containers made by create, kept in
// Root/ID between commands, each of which is a separate ccsuper.
type Runtime struct {
	// Root holds a directory per container: state.json and, while the
	// container is created but not started, exec.fifo.
	Root string
	// Init is the host path of ccinit (see findInit).
	Init string
	// Warn reports what does not fail a command (a poststart hook's error).
	Warn func(error)
	// Trace, when not nil, records the OCI steps (ccsuper --trace).
	Trace *trace.Recorder
	// Rootless: not the host's root (OCIRootless), as an ordinary user or
	// in another user namespace (rootless podman's): no cgroup unless
	// resources are asked, device nodes bound (rootless_oci_linux.go).
	Rootless bool
	// Debug, when not nil, logs what --debug shows (a cgroup skipped).
	Debug func(string)
}

// CreateOptions are create's flags.
type CreateOptions struct {
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
}

// containerState is what Root/ID/state.json keeps of a container.
type containerState struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	PidStart    uint64            `json:"pidStart"` // against PID reuse
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Cgroup      *ociCgroup        `json:"cgroup,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	// Process and Seccomp (the compiled filter, hex) are the base of
	// exec's processes. Process stays raw JSON (see process): decoding
	// it as a specs.Process costs every command that reads the state
	// encoding/json's set-up of the whole type, about 0.1 ms.
	Process json.RawMessage `json:"process,omitempty"`
	Seccomp string          `json:"seccomp,omitempty"`
	// OwnPidNS: the container made its PID namespace (not joined by
	// path): without a cgroup, kill --all and ps reach all of it.
	OwnPidNS bool `json:"ownPidNS,omitempty"`
}

// process decodes the container's process, or returns nil when the state
// has none.
func (st containerState) process() (*specs.Process, error) {
	if len(st.Process) == 0 {
		return nil, nil
	}
	var p specs.Process
	if err := json.Unmarshal(st.Process, &p); err != nil {
		return nil, fmt.Errorf("read state of %s: process: %w", st.ID, err)
	}
	return &p, nil
}

// ErrExist and ErrNotExist are a container ID already taken, or unknown.
var (
	ErrExist    = errors.New("container already exists")
	ErrNotExist = errors.New("container does not exist")
)

// validID accepts what runc does: letters, digits and _ . + -, not first,
// so an ID is always one plain name in Root.
func validID(id string) bool {
	if id == "" || len(id) > 1024 {
		return false
	}
	for i, c := range id {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("_.+-", c)) {
			return false
		}
	}
	return true
}

func (r Runtime) dir(id string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("container ID %q: want letters, digits and _ . + - (not first)", id)
	}
	return filepath.Join(r.Root, id), nil
}

const (
	stateJSON = "state.json"
	fifoFile  = "exec.fifo"
)

// Create makes container id from the bundle and leaves it created: every
// namespace, mount and the cgroup made, ccinit waiting on the exec FIFO,
// the user's process not started. No ccsuper stays behind. On an error the
// returned status is ccinit's when it said why itself (127: no such
// command), else initproc.ExitSetup.
func (r Runtime) Create(id string, o CreateOptions) (int, error) {
	p, err := r.create(id, o)
	if p != nil {
		p.close()
	}
	if err != nil {
		return createStatus(err), err
	}
	return 0, nil
}

// createStatus is the exit status of a failed create: ccinit's when it
// ended the create itself (127: no such command), else ExitSetup.
func createStatus(err error) int {
	var f initFailure
	if errors.As(err, &f) {
		return f.status
	}
	return initproc.ExitSetup
}

// initFailure is a create that ccinit ended by itself: its exit status and
// why, as it told us on the ready pipe (initproc/ready.go), or "" when it
// did not, having said it on stderr instead (before it had its
// configuration).
type initFailure struct {
	status int
	reason string
}

func (f initFailure) Error() string {
	if f.reason == "" {
		return fmt.Sprintf("ccinit exited with status %d", f.status)
	}
	return "ccinit: " + f.reason
}

// SaidByInit reports whether err is ccinit's own end, which ccinit has
// explained on stderr already: a front end need not say it again there.
func SaidByInit(err error) bool {
	var f initFailure
	return errors.As(err, &f) && f.reason == ""
}

// readReady reads ccinit's word on the ready pipe (initproc/ready.go):
// "ready" as soon as it is there, anything else up to EOF. It blocks until
// ccinit writes, or every copy of the write end is closed.
func readReady(r *os.File) (ready bool, reason string) {
	buf := make([]byte, initproc.MaxReadyMsg)
	n, _ := io.ReadFull(r, buf[:len(initproc.ReadyMsg)])
	if string(buf[:n]) == initproc.ReadyMsg {
		// Not to EOF: nothing follows, and nothing need wait for it.
		return true, ""
	}
	m, _ := io.ReadFull(r, buf[n:]) // short at EOF, as it should be
	return initproc.DecodeReady(buf[:n+m])
}

// initCause returns ccinit's own failure, when a create failed because of
// it: ccinit, killed and reaped, told a reason on the ready pipe. A step of
// ours that fails only because ccinit is gone (lo up in its namespace, "go"
// on its socket) then gives way to ccinit's why. Without a reason it
// returns nil: ours stands (a program that is no ccinit says nothing there
// either). Preconditions: no write end of the ready pipe is left open in
// ccsuper, so that the read ends.
func initCause(res waitResult, ready *os.File) error {
	ok, reason := readReady(ready)
	if ok || reason == "" {
		return nil
	}
	f := initFailure{status: initproc.ExitSetup, reason: reason}
	if res.err == nil && res.ws.Exited() {
		f.status = res.ws.ExitStatus()
	}
	return f
}

// create does Create's work and returns ccinit, whose parent this ccsuper
// is (run waits for it).
//
// ccinit has no parent-death signal: it would fire when this ccsuper exits,
// and the created container must outlive it. A create that dies half-way is
// covered anyway: before "go" ccinit reads EOF on the sync socket and exits,
// after it its "ready" fails with EPIPE and it exits.
//
// When ccinit's own setup fails, it sends why on the ready pipe and exits
// (initproc/ready.go): the error returned is then ccinit's (initFailure),
// even where a step of ours failed first only because ccinit was gone.
func (r Runtime) create(id string, o CreateOptions) (_ *initProcess, err error) {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return nil, fmt.Errorf("mark inherited descriptors close-on-exec: %w", err)
	}
	plainUser := os.Geteuid() != 0
	r.Rootless = r.Rootless || plainUser
	rec := r.Trace
	end := rec.Begin("create: read config.json, plan it")
	defer func() { end() }()
	dir, err := r.dir(id)
	if err != nil {
		return nil, err
	}
	if o.Bundle == "" {
		o.Bundle = "."
	}
	plan, err := loadBundle(o.Bundle)
	if err != nil {
		return nil, err
	}
	for _, w := range plan.warnings {
		r.warn(errors.New(w))
	}
	if plan.terminal && o.ConsoleSocket == "" {
		return nil, errors.New("process.terminal needs --console-socket")
	}
	if !plan.terminal && o.ConsoleSocket != "" {
		return nil, errors.New("--console-socket needs process.terminal in config.json")
	}
	if o.NoPivot {
		return nil, errors.New("--no-pivot is not supported: ccinit always pivots")
	}
	initPath, err := findInit(r.Init)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(plan.init.Rootfs); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("root.path %q is not a directory", plan.init.Rootfs)
	}
	if plainUser {
		// Without CAP_SETUID anywhere, only the user's own ID can be
		// mapped: a user namespace of that shape is the only way in.
		if plan.uns == nil {
			return nil, errors.New("as an ordinary user, config.json needs a new user namespace mapping you to 0 (as `runc spec --rootless` writes)")
		}
		if err := plainUserMaps(plan.uns); err != nil {
			return nil, err
		}
	}
	end()
	end = rec.Begin("create: state directory")
	if err := os.MkdirAll(r.Root, 0o711); err != nil {
		return nil, fmt.Errorf("state root: %w", err)
	}
	if err := os.Mkdir(dir, 0o711); errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%s: %w", id, ErrExist)
	} else if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	var proc *initProcess
	var cg *ociCgroup
	var readyR, readyW *os.File // closed here, after a failure's cause is read
	defer func() {
		if err != nil && proc != nil {
			res := proc.kill()
			_ = readyW.Close() // maybe closed already: then an error, harmless
			if cause := initCause(res, readyR); cause != nil {
				err = fmt.Errorf("create: %w", cause)
			}
		}
		if readyR != nil {
			_ = readyR.Close()
			_ = readyW.Close()
		}
		if err != nil {
			err = errors.Join(err, cg.remove(), os.RemoveAll(dir))
		}
	}()

	st := containerState{ID: id, Bundle: plan.bundle, Rootfs: plan.init.Rootfs, Created: time.Now().UTC(),
		Annotations: plan.spec.Annotations, Hooks: plan.spec.Hooks, Seccomp: plan.init.OCI.Seccomp,
		OwnPidNS: plan.ownPidNS()}
	if st.Process, err = json.Marshal(plan.spec.Process); err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	end()
	end = rec.Begin("create: cgroup, resources")
	cgPath, err := ociCgroupPath(plan.cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	if r.Rootless {
		if err := rootlessDevices(plan, r.warn); err != nil {
			return nil, err
		}
		cg, err = rootlessCgroup(cgPath, plan.resources, r.debug)
	} else {
		cg, err = newOCICgroup(cgPath, plan.resources, !plan.ownPidNS())
	}
	if err != nil {
		return nil, err
	}
	st.Cgroup = cg
	if err := findable(plan, cg != nil); err != nil {
		return nil, err
	}

	end()
	end = rec.Begin("create: exec FIFO, pipes, sockets")
	fifo := filepath.Join(dir, fifoFile)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return nil, fmt.Errorf("make exec FIFO: %w", err)
	}
	if u := plan.uns; u != nil {
		// ccinit opens it for writing as the root of its user
		// namespace, which is no root of the host's files: the FIFO is
		// that root's.
		uid, _ := hostID(u.uids, 0)
		gid, _ := hostID(u.gids, 0)
		if err := os.Chown(fifo, int(uid), int(gid)); err != nil {
			return nil, fmt.Errorf("exec FIFO: %w", initproc.WithoutPath(err))
		}
	}
	fifoFD, err := unix.Open(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec FIFO: %w", err)
	}
	defer unix.Close(fifoFD)
	readyR, readyW, err = os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("ready pipe: %w", err)
	}
	execSock, err := listenExec(filepath.Join(dir, execSockFile))
	if err != nil {
		return nil, err
	}
	defer unix.Close(execSock)

	var extra childFDs
	opts := plan.init
	switch {
	case has(plan, unix.CLONE_NEWCGROUP):
	case cg != nil:
		// No cgroup namespace: the container's /sys/fs/cgroup shows its
		// own v1 directories, as runc and Docker lay them out.
		opts.Cgroup1 = cg.v1View()
	default:
		// Rootless without a cgroup: the cgroups ccsuper is in, which
		// ccinit inherits (the kernel refuses a cgroup mount there).
		if opts.Cgroup1, err = ownV1View(); err != nil {
			return nil, err
		}
	}
	opts.OCI.ExecFIFO = extra.add(uintptr(fifoFD))
	opts.OCI.ReadyFD = extra.add(readyW.Fd())
	opts.OCI.ExecSock = extra.add(uintptr(execSock))
	if len(opts.OCI.Hooks) > 0 {
		// ccinit adds its pid. "created", as for createRuntime (see
		// there).
		b, err := json.Marshal(st.spec(specs.StateCreated))
		if err != nil {
			return nil, err
		}
		opts.OCI.HookState = string(b)
	}
	if o.ConsoleSocket != "" {
		conn, err := net.Dial("unix", o.ConsoleSocket)
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		defer conn.Close()
		sock, err := conn.(*net.UnixConn).File()
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		defer sock.Close()
		opts.ConsoleSocket = extra.add(sock.Fd())
	}
	if r.Rootless {
		// No mknod, and no new proc or sysfs once the host's are gone,
		// in a user namespace other than the host's: ccinit binds the
		// host's nodes and makes proc and sysfs before pivot_root.
		opts.UserNS = true
	}
	if r.Rootless && plan.newNet {
		// ccinit brings lo up: a rootless ccsuper may enter the
		// container's network namespace (an ordinary user may not even
		// that) but not return to its own, the host's, which another
		// user namespace owns.
		opts.Loopback = true
	}
	spec := spawnSpec{
		path: initPath, opts: opts, stdio: [3]uintptr{0, 1, 2}, extra: extra,
		clone: plan.clone, join: plan.join, mountNS: plan.mountNS, userNS: plan.userNS,
		cgroupFD: cg.cloneInto(), bornIn: cg.v1Dirs(), rec: rec,
	}
	if plan.mountNS != "" {
		// The rootfs and the binds' sources are the runtime's paths,
		// which the joined namespace need not have.
		spec.opts.HostFDs = true
	}
	if u := plan.uns; u != nil {
		// The maps are written by ccsuper, root, between clone and exec:
		// no newuidmap, and no "mapped" step (initproc.AwaitMapping).
		// ccinit binds /dev's nodes, and takes the rootfs and the binds'
		// sources from ccsuper (sendOCIMounts).
		// An ordinary user can open_tree nothing: ccinit, the user on
		// the host, takes hold of what the user may reach itself.
		spec.opts.UserNS, spec.opts.HostFDs = true, !plainUser
		spec.sys = func(sys *syscall.SysProcAttr) { u.cloneAttrs(sys, true) }
	}
	if plan.userNS != "" {
		// As in a new user namespace, the joined one's root is no root
		// of the host's (userns_join_linux.go).
		spec.opts.UserNS, spec.opts.HostFDs = true, true
	}
	end()
	proc, err = spawnInit(spec)
	if err != nil {
		return nil, err
	}
	if spec.opts.HostFDs {
		end = rec.Begin("create: rootfs and bind sources to ccinit")
		if err := sendOCIMounts(proc.sync, proc.pid, spec.opts, plan.idmapped); err != nil {
			return proc, err
		}
		end()
	}
	if plan.userNS != "" {
		// The FIFO is the container's root's, as for a new user namespace
		// (above); its IDs are known once ccinit is in the namespace.
		uid, gid, err := joinedRoot(proc.pid, plan.joinMaps)
		if err != nil {
			return proc, err
		}
		if err := os.Chown(fifo, int(uid), int(gid)); err != nil {
			return proc, fmt.Errorf("exec FIFO: %w", initproc.WithoutPath(err))
		}
		if plan.joinMaps != nil {
			r.warn(errors.New("linux.uidMappings/gidMappings given with a user namespace joined by path: they are its own, and ignored"))
		}
	}
	_ = readyW.Close()
	cg.closeFD()
	end = rec.Begin("create: ccinit's hello on the sync socket")
	if err := proc.awaitHello(); err != nil {
		return proc, err
	}
	end()
	if plan.mountNS != "" && plan.userNS == "" {
		// Joined by ccinit's entry point, which reports a failure only
		// after the hello (a joined user namespace reports on its pipe
		// before): until then nothing of ours may touch a process that
		// may still be in our own mount namespace (hooks, lo).
		if err := sameNamespace(plan.mountNS, proc.pid, "mnt"); err != nil {
			return proc, err
		}
	}
	st.Pid = proc.pid
	if st.PidStart, err = startTime(proc.pid); err != nil {
		return proc, fmt.Errorf("read ccinit's start time: %w", err)
	}
	// No move: ccinit was born in its cgroup (cloned into it on v2, forked
	// by a thread moved into it on v1), so that its cgroup namespace is
	// rooted there.
	end = rec.Begin("create: oom_score_adj, lo up, hooks")
	if a := plan.oomScoreAdj; a != nil {
		// Inherited by the command ccinit forks.
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", proc.pid), []byte(strconv.Itoa(*a)), 0); err != nil {
			return proc, fmt.Errorf("oomScoreAdj: %w", initproc.WithoutPath(err))
		}
	}
	if plan.newNet && !r.Rootless {
		if err := loopbackUp(proc.pid); err != nil {
			return proc, err
		}
	}
	if h := plan.spec.Hooks; h != nil {
		// The spec calls a container "created" once its environment is
		// made (lifecycle step 2), which these hooks follow.
		state := st.spec(specs.StateCreated)
		for _, hs := range [][]specs.Hook{h.CreateRuntime, h.Prestart} { //nolint:staticcheck // Prestart is deprecated, still honoured
			if err := runHooks(hs, state, nil); err != nil {
				return proc, err
			}
		}
	}
	end()
	end = rec.Begin(`create: "go"; ccinit's mounts, pivot_root, until "ready"`)
	if err := proc.sendGo(); err != nil {
		return proc, err
	}
	if ready, reason := readReady(readyR); !ready {
		// ccinit failed, and told why here (or, before it had its
		// configuration, on stderr): take its status.
		res := proc.wait()
		if res.err == nil && res.ws.Exited() {
			return proc, fmt.Errorf("create: %w", initFailure{status: res.ws.ExitStatus(), reason: reason})
		}
		if reason != "" {
			return proc, fmt.Errorf("create: %w", initFailure{status: initproc.ExitSetup, reason: reason})
		}
		return proc, fmt.Errorf("container %s: ccinit ended before it was ready", id)
	}
	end()
	end = rec.Begin("create: state.json, pid file")
	if err := writeJSON(filepath.Join(dir, stateJSON), st); err != nil {
		return proc, err
	}
	if o.PidFile != "" {
		if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(proc.pid))); err != nil {
			return proc, fmt.Errorf("pid file: %w", err)
		}
	}
	return proc, nil
}

// listenExec makes the socket ccinit takes exec requests on.
func listenExec(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("exec socket: %w", err)
	}
	// Only ccsuper's user may connect (writing to a socket file is
	// connecting): whoever reaches ccinit here runs commands in the
	// container. The mode is set before listen, so no connection is taken
	// under the umask's.
	err = onSocketPath(path, func(name string) error {
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err != nil {
			return err
		}
		return unix.Chmod(name, 0o600)
	})
	if err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("exec socket %s: %w", path, err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("exec socket %s: %w", path, err)
	}
	return fd, nil
}

// spec renders st as the OCI state, with status.
func (st containerState) spec(status specs.ContainerState) specs.State {
	s := specs.State{Version: specs.Version, ID: st.ID, Status: status, Bundle: st.Bundle, Annotations: st.Annotations}
	if status != specs.StateStopped {
		s.Pid = st.Pid
	}
	return s
}

// load reads the state of container id.
func (r Runtime) load(id string) (containerState, string, error) {
	var st containerState
	dir, err := r.dir(id)
	if err != nil {
		return st, "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, stateJSON))
	if errors.Is(err, fs.ErrNotExist) {
		return st, dir, fmt.Errorf("%s: %w", id, ErrNotExist)
	}
	if err != nil {
		return st, dir, fmt.Errorf("read state of %s: %w", id, initproc.WithoutPath(err))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, dir, fmt.Errorf("read state of %s: %w", id, err)
	}
	return st, dir, nil
}

// status tells created (ccinit waits on the FIFO), running, or stopped
// (ccinit gone, or a zombie waiting for its parent).
func (st containerState) status(dir string) specs.ContainerState {
	if !processAlive(st.Pid, st.PidStart) {
		return specs.StateStopped
	}
	if _, err := os.Lstat(filepath.Join(dir, fifoFile)); err == nil {
		return specs.StateCreated
	}
	return specs.StateRunning
}

// processAlive reports whether pid is the process that started at start,
// and has not exited (a zombie has).
func processAlive(pid int, start uint64) bool {
	f, err := initproc.StatFields(pid)
	if err != nil || len(f) <= initproc.StatStartTime {
		return false
	}
	s, err := strconv.ParseUint(f[initproc.StatStartTime], 10, 64)
	return err == nil && s == start && f[0] != "Z" && f[0] != "X"
}

// State returns the OCI state of container id.
func (r Runtime) State(id string) (specs.State, error) {
	st, dir, err := r.load(id)
	if err != nil {
		return specs.State{}, err
	}
	return st.spec(st.status(dir)), nil
}

// Start runs the user's process of the created container id.
func (r Runtime) Start(id string) error {
	end := r.Trace.Begin("start: read state.json, check ccinit")
	defer func() { end() }()
	st, dir, err := r.load(id)
	if err != nil {
		return err
	}
	if s := st.status(dir); s != specs.StateCreated {
		return fmt.Errorf("container %s is %s, not created", id, s)
	}
	pidfd, err := st.pidfd()
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	end()
	end = r.Trace.Begin("start: open exec FIFO, ccinit's byte")
	fifo := filepath.Join(dir, fifoFile)
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec FIFO: %w", err)
	}
	defer unix.Close(fd)
	// ccinit's blocked open returns now; its byte says it goes on, and a
	// second byte and its close of the FIFO that the command is executed. Its end instead (a
	// kill meanwhile, a command that failed) fails the start rather than
	// hanging it.
	got := 0 // bytes: one once ccinit goes on, two once the command runs
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); errors.Is(err, unix.EINTR) {
			continue
		} else if err != nil {
			return fmt.Errorf("wait for ccinit: %w", err)
		}
		if fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0 {
			var b [1]byte
			n, _ := unix.Read(fd, b[:])
			if n == 1 {
				got++
				continue
			}
			if n == 0 && got >= 2 {
				break // EOF after both bytes: the command was executed
			}
			if n == 0 && got == 1 {
				return fmt.Errorf("container %s: ccinit ended before its process started", id)
			}
		}
		if fds[1].Revents != 0 {
			return fmt.Errorf("container %s: ccinit ended before its process started", id)
		}
	}
	end()
	end = r.Trace.Begin("start: remove exec FIFO, poststart hooks")
	if err := os.Remove(fifo); err != nil {
		return fmt.Errorf("remove exec FIFO: %w", err)
	}
	if st.Hooks != nil && len(st.Hooks.Poststart) > 0 {
		// The spec: a poststart failure is logged, and the other hooks
		// and the container go on.
		_ = runHooks(st.Hooks.Poststart, st.spec(specs.StateRunning), r.warn)
	}
	return nil
}

func (r Runtime) debug(msg string) {
	if r.Debug != nil {
		r.Debug(msg)
	}
}

func (r Runtime) warn(err error) {
	if r.Warn != nil {
		r.Warn(err)
	}
}

// pidfd opens ccinit by PID and checks it is still the same process, so no
// signal reaches a process that took its PID since.
func (st containerState) pidfd() (int, error) {
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return -1, fmt.Errorf("container %s is not running: %w", st.ID, err)
	}
	if !processAlive(st.Pid, st.PidStart) {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("container %s is not running", st.ID)
	}
	return fd, nil
}

// Kill sends sig to container id's ccinit, which passes it to the command
// (a created container's ccinit ends on TERM, INT, HUP, QUIT, USR1, USR2),
// or with all to every process of its cgroup. SIGKILL to a container without
// a PID namespace of its own goes to every process of its cgroup too: no
// PID 1's death takes them along (sharedpid_linux.go).
func (r Runtime) Kill(id string, sig unix.Signal, all bool) error {
	st, dir, err := r.load(id)
	if err != nil {
		return err
	}
	if s := st.status(dir); s == specs.StateStopped {
		if all && !st.OwnPidNS && st.Cgroup != nil {
			// ccinit is gone, not necessarily the rest: a shim's kill
			// --all at ccinit's end (containerd's for a config without a
			// pid namespace) reaches what is left.
			return st.Cgroup.signalAll(sig)
		}
		if all {
			return nil
		}
		return fmt.Errorf("container %s is not running", id)
	}
	if st.Cgroup != nil && (all || sig == unix.SIGKILL && !st.OwnPidNS) {
		return st.Cgroup.signalAll(sig)
	}
	if all {
		// No cgroup (rootless): the processes of its PID namespace.
		fds, err := nsMembers(st)
		for _, fd := range fds {
			_ = unix.PidfdSendSignal(fd, sig, nil, 0) // gone meanwhile is fine
			_ = unix.Close(fd)
		}
		return err
	}
	fd, err := st.pidfd()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal container %s: %w", id, err)
	}
	return nil
}

// Delete removes container id: its cgroup and state, after the poststop
// hooks. A container that is not stopped needs force, and is killed first
// (the spec: deleting one that is not stopped MUST fail).
func (r Runtime) Delete(id string, force bool) error {
	endLoad := r.Trace.Begin("delete: read state.json, check ccinit")
	st, dir, err := r.load(id)
	if err != nil {
		return err
	}
	s := st.status(dir)
	endLoad()
	if s != specs.StateStopped {
		if !force {
			return fmt.Errorf("container %s is %s: stop it first, or delete --force", id, s)
		}
		end := r.Trace.Begin("delete: SIGKILL ccinit, wait for its end")
		err := st.killAndWait()
		end()
		if err != nil {
			return err
		}
	} else {
		// Stopped is ccinit's main thread gone; its other threads may
		// still be exiting, and they keep the cgroup busy until then.
		end := r.Trace.Begin("delete: wait for ccinit's last thread")
		err := st.awaitExit()
		end()
		if err != nil {
			return err
		}
	}
	end := r.Trace.Begin("delete: cgroup, poststop hooks, state")
	defer end()
	var errs []error
	if !st.OwnPidNS && st.Cgroup != nil {
		// No PID 1's death took the rest along (sharedpid_linux.go).
		// What cannot be killed keeps the state, for a later delete.
		if err := st.Cgroup.killAll(); err != nil {
			return err
		}
	}
	errs = append(errs, st.Cgroup.remove())
	if st.Hooks != nil && len(st.Hooks.Poststop) > 0 {
		_ = runHooks(st.Hooks.Poststop, st.spec(specs.StateStopped), r.warn) // as poststart
	}
	errs = append(errs, os.RemoveAll(dir))
	return errors.Join(errs...)
}

// killAndWait kills ccinit and waits until it has exited. Without a PID
// namespace of its own, the container's other processes outlive it: Delete
// kills them next (killAll).
func (st containerState) killAndWait() error {
	fd, err := st.pidfd()
	if err != nil {
		return nil // gone already
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill container %s: %w", st.ID, err)
	}
	return st.awaitPidfd(fd)
}

// awaitExit waits until every thread of a ccinit that has stopped has
// exited, if it is still there (a zombie, or threads still in exit).
func (st containerState) awaitExit() error {
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return nil // reaped: gone with all its threads
	}
	defer unix.Close(fd)
	if start, err := startTime(st.Pid); err != nil || start != st.PidStart {
		return nil // reaped, and the PID taken since
	}
	return st.awaitPidfd(fd)
}

// awaitPidfd waits until ccinit's pidfd fd is readable: the kernel says so
// once the whole thread group has exited, not only its main thread.
func (st containerState) awaitPidfd(fd int) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10000)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("wait for container %s: %w", st.ID, err)
		case n == 0:
			return fmt.Errorf("container %s: ccinit did not exit within 10s", st.ID)
		}
		return nil
	}
}

// Pids lists the processes of container id (ps).
func (r Runtime) Pids(id string) ([]int, error) {
	st, dir, err := r.load(id)
	if err != nil {
		return nil, err
	}
	if st.Cgroup == nil {
		// No cgroup (rootless): the processes of its PID namespace.
		if st.status(dir) == specs.StateStopped {
			return nil, nil
		}
		fds, err := nsMembers(st)
		var pids []int
		for _, fd := range fds {
			if pid := pidfdPid(fd); pid > 0 {
				pids = append(pids, pid)
			}
			_ = unix.Close(fd)
		}
		return pids, err
	}
	return st.Cgroup.pids()
}

// Listed is one container in List.
type Listed struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
}

// List returns every container under Root, by ID.
func (r Runtime) List() ([]Listed, error) {
	ents, err := os.ReadDir(r.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", r.Root, err)
	}
	var out []Listed
	for _, e := range ents {
		st, dir, err := r.load(e.Name())
		if err != nil {
			continue // being created or deleted
		}
		out = append(out, Listed{State: st.spec(st.status(dir)), Rootfs: st.Rootfs, Created: st.Created})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Run creates and starts container id; unless detach, it waits for it,
// passing on the signals of sigs, deletes it and returns its status.
func (r Runtime) Run(id string, o CreateOptions, detach bool, sigs <-chan os.Signal) (int, error) {
	p, err := r.create(id, o)
	if err != nil {
		if p != nil {
			p.close()
		}
		return createStatus(err), err
	}
	defer p.close()
	if err := r.Start(id); err != nil {
		return initproc.ExitSetup, errors.Join(err, r.Delete(id, true))
	}
	if detach {
		return 0, nil
	}
	for {
		select {
		case s := <-sigs:
			_ = unix.PidfdSendSignal(p.pidfd, s.(unix.Signal), nil, 0)
		case res := <-p.exited:
			p.reaped = &res
			status := initproc.ExitSetup
			if res.err == nil {
				status = initproc.ExitStatus(res.ws)
			}
			return status, r.Delete(id, true)
		}
	}
}

// runHooks runs hooks in order with state as JSON on their stdin. The first
// failure ends them, unless warn is set: then each failure goes to warn and
// the rest run.
func runHooks(hooks []specs.Hook, state specs.State, warn func(error)) error {
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		cmd := exec.Command(h.Path)
		if len(h.Args) > 0 {
			cmd.Args = h.Args
		}
		cmd.Env = h.Env
		cmd.Stdin = bytes.NewReader(b)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if h.Timeout != nil {
			if *h.Timeout <= 0 {
				return fmt.Errorf("hook %s: timeout must be positive", h.Path)
			}
			cmd.WaitDelay = time.Second
			t := time.AfterFunc(time.Duration(*h.Timeout)*time.Second, func() {
				if cmd.Process != nil {
					_ = cmd.Process.Kill()
				}
			})
			defer t.Stop()
		}
		if err := cmd.Run(); err != nil {
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				err = fmt.Errorf("%w: %s", err, msg)
			}
			err = fmt.Errorf("hook %s: %w", h.Path, err)
			if warn == nil {
				return err
			}
			warn(err)
		}
	}
	return nil
}

// writeJSON writes v to path whole or not at all.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, initproc.WithoutPath(err))
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, initproc.WithoutPath(err))
	}
	return nil
}

// maxSocketPath is the longest path a unix socket address holds (sun_path
// is 108 bytes with its terminating NUL).
const maxSocketPath = 107

// onSocketPath calls f with a name for the socket at path that fits in a
// socket address, whatever the length of path: Docker's default state
// directory with a 64-hex ID makes ROOT/ID/exec.sock 108 bytes. A longer
// path is reached through its directory held open (O_PATH) as
// /proc/self/fd/N/NAME, which the kernel resolves like any path. The socket
// stays a file in the container's state directory, mode 0600, so only
// ccsuper's user (root, for an engine) may connect: an abstract name would
// have no permission check at all, and anyone in the network namespace
// could ask ccinit to run a command in the container.
func onSocketPath(path string, f func(name string) error) error {
	if len(path) <= maxSocketPath {
		return f(path)
	}
	dir, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	name := fmt.Sprintf("/proc/self/fd/%d/%s", dir, filepath.Base(path))
	if len(name) > maxSocketPath {
		return fmt.Errorf("socket name %s is longer than %d bytes", filepath.Base(path), maxSocketPath)
	}
	return f(name)
}

// nsKindName names the namespaces sameNamespace is asked about.
var nsKindName = map[string]string{"mnt": "mount"}

// sameNamespace checks that process pid is in the namespace at path, by the
// device and inode of both (/proc/PID/ns/KIND).
func sameNamespace(path string, pid int, kind string) error {
	var want, got unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		return fmt.Errorf("namespace %s: %w", path, initproc.WithoutPath(err))
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, kind), &got); err != nil {
		return fmt.Errorf("namespace of ccinit: %w", initproc.WithoutPath(err))
	}
	if want.Dev != got.Dev || want.Ino != got.Ino {
		return fmt.Errorf("%s namespace %s: ccinit did not enter it", nsKindName[kind], path)
	}
	return nil
}
