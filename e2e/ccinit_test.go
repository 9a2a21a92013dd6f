package e2e

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCCInitChroot runs ccinit as the init of a plain chroot, in the host's
// mount namespace: it mounts /proc and /sys there for the command and must
// unmount them when it exits, whatever the command did.
//
// Not parallel, on purpose: it takes hostMounts for writing, and a parallel
// test waiting for it holds one of the -test.parallel slots meanwhile. The
// tests holding hostMounts for reading include TestVolumeSymlinkEscape, whose
// own parallel subtests need a slot before it can let go: with two slots
// (GOMAXPROCS on this machine), this one and a reader queued behind it took
// both, and the suite hung until go test's 10-minute timeout. Run before the
// parallel tests resume, it finds the lock free.
func TestCCInitChroot(t *testing.T) {
	root := newRootfs(t)
	if err := copyFile(ccinitBin, filepath.Join(root, "sbin/ccinit"), 0o755); err != nil {
		t.Fatal(err)
	}
	// This test mounts in the host's namespace on purpose: keep the tests
	// comparing the host's mount table out of the way meanwhile.
	hostMounts.Lock()
	defer hostMounts.Unlock()
	before := hostMountTable(t)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
	}{
		{
			name:   "exit status",
			args:   []string{"/bin/sh", "-c", "echo hi; [ -r /proc/self/stat ] && echo proc; [ -d /sys/class/net ] && echo sys; exit 5"},
			code:   5,
			stdout: "hi\nproc\nsys\n",
		},
		{name: "not found", args: []string{"nosuchcmd"}, code: 127},
		{name: "killed", args: []string{"/bin/sh", "-c", "kill -TERM $$"}, code: 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// As `chroot ROOT /sbin/ccinit -- ARGS`.
			cmd := command(t, "/sbin/ccinit", append([]string{"--"}, tc.args...)...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
			cmd.Dir = "/"
			r := run(t, cmd)
			wantExit(t, r, tc.code)
			if r.stdout != tc.stdout {
				t.Errorf("got stdout %q, want %q", r.stdout, tc.stdout)
			}
			if left, err := mountsUnder(root); err != nil || len(left) > 0 {
				t.Errorf("mounts left under the chroot: %v %v", left, err)
			}
			wantMountTable(t, before, "by ccinit in a chroot")
		})
	}
}

// TestCCInitSubreaper runs ccinit standalone, not as PID 1: orphans of the
// command must be re-parented to it, and be gone when it exits.
func TestCCInitSubreaper(t *testing.T) {
	t.Parallel()

	t.Run("orphan is re-parented to ccinit", func(t *testing.T) {
		t.Parallel()
		const token = "987.654" // an argument no other process has
		// The subshell forks the orphan and exits: the orphan's parent is
		// then the nearest subreaper above it. The command, still running,
		// reports who that is.
		const script = `
( sleep 987.654 & echo $! > "$1/orphan" )
read -r pid < "$1/orphan"
echo "orphan $pid"
echo "command's parent $PPID"
grep '^PPid:' /proc/$pid/status
`
		cmd := command(t, ccinitBin, "--", "/bin/sh", "-c", script, "sh", t.TempDir())
		r := run(t, cmd)
		wantExit(t, r, 0)
		ccinit := strconv.Itoa(cmd.Process.Pid)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 {
			t.Fatalf("got stdout\n%s\nwant 3 lines", r.stdout)
		}
		if want := "command's parent " + ccinit; lines[1] != want {
			t.Errorf("got %q, want %q", lines[1], want)
		}
		if got := strings.Fields(lines[2]); len(got) != 2 || got[1] != ccinit {
			t.Errorf("orphan's parent: got %q, want PPid: %s (ccinit, not the host's init)", lines[2], ccinit)
		}
		if left := processesWithArg(token); len(left) > 0 {
			t.Errorf("orphan still running after ccinit exited: %v", left)
		}
	})

	t.Run("orphan outliving the command is terminated", func(t *testing.T) {
		t.Parallel()
		const token = "31.4159"
		done := filepath.Join(t.TempDir(), "done")
		script := `(sleep 31.4159; echo orphan-done > "$1") & exit 0`
		r := run(t, command(t, ccinitBin, "--", "/bin/sh", "-c", script, "sh", done))
		wantExit(t, r, 0)
		if left := processesWithArg(token); len(left) > 0 {
			t.Errorf("orphan still running after ccinit exited: %v", left)
		}
		if _, err := os.Stat(done); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the orphan ran to its end: %v", err)
		}
	})
}

