package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests in this file hold ccinit, installed as tini or docker-init, to
// tini's command line: every flag and environment variable of tini 0.19.0,
// checked against tini-static run the same way, and against catatonit where
// it has the feature. ccinit_compat_test.go compares the three on what they
// share (forwarding, reaping, exit statuses); docs/ccinit.md has the table.

// tiniLike is an init that takes tini's command line.
type tiniLike struct {
	name string
	bin  string
}

// tiniLikes returns ccinit under both of tini's names (symlinks to the
// binary under test) and tini-static, each to be run as subtests.
func tiniLikes(t *testing.T) []tiniLike {
	t.Helper()
	dir := t.TempDir()
	var l []tiniLike
	for _, name := range []string{"tini", "docker-init"} {
		link := filepath.Join(dir, name)
		if err := os.Symlink(ccinitBin, link); err != nil {
			t.Fatal(err)
		}
		l = append(l, tiniLike{"ccinit as " + name, link})
	}
	bin, _ := exec.LookPath("tini-static") // empty: skipped, with the reason
	return append(l, tiniLike{"tini", bin})
}

// forEachTini runs f as a parallel subtest for every tiniLike.
func forEachTini(t *testing.T, f func(t *testing.T, impl tiniLike)) {
	for _, impl := range tiniLikes(t) {
		t.Run(impl.name, func(t *testing.T) {
			if impl.bin == "" {
				t.Skip("tini-static is not installed (scripts/test-deps.sh installs it)")
			}
			t.Parallel()
			f(t, impl)
		})
	}
}

// catatonitBin is catatonit's path; the test is skipped when it is missing.
func catatonitBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("catatonit")
	if err != nil {
		t.Skip("catatonit is not installed (scripts/test-deps.sh installs it)")
	}
	return bin
}

// withEnv returns cmd with kv added to the test's environment.
func withEnv(cmd *exec.Cmd, kv ...string) *exec.Cmd {
	cmd.Env = append(os.Environ(), kv...)
	return cmd
}

// TestTiniNameTellsEFlagApart checks that argv[0]'s base name alone picks
// the command line: under ccinit's name -e is an environment entry, under
// tini and docker-init an exit code to remap, as for tini itself.
func TestTiniNameTellsEFlagApart(t *testing.T) {
	t.Run("ccinit", func(t *testing.T) {
		t.Parallel()
		r := run(t, command(t, ccinitBin, "-e", "X=from-e", "--", "/bin/sh", "-c", `echo "$X"`))
		wantExit(t, r, 0)
		if r.stdout != "from-e\n" {
			t.Errorf("ccinit -e X=from-e: got stdout %q, want %q", r.stdout, "from-e\n")
		}
		r = run(t, command(t, ccinitBin, "-e", "3", "--", "/bin/sh", "-c", "exit 3"))
		wantOneLineError(t, r, 125)
		if !strings.Contains(r.stderr, "not KEY=VALUE") {
			t.Errorf("ccinit -e 3: got stderr %q, want it to say the entry is not KEY=VALUE", r.stderr)
		}
	})
	forEachTini(t, func(t *testing.T, impl tiniLike) {
		r := run(t, command(t, impl.bin, "-s", "-e", "3", "--", "/bin/sh", "-c", "exit 3"))
		wantExit(t, r, 0)
		r = run(t, command(t, impl.bin, "-s", "-e", "X=from-e", "--", "/bin/sh", "-c", `echo "$X"`))
		wantExit(t, r, 1)
		if r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("-e X=from-e: want one line on stderr, nothing run\n%s", r)
		}
	})
}

