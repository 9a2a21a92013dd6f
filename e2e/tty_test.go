package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmux drives a terminal the way a person does: keys in, screen out. Each
// session has a server of its own (-L), so the tests do not see each other.
type tmux struct {
	t      *testing.T
	socket string
	out    string // directory the pane's script writes its reports to
	tag    string // unique: the script gives it to ccsuper as --hostname
}

// newTmux starts script (sh) in a detached 80x24 tmux window. The script
// may write to $OUT, a directory of the test's, and finds the session's tag
// in $TAG.
func newTmux(t *testing.T, script string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (scripts/test-deps.sh installs it)")
	}
	tag := fmt.Sprintf("tmux-%d", time.Now().UnixNano()%1e12)
	s := &tmux{t: t, socket: "cc-e2e-" + tag, out: t.TempDir(), tag: tag}
	// The window stays open after the script ends, so its last screen can be
	// read; the server is killed at cleanup.
	full := "OUT=" + s.out + "; TAG=" + tag + "; " + script + "\nsleep 600"
	s.tmux("-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24", "/bin/sh", "-c", full)
	t.Cleanup(func() {
		// The window's hangup reaches ccsuper, which passes it on: wait
		// for the container to end, so the suite finds nothing left.
		_ = exec.Command("tmux", "-L", s.socket, "kill-server").Run()
		for deadline := time.Now().Add(timeout); len(processesWithArg(tag)) > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("still running after the terminal closed: %q", processesWithArg(tag))
				return
			}
		}
	})
	return s
}