// TestCCInitGrace checks that standalone ccinit kills a leftover that
// ignores SIGTERM once --grace has passed, and exits with the command's status.
func TestCCInitGrace(t *testing.T) {
	t.Parallel()
	const token = "1000.25" // an argument no other process has
	const script = `
(trap "" TERM; echo > "$1/ready"; exec sleep 1000.25) &
while [ ! -e "$1/ready" ]; do sleep 0.01; done
exit 4
`
	r := run(t, command(t, ccinitBin, "--grace", "100ms", "--", "/bin/sh", "-c", script, "sh", t.TempDir()))
	wantExit(t, r, 4)
	if left := processesWithArg(token); len(left) > 0 {
		t.Errorf("leftover still running after ccinit exited: %v", left)
	}
}

// TestCCInitGraceForkLoop is TestCCInitGrace with a leftover that keeps
// forking children that ignore SIGTERM: however many there are when the grace
// period ends, ccinit must kill them all and exit. As a subreaper it finds
// them through /proc, and a child forked between that scan and its parent's
// death escapes a single round of SIGKILL; ccinit would then wait for it
// forever (here, until the deadline kills ccinit). The deadline is shorter
// than the suite's: the run needs a fraction of a second.
func TestCCInitGraceForkLoop(t *testing.T) {
	t.Parallel()
	const token = "4242.5" // an argument no other process has
	t.Cleanup(func() { killLeftovers(t, token) })
	// The loop's output goes to /dev/null so that escaped children do not
	// hold the test's pipes.
	const script = `
(trap "" TERM; while :; do sleep 4242.5 & done) >/dev/null 2>&1 &
sleep 0.1
exit 4
`
	r := run(t, commandWithin(t, 30*time.Second, ccinitBin, "--grace", "100ms", "--", "/bin/sh", "-c", script))
	wantExit(t, r, 4)
}

// TestCCInitTermDuringGrace checks that SIGTERM to ccinit while it waits out
// the grace period for the command's leftovers cuts the wait short: it kills
// them and exits with the command's status at once, rather than after the
// hour of --grace given here.
func TestCCInitTermDuringGrace(t *testing.T) {
	t.Parallel()
	const token = "token-7373" // in the script, so in the leftover's command line
	t.Cleanup(func() { killLeftovers(t, token) })
	// The leftover says when it gets ccinit's SIGTERM, which ccinit sends
	// once the command has exited: from then on ccinit is in its grace
	// period. The leftover survives that SIGTERM.
	const script = `# token-7373
(trap "echo got-term" TERM; echo > "$1/ready"; while :; do sleep 0.05; done) &
while [ ! -e "$1/ready" ]; do sleep 0.01; done
exit 4
`
	p := start(t, command(t, ccinitBin, "--grace", "1h", "--", "/bin/sh", "-c", script, "sh", t.TempDir()))
	p.waitLine(t, "got-term")
	if err := p.cmd.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wantExit(t, p.wait(t), 4)
}

// killLeftovers reports every process with token among its arguments as a
// failure, and kills it: after a failure, escaped children that ignore
// SIGTERM would outlive the test.
func killLeftovers(t *testing.T, token string) {
	t.Helper()
	for _, p := range killWithArg(token) {
		t.Errorf("left running: %s", p)
	}
}

// killWithArg kills every process with token among its arguments and
// returns them, as "PID CMDLINE".
func killWithArg(token string) []string {
	left := processesWithArg(token)
	for _, p := range left {
		if pid, _, ok := strings.Cut(p, " "); ok {
			if n, err := strconv.Atoi(pid); err == nil {
				_ = unix.Kill(n, unix.SIGKILL)
			}
		}
	}
	return left
}
