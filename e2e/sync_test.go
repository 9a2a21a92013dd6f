package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// TestSyncPipe drives ccinit's end of the sync channel the way ccsuper does
// (initproc/sync.go): the configuration comes over the socket, hello comes
// back, and the command runs only after "go". EOF or anything else means the
// supervisor is gone, and ccinit exits 125 without running anything and
// without a word (the supervisor speaks for itself).
func TestSyncPipe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		config  bool   // send the configuration
		send    string // then this, unless empty
		code    int
		started bool
	}{
		{name: "go", config: true, send: initproc.SyncGo, code: 0, started: true},
		{name: "EOF before the configuration", code: initproc.ExitSetup},
		{name: "EOF before go", config: true, code: initproc.ExitSetup},
		{name: "garbage", config: true, send: "no", code: initproc.ExitSetup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			marker := filepath.Join(t.TempDir(), "started")
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
			// The socket holds what is sent before ccinit starts, and
			// with our end closed a receive that finds nothing sees EOF.
			o := initproc.Options{Grace: initproc.DefaultGrace, Args: []string{"/bin/sh", "-c", "echo yes > " + marker}}
			var msgs [][]byte
			if tc.config {
				msgs = append(msgs, initproc.EncodeConfig(o))
			}
			if tc.send != "" {
				msgs = append(msgs, []byte(tc.send))
			}
			for _, m := range msgs {
				if _, err := ours.Write(m); err != nil {
					t.Fatal(err)
				}
			}
			cmd := command(t, ccinitBin, "--sync-fd", "3")
			cmd.ExtraFiles = []*os.File{theirs}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			theirs.Close()
			// ccinit's hello, before it reads anything.
			buf := make([]byte, 64)
			n, _ := ours.Read(buf)
			if got := string(buf[:n]); got != initproc.SyncVersion {
				t.Errorf("ccinit's hello: got %q, want %q", got, initproc.SyncVersion)
			}
			ours.Close()
			err = cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != tc.code {
				t.Errorf("exit status %d (%v), want %d; stderr %q", code, err, tc.code, stderr.String())
			}
			if !tc.started && stderr.Len() > 0 {
				t.Errorf("ccinit spoke after the supervisor went away: %q", stderr.String())
			}
			_, err = os.Stat(marker)
			if started := err == nil; started != tc.started {
				t.Errorf("command started: %v, want %v", started, tc.started)
			}
		})
	}
}
