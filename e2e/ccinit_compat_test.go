package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests in this file hold ccinit, run on its own, to what tini and
// catatonit promise and to what their users reported broken. Every scenario
// runs against each of the three that is installed, as PID 1 of a new PID
// namespace and as a plain process (a child subreaper), and where the three
// differ the difference is written down per implementation: a test fails
// when any of them changes. docs/ccinit.md has the table and the reasons.

// initImpl is one init under test, with its flags and the behaviour recorded
// for it where the three differ.
type initImpl struct {
	name      string
	bin       string   // absolute path; empty when not installed
	group     string   // the flag that forwards signals to the command's process group
	subreaper []string // the flags it needs, not as PID 1, to reap orphans

	// dropped are the signals it does not forward to the command (and
	// that do not kill it).
	dropped []int
	// fatal are the signals that kill it when it is not PID 1 (as PID 1
	// the kernel drops a signal it has no handler for).
	fatal []int
	// notFound and notExecutable are its exit statuses when the command
	// cannot be executed.
	notFound, notExecutable int
	// passesIgnored: the command inherits the signals ignored by
	// whoever started the init, as an exec would pass them on.
	passesIgnored bool
	// termsLeftovers: once the command exits it sends SIGTERM to what
	// the command left running, and waits for it, before it exits.
	termsLeftovers bool
}

// Signals the kernel sends a process whose own code went wrong. tini and
// catatonit leave them at their defaults (die, not forward); ccinit is a Go
// program, where a real fault panics and kill(2)'s copy is just a signal.
var faultSignals = []int{4, 5, 6, 7, 8, 11, 31} // ILL TRAP ABRT BUS FPE SEGV SYS

// drops reports whether impl does not forward sig: recorded, or ignored by
// the test process (under make, 32 and 33 are) and passed on ignored.
func (impl initImpl) drops(sig int) bool {
	return slices.Contains(impl.dropped, sig) || impl.passesIgnored && ignoredByTest(sig)
}

// dies reports whether sig kills impl when it is not PID 1.
func (impl initImpl) dies(sig int) bool {
	return slices.Contains(impl.fatal, sig) && !(impl.passesIgnored && ignoredByTest(sig))
}

// ignoredByTest reports whether sig is ignored in the test process, and so
// in the inits it starts (but for the signals the Go runtime handles, which
// a child gets at their default and which are not ignored here).
func ignoredByTest(sig int) bool { return ignoredBy("self", sig) }

// ignoredBy reports whether sig is ignored by the process pid ("self" for the
// test process), as /proc says.
func ignoredBy(pid string, sig int) bool { return inSigMask(pid, "SigIgn:", sig) }

// inSigMask reports whether sig is in the signal mask of /proc/PID/status
// whose line starts with field ("SigIgn:", "SigCgt:").
func inSigMask(pid, field string, sig int) bool {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(sig-1)) != 0
		}
	}
	return false
}

// initImpls returns ccinit, tini-static and catatonit, in that order.
func initImpls() []initImpl {
	look := func(name string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			return ""
		}
		return p
	}
	return []initImpl{
		{
			name: "ccinit", bin: ccinitBin, group: "-g",
			// TTIN and TTOU would stop it; URG is the Go runtime's own
			// preemption signal; SIGPROF is kept by the Go runtime's
			// profiler; 32 and 34 are reserved by the Go runtime,
			// which gives them no handler, so ccinit drops them.
			dropped:  []int{21, 22, 23, 27, 32, 34},
			notFound: 127, notExecutable: 126,
			termsLeftovers: true,
		},
		{
			name: "tini", bin: look("tini-static"), group: "-g", subreaper: []string{"-s"},
			// It ignores TTIN and TTOU; fault signals are its own.
			dropped:  append([]int{21, 22}, faultSignals...),
			fatal:    append([]int{32, 33}, faultSignals...),
			notFound: 127, notExecutable: 126,
			passesIgnored: true,
		},
		{
			name: "catatonit", bin: look("catatonit"), group: "-g",
			// It drops TSTP as well as TTIN and TTOU.
			dropped:  append([]int{20, 21, 22}, faultSignals...),
			fatal:    append([]int{32, 33}, faultSignals...),
			notFound: 1, notExecutable: 1, // its child's "failed to exec" exits 1
			passesIgnored: true,
		},
	}
}

