package e2e

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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

	"github.com/ccontainer/ccontainer/initproc"
)

// TestCCInitChroot runs ccinit as the init of a plain chroot, in the host's
// mount namespace: it mounts /proc and /sys for the command, in a mount
// namespace of its own, and the host's table never changes, whatever the
// command did.
func TestCCInitChroot(t *testing.T) {
	t.Parallel()
	root := chrootWithCCInit(t)
	hostMounts.RLock()
	defer hostMounts.RUnlock()
	before := hostMountTable(t)
	leftover := token("6161.5")

	for _, tc := range []struct {
		name   string
		flags  []string // ccinit's own
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
		// Hardening forks the command from a thread of its own, which
		// joins ccinit's mount namespace: the command must still get
		// the /proc and /sys mounted there, ccinit's root (the chroot,
		// not the host's /) and its working directory.
		{
			name:  "forked from a hardened thread",
			flags: []string{"--no-new-privs", "--workdir", "/etc"},
			args: []string{"/bin/sh", "-c", "grep -q '^NoNewPrivs:.*1' /proc/self/status && echo nnp; " +
				"[ -d /sys/class/net ] && echo sys; [ -x /sbin/ccinit ] && echo root; pwd; exit 6"},
			code:   6,
			stdout: "nnp\nsys\nroot\n/etc\n",
		},
		{name: "not found", args: []string{"nosuchcmd"}, code: 127},
		{name: "killed", args: []string{"/bin/sh", "-c", "kill -TERM $$"}, code: 143},
		// ccinit finds what the command left through the /proc it
		// mounted, in its own namespace.
		{name: "leftover terminated", args: []string{"/bin/sh", "-c", "sleep " + leftover + " & exit 3"}, code: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// As `chroot ROOT /sbin/ccinit -- ARGS`.
			args := append(append(append([]string{}, tc.flags...), "--"), tc.args...)
			cmd := command(t, "/sbin/ccinit", args...)
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
			if left := killWithArg(leftover); len(left) > 0 {
				t.Errorf("left running after ccinit exited: %v", left)
			}
		})
	}
}

// chrootWithCCInit returns a private rootfs with ccinit at /sbin/ccinit.
func chrootWithCCInit(t *testing.T) string {
	t.Helper()
	root := newRootfs(t)
	linkBinary(t, ccinitBin, filepath.Join(root, "sbin/ccinit"))
	return root
}

// TestCCInitChrootKilled SIGKILLs ccinit, the init of a plain chroot, at
// points of its start and while its command runs: ccinit gets no chance to
// unmount anything, and the host's mount table must be unchanged all the
// same. The host is stood in for by a mount namespace of the test's own
// whose mounts are shared, as a systemd host's are, so that a mount made on
// a copy of them would show there.
func TestCCInitChrootKilled(t *testing.T) {
	t.Parallel()
	root := chrootWithCCInit(t)
	// The stand-in starts as a copy of the throwaway host's table (see
	// TestMountPropagation): no test may mount there meanwhile.
	hostMounts.RLock()
	defer hostMounts.RUnlock()
	p := start(t, command(t, "unshare", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", "mount --make-rshared / && echo ready && exec sleep 1000"))
	p.waitLine(t, "ready")
	hostTable := fmt.Sprintf("/proc/%d/mountinfo", p.cmd.Process.Pid)
	before, err := mountTable(hostTable)
	if err != nil {
		t.Fatal(err)
	}
	wantUnchanged := func(t *testing.T, when string) {
		t.Helper()
		after, err := mountTable(hostTable)
		if err != nil {
			t.Fatal(err)
		}
		if diff := mountDiff(before, after); len(diff) > 0 {
			t.Errorf("the stand-in host's mount table changed %s:\n%s", when, strings.Join(diff, "\n"))
		}
	}
	// ccinit as `chroot ROOT /sbin/ccinit ARGS` on the stand-in host;
	// nsenter and chroot exec, so the process is ccinit.
	ccinit := func(t *testing.T, args ...string) *exec.Cmd {
		t.Helper()
		argv := append([]string{"--mount=/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/ns/mnt", "--", "chroot", root, "/sbin/ccinit"}, args...)
		return command(t, "nsenter", argv...)
	}
	// mountsOf is the mount table ccinit or its command sees, below its root.
	mountsOf := func(pid int) []string {
		m, _ := mountTable(fmt.Sprintf("/proc/%d/mountinfo", pid)) // gone: none
		return m
	}
	// Below the chroot there is nothing else: the table of a process
	// not yet chrooted has far more.
	hasProcAndSys := func(m []string) bool { return slices.Equal(m, []string{"/proc proc", "/sys sysfs"}) }

	t.Run("while the command runs", func(t *testing.T) {
		token := token("5151.5") // an argument no other process has
		t.Cleanup(func() { killWithArg(token) })
		// Renamed into place, so that the file is never seen empty.
		cmd := ccinit(t, "--", "/bin/sh", "-c", "echo $$ > /tmp/pid.new && mv /tmp/pid.new /tmp/pid && exec sleep "+token)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pidFile := filepath.Join(root, "tmp/pid")

		waitFile(t, pidFile)
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("command's PID %q: %v", b, err)
		}
		if m := mountsOf(pid); !hasProcAndSys(m) {
			t.Errorf("the command's mounts: got\n%s\nwant /proc and /sys", strings.Join(m, "\n"))
		}
		// The shell writes its PID before it execs sleep, and while a
		// process execs its /proc/PID/cmdline can read empty: the count
		// of processes with the token below would miss it.
		waitFor(t, "the command to exec sleep", func() bool {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			return strings.HasPrefix(string(b), "sleep\x00")
		})
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait() // killed, as meant
		wantUnchanged(t, "after ccinit was killed, its command running")
		if m := mountsOf(pid); !hasProcAndSys(m) {
			t.Errorf("the command's mounts after ccinit was killed: got\n%s\nwant /proc and /sys", strings.Join(m, "\n"))
		}
		if left := killWithArg(token); len(left) != 1 {
			t.Errorf("the command after ccinit was killed: got %v, want it still running", left)
		}
		wantUnchanged(t, "after ccinit and its command were killed")
	})

	t.Run("after the mounts, before the command", func(t *testing.T) {
		// ccinit takes its configuration over the sync channel, mounts,
		// then waits for "go", which never comes (see TestSyncPipe).
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
		defer ours.Close()
		defer theirs.Close()
		config := initproc.EncodeConfig(initproc.Options{Grace: initproc.DefaultGrace, Args: []string{"/bin/true"}})
		if _, err := ours.Write(config); err != nil {
			t.Fatal(err)
		}
		cmd := ccinit(t, "--sync-fd", "3")
		cmd.ExtraFiles = []*os.File{theirs}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(timeout)
		for !hasProcAndSys(mountsOf(cmd.Process.Pid)) {
			if time.Now().After(deadline) {
				t.Fatalf("ccinit did not mount /proc and /sys within %s", timeout)
			}
			time.Sleep(time.Millisecond)
		}
		wantUnchanged(t, "while ccinit waits to start its command")
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait() // killed, as meant
		wantUnchanged(t, "after ccinit was killed before its command")
	})

	t.Run("at points of its start", func(t *testing.T) {
		// The delays only spread the kills over the start: whichever
		// step each one hits, the table must not change.
		for i := range 20 {
			cmd := ccinit(t, "--", "/bin/true")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(i) * 250 * time.Microsecond)
			_ = cmd.Process.Kill() // it may be done already
			_ = cmd.Wait()
			wantUnchanged(t, fmt.Sprintf("by ccinit killed %d µs into its start", i*250))
		}
	})
}