// TestTiniExitCodeRemap checks -e CODE, as tini's own test does: the code
// given is turned into 0, any other passes through (here with every other
// code remapped, and options ended by the command under POSIXLY_CORRECT, as
// in tini's test); the value may be glued to the flag; a value that is not
// 0-255 is refused with status 1.
func TestTiniExitCodeRemap(t *testing.T) {
	forEachTini(t, func(t *testing.T, impl tiniLike) {
		for _, code := range []int{0, 1, 3, 125, 126, 127, 143, 255} {
			script := fmt.Sprintf("exit %d", code)
			if code == 143 {
				script = "kill -TERM $$" // 128+15: a status made from a signal
			}
			r := run(t, command(t, impl.bin, "-s", "-e", strconv.Itoa(code), "--", "/bin/sh", "-c", script))
			if r.code != 0 {
				t.Errorf("-e %d, command's status %d: got %d, want 0\n%s", code, code, r.code, r)
			}
			args := []string{"-s"}
			for other := 0; other < 256; other++ {
				if other != code {
					args = append(args, "-e", strconv.Itoa(other))
				}
			}
			r = run(t, withEnv(command(t, impl.bin, append(args, "/bin/sh", "-c", script)...), "POSIXLY_CORRECT=1"))
			if r.code != code {
				t.Errorf("every code but %d remapped: got %d, want %d\n%s", code, r.code, code, r)
			}
		}
		r := run(t, command(t, impl.bin, "-s", "-e7", "--", "/bin/sh", "-c", "exit 7"))
		wantExit(t, r, 0)
		for _, bad := range []string{"256", "-1", "x", "3 ", "3.0"} {
			r := run(t, command(t, impl.bin, "-s", "-e", bad, "--", "/bin/sh", "-c", "echo ran"))
			if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("-e %q: want status 1, one line on stderr, nothing run\n%s", bad, r)
			}
		}
	})
}

// TestTiniSubreaperFlagAndEnv checks -s and TINI_SUBREAPER (set, even
// empty): not PID 1, either makes the init adopt and reap the command's
// orphans, and -s where that cannot be done is status 1. With neither it
// warns, in stderr, that zombie reaping won't work and runs the command all
// the same; as PID 1 it needs neither and says nothing. (catatonit, like
// ccinit under its own name, is always a subreaper: see
// TestInitCompatOrphans and TestInitCompatNoSubreaper.)
func TestTiniSubreaperFlagAndEnv(t *testing.T) {
	probe := buildInitProbe(t)
	forEachTini(t, func(t *testing.T, impl tiniLike) {
		for _, tc := range []struct {
			name string
			cmd  *exec.Cmd
		}{
			{"-s", command(t, impl.bin, "-s", "--", probe, "zombies", "20")},
			{"TINI_SUBREAPER", withEnv(command(t, impl.bin, "--", probe, "zombies", "20"), "TINI_SUBREAPER=")},
		} {
			r := run(t, tc.cmd)
			if r.code != 0 || r.stdout != "reaped 20\n" || r.stderr != "" {
				t.Errorf("%s: want status 0, stdout %q, nothing on stderr\n%s", tc.name, "reaped 20\n", r)
			}
		}
		r := run(t, command(t, impl.bin, "--", "/bin/sh", "-c", "echo ran; exit 4"))
		if r.code != 4 || r.stdout != "ran\n" || !strings.Contains(r.stderr, "zombie reaping won't work") {
			t.Errorf("neither: want the command run (status 4, %q) and a warning\n%s", "ran\n", r)
		}
		r = run(t, command(t, "unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--", impl.bin, "--", "/bin/sh", "-c", "echo ran"))
		if r.code != 0 || r.stdout != "ran\n" || r.stderr != "" {
			t.Errorf("as PID 1: want the command run and nothing on stderr\n%s", r)
		}
		// -s where the prctl is refused (a seccomp filter): status 1, one line.
		r = run(t, command(t, probe, "nosubreaper", impl.bin, "-s", "--", "/bin/sh", "-c", "echo ran"))
		if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("-s, subreaper refused: want status 1, one line on stderr, nothing run\n%s", r)
		}
	})
}

// TestTiniParentDeathSignal checks -p SIGNAL: when the process that started
// the init dies, the init gets SIGNAL and, as with any signal, forwards it to
// the command. The command here exits when it gets SIGUSR1, and the init
// with it. A name tini does not know is refused with status 1.
func TestTiniParentDeathSignal(t *testing.T) {
	forEachTini(t, func(t *testing.T, impl tiniLike) {
		dir := t.TempDir()
		token := fmt.Sprintf("token-pdeath-%s-%d", strings.ReplaceAll(impl.name, " ", "-"), time.Now().UnixNano())
		t.Cleanup(func() { killWithArg(token) }) // what a failure leaves
		cmdScript := `trap 'echo > "$1/usr1"; exit 0' USR1; : > "$1/ready"; while :; do sleep 0.05; done`
		// The parent starts the init and waits: only SIGKILL ends it.
		parent := command(t, "/bin/sh", "-c", `"$@" & wait`, "sh",
			impl.bin, "-s", "-p", "SIGUSR1", "--", "/bin/sh", "-c", cmdScript, "sh", dir, token)
		if err := parent.Start(); err != nil {
			t.Fatal(err)
		}
		waitFile(t, filepath.Join(dir, "ready"))
		if err := parent.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = parent.Wait() // killed, as intended
		waitFile(t, filepath.Join(dir, "usr1"))
		deadline := time.Now().Add(timeout)
		for len(processesWithArg(token)) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the init and its command still run after the command got SIGUSR1: %v", processesWithArg(token))
			}
			time.Sleep(10 * time.Millisecond)
		}

		r := run(t, command(t, impl.bin, "-s", "-p", "USR1", "--", "/bin/sh", "-c", "echo ran"))
		if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("-p USR1 (no SIG prefix): want status 1, one line on stderr, nothing run\n%s", r)
		}
	})
}