// forEachInit runs f as a parallel subtest for every installed
// implementation, as PID 1 and not, skipping visibly the missing ones.
func forEachInit(t *testing.T, f func(t *testing.T, impl initImpl, pid1 bool)) {
	for _, impl := range initImpls() {
		for _, pid1 := range []bool{true, false} {
			mode := "pid1"
			if !pid1 {
				mode = "subreaper"
			}
			t.Run(impl.name+"/"+mode, func(t *testing.T) {
				if impl.bin == "" {
					t.Skipf("%s is not installed (scripts/test-deps.sh installs it)", impl.name)
				}
				t.Parallel()
				f(t, impl, pid1)
			})
		}
	}
}

// command returns the command that runs args under impl: as PID 1 of a new
// PID namespace with its own /proc (under unshare), or as a child of the
// test with the flags that make it a subreaper. group adds the flag that
// forwards signals to the command's process group.
func (impl initImpl) command(t *testing.T, pid1, group bool, args ...string) *exec.Cmd {
	t.Helper()
	var argv []string
	if group {
		argv = append(argv, impl.group)
	}
	if !pid1 {
		argv = append(argv, impl.subreaper...)
	}
	argv = append(append(argv, "--"), args...)
	if !pid1 {
		return command(t, impl.bin, argv...)
	}
	// --kill-child: if the test gives up on unshare (its deadline), the
	// namespace goes with it instead of living on.
	return command(t, "unshare", append([]string{"--pid", "--fork", "--kill-child", "--mount-proc", "--", impl.bin}, argv...)...)
}

// initPID is the host PID of the init that cmd, made by initImpl.command and
// started, runs: unshare's only child when PID 1.
func initPID(t *testing.T, cmd *exec.Cmd, pid1 bool) int {
	t.Helper()
	if !pid1 {
		return cmd.Process.Pid
	}
	kids := children(t, cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("unshare has children %v, want exactly the init", kids)
	}
	return kids[0]
}

// signalProbe is a busybox script that prints "sig N" for every signal N it
// gets and "mark K" for the K-th SIGRTMAX (64), and runs until $1/quit
// exists (or $1 is gone). It creates $1/ready once its traps are set. Signals
// 9, 17, 19 cannot be or are not trapped usefully; 32 and 33 are glibc's own
// and kill a busybox linked with it.
const signalProbe = `
for n in $(seq 1 63); do
	case $n in 9|17|19|32|33) ;; *) trap "echo sig $n" $n;; esac
done
m=0
trap 'm=$((m+1)); echo "mark $m"' 64
echo ready
: > "$1/ready"
while [ -d "$1" ] && [ ! -e "$1/quit" ]; do sleep 0.05; done
`

// sentSignals are the signals TestInitCompatSignals sends: every catchable
// one but SIGCHLD, glibc's internal 32 and 33, the marker 64, and those that
// kill impl when it is not PID 1.
func sentSignals(impl initImpl, pid1 bool) []int {
	var s []int
	for n := 1; n < 64; n++ {
		switch {
		case n == 9 || n == 17 || n == 19 || n == 32 || n == 33:
		case !pid1 && impl.dies(n):
		default:
			s = append(s, n)
		}
	}
	return s
}

