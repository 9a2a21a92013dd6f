package e2e

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The attacks of issue 10 on the container's start path: each test is the
// attack as a hostile command or rootfs author would make it.

// TestAttackTerminalInjection: a command pushes a line into the input of
// every terminal it can reach with TIOCSTI (allowed on kernels with
// dev.tty.legacy_tiocsti=1). Had it reached the terminal ccsuper was started
// from, the shell there would run the line as root once ccsuper exits. No
// mode may hand the container that terminal.
func TestAttackTerminalInjection(t *testing.T) {
	t.Parallel()
	root, _ := probeRootfs(t)
	const inject = "touch /tmp/PWNED\n"
	for _, tc := range []struct {
		name  string
		shell string // runs "$@", ccsuper and its arguments, on the terminal
		flags []string
		// The command runs on a pty of the container's own (-t, and the
		// default in a terminal's foreground): its input is the
		// container's to push into, and only the host terminal's queue
		// tells.
		ownPTY bool
	}{
		{"-t", `"$@"`, []string{"-t"}, true},
		{"default", `"$@"`, nil, true},
		{"-t=false", `"$@"`, []string{"-t=false"}, false},
		{"-t=false --privileged", `"$@"`, []string{"-t=false", "--privileged"}, false},
		{"-i=false", `"$@"`, []string{"-i=false"}, false},
		{"pipeline", `"$@" | cat`, nil, false},
		{"background", `set -m; "$@" & wait $!`, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-c", tc.shell + `; echo "status $?"`, "sh", ccsuperBin, "--rootfs", root, "--net", "none"}
			args = append(args, tc.flags...)
			args = append(args, "--", "/bin/probe", "tiocsti", inject)
			p := newProc(command(t, "/bin/sh", args...))
			master := startOnTerminal(t, p)
			r := p.wait(t)
			if !strings.Contains(r.stdout, "tiocsti 0:") {
				t.Fatalf("the probe did not run:\n%s", r)
			}
			for _, line := range strings.Split(r.stdout, "\n") {
				if !tc.ownPTY && strings.HasPrefix(line, "tiocsti ") && strings.HasSuffix(strings.TrimSpace(line), ": ok") {
					t.Errorf("a terminal took the injected input: %s", line)
				}
			}
			// Whatever the probe says: nothing waits in the input of the
			// host's terminal (TIOCINQ counts the whole lines queued).
			if n := queuedInput(t, master); n != 0 {
				t.Errorf("%d bytes of input wait in the host terminal after the run\n%s", n, r)
			}
		})
	}
}

