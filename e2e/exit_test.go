package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the user ID of an unprivileged user.
const nobody = 65534

// TestExitStatus checks the statuses a command's fate maps to, and that a
// command that cannot run is reported in one line.
func TestExitStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		wantErr string // "" for no stderr at all, else the one line must contain it
	}{
		{"exit", []string{"/bin/sh", "-c", "exit 7"}, 7, ""},
		{"killed", []string{"/bin/sh", "-c", "kill -9 $$"}, 137, ""},
		{"not found", []string{"nosuchcmd"}, 127, "nosuchcmd"},
		{"not found by path", []string{"/nosuchdir/cmd"}, 127, "/nosuchdir/cmd"},
		{"not executable", []string{"/etc/passwd"}, 126, "/etc/passwd"},
		{"directory", []string{"/etc"}, 126, "/etc"},
		{"host program", []string{"go", "version"}, 127, "go"}, // on the host's PATH, not in the rootfs
		// README: "Every error is one line on stderr", whatever the name.
		{"not found, name with a newline", []string{"no\nsuch"}, 127, "such"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCCSuper(t, append([]string{"--rootfs", baseRootfs, "--"}, tc.args...)...)
			if tc.wantErr == "" {
				wantExit(t, r, tc.code)
				if r.stderr != "" {
					t.Errorf("got stderr %q, want nothing", r.stderr)
				}
				return
			}
			wantOneLineError(t, r, tc.code)
			if !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("got stderr %q, want it to name %q", r.stderr, tc.wantErr)
			}
		})
	}
}

// TestBadInput checks that every setup failure, whether ccsuper sees it or
// ccinit does inside the new namespaces, exits 125 with one line on stderr
// and leaves no mount and no process behind.
func TestBadInput(t *testing.T) {
	t.Parallel()
	// Private copies, so that a leftover is this test's and not a parallel one's.
	super, init := privateBinaries(t)
	// nobody must be able to reach them (t.TempDir makes 0700 directories).
	for d := filepath.Dir(super); d != os.TempDir() && d != filepath.Dir(d); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A rootfs whose /proc is a file: ccinit fails on it after clone.
	procFile := newRootfs(t)
	if err := os.Remove(filepath.Join(procFile, "proc")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(procFile, "proc"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	hostMounts.RLock()
	defer hostMounts.RUnlock()
	before := hostMountTable(t)

	check := func(t *testing.T, cmd *exec.Cmd) {
		t.Helper()
		r := run(t, cmd)
		wantOneLineError(t, r, 125)
		wantMountTable(t, before, "by the failed run")
		if left := processesOf(super, init); len(left) > 0 {
			t.Errorf("processes left after the failed run: %v", left)
		}
	}

	t.Run("not root", func(t *testing.T) {
		cmd := command(t, super, "--rootfs", baseRootfs, "--", "/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		check(t, cmd)
	})
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no rootfs", []string{"--", "/bin/true"}},
		{"rootfs missing", []string{"--rootfs", filepath.Join(dir, "nope"), "--", "/bin/true"}},
		{"rootfs is a file", []string{"--rootfs", file, "--", "/bin/true"}},
		// README: "Every error is one line on stderr", whatever the path.
		{"rootfs missing, path with a newline", []string{"--rootfs", filepath.Join(dir, "no\nsuch"), "--", "/bin/true"}},
		{"unknown flag", []string{"--rootfs", baseRootfs, "--no-such-flag", "--", "/bin/true"}},
		{"unknown capability", []string{"--rootfs", baseRootfs, "--cap-add", "CAP_NOPE", "--", "/bin/true"}},
		{"unknown seccomp profile", []string{"--rootfs", baseRootfs, "--seccomp", "strict", "--", "/bin/true"}},
		{"user of bad form", []string{"--rootfs", baseRootfs, "--user", "1:2:3", "--", "/bin/true"}},
		{"hostname with a space", []string{"--rootfs", baseRootfs, "--hostname", "a b", "--", "/bin/true"}},
		{"hostname of 65 bytes", []string{"--rootfs", baseRootfs, "--hostname", strings.Repeat("a", 65), "--", "/bin/true"}},
		{"hostname starting with -", []string{"--rootfs", baseRootfs, "--hostname", "-x", "--", "/bin/true"}},
		{"env without a name", []string{"--rootfs", baseRootfs, "-e", "=x", "--", "/bin/true"}},
		{"relative workdir", []string{"--rootfs", baseRootfs, "--workdir", "tmp", "--", "/bin/true"}},
		{"missing ccinit", []string{"--rootfs", baseRootfs, "--init", filepath.Join(dir, "nope"), "--", "/bin/true"}},
		// Failures inside ccinit, after the namespaces exist:
		{"workdir is a file", []string{"--rootfs", baseRootfs, "--workdir", "/etc/passwd", "--", "/bin/true"}},
		{"proc is a file", []string{"--rootfs", procFile, "--", "/bin/true"}},
		{"user not in the container's passwd", []string{"--rootfs", baseRootfs, "--user", "nosuchuser", "--", "/bin/true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, command(t, super, tc.args...))
		})
	}
}