// TestInitCompatSignals sends the init every catchable signal, one at a
// time, and checks which reach the command. After each it sends SIGRTMAX and
// waits for the command to see it, and for a signal the init forwards, for
// the command to see that one too, before the next. Both waits are needed:
// a signal the init drops shows only as the mark arriving without it, and
// the order of two signals is not kept by every init. The kernel hands a
// multi-threaded process's signals to whichever threads are free, so ccinit,
// a Go program, may forward SIGRTMAX before a signal sent just ahead of it;
// tini and catatonit, one thread each, forward the lowest-numbered first.
// Moving on at the mark alone then lets the next signal overtake the late
// one at the command, and a stop signal discards a pending SIGCONT (and
// SIGCONT a pending stop signal): that lost 18 before 20 once. In the end
// the init must not be stopped (SIGTSTP, SIGTTIN, SIGTTOU) and must still
// run the command to its end.
func TestInitCompatSignals(t *testing.T) {
	forEachInit(t, func(t *testing.T, impl initImpl, pid1 bool) {
		dir := t.TempDir()
		p := start(t, impl.command(t, pid1, false, busybox, "sh", "-c", signalProbe, "sh", dir))
		p.waitLine(t, "ready")
		init := initPID(t, p.cmd, pid1)
		sent := sentSignals(impl, pid1)
		for i, n := range sent {
			if err := unix.Kill(init, syscall.Signal(n)); err != nil {
				t.Fatalf("signal %d: %v", n, err)
			}
			if err := unix.Kill(init, syscall.Signal(64)); err != nil {
				t.Fatalf("signal 64 after %d: %v", n, err)
			}
			p.waitLine(t, fmt.Sprintf("mark %d", i+1))
			if !impl.drops(n) {
				p.waitLine(t, fmt.Sprintf("sig %d", n))
			}
		}
		if st := procState(init); st == "T" || st == "t" {
			t.Errorf("%s is stopped (state %s)", impl.name, st)
		}
		if err := os.WriteFile(filepath.Join(dir, "quit"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		r := p.wait(t)
		wantExit(t, r, 0)
		var want, got []int
		for _, n := range sent {
			if !impl.drops(n) {
				want = append(want, n)
			}
		}
		for _, l := range strings.Split(r.stdout, "\n") {
			if f, ok := strings.CutPrefix(l, "sig "); ok {
				n, _ := strconv.Atoi(f)
				got = append(got, n)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("forwarded signals:\ngot  %v\nwant %v\n(sent %v)", got, want, sent)
		}
	})
}

// procState is the state letter of pid from /proc, "" if it is gone.
func procState(pid int) string {
	f := procStatFields(pid)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// procStatFields returns the fields of /proc/PID/stat after the command's
// name (field 3, the state, first), or nil when pid is gone.
func procStatFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if err != nil || i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// TestInitCompatUncaughtSignals sends each init, not as PID 1, the signals
// it cannot or does not catch, one run per signal, then SIGRTMAX (64): the
// command, sleep, dies of the first of the two that reaches it. tini and
// catatonit die of glibc's 32 and 33 and of the fault signals they leave at
// their defaults, and forward 34; ccinit drops 32 and 34, which the Go
// runtime reserves, from its start to its end (its own no-op handler: there
// is no moment around the command's fork when one of them ends it).
func TestInitCompatUncaughtSignals(t *testing.T) {
	for _, impl := range initImpls() {
		sigs := append([]int{32, 34}, impl.fatal...)
		slices.Sort(sigs)
		sigs = slices.Compact(sigs)
		for _, sig := range sigs {
			t.Run(fmt.Sprintf("%s/%d", impl.name, sig), func(t *testing.T) {
				if impl.bin == "" {
					t.Skipf("%s is not installed (scripts/test-deps.sh installs it)", impl.name)
				}
				t.Parallel()
				dir := t.TempDir()
				cmd := impl.command(t, false, false, "/bin/sh", "-c", `: > "$1/ready"; exec sleep 1000`, "sh", dir)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }() // after a failure only
				// A fault signal makes a core file: not here.
				if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_CORE, &unix.Rlimit{}, nil); err != nil {
					t.Fatal(err)
				}
				waitFile(t, filepath.Join(dir, "ready"))
				sleep := children(t, cmd.Process.Pid)
				defer func() {
					for _, pid := range sleep {
						_ = unix.Kill(pid, unix.SIGKILL) // orphaned when the init died
					}
				}()
				for _, s := range []int{sig, 64} {
					if err := unix.Kill(cmd.Process.Pid, syscall.Signal(s)); err != nil && !impl.dies(sig) {
						t.Fatal(err)
					}
				}
				_ = cmd.Wait() // the status is checked below
				ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
				switch {
				case impl.dies(sig):
					if !ws.Signaled() || int(ws.Signal()) != sig {
						t.Errorf("%s after signal %d: %v, want killed by it", impl.name, sig, cmd.ProcessState)
					}
				case impl.drops(sig):
					if ws.ExitStatus() != 128+64 {
						t.Errorf("%s after signals %d and 64: %v, want exit status %d (64 forwarded, %d dropped)", impl.name, sig, cmd.ProcessState, 128+64, sig)
					}
				default:
					if ws.ExitStatus() != 128+sig {
						t.Errorf("%s after signals %d and 64: %v, want exit status %d (%d forwarded)", impl.name, sig, cmd.ProcessState, 128+sig, sig)
					}
				}
			})
		}
	}
}

// waitFile waits until path exists, within the suite's deadline.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInitCompatGroup checks the group flag: a signal to the init reaches
// the command's whole process group with it, only the command without it.
// The quit file is made only once the command has its signal (and, with
// the flag, the member too): a member that got the signal says so before it
// says "member done", and without the flag nothing signals the member.
func TestInitCompatGroup(t *testing.T) {
	const script = `
(trap 'echo member usr1' USR1; : > "$1/member"; while [ ! -e "$1/quit" ]; do sleep 0.05; done; echo member done) &
trap 'echo main usr1' USR1
while [ ! -e "$1/member" ]; do sleep 0.01; done
echo ready
while [ ! -e "$1/quit" ]; do sleep 0.05; done
wait
`
	forEachInit(t, func(t *testing.T, impl initImpl, pid1 bool) {
		for _, group := range []bool{false, true} {
			dir := t.TempDir()
			p := start(t, impl.command(t, pid1, group, busybox, "sh", "-c", script, "sh", dir))
			p.waitLine(t, "ready")
			if err := unix.Kill(initPID(t, p.cmd, pid1), unix.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			p.waitLine(t, "main usr1")
			if group {
				// kill(2) to a group queues the signal to one
				// member after another; on a VM the CPU doing it
				// can be held up while the command's trap runs.
				p.waitLine(t, "member usr1")
			}
			if err := os.WriteFile(filepath.Join(dir, "quit"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			r := p.wait(t)
			wantExit(t, r, 0)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			slices.Sort(lines) // main and member print in either order
			want := []string{"main usr1", "member done", "ready"}
			if group {
				want = []string{"main usr1", "member done", "member usr1", "ready"}
			}
			if !slices.Equal(lines, want) {
				t.Errorf("group %v: got stdout\n%s\nwant the lines %q", group, r.stdout, want)
			}
		}
	})
}

// TestInitCompatExitStatus checks that the init exits with the command's
// status, 128+N when a signal N killed it (its own or one forwarded), and what it does when the command
// cannot be executed: ccinit and tini say 127 and 126 as a shell would,
// catatonit exits 1. Each says why in one line on stderr.
func TestInitCompatExitStatus(t *testing.T) {
	noexec := filepath.Join(t.TempDir(), "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	forEachInit(t, func(t *testing.T, impl initImpl, pid1 bool) {
		for _, tc := range []struct {
			name    string
			args    []string
			want    int
			errLine bool // one line on stderr
		}{
			{"exit 0", []string{"/bin/sh", "-c", "exit 0"}, 0, false},
			{"exit 3", []string{"/bin/sh", "-c", "exit 3"}, 3, false},
			{"exit 255", []string{"/bin/sh", "-c", "exit 255"}, 255, false},
			{"killed by TERM", []string{"/bin/sh", "-c", "kill -TERM $$"}, 143, false},
			{"killed by KILL", []string{"/bin/sh", "-c", "kill -KILL $$"}, 137, false},
			{"not found", []string{"nosuchcmd-compat"}, impl.notFound, true},
			{"not executable", []string{noexec}, impl.notExecutable, true},
		} {
			r := run(t, impl.command(t, pid1, false, tc.args...))
			if r.code != tc.want {
				t.Errorf("%s: got exit status %d, want %d\n%s", tc.name, r.code, tc.want, r)
			}
			if n := strings.Count(r.stderr, "\n"); tc.errLine && n != 1 || !tc.errLine && n != 0 {
				t.Errorf("%s: got %d lines on stderr\n%s", tc.name, n, r.stderr)
			}
		}
		// A signal forwarded to the command kills it: 128+N as well.
		p := start(t, impl.command(t, pid1, false, "/bin/sh", "-c", "echo ready; exec sleep 100"))
		p.waitLine(t, "ready")
		if err := unix.Kill(initPID(t, p.cmd, pid1), unix.SIGTERM); err != nil {
			t.Fatal(err)
		}
		wantExit(t, p.wait(t), 143)
	})
}

// buildInitProbe builds testdata/initprobe, static, into a directory of the test's.
func buildInitProbe(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "initprobe")
	cmd := command(t, "go", "build", "-o", bin, "./testdata/initprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build initprobe: %v\n%s", err, out)
	}
	return bin
}

// TestInitCompatOrphans makes a hundred orphans that the init must adopt,
// as PID 1 or as a subreaper, then makes them all exit at the same instant:
// their SIGCHLDs coalesce into a few, and the init must still reap them all.
func TestInitCompatOrphans(t *testing.T) {
	probe := buildInitProbe(t)
	forEachInit(t, func(t *testing.T, impl initImpl, pid1 bool) {
		r := run(t, impl.command(t, pid1, false, probe, "zombies", "100"))
		wantExit(t, r, 0)
		if r.stdout != "reaped 100\n" {
			t.Errorf("got stdout %q, want %q", r.stdout, "reaped 100\n")
		}
	})
}

// TestInitCompatNoSubreaper starts each init, not as PID 1, where it cannot
// become a child subreaper (a seccomp filter refuses it). ccinit refuses to
// run the command, in one line, as do tini -s and catatonit; tini without -s
// does not try, and runs the command after a warning.
func TestInitCompatNoSubreaper(t *testing.T) {
	probe := buildInitProbe(t)
	impls := map[string]initImpl{}
	for _, impl := range initImpls() {
		impls[impl.name] = impl
	}
	for _, tc := range []struct {
		impl    initImpl
		flags   []string
		code    int
		message string
		lines   int
	}{
		{impls["ccinit"], nil, 125, "ccinit: not PID 1 and cannot become a child subreaper", 1},
		{impls["tini"], []string{"-s"}, 1, "Failed to register as child subreaper", 1},
		{impls["tini"], nil, 0, "isn't registered as a child subreaper", 3},
		{impls["catatonit"], nil, 1, "failed to set child-reaper as non-pid1", 1},
	} {
		t.Run(tc.impl.name+strings.Join(tc.flags, ""), func(t *testing.T) {
			if tc.impl.bin == "" {
				t.Skipf("%s is not installed (scripts/test-deps.sh installs it)", tc.impl.name)
			}
			t.Parallel()
			args := append([]string{"nosubreaper", tc.impl.bin}, tc.flags...)
			r := run(t, command(t, probe, append(args, "--", "/bin/sh", "-c", "echo ran")...))
			wantExit(t, r, tc.code)
			if !strings.Contains(r.stderr, tc.message) || strings.Count(r.stderr, "\n") != tc.lines {
				t.Errorf("got stderr\n%s\nwant %d line(s) with %q", r.stderr, tc.lines, tc.message)
			}
			if ran := r.stdout == "ran\n"; ran != (tc.code == 0) {
				t.Errorf("got stdout %q: the command ran: %v, want %v", r.stdout, ran, tc.code == 0)
			}
		})
	}
}

// TestInitCompatLivingParent checks that a zombie whose parent is alive is
// left to that parent (no init can wait for another's child, and none kills
// the parent), and is reaped by the init once the parent dies.
func TestInitCompatLivingParent(t *testing.T) {
	// The subshell forks the child-to-be-a-zombie and becomes sleep, which
	// never waits; the child exits only once its parent is sleep (a shell
	// might reap it before the exec).
	const script = `
(sh -c 'while [ ! -e "$1/go" ]; do sleep 0.01; done' sh "$1" & echo $! > "$1/zombie"; exec sleep 1000) &
parent=$!
while [ "$(cat /proc/$parent/comm)" != sleep ]; do sleep 0.01; done
z=$(cat "$1/zombie")
: > "$1/go"
while ! grep -q '^State:.*Z' /proc/$z/status; do sleep 0.01; done
[ "$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$z/status)" = "$parent" ] && echo "zombie of its living parent"
kill $parent
while [ -e /proc/$z ]; do sleep 0.01; done
echo "reaped once the parent died"
`
	forEachInit(t, func(t *testing.T, impl initImpl, pid1 bool) {
		r := run(t, impl.command(t, pid1, false, "/bin/sh", "-c", script, "sh", t.TempDir()))
		wantExit(t, r, 0)
		if want := "zombie of its living parent\nreaped once the parent died\n"; r.stdout != want {
			t.Errorf("got stdout %q, want %q", r.stdout, want)
		}
	})
}

// TestInitCompatLeftovers lets the command exit while a child it started
// lives on. As PID 1 every init's exit ends the namespace, and the kernel
// kills what is left; only ccinit first sends it SIGTERM and waits for it.
// Not as PID 1, tini and catatonit exit at once and leave it running.
func TestInitCompatLeftovers(t *testing.T) {
	forEachInit(t, func(t *testing.T, impl initImpl, pid1 bool) {
		dir := t.TempDir()
		token := fmt.Sprintf("token-%s-%v-%d", impl.name, pid1, time.Now().UnixNano())
		t.Cleanup(func() { killWithArg(token) }) // what tini and catatonit leave
		script := `# ` + token + `
(trap 'echo > "$1/term"; exit 0' TERM; echo > "$1/ready"; while :; do sleep 0.05; done) >/dev/null 2>&1 &
while [ ! -e "$1/ready" ]; do sleep 0.01; done
exit 3
`
		r := run(t, impl.command(t, pid1, false, "/bin/sh", "-c", script, "sh", dir))
		wantExit(t, r, 3)
		_, err := os.Stat(filepath.Join(dir, "term"))
		if termed := err == nil; termed != impl.termsLeftovers {
			t.Errorf("the leftover got SIGTERM: %v, want %v", termed, impl.termsLeftovers)
		}
		left := processesWithArg(token)
		if wantLeft := !pid1 && !impl.termsLeftovers; (len(left) > 0) != wantLeft {
			t.Errorf("left running after %s exited: %v, want some: %v", impl.name, left, wantLeft)
		}
	})
}

// TestInitCompatStdio checks that the init hands the command its own stdin,
// stdout and stderr (the same open files, not copies through pipes of its
// own) and writes nothing to them itself.
func TestInitCompatStdio(t *testing.T) {
	const script = `
cat
echo to-stderr >&2
for n in 0 1 2; do
	[ "$(readlink /proc/$$/fd/$n)" = "$(readlink /proc/$PPID/fd/$n)" ] || echo "fd $n is not the init's" >&2
done
`
	forEachInit(t, func(t *testing.T, impl initImpl, pid1 bool) {
		cmd := impl.command(t, pid1, false, "/bin/sh", "-c", script)
		cmd.Stdin = strings.NewReader("line one\nline two\n")
		r := run(t, cmd)
		wantExit(t, r, 0)
		if r.stdout != "line one\nline two\n" || r.stderr != "to-stderr\n" {
			t.Errorf("got\n%s\nwant stdout %q and stderr %q", r, "line one\nline two\n", "to-stderr\n")
		}
	})
}

// TestInitCompatInheritedIgnore starts each init with SIGINT and SIGQUIT
// ignored, as a non-interactive shell starts a background job, and looks at
// what the command inherits. tini and catatonit pass the ignored signals on;
// ccinit catches every signal, and a caught signal is reset to its default
// in a child, so its command starts with none ignored, as in a fresh container.
func TestInitCompatInheritedIgnore(t *testing.T) {
	forEachInit(t, func(t *testing.T, impl initImpl, pid1 bool) {
		inner := impl.command(t, pid1, false, "/bin/sed", "-n", `s/^SigIgn:[[:space:]]*//p`, "/proc/self/status")
		r := run(t, command(t, "/bin/sh", append([]string{"-c", `trap "" INT QUIT; exec "$@"`, "sh"}, inner.Args...)...))
		wantExit(t, r, 0)
		var want uint64 // ccinit: none
		if impl.passesIgnored {
			want = 1<<(unix.SIGINT-1) | 1<<(unix.SIGQUIT-1)
			for n := 1; n <= 64; n++ {
				if ignoredByTest(n) {
					want |= 1 << (n - 1)
				}
			}
		}
		if want := fmt.Sprintf("%016x\n", want); r.stdout != want {
			t.Errorf("the command's ignored signals: got %q, want %q", r.stdout, want)
		}
	})
}

// TestInitCompatVersions logs the versions of the peers the suite ran
// against, for docs/ccinit.md.
func TestInitCompatVersions(t *testing.T) {
	for _, impl := range initImpls()[1:] {
		if impl.bin == "" {
			t.Logf("%s: not installed", impl.name)
			continue
		}
		out, err := exec.Command(impl.bin, "--version").CombinedOutput()
		if err != nil {
			t.Errorf("%s --version: %v", impl.bin, err)
		}
		t.Logf("%s: %s", impl.bin, strings.TrimSpace(string(out)))
	}
}
