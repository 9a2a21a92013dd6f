package initproc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestResolve(t *testing.T) {
	// Even root's access(X_OK) needs one x bit, which the 0o644 files lack.
	d := t.TempDir()
	mk := func(rel string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(d, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("a/tool", 0o755)
	mk("b/tool", 0o755)
	mk("a/data", 0o644)
	mk("b/data", 0o755)
	mk("a/only-data", 0o644)
	if err := os.Mkdir(filepath.Join(d, "a", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	pathA, pathB := filepath.Join(d, "a"), filepath.Join(d, "b")
	path := pathA + ":" + pathB

	for _, tc := range []struct {
		name, cmd, path, dir string
		want                 string
		code                 int
	}{
		{name: "first match in PATH", cmd: "tool", path: path, want: filepath.Join(pathA, "tool")},
		{name: "PATH order matters", cmd: "tool", path: pathB + ":" + pathA, want: filepath.Join(pathB, "tool")},
		{name: "skips a non-executable match", cmd: "data", path: path, want: filepath.Join(pathB, "data")},
		{name: "only a non-executable match", cmd: "only-data", path: path, code: ExitNotExecutable},
		{name: "a directory is not a command", cmd: "dir", path: path, code: ExitNotExecutable},
		{name: "not in PATH", cmd: "nope", path: path, code: ExitNotFound},
		{name: "empty PATH finds nothing", cmd: "tool", path: "", code: ExitNotFound},
		{name: "absolute path is used as is", cmd: filepath.Join(pathB, "tool"), path: "", want: filepath.Join(pathB, "tool")},
		{name: "relative path with a slash is relative to the working directory", cmd: "./tool", dir: pathA, want: filepath.Join(pathA, "tool")},
		{name: "relative PATH entry is relative to the working directory", cmd: "tool", path: "b", dir: d, want: filepath.Join(pathB, "tool")},
		{name: "through a file, not a directory", cmd: filepath.Join(pathA, "tool", "x"), code: ExitNotFound},
		{name: "empty name", cmd: "", path: path, code: ExitNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.cmd, tc.path, tc.dir)
			if tc.code != 0 {
				var ee *ExecError
				if !errors.As(err, &ee) || ee.Code != tc.code {
					t.Fatalf("Resolve(%q) = %q, %v; want an ExecError with code %d", tc.cmd, got, err, tc.code)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve(%q) = %q, %v; want %q", tc.cmd, got, err, tc.want)
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		ws   unix.WaitStatus
		want int
	}{
		{0, 0},
		{7 << 8, 7},
		{255 << 8, 255},
		{unix.WaitStatus(unix.SIGKILL), 137},
		{unix.WaitStatus(unix.SIGTERM), 143},
		{unix.WaitStatus(unix.SIGSEGV) | 0x80, 139}, // core dumped
	} {
		if got := ExitStatus(tc.ws); got != tc.want {
			t.Errorf("ExitStatus(%#x) = %d, want %d", uint32(tc.ws), got, tc.want)
		}
	}
}

func TestParentOf(t *testing.T) {
	got, ok := parentOf(os.Getpid())
	if !ok || got != os.Getppid() {
		t.Errorf("parentOf(self) = %d, %v; want %d", got, ok, os.Getppid())
	}
	if _, ok := parentOf(-1); ok {
		t.Error("parentOf(-1) succeeded")
	}
}
