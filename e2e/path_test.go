package e2e

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// writeEvilSh writes at path an sh that leaves a file at marker, then
// behaves like sh.
func writeEvilSh(t *testing.T, path, marker string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho pwned > " + marker + "\nexec /bin/sh \"$@\"\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func wantNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (%v): the command was resolved against the host's PATH", path, err)
	}
}

// TestHostPath checks that a bare command name is looked up inside the
// container with the container's PATH, never with the host's: an sh first in
// ccsuper's PATH must not run, on the host or inside.
func TestHostPath(t *testing.T) {
	t.Parallel()

	t.Run("program on the host", func(t *testing.T) {
		t.Parallel()
		evil := t.TempDir()
		marker := filepath.Join(t.TempDir(), "pwned")
		writeEvilSh(t, filepath.Join(evil, "sh"), marker)

		cmd := ccsuper(t, "--rootfs", baseRootfs, "--", "sh", "-c", "echo inside")
		cmd.Env = append(os.Environ(), "PATH="+evil+":"+os.Getenv("PATH"))
		r := run(t, cmd)
		wantExit(t, r, 0)
		if r.stdout != "inside\n" {
			t.Errorf("got stdout %q, want %q", r.stdout, "inside\n")
		}
		wantNoFile(t, marker)

		// The trap is armed: the same PATH on the host runs it.
		sh := command(t, "/bin/sh", "-c", "sh -c true")
		sh.Env = cmd.Env
		wantExit(t, run(t, sh), 0)
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("the evil sh does not work on the host, so the check above proves nothing: %v", err)
		}
	})

	t.Run("same directory in the rootfs", func(t *testing.T) {
		t.Parallel()
		root := newRootfs(t)
		// /evil exists in the container too, with an sh that leaves its
		// marker in the container's /.
		writeEvilSh(t, filepath.Join(root, "evil/sh"), "/pwned")
		cmd := ccsuper(t, "--rootfs", root, "--", "sh", "-c", "echo inside")
		cmd.Env = append(os.Environ(), "PATH=/evil:"+os.Getenv("PATH"))
		r := run(t, cmd)
		wantExit(t, r, 0)
		if r.stdout != "inside\n" {
			t.Errorf("got stdout %q, want %q", r.stdout, "inside\n")
		}
		wantNoFile(t, filepath.Join(root, "pwned"))

		// The trap is armed: run by its path inside, it leaves the marker.
		r = runCCSuper(t, "--rootfs", root, "--", "/evil/sh", "-c", "echo inside")
		wantExit(t, r, 0)
		if _, err := os.Stat(filepath.Join(root, "pwned")); err != nil {
			t.Errorf("the evil sh does not work inside, so the check above proves nothing: %v", err)
		}
	})
}