// queuedInput returns how many bytes of input wait in the queue of the
// terminal whose master is given.
func queuedInput(t *testing.T, master *os.File) int {
	t.Helper()
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	q, err := unix.IoctlGetInt(int(slave.Fd()), unix.TIOCINQ)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// fileState is what the attack on ccinit's binary tries to change. Not the
// change time: the binaries are hard links of the suite's (linkBinary), and
// a parallel test linking them again changes it.
type fileState struct {
	mode       uint32
	uid, gid   uint32
	mtime      unix.Timespec
	sum        [sha256.Size]byte // the content's
	capability string            // the security.capability xattr, "" when there is none
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := fileState{mode: st.Mode, uid: st.Uid, gid: st.Gid, mtime: st.Mtim, sum: sha256.Sum256(b)}
	buf := make([]byte, 256)
	n, err := unix.Getxattr(path, "security.capability", buf)
	switch {
	case err == nil:
		s.capability = fmt.Sprintf("%x", buf[:n])
	case err != unix.ENODATA:
		t.Fatal(err)
	}
	return s
}

// procExeAttack are the files of the /proc/self/exe attack, to write at the
// root of a probe rootfs and run as /attack: ccinit, run by the kernel as
// the interpreter, runs /.evil /attack as a tini would, and /.evil's parent
// is that ccinit.
var procExeAttack = map[string]string{
	"attack": "#!/proc/self/exe /.evil\n",
	".evil": `#!/bin/sh
exe=/proc/$PPID/exe
echo "exe: $(readlink $exe)"
chmod 0777 $exe && echo chmod-ok
chown 1:1 $exe && echo chown-ok
touch -c $exe && echo touch-ok
echo x >> $exe && echo write-ok
/bin/probe setcap $exe
`,
}

// TestAttackHostInitThroughProcExe is CVE-2019-5736's way in: a rootfs whose
// command is a script for the interpreter /proc/self/exe makes the kernel
// run ccinit itself as the command, and /proc/PID/exe of that process is
// then the binary ccinit was started from. The script's second stage
// changes that file's mode, owner and file capabilities. None of it may
// reach the host's ccinit.
func TestAttackHostInitThroughProcExe(t *testing.T) {
	t.Parallel()
	root, _ := probeRootfs(t)
	// A private ccinit: a successful attack must not spoil the suite's.
	_, init := privateBinaries(t)
	for name, text := range procExeAttack {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := stateOf(t, init)
	r := runCCSuper(t, "--init", init, "--rootfs", root, "--net", "none", "--", "/attack")
	after := stateOf(t, init)
	if !strings.Contains(r.stdout, "exe: ") {
		t.Fatalf("the attack did not run:\n%s", r)
	}
	if after != before {
		t.Errorf("the host's ccinit changed:\nbefore %+v\nafter  %+v\n%s", before, after, r)
	}
	if strings.Contains(r.stdout, init) {
		t.Errorf("/proc/PID/exe inside names the host's ccinit %s:\n%s", init, r)
	}
}

// TestInitNotCCinit: --init given a program that is not a ccinit speaking
// the sync protocol is one line and 125, whatever the program does.
func TestInitNotCCinit(t *testing.T) {
	t.Parallel()
	// Programs that say nothing of their own: one that does (`sleep
	// --sync-fd 3` complains) has its lines before ccsuper's.
	for _, init := range []string{"/bin/false", "/bin/true"} {
		t.Run(init, func(t *testing.T) {
			t.Parallel()
			r := runCCSuper(t, "--init", init, "--rootfs", baseRootfs, "--net", "none", "--", "/bin/true")
			wantOneLineError(t, r, 125)
			if !strings.Contains(r.stderr, "not a ccinit") {
				t.Errorf("want the error to say the program is not a ccinit: %q", r.stderr)
			}
		})
	}
}

// TestInitCommandLineHidesHost: PID 1's command line inside names no host
// path (the rootfs, the layer, the /etc files under /run/ccontainer), nor
// any other part of the configuration.
func TestInitCommandLineHidesHost(t *testing.T) {
	t.Parallel()
	root, vol := newRootfs(t), t.TempDir()
	r := runCCSuper(t, "--rootfs", root, "-v", vol+":/data", "-e", "SECRET=x", "--",
		"/bin/sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline")
	wantExit(t, r, 0)
	got := r.stdout
	for _, host := range []string{root, vol, "/run/ccontainer", "SECRET", "/"} {
		if strings.Contains(got, host) {
			t.Errorf("/proc/1/cmdline inside is %q: it names %q", got, host)
		}
	}
	if !strings.HasPrefix(got, "ccinit") {
		t.Errorf("/proc/1/cmdline inside is %q, want ccinit's", got)
	}
}

// TestTerminalInputWithoutPTY: without a pty of its own the command reads
// what is typed at the host's terminal through ccsuper's pipe, line by line,
// and ^D there is its end of file.
func TestTerminalInputWithoutPTY(t *testing.T) {
	t.Parallel()
	p := newProc(ccsuper(t, "--rootfs", baseRootfs, "--net", "none", "-t=false", "--", "/bin/sh", "-c",
		`echo ready; read -r line; echo "got $line"; [ -t 0 ] || echo stdin-pipe; cat; echo "cat ended $?"`))
	master := startOnTerminal(t, p)
	p.waitLine(t, "ready")
	if _, err := master.Write([]byte("typed here\n")); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "stdin-pipe")
	if _, err := master.Write([]byte{4}); err != nil { // ^D
		t.Fatal(err)
	}
	r := p.wait(t)
	wantExit(t, r, 0)
	for _, want := range []string{"got typed here\n", "cat ended 0\n"} {
		if !strings.Contains(strings.ReplaceAll(r.stdout, "\r", ""), want) {
			t.Errorf("got\n%s\nwant %q", r.stdout, want)
		}
	}
}

// TestStdioDirectoryRefused: a directory of the host's as stdin
// (`ccsuper ... < /`) would be a way out of the container's root; it is
// refused, with one line and 125.
func TestStdioDirectoryRefused(t *testing.T) {
	t.Parallel()
	cmd := ccsuper(t, "--rootfs", baseRootfs, "--net", "none", "--", "/bin/ls", "/proc/self/fd/0/")
	cmd.Stdin = hostRoot(t)
	r := run(t, cmd)
	wantOneLineError(t, r, 125)
}
