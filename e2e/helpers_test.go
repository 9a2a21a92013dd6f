package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// timeout bounds every process a test starts. It only turns a hang into a
// failure; it is far above what any run needs. In the guest of `make test-vm`
// the CPUs are emulated, several times slower, and the guest's /init scales
// it by CCONTAINER_E2E_SLOW.
var timeout = 45 * time.Second * time.Duration(slowdown())

// slowdown is the factor in CCONTAINER_E2E_SLOW, or 1.
func slowdown() int {
	n, err := strconv.Atoi(os.Getenv("CCONTAINER_E2E_SLOW"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// hostMounts orders the tests that look at the host's mount table against the
// ones that change it: a test comparing snapshots, or copying the table into
// a namespace of its own, holds it for reading; a test that mounts in the
// host's namespace on purpose (a resolv.conf bound over the host's) holds it
// for writing. Nothing else may mount there: ccsuper and ccinit never do.
var hostMounts sync.RWMutex

// result is how a finished process ended.
type result struct {
	code           int // exit status
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit status %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// command returns a command for name under the suite's deadline. Its
// environment is the test process's unless the caller sets Env.
func command(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	return commandWithin(t, timeout, name, args...)
}

// commandWithin is command with a deadline of d instead of timeout.
func commandWithin(t *testing.T, d time.Duration, name string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, name, args...)
	// If something the command left behind holds stdout open, Wait would
	// never return: give up on the pipes some time after the exit.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// ccsuper returns a ccsuper command with args.
func ccsuper(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return command(t, ccsuperBin, args...)
}

// runCCSuper runs ccsuper with args to completion.
func runCCSuper(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, ccsuper(t, args...))
}

// run runs cmd to completion and returns how it ended. It fails the test if
// cmd could not run or did not exit by itself (killed at the deadline).
func run(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{code: -1, stdout: stdout.String(), stderr: stderr.String()}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	switch {
	case cmd.ProcessState == nil:
		t.Fatalf("%s: %v", cmd, err)
	case !cmd.ProcessState.Exited():
		t.Fatalf("%s: %v (killed at its deadline?)\n%s", cmd, cmd.ProcessState, r)
	case errors.Is(err, exec.ErrWaitDelay):
		t.Fatalf("%s: exited, but a process it left behind kept its output open\n%s", cmd, r)
	}
	return r
}

// wantExit fails the test unless r ended with status code.
func wantExit(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("got exit status %d, want %d\n%s", r.code, code, r)
	}
}

// wantOneLineError checks that r failed with status code and said why in
// exactly one line on stderr, and nothing on stdout.
func wantOneLineError(t *testing.T, r result, code int) {
	t.Helper()
	wantExit(t, r, code)
	if n := strings.Count(r.stderr, "\n"); n != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("got %d lines on stderr, want exactly one:\n%s", n, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("got stdout %q, want nothing", r.stdout)
	}
}

// proc is a process started in the background whose stdout is read line by line.
type proc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer // written by exec's copier, read after Wait only

	mu     sync.Mutex
	lines  []string      // stdout so far
	update chan struct{} // a line arrived (capacity 1, never blocks the reader)
	eof    chan struct{} // closed once stdout is at EOF

	waited bool
}

// start starts cmd in the background, reading its stdout. The process is
// killed at cleanup if the test did not wait for it.
func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := newProc(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &p.stderr
	p.start(t, stdout)
	return p
}

func newProc(cmd *exec.Cmd) *proc {
	return &proc{cmd: cmd, update: make(chan struct{}, 1), eof: make(chan struct{})}
}

// start starts p.cmd and reads its output from out, line by line.
func (p *proc) start(t *testing.T, out io.Reader) {
	t.Helper()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.cmd, err)
	}
	go func() {
		defer close(p.eof)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, strings.TrimSuffix(sc.Text(), "\r")) // a terminal's lines end in \r\n
			p.mu.Unlock()
			select {
			case p.update <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		if p.waited {
			return
		}
		_ = p.cmd.Process.Kill() // ccsuper's Pdeathsig takes the container with it
		select {
		case <-p.eof:
		case <-time.After(timeout):
		}
		_ = p.cmd.Wait()
	})
}

func (p *proc) seen(line string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.lines, line)
}

// waitLine waits until the process has printed line on stdout.
func (p *proc) waitLine(t *testing.T, line string) {
	t.Helper()
	deadline := time.After(timeout)
	for !p.seen(line) {
		select {
		case <-p.update:
		case <-p.eof:
			if p.seen(line) {
				return
			}
			r := p.wait(t)
			t.Fatalf("%s ended before printing %q\n%s", p.cmd, line, r)
		case <-deadline:
			t.Fatalf("%s did not print %q within %s", p.cmd, line, timeout)
		}
	}
}

// wait waits for the process to exit and returns how it ended.
func (p *proc) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-p.eof:
	case <-time.After(timeout):
		t.Fatalf("%s: did not exit (or something it left holds its output) within %s; its processes:\n%s",
			p.cmd, timeout, strings.Join(processTree(p.cmd.Process.Pid), "\n"))
	}
	err := p.cmd.Wait()
	p.waited = true
	if p.cmd.ProcessState == nil {
		t.Fatalf("%s: %v", p.cmd, err)
	}
	p.mu.Lock()
	r := result{code: p.cmd.ProcessState.ExitCode(), stderr: p.stderr.String()}
	if len(p.lines) > 0 {
		r.stdout = strings.Join(p.lines, "\n") + "\n"
	}
	p.mu.Unlock()
	if !p.cmd.ProcessState.Exited() {
		t.Fatalf("%s: %v (%v)\n%s", p.cmd, p.cmd.ProcessState, err, r)
	}
	return r
}