// groupScript's member notes a SIGUSR1 (sent by the init to the whole
// group) and, on SIGUSR2 (sent by the command once the command got its own
// SIGUSR1), says whether it had one and exits. With $2 "group" the command
// sends SIGUSR2 only once the member has taken its SIGUSR1: kill(2) to a
// group queues the signal to one member after another, and the command,
// woken first on the other CPU, could otherwise get its SIGUSR2 to the member
// before the member's SIGUSR1 is queued. With "alone" nothing sends the member
// a SIGUSR1, so "no USR1" needs no wait. (The member's sleep, in the group
// too, may die of the SIGUSR1; its shell carries on.)
const groupScript = `
(got="no USR1"; trap 'got=USR1; : > "$1/member-usr1"' USR1; trap 'echo "member: $got"; exit 0' USR2; : > "$1/member"; while :; do sleep 0.05; done) 2>/dev/null &
m=$!
trap 'if [ "$2" = group ]; then while [ ! -e "$1/member-usr1" ]; do sleep 0.01; done; fi; kill -USR2 $m' USR1
while [ ! -e "$1/member" ]; do sleep 0.01; done
echo ready
wait $m
wait $m
`

// TestTiniProcessGroupFlagAndEnv checks -g and TINI_KILL_PROCESS_GROUP: a
// signal to the init reaches the command's whole process group with either,
// the command alone without. catatonit has -g (and no variable).
func TestTiniProcessGroupFlagAndEnv(t *testing.T) {
	check := func(t *testing.T, cmd *exec.Cmd, pid1, group bool) {
		t.Helper()
		p := start(t, cmd)
		p.waitLine(t, "ready")
		if err := unix.Kill(initPID(t, p.cmd, pid1), unix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		r := p.wait(t)
		want := "ready\nmember: no USR1\n"
		if group {
			want = "ready\nmember: USR1\n"
		}
		if r.code != 0 || r.stdout != want {
			t.Errorf("group %v: want status 0 and stdout %q\n%s", group, want, r)
		}
	}
	forEachTini(t, func(t *testing.T, impl tiniLike) {
		sh := func(mode string) []string {
			return []string{"--", busybox, "sh", "-c", groupScript, "sh", t.TempDir(), mode}
		}
		check(t, command(t, impl.bin, append([]string{"-s"}, sh("alone")...)...), false, false)
		check(t, command(t, impl.bin, append([]string{"-s", "-g"}, sh("group")...)...), false, true)
		check(t, withEnv(command(t, impl.bin, append([]string{"-s"}, sh("group")...)...), "TINI_KILL_PROCESS_GROUP=1"), false, true)
		pid1 := command(t, "unshare", append([]string{"--pid", "--fork", "--kill-child", "--mount-proc", "--", impl.bin}, sh("group")...)...)
		check(t, withEnv(pid1, "TINI_KILL_PROCESS_GROUP="), true, true)
	})
	t.Run("catatonit", func(t *testing.T) {
		bin := catatonitBin(t)
		t.Parallel()
		check(t, command(t, bin, "--", busybox, "sh", "-c", groupScript, "sh", t.TempDir(), "alone"), false, false)
		check(t, command(t, bin, "-g", "--", busybox, "sh", "-c", groupScript, "sh", t.TempDir(), "group"), false, true)
		// catatonit has no variable: it changes nothing.
		check(t, withEnv(command(t, bin, "--", busybox, "sh", "-c", groupScript, "sh", t.TempDir(), "alone"), "TINI_KILL_PROCESS_GROUP=1"), false, false)
	})
}

// TestTiniWarnOnReap checks -w: a warning on stderr for every orphan the
// init reaps (tini's text, "Reaped zombie process with pid=N"), and
// nothing without it.
func TestTiniWarnOnReap(t *testing.T) {
	probe := buildInitProbe(t)
	forEachTini(t, func(t *testing.T, impl tiniLike) {
		r := run(t, command(t, impl.bin, "-s", "-w", "--", probe, "zombies", "5"))
		wantExit(t, r, 0)
		if n := strings.Count(r.stderr, "Reaped zombie process with pid="); n != 5 || strings.Count(r.stderr, "\n") != 5 {
			t.Errorf("-w: want 5 lines, each a reaped orphan, on stderr\n%s", r)
		}
		r = run(t, command(t, impl.bin, "-s", "--", probe, "zombies", "5"))
		if r.code != 0 || r.stderr != "" {
			t.Errorf("no -w: want nothing on stderr\n%s", r)
		}
	})
}

// TestTiniVerbosity checks -v, -vv and TINI_VERBOSITY: by default the init
// prints only warnings (on stderr); -v adds info lines and -vv debug lines,
// on stdout as tini does; TINI_VERBOSITY replaces what -v said, and 0
// silences even the warning about reaping.
func TestTiniVerbosity(t *testing.T) {
	// levels returns which of tini's message tags the output holds.
	levels := func(out string) string {
		var got []string
		for _, tag := range []string{"[WARN  tini (", "[INFO  tini (", "[DEBUG tini ("} {
			if strings.Contains(out, tag) {
				got = append(got, strings.Fields(tag)[0][1:])
			}
		}
		return strings.Join(got, ",")
	}
	forEachTini(t, func(t *testing.T, impl tiniLike) {
		for _, tc := range []struct {
			name           string
			args, env      []string
			stdout, stderr string // levels found
		}{
			{"default", []string{"-s"}, nil, "", ""},
			{"-v", []string{"-s", "-v"}, nil, "INFO", ""},
			{"-vv", []string{"-s", "-vv"}, nil, "INFO,DEBUG", ""},
			{"TINI_VERBOSITY=1 over -vv", []string{"-s", "-vv"}, []string{"TINI_VERBOSITY=1"}, "", ""},
			{"TINI_VERBOSITY=3", []string{"-s"}, []string{"TINI_VERBOSITY=3"}, "INFO,DEBUG", ""},
			{"no subreaper", nil, nil, "", "WARN"},
			{"no subreaper, TINI_VERBOSITY=0", nil, []string{"TINI_VERBOSITY=0"}, "", ""},
		} {
			r := run(t, withEnv(command(t, impl.bin, append(tc.args, "--", "/bin/sh", "-c", "echo ran")...), tc.env...))
			if r.code != 0 || !strings.Contains(r.stdout, "ran\n") || levels(r.stdout) != tc.stdout || levels(r.stderr) != tc.stderr {
				t.Errorf("%s: want the command run, levels %q on stdout and %q on stderr\n%s", tc.name, tc.stdout, tc.stderr, r)
			}
		}
	})
}

// TestInitHelpLicenseVersion checks the flags that print and exit 0: help
// and license on stdout (catatonit's help goes to stderr), and --version in
// tini's format, which Docker's `docker info` reads from docker-init
// ("tini version X - ...").
func TestInitHelpLicenseVersion(t *testing.T) {
	check := func(t *testing.T, bin string, args []string, prefix string) {
		t.Helper()
		r := run(t, command(t, bin, args...))
		out, other := r.stdout, r.stderr
		if filepath.Base(bin) == "catatonit" && args[0] == "-h" {
			out, other = r.stderr, r.stdout
		}
		if r.code != 0 || other != "" || out == "" || !strings.HasPrefix(out, prefix) {
			t.Errorf("%s %s: want status 0, only the text starting %q\n%s", filepath.Base(bin), strings.Join(args, " "), prefix, r)
		}
	}
	t.Run("ccinit", func(t *testing.T) {
		t.Parallel()
		check(t, ccinitBin, []string{"-h"}, "usage: ccinit")
	})
	forEachTini(t, func(t *testing.T, impl tiniLike) {
		check(t, impl.bin, []string{"-h"}, filepath.Base(impl.bin)+" (")
		check(t, impl.bin, []string{"-l"}, "")
		check(t, impl.bin, []string{"--version"}, "tini version 0.19.0")
	})
	t.Run("catatonit", func(t *testing.T) {
		bin := catatonitBin(t)
		t.Parallel()
		check(t, bin, []string{"-h"}, "usage: catatonit")
		check(t, bin, []string{"-L"}, "")
		check(t, bin, []string{"--version"}, "tini version ")
	})
}

// TestInitBadFlagOneLine checks what a bad command line gets: from ccinit
// one line on stderr, under every name, with status 125 under its own (its
// own failure, as ccsuper's) and 1 under tini's (tini's status for it).
// tini and catatonit print their usage as well.
func TestInitBadFlagOneLine(t *testing.T) {
	t.Run("ccinit", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"-bogus", "--", "true"}, {"-s", "--", "true"}, {"--grace", "soon", "--", "true"}, {}} {
			r := run(t, command(t, ccinitBin, args...))
			wantOneLineError(t, r, 125)
			if !strings.HasPrefix(r.stderr, "ccinit: ") {
				t.Errorf("ccinit %q: got stderr %q, want it to start with %q", args, r.stderr, "ccinit: ")
			}
		}
	})
	forEachTini(t, func(t *testing.T, impl tiniLike) {
		for _, args := range [][]string{{"-x", "--", "true"}, {"-p"}, {"--grace", "1s", "--", "true"}, {}} {
			r := run(t, command(t, impl.bin, args...))
			wantExit(t, r, 1)
			lines := strings.Count(r.stderr, "\n")
			if strings.HasPrefix(impl.name, "ccinit") && lines != 1 || !strings.HasPrefix(impl.name, "ccinit") && lines < 10 {
				t.Errorf("%q: got %d lines on stderr (ccinit: one; tini: its usage too)\n%s", args, lines, r)
			}
		}
	})
	t.Run("catatonit", func(t *testing.T) {
		bin := catatonitBin(t)
		t.Parallel()
		for _, args := range [][]string{{"-x", "--", "true"}, {}} {
			r := run(t, command(t, bin, args...))
			wantExit(t, r, 1)
			if n := strings.Count(r.stderr, "\n"); n != 2 {
				t.Errorf("%q: got %d lines on stderr, want 2 (the error and a usage line)\n%s", args, n, r)
			}
		}
	})
}