// TestCCInitSubreaper runs ccinit standalone, not as PID 1: orphans of the
// command must be re-parented to it, and be gone when it exits.
func TestCCInitSubreaper(t *testing.T) {
	t.Parallel()

	t.Run("orphan is re-parented to ccinit", func(t *testing.T) {
		t.Parallel()
		token := token("987.654") // an argument no other process has
		// The subshell forks the orphan and exits: the orphan's parent is
		// then the nearest subreaper above it. The command, still running,
		// reports who that is.
		script := `
( sleep ` + token + ` & echo $! > "$1/orphan" )
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
		token := token("31.4159")
		done := filepath.Join(t.TempDir(), "done")
		script := `(sleep ` + token + `; echo orphan-done > "$1") & exit 0`
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
	token := token("1000.25") // an argument no other process has
	script := `
(trap "" TERM; echo > "$1/ready"; exec sleep ` + token + `) &
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
	token := token("4242.5") // an argument no other process has
	t.Cleanup(func() { killLeftovers(t, token) })
	// The loop's output goes to /dev/null so that escaped children do not
	// hold the test's pipes.
	script := `
(trap "" TERM; while :; do sleep ` + token + ` & done) >/dev/null 2>&1 &
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
	token := token("token-7373") // in the script, so in the leftover's command line
	t.Cleanup(func() { killLeftovers(t, token) })
	// The leftover says when it gets ccinit's SIGTERM, which ccinit sends
	// once the command has exited: from then on ccinit is in its grace
	// period. The leftover survives that SIGTERM.
	script := `# ` + token + `
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

// TestCCInitEntryVars: ccinit on its own (not `ccinit --sync-fd`, as ccsuper
// starts it), as the PID 1 of an image whose environment happens to hold the
// entry point's variables, runs its command with them passed on unchanged,
// and leaves the descriptors they name alone: the message queued on the
// socket of CCMAPFD stays unread, nothing is written on the pipe CCUSRNS
// names, no namespace is joined.
func TestCCInitEntryVars(t *testing.T) {
	ours, theirs := syncPair(t)
	if _, err := ours.Write([]byte(initproc.SyncMapped)); err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	vars := []string{
		initproc.MountNSVar + "=\x03",
		initproc.UserNSVar + "=\x03\x81\xa0\x04", // a new mount and PID namespace, the pipe on 4
		initproc.MapWaitVar + "=\x03@",
	}
	for _, argv := range [][]string{{"--"}, {"-g", "--"}} {
		cmd := command(t, ccinitBin, append(argv, "/bin/cat", "/proc/self/environ")...)
		cmd.Env = append(vars, "PATH=/usr/bin:/bin")
		cmd.ExtraFiles = []*os.File{theirs, pw} // 3 and 4
		r := run(t, cmd)
		wantExit(t, r, 0)
		got := strings.Split(r.stdout, "\x00")
		for _, v := range vars {
			if !slices.Contains(got, v) {
				t.Errorf("ccinit %s: the command's environment is %q, want %q in it", argv, r.stdout, v)
			}
		}
	}
	pw.Close()
	if b, err := io.ReadAll(pr); err != nil || len(b) > 0 {
		t.Errorf("the pipe CCUSRNS names: got %q (%v), want nothing", b, err)
	}
	b := make([]byte, 16)
	n, _, err := unix.Recvfrom(int(ours.Fd()), b, unix.MSG_DONTWAIT)
	if err == nil {
		t.Errorf("the socket CCMAPFD names: a message came back from ccinit's side: %q", b[:n])
	}
	n, _, err = unix.Recvfrom(int(theirs.Fd()), b, unix.MSG_DONTWAIT)
	if err != nil || string(b[:n]) != initproc.SyncMapped {
		t.Errorf("the socket CCMAPFD names: got %q (%v), want %q still queued", b[:n], err, initproc.SyncMapped)
	}
}