// children returns the PIDs of the children of pid, all threads included.
func children(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no tasks for PID %d: %v", pid, err)
	}
	var kids []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

// mountTable returns the mounts of the mount namespace of the process whose
// mountinfo is at path, one "MOUNTPOINT FSTYPE" per mount, sorted. Mount IDs
// and options are left out on purpose: they may change without anything
// being mounted or unmounted.
func mountTable(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := parseMountInfo(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// parseMountInfo is mountTable for the text of a mountinfo file.
func parseMountInfo(text string) ([]string, error) {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) {
			return nil, fmt.Errorf("malformed mountinfo line %q", line)
		}
		out = append(out, f[4]+" "+f[sep+1])
	}
	slices.Sort(out)
	return out, nil
}

// hostMountTable returns the mount table of the test process's namespace,
// which is the host's.
func hostMountTable(t *testing.T) []string {
	t.Helper()
	m, err := mountTable("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// wantMountTable fails the test if the host's mount table is not before.
func wantMountTable(t *testing.T, before []string, when string) {
	t.Helper()
	if diff := mountDiff(before, hostMountTable(t)); len(diff) > 0 {
		t.Errorf("host mount table changed %s:\n%s", when, strings.Join(diff, "\n"))
	}
}

// mountDiff lists the mounts of after that before lacks ("+ ...") and those
// of before that after lacks ("- ..."), with their counts; none when equal.
func mountDiff(before, after []string) []string {
	count := map[string]int{}
	for _, m := range before {
		count[m]++
	}
	for _, m := range after {
		count[m]--
	}
	var diff []string
	for m, n := range count {
		switch {
		case n < 0:
			diff = append(diff, fmt.Sprintf("+ %s (x%d)", m, -n))
		case n > 0:
			diff = append(diff, fmt.Sprintf("- %s (x%d)", m, n))
		}
	}
	slices.Sort(diff)
	return diff
}

// mountsUnder returns the host's mounts at or below dir.
func mountsUnder(dir string) ([]string, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	table, err := mountTable("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range table {
		mp, _, _ := strings.Cut(m, " ")
		if mp == real || strings.HasPrefix(mp, real+"/") {
			out = append(out, m)
		}
	}
	return out, nil
}

// detachUnder lazily unmounts whatever the host has mounted at or below dir,
// deepest first. Only for cleaning up after a failure was reported.
func detachUnder(dir string) {
	left, err := mountsUnder(dir)
	if err != nil {
		return
	}
	slices.Reverse(left) // the table is sorted, so children come after parents
	for _, m := range left {
		mp, _, _ := strings.Cut(m, " ")
		_ = unix.Unmount(mp, unix.MNT_DETACH) // best effort; the failure is already reported
	}
}

// processTree describes pid and its descendants, one "PID STATE WCHAN
// CMDLINE" each, for the report of a hang: where each one waits.
func processTree(pid int) []string {
	kids := map[int][]int{}
	for _, p := range pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			if ppid, err := strconv.Atoi(f[1]); err == nil {
				kids[ppid] = append(kids[ppid], p)
			}
		}
	}
	var out []string
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		state := procState(p)
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", p))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		out = append(out, fmt.Sprintf("%d %s %s %s", p, state, wchan, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		queue = append(queue, kids[p]...)
	}
	return out
}

// processesOf returns "PID EXE" for every process on the host running one of
// the executables exes.
func processesOf(exes ...string) []string {
	var out []string
	for _, pid := range pids() {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			continue // a kernel thread, or gone
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		if slices.Contains(exes, exe) {
			out = append(out, fmt.Sprintf("%d %s", pid, exe))
		}
	}
	return out
}

// runID is this run of the suite, as digits of a fixed width: the test
// process's PID (the suite runs in the host's PID namespace).
var runID = fmt.Sprintf("%07d", os.Getpid())

// token returns base, a number (a sleep's duration) or a word, with runID
// appended. Tests find the processes they started by an argument: other runs
// of this suite on the machine (other worktrees, other engineers) start the
// same commands, and a fixed argument would find, and kill, theirs.
func token(base string) string { return base + runID }

// processesWithArg returns "PID CMDLINE" for every process on the host with
// an argument containing s.
func processesWithArg(s string) []string {
	var out []string
	for _, pid := range pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(s)) {
			// State and parent, for the report of a leftover: who
			// holds it, and whether it is on its way out.
			var state, ppid string
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
				if f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:])); len(f) > 1 {
					state, ppid = f[0], f[1]
				}
			}
			out = append(out, fmt.Sprintf("%d %s[state %s, parent %s]", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}), state, ppid))
		}
	}
	return out
}

// pids lists the processes in the test process's PID namespace.
func pids() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// privateBinaries links ccsuper and ccinit into a directory of the test's
// own, so that processesOf can tell this test's processes from those of the
// tests running in parallel (a process's /proc/PID/exe names the link it was
// started through).
func privateBinaries(t *testing.T) (super, init string) {
	t.Helper()
	dir := t.TempDir()
	super, init = filepath.Join(dir, "ccsuper"), filepath.Join(dir, "ccinit")
	linkBinary(t, ccsuperBin, super)
	linkBinary(t, ccinitBin, init)
	return super, init
}

// linkBinary puts the executable src at dst as a hard link, never a copy: a
// copy is written through a descriptor that a child forked meanwhile by a
// parallel test holds until its exec, and executing the copy then fails
// with ETXTBSY ("text file busy").
func linkBinary(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Link(src, dst); err != nil {
		t.Fatalf("link %s: %v", src, err)
	}
}