// TestInitCommandSignalMask starts each init from a launcher that blocked
// HUP, ILL, USR2, TERM, ALRM, TTIN and WINCH and ignored INT, QUIT, USR1,
// SEGV, PIPE and TTOU (initprobe sigconf, after tini's own sigconf test), and
// reads the command's blocked and ignored sets. ccinit, under any name,
// starts the command with none blocked and none ignored; tini passes the
// launcher's on, and catatonit passes them on with TSTP, TTIN and TTOU
// blocked besides.
func TestInitCommandSignalMask(t *testing.T) {
	probe := buildInitProbe(t)
	launcherBlocked := uint64(1<<0 | 1<<3 | 1<<11 | 1<<13 | 1<<14 | 1<<20 | 1<<27)
	launcherIgnored := uint64(1<<1 | 1<<2 | 1<<9 | 1<<10 | 1<<12 | 1<<21)
	for n := 1; n <= 64; n++ {
		if ignoredByTest(n) { // under make, 32 and 33: inherited too
			launcherIgnored |= 1 << (n - 1)
		}
	}
	sed := []string{"/bin/sed", "-n", `s/^Sig\(Blk\|Ign\):[[:space:]]*//p`, "/proc/self/status"}
	check := func(t *testing.T, init []string, blocked, ignored uint64) {
		t.Helper()
		r := run(t, command(t, probe, append(append([]string{"sigconf"}, init...), sed...)...))
		want := fmt.Sprintf("%016x\n%016x\n", blocked, ignored)
		if r.code != 0 || r.stdout != want {
			t.Errorf("%s: want status 0 and blocked, ignored\n%s\n%s", init, want, r)
		}
	}
	t.Run("ccinit", func(t *testing.T) {
		t.Parallel()
		check(t, []string{ccinitBin, "--"}, 0, 0)
	})
	forEachTini(t, func(t *testing.T, impl tiniLike) {
		if strings.HasPrefix(impl.name, "ccinit") {
			check(t, []string{impl.bin, "-s", "--"}, 0, 0)
			return
		}
		check(t, []string{impl.bin, "-s", "--"}, launcherBlocked, launcherIgnored)
	})
	t.Run("catatonit", func(t *testing.T) {
		bin := catatonitBin(t)
		t.Parallel()
		const tstpTtinTtou = 1<<19 | 1<<20 | 1<<21
		check(t, []string{bin, "--"}, launcherBlocked|tstpTtinTtou, launcherIgnored)
	})
}