func (s *tmux) tmux(args ...string) string {
	s.t.Helper()
	out, err := command(s.t, "tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keys types keys: literal text, or tmux key names such as Enter and C-c.
func (s *tmux) keys(keys ...string) {
	s.t.Helper()
	s.tmux(append([]string{"send-keys"}, keys...)...)
}

// line types text and Enter.
func (s *tmux) line(text string) { s.t.Helper(); s.keys("-l", text); s.keys("Enter") }

func (s *tmux) screen() string { s.t.Helper(); return s.tmux("capture-pane", "-p", "-S", "-200") }

// waitFor waits until the screen shows want, n times (typed commands are on
// the screen too: waited-for text is written so that it appears only in
// output, as echo x-$((1+1)) prints x-2).
func (s *tmux) waitFor(want string, n int) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		scr := s.screen()
		if strings.Count(scr, want) >= n {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen did not show %q %d times within %s:\n%s", want, n, timeout, scr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFile waits until the pane's script has written name in $OUT, and
// returns its content.
func (s *tmux) waitFile(name string) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(filepath.Join(s.out, name+".done"))
		if err == nil {
			b, err = os.ReadFile(filepath.Join(s.out, name))
			if err != nil {
				s.t.Fatal(err)
			}
			return string(b)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("$OUT/%s was not written within %s; screen:\n%s", name, timeout, s.screen())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// report is shell for the pane's script: run CMD, then write its status and
// the terminal's settings before and after (stty -a) to $OUT.
func report(cmd string) string {
	return `stty -a > "$OUT/before"; ` + cmd + `; echo $? > "$OUT/status"; stty -a > "$OUT/after"; touch "$OUT/status.done"`
}

// wantRestored checks that the host terminal's settings after the run are
// those before it: ccsuper put it in raw mode and must give it back.
func (s *tmux) wantRestored() {
	s.t.Helper()
	before, err := os.ReadFile(filepath.Join(s.out, "before"))
	if err != nil {
		s.t.Fatal(err)
	}
	after, err := os.ReadFile(filepath.Join(s.out, "after"))
	if err != nil {
		s.t.Fatal(err)
	}
	// The first line has the window size, which a test may have changed.
	_, b, _ := bytes.Cut(before, []byte("\n"))
	_, a, _ := bytes.Cut(after, []byte("\n"))
	if !bytes.Equal(b, a) || !bytes.Contains(a, []byte(" icanon")) {
		s.t.Errorf("terminal not restored:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// waitForeground waits until the process running args holds the foreground
// of its terminal: its process group is the terminal's.
func waitForeground(t *testing.T, args ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, pid := range pidsOfCommand(args...) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			s := string(b)
			// After the name: state, ppid, pgrp, session, tty, tpgid.
			if f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]); len(f) > 5 && f[2] == f[5] {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q did not take its terminal's foreground within %s", args, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInteractiveShell is a person at a terminal: the default command, job
// control, ^C, ^Z, a resize, ^D.
func TestInteractiveShell(t *testing.T) {
	t.Parallel()
	s := newTmux(t, report(ccsuperBin+" --rootfs "+baseRootfs+" --net none --hostname $TAG"))
	s.waitFor("root@"+s.tag+":/#", 1)

	// The pty is the container's own: its path exists inside.
	s.line(`tty; ls -l "$(tty)" && echo tty-$((1+1))`)
	scr := s.waitFor("tty-2", 1)
	if !strings.Contains(scr, "\n/dev/pts/0\n") {
		t.Fatalf("tty inside is not /dev/pts/0:\n%s", scr)
	}

	// A background job, brought to the foreground and interrupted: ^C
	// reaches the job, and the shell (so the container) lives on.
	s.line("sleep 100 &")
	s.line("jobs; echo jobs-$((2+1))")
	s.waitFor("jobs-3", 1)
	s.line("fg")
	s.waitFor("sleep 100\n", 2) // `jobs` printed it, then fg
	s.keys("C-c")
	s.line("echo after-int-$((2+2)) status $?")
	scr = s.waitFor("after-int-4", 1)
	if !strings.Contains(scr, "after-int-4 status 130") {
		t.Errorf("^C did not end the foreground job with SIGINT (130):\n%s", scr)
	}

	// ^Z stops the foreground job; bg runs it on. It is typed once the
	// job holds the terminal's foreground: before, ^Z would reach the shell.
	job := token("50.25")
	s.line("sleep " + job)
	waitForeground(t, "sleep", job)
	s.keys("C-z")
	s.waitFor("Stopped", 1)
	s.line("bg; jobs; echo bg-$((2+3))")
	scr = s.waitFor("bg-5", 1)
	if !strings.Contains(scr, "Running") || !strings.Contains(scr, "sleep "+job) {
		t.Errorf("after ^Z and bg the job is not running:\n%s", scr)
	}
	s.line("kill %1")

	// The window size follows the host terminal, at start and on resize.
	s.line("echo size-$((3+3)) $(stty size)")
	if scr = s.waitFor("size-6", 1); !strings.Contains(scr, "size-6 24 80") {
		t.Errorf("want 24 rows, 80 columns at start:\n%s", scr)
	}
	// ccsuper passes the new size on when its SIGWINCH comes, at a time
	// of its own: the shell waits for it (the screen's deadline bounds it).
	s.tmux("resize-window", "-x", "100", "-y", "30")
	s.line(`while [ "$(stty size)" != "30 100" ]; do sleep 0.05; done; echo size-$((3+4)) $(stty size)`)
	if scr = s.waitFor("size-7", 1); !strings.Contains(scr, "size-7 30 100") {
		t.Errorf("want 30 rows, 100 columns after the resize:\n%s", scr)
	}

	// ^D ends the shell, and the container with the shell's status: that of
	// its last command.
	s.line("false")
	s.keys("C-d")
	if got := strings.TrimSpace(s.waitFile("status")); got != "1" {
		t.Errorf("exit status %s, want 1 (the shell's last command)", got)
	}
	s.wantRestored()
}

// TestTerminalRestored checks that the host terminal comes back as it was
// when the container ends in ways other than ^D.
func TestTerminalRestored(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, cmd string
		code      int
		signal    syscall.Signal // sent to ccsuper once the command runs; 0: none
	}{
		{"command killed", `echo ready-$((1+1)); kill -KILL $$`, 128 + 9, 0},
		{"ccsuper got SIGTERM", `echo ready-$((1+1)); sleep 100`, 128 + 15, syscall.SIGTERM},
		{"command not found", `echo ready-$((1+1)); exec /no/such`, 127, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTmux(t, report(fmt.Sprintf("%s --rootfs %s --net none --hostname $TAG -- /bin/sh -c '%s'", ccsuperBin, baseRootfs, tc.cmd)))
			host := s.tag
			s.waitFor("ready-2", 1)
			if tc.signal != 0 {
				var pid int
				for _, p := range processesWithArg(host) {
					if strings.HasSuffix(strings.Fields(p)[1], "ccsuper") {
						pid, _ = strconv.Atoi(strings.Fields(p)[0])
					}
				}
				if pid == 0 {
					t.Fatalf("no ccsuper running with %s", host)
				}
				if err := syscall.Kill(pid, tc.signal); err != nil {
					t.Fatal(err)
				}
			}
			if got := strings.TrimSpace(s.waitFile("status")); got != strconv.Itoa(tc.code) {
				t.Errorf("exit status %s, want %d\n%s", got, tc.code, s.screen())
			}
			s.wantRestored()
		})
	}
}

// TestStdioWithoutTerminal: without a terminal, stdio passes straight
// through, as with a pipe between two programs.
func TestStdioWithoutTerminal(t *testing.T) {
	t.Parallel()
	t.Run("stdin to stdout, EOF reaches the command", func(t *testing.T) {
		t.Parallel()
		cmd := ccsuper(t, "--rootfs", baseRootfs, "--net", "none", "--", "cat")
		cmd.Stdin = strings.NewReader("hi\n")
		r := run(t, cmd)
		wantExit(t, r, 0)
		if r.stdout != "hi\n" || r.stderr != "" {
			t.Errorf("got %q on stdout and %q on stderr, want \"hi\\n\" and nothing", r.stdout, r.stderr)
		}
	})
	t.Run("stdout and stderr stay apart", func(t *testing.T) {
		t.Parallel()
		r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none", "--", "/bin/sh", "-c", "echo out; echo err >&2; [ -t 0 ] || echo no-tty")
		wantExit(t, r, 0)
		if r.stdout != "out\nno-tty\n" || r.stderr != "err\n" {
			t.Errorf("got stdout %q, stderr %q", r.stdout, r.stderr)
		}
	})
	t.Run("large output whole", func(t *testing.T) {
		t.Parallel()
		// 16 MiB of random bytes on stdout, their SHA-256 on stderr.
		r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none", "--", "/bin/sh", "-c",
			"head -c 16777216 /dev/urandom > /dev/shm/x && sha256sum < /dev/shm/x >&2 && cat /dev/shm/x")
		wantExit(t, r, 0)
		sum := fmt.Sprintf("%x", sha256.Sum256([]byte(r.stdout)))
		if len(r.stdout) != 16<<20 || !strings.HasPrefix(r.stderr, sum) {
			t.Errorf("got %d bytes with SHA-256 %s; the command wrote 16777216 bytes with %s", len(r.stdout), sum, r.stderr)
		}
	})
	t.Run("-i=false: stdin is /dev/null", func(t *testing.T) {
		t.Parallel()
		cmd := ccsuper(t, "--rootfs", baseRootfs, "--net", "none", "-i=false", "--", "/bin/sh", "-c", "cat; readlink /proc/self/fd/0")
		cmd.Stdin = strings.NewReader("not for the command\n")
		r := run(t, cmd)
		wantExit(t, r, 0)
		if r.stdout != "/dev/null\n" {
			t.Errorf("got %q, want only /dev/null", r.stdout)
		}
	})
	t.Run("-t on a pipe", func(t *testing.T) {
		t.Parallel()
		// A pty though stdin is a pipe: the input is typed into it, and
		// its end becomes the terminal's end of file (^D).
		cmd := ccsuper(t, "--rootfs", baseRootfs, "--net", "none", "-t", "--", "/bin/sh", "-c", "tty; cat; echo status $?")
		cmd.Stdin = strings.NewReader("typed\n")
		r := run(t, cmd)
		wantExit(t, r, 0)
		for _, want := range []string{"/dev/pts/0\r\n", "typed\r\n", "status 0\r\n"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("got %q, want %q in it", r.stdout, want)
			}
		}
	})
}

// hostRoot opens the host's root directory, closed at cleanup: a descriptor
// that leads out of any container's root.
func hostRoot(t *testing.T) *os.File {
	t.Helper()
	root, err := os.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

// TestNoInheritedDescriptors: a descriptor ccsuper inherited, here one of the
// host's root directory, must not reach the container, where it would lead
// out of the new root.
func TestNoInheritedDescriptors(t *testing.T) {
	t.Parallel()
	root := hostRoot(t)
	// ls lists its own descriptors: 0, 1, 2 and 3, the one it reads
	// /proc/self/fd through. A leaked one would come before it, as 3.
	cmd := ccsuper(t, "--rootfs", baseRootfs, "--net", "none", "--", "ls", "/proc/self/fd/")
	cmd.ExtraFiles = []*os.File{root} // fd 3 in ccsuper
	r := run(t, cmd)
	wantExit(t, r, 0)
	if got := strings.Fields(r.stdout); strings.Join(got, " ") != "0 1 2 3" {
		t.Errorf("the command's descriptors: got %q, want 0 1 2 and ls's own 3", got)
	}
}

// TestClosedStdoutWithPTY: with a pty, ccsuper copies the container's output
// to its stdout; when that is a pipe whose reader quits (`| head -1`), ccsuper
// must neither die of SIGPIPE (leaving the terminal raw and nothing torn
// down) nor block the container: the command runs to its end.
func TestClosedStdoutWithPTY(t *testing.T) {
	t.Parallel()
	cmd := ccsuper(t, "--rootfs", baseRootfs, "--net", "none", "-t", "-i=false", "--", "/bin/sh", "-c",
		"i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done; exit 3")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := out.Read(buf); err != nil {
		t.Fatal(err)
	}
	_ = out.Close() // the reader quits, as head does
	err = cmd.Wait()
	if cmd.ProcessState == nil || !cmd.ProcessState.Exited() || cmd.ProcessState.ExitCode() != 3 {
		t.Errorf("ccsuper ended with %v (%v), want exit status 3, the command's", cmd.ProcessState, err)
	}
}

// TestTerminalWithoutInput: at a terminal, -i=false gives the command
// /dev/null and no pty (a pty nothing feeds would hang a read).
func TestTerminalWithoutInput(t *testing.T) {
	t.Parallel()
	p := newProc(ccsuper(t, "--rootfs", baseRootfs, "--net", "none", "-i=false", "--", "/bin/sh", "-c", "readlink /proc/self/fd/0; cat; echo done"))
	startOnTerminal(t, p)
	r := p.wait(t)
	wantExit(t, r, 0)
	if r.stdout != "/dev/null\ndone\n" {
		t.Errorf("got %q, want stdin /dev/null and cat at its end at once", r.stdout)
	}
}

// TestPipelineKeepsForeground: in a pipeline typed at a terminal
// (`ccsuper ... | cat`), the command must not take the terminal's foreground
// from the job, or the rest of the pipeline would stop on its next read.
func TestPipelineKeepsForeground(t *testing.T) {
	t.Parallel()
	shell := `"$@" | cat; echo "status $?"`
	args := []string{"-c", shell, "sh", ccsuperBin, "--rootfs", baseRootfs, "--net", "none", "--", "/bin/sh", "-c", termScript}
	p := newProc(command(t, "/bin/sh", args...))
	startOnTerminal(t, p)
	r := p.wait(t)
	wantExit(t, r, 0)
	pgrp, tpgid := groups(r.stdout)
	if pgrp == 0 || tpgid == pgrp || !strings.Contains(r.stdout, "status 0") {
		t.Errorf("command's process group %d, terminal's foreground group %d: want the command not in the foreground\n%s", pgrp, tpgid, r)
	}
}

// TestPTYErrorsOnStderr: with a pty, what ccinit itself says (here: the
// command is not found) goes to ccsuper's stderr, not into the command's
// output on the pty.
func TestPTYErrorsOnStderr(t *testing.T) {
	t.Parallel()
	r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none", "-t", "-i=false", "--", "/no/such/command")
	wantExit(t, r, 127)
	if !strings.Contains(r.stderr, "/no/such/command") || strings.Contains(r.stdout, "/no/such/command") {
		t.Errorf("want the error on stderr only:\n%s", r)
	}
}
