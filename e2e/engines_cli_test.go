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

// execRepeats is how often the round trips exec a command that exits at
// once: a race between its end and the runtime's exec shows only now and then.
const execRepeats = 10

// cliEngine is an engine with docker's command line, podman or docker: the
// round trips of cliRoundTrips run the same commands through either.
type cliEngine struct {
	// cli returns the engine's command with args, set up to run its
	// containers with the OCI runtime rt.
	cli      func(rt ociRuntime, args ...string) *exec.Cmd
	image    string
	runFlags func(rt ociRuntime) []string // what every `run` adds before the image
	top      []string                     // the ps descriptors after `top NAME`
	// shell returns what a person would type at a shell prompt to run the
	// engine's command with args for the runtime rt.
	shell func(rt ociRuntime, args ...string) string
	// runtimeRoot is the --root the engine gives the runtime rt (the
	// directory of its state).
	runtimeRoot func(rt ociRuntime) string
	// oomReported is whether the engine's inspect says OOMKilled here
	// (otherwise the kernel's own count is checked, and inspect logged).
	oomReported bool
}

// cliRoundTrips runs, per OCI runtime, the engine's everyday round trips:
// run --rm with an exit status and -e, --network none, run -d with exec,
// logs, ps, top, stop, kill and rm, and a --memory limit that ends in an OOM
// kill. Every container has no network but lo.
func cliRoundTrips(t *testing.T, e cliEngine) {
	forEachRuntime(t, func(t *testing.T, rt ociRuntime) {
		cli := func(args ...string) result { t.Helper(); return run(t, e.cli(rt, args...)) }
		// runArgs are run's arguments for the container NAME, with
		// FLAGS before the image and the command after it.
		runArgs := func(name string, flags []string, cmd ...string) []string {
			a := append([]string{"run", "--name", rt.name + "-" + name, "--network", "none"}, e.runFlags(rt)...)
			return append(append(append(a, flags...), e.image), cmd...)
		}
		inspect := func(name, format string) string {
			t.Helper()
			r := cli("inspect", "--format", format, name)
			wantExit(t, r, 0)
			return strings.TrimSpace(r.stdout)
		}
		// startDetached starts the container NAME running script
		// with run -d, waits until its log says ready, and removes
		// it at the end of the test if the test did not.
		startDetached := func(t *testing.T, name, script string) string {
			t.Helper()
			full := rt.name + "-" + name
			t.Cleanup(func() { _ = run(t, e.cli(rt, "rm", "--force", full)) })
			wantExit(t, cli(runArgs(name, []string{"-d"}, "sh", "-c", script)...), 0)
			waitFor(t, full+" logs ready", func() bool {
				return strings.Contains(cli("logs", full).stdout, "ready\n")
			})
			return full
		}

		t.Run("run --rm passes the exit status and -e through", func(t *testing.T) {
			r := withOutput(t, func(i int) result {
				return cli(runArgs(fmt.Sprintf("status%d", i), []string{"--rm", "--env", "GREETING=hello"}, "sh", "-c", `echo "$GREETING"; exit 3`)...)
			})
			wantExit(t, r, 3)
			if r.stdout != "hello\n" {
				t.Errorf("got stdout %q, want %q", r.stdout, "hello\n")
			}
		})

		// The runtime's PID namespace (no pid namespace in the config):
		// the container's processes are host processes, and one left
		// running when the command exits does not outlive the container.
		t.Run("run --rm --pid host", func(t *testing.T) {
			own, err := os.Readlink("/proc/self/ns/pid")
			if err != nil {
				t.Fatal(err)
			}
			r := withOutput(t, func(i int) result {
				return cli(runArgs(fmt.Sprintf("hostpid%d", i), []string{"--rm", "--pid", "host"}, "sh", "-c",
					`sleep 1000 & echo "$! $(cut -d' ' -f22 /proc/$!/stat)"; readlink /proc/self/ns/pid; exit 3`)...)
			})
			wantExit(t, r, 3)
			f := strings.Fields(r.stdout)
			if len(f) != 3 || f[2] != own {
				t.Fatalf("got %q, want the background sleep's PID and start time, and the PID namespace %s", r.stdout, own)
			}
			pid, _ := strconv.Atoi(f[0])
			gone := func() bool { return processGone(f[0], f[1]) }
			if rt.name == "ccsuper" {
				// ccinit ends it when the command exits, before it
				// exits itself, as the kernel would with a PID 1.
				waitFor(t, fmt.Sprintf("the container's background sleep %s gone", f[0]), gone)
				return
			}
			if !gone() {
				// Seen with podman 4.3 and runc 1.1.5 or crun 1.8.1: the
				// runtime's init is the shell, its orphan goes to conmon
				// (a subreaper) and holds the container's output, so
				// conmon and its cleanup wait for it. Ended here, so that
				// they finish.
				t.Logf("%s: the container's background sleep %d outlived it", rt.name, pid)
				_ = unix.Kill(pid, unix.SIGKILL) // the PID and start time were its a moment ago
			}
		})

		t.Run("--network none has only lo", func(t *testing.T) {
			onlyLoopback(t, withOutput(t, func(i int) result {
				return cli(runArgs(fmt.Sprintf("net%d", i), []string{"--rm"}, "cat", "/proc/net/dev")...)
			}))
		})

		t.Run("run -d, exec, logs, ps, top, stop, rm", func(t *testing.T) {
			const script = `trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done`
			name := startDetached(t, "detached", script)

			pid, _ := strconv.Atoi(inspect(name, "{{.State.Pid}}")) // 0 for a malformed one: the check then fails
			wantRuntimeState(t, rt, e.runtimeRoot(rt), inspect(name, "{{.Id}}"), pid)

			// Checked without stopping the round trip: the rest of it
			// does not need exec.
			if r := cli("exec", name, "sh", "-c", "echo in-exec; exit 4"); r.code != 4 || r.stdout != "in-exec\n" {
				t.Errorf("exec: got %s\nwant status 4 and stdout in-exec", r)
			}
			// A command that exits at once, again and again: its end
			// must not overtake the runtime's own exec handshake.
			for i := range execRepeats {
				if r := cli("exec", name, "/bin/true"); r.code != 0 {
					t.Errorf("exec /bin/true, %d of %d: %s", i+1, execRepeats, r)
					break
				}
			}

			r := cli("ps", "--filter", "name=^"+name+"$", "--format", "{{.Names}} {{.Status}}")
			wantExit(t, r, 0)
			if !strings.HasPrefix(r.stdout, name+" Up") {
				t.Errorf("ps lists %q, want %s up", r.stdout, name)
			}

			r = cli(append([]string{"top", name}, e.top...)...)
			wantExit(t, r, 0)
			if !strings.Contains(r.stdout, "sh -c "+script) {
				t.Errorf("top does not list the container's shell\n%s", r)
			}

			// SIGTERM reaches the trap, well within the timeout: the
			// status is the trap's 0, not SIGKILL's 137.
			wantExit(t, cli("stop", "--time", "30", name), 0)
			if code := inspect(name, "{{.State.ExitCode}}"); code != "0" {
				t.Errorf("stopped container exited %s, want 0 (SIGTERM honoured)", code)
			}
			if logs := cli("logs", name).stdout; logs != "ready\ngot-term\n" {
				t.Errorf("logs %q, want ready then got-term", logs)
			}
			wantExit(t, cli("rm", name), 0)
			if r := cli("ps", "--all", "--quiet", "--filter", "name=^"+name+"$"); r.stdout != "" {
				t.Errorf("%s still listed after rm: %s", name, r.stdout)
			}
		})

		t.Run("kill", func(t *testing.T) {
			// TERM is ignored: only kill's default SIGKILL ends it.
			name := startDetached(t, "killed", `trap '' TERM; echo ready; while :; do sleep 0.1; done`)
			wantExit(t, cli("kill", name), 0)
			wantExit(t, cli("wait", name), 0)
			if code := inspect(name, "{{.State.ExitCode}}"); code != "137" {
				t.Errorf("killed container exited %s, want 137", code)
			}
			wantExit(t, cli("rm", name), 0)
		})

		t.Run("--memory limits the container and its OOM kill", func(t *testing.T) {
			name := rt.name + "-oom"
			t.Cleanup(func() { _ = run(t, e.cli(rt, "rm", "--force", name)) })
			// tail keeps all of an input without a newline; no swap
			// beyond the limit, so the kernel's OOM killer must act. It
			// kills tail, the biggest process; the shell then reads the
			// limit and the kill count of its memory cgroup (v1 or v2).
			const script = `cd /sys/fs/cgroup; tail /dev/zero; echo tail=$?
if [ -e memory.max ]; then cat memory.max; grep '^oom_kill ' memory.events
else cat memory/memory.limit_in_bytes; grep '^oom_kill ' memory/memory.oom_control; fi`
			flags := []string{"--memory", "32m", "--memory-swap", "32m"}
			wantOutput(t, cli(runArgs("oom", flags, "sh", "-c", script)...), "tail=137\n33554432\noom_kill 1\n")
			oom := inspect(name, "{{.State.OOMKilled}}")
			switch {
			case !e.oomReported:
				t.Logf("inspect says OOMKilled %s (not judged: see oomReported)", oom)
			case oom != "true":
				t.Errorf("inspect says OOMKilled %s, want true", oom)
			}
			wantExit(t, cli("rm", name), 0)
		})

		// The runtime's child fails at create; the engine shows the
		// runtime's --log and stderr, not the container's stderr, which
		// is where ccinit's reason used to go.
		t.Run("a create that fails in the container says why", func(t *testing.T) {
			name := rt.name + "-notfound"
			t.Cleanup(func() { _ = run(t, e.cli(rt, "rm", "--force", name)) })
			r := cli(runArgs("notfound", nil, "no-such-command-ccx")...)
			if r.code == 0 || !strings.Contains(r.stderr, "no-such-command-ccx") {
				t.Errorf("got %s\nwant a failure naming the missing command", r)
			}
			// 127, as a shell says it: Docker reads it from the
			// runtime's words (crun 1.8.1's wording gets 125 there).
			if r.code != 127 && rt.name != "crun" {
				t.Errorf("status %d, want 127 (command not found)", r.code)
			}
		})

		// run -it, a person at a terminal (tmux): the container's own
		// pty, ^C to the foreground command, a resize, ^D with the
		// shell's status, and the terminal given back as it was.
		t.Run("run -it under a terminal", func(t *testing.T) {
			args := append(append([]string{"run", "-it", "--rm", "--network", "none"}, e.runFlags(rt)...), e.image, "sh")
			s := newTmux(t, report(e.shell(rt, args...)))
			s.line("echo ready-$((1+1))")
			waitAnswer(t, s, "ready-2")

			s.line(`echo tty-$((1+2)) "$(tty)"`)
			if scr := s.waitFor("tty-3", 1); !strings.Contains(scr, "tty-3 /dev/pts/0") {
				t.Errorf("the container's terminal is not /dev/pts/0:\n%s", scr)
			}

			// ^C reaches the foreground command, not the shell. The
			// command says when it runs: a ^C before that would reach
			// the shell and throw the typed line away.
			s.line("sh -c 'echo sleeping-$((1+1)); exec sleep 100'")
			s.waitFor("sleeping-2", 1)
			s.keys("C-c")
			s.line("echo int-$((2+2)) status $?")
			if scr := s.waitFor("int-4", 1); !strings.Contains(scr, "int-4 status 130") {
				t.Errorf("^C did not end the foreground command with SIGINT (130):\n%s", scr)
			}

			waitSize(t, s, "24 80")
			s.tmux("resize-window", "-x", "100", "-y", "30")
			waitSize(t, s, "30 100")

			s.line("false")
			s.keys("C-d")
			if got := strings.TrimSpace(s.waitFile("status")); got != "1" {
				t.Errorf("exit status %s, want 1 (the shell's last command)", got)
			}
			s.wantRestored()
		})

		// exec -it into a running container: a terminal of its own,
		// the window's size, and the shell's status back.
		t.Run("exec -it under a terminal", func(t *testing.T) {
			name := startDetached(t, "exec-it", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done")
			s := newTmux(t, report(e.shell(rt, "exec", "-it", name, "sh")))
			s.line(`echo tty-$((1+2)) "$(tty)"`)
			waitAnswer(t, s, "tty-3")
			if scr := s.screen(); !strings.Contains(scr, "tty-3 /dev/pts/") {
				t.Errorf("want a pty of the container's:\n%s", scr)
			}
			waitSize(t, s, "24 80")
			s.line("exit 3")
			if got := strings.TrimSpace(s.waitFile("status")); got != "3" {
				t.Errorf("exec -it exit status %s, want 3", got)
			}
			s.wantRestored()
		})
	})
}

// waitAnswer waits until the screen shows want, the answer of a shell in a
// container. The engine may fail at once instead: then the pane's report
// script is done, and the test fails without waiting out the deadline.
func waitAnswer(t *testing.T, s *tmux, want string) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !strings.Contains(s.screen(), want); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(s.out, "status.done")); err == nil || time.Now().After(deadline) {
			t.Fatalf("the container's shell did not answer %q:\n%s", want, s.screen())
		}
	}
}

// waitSize asks the shell in the container for its terminal's size until it
// is want ("ROWS COLUMNS"): an engine passes a size on in its own time
// (Docker's exec -it after the process has started, any engine after a
// resize), so a first answer may be the old size, or none.
func waitSize(t *testing.T, s *tmux, want string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for n := 0; ; n++ {
		s.line(fmt.Sprintf("echo size-%d-$((1+1)) $(stty size)", n))
		scr := s.waitFor(fmt.Sprintf("size-%d-2", n), 1)
		if strings.Contains(scr, fmt.Sprintf("size-%d-2 %s\n", n, want)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's terminal is not %s:\n%s", want, scr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
