package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ccontainer/ccontainer/initproc"
)

// TestSyncPipe drives ccinit's end of the sync pipe the way ccsuper does: the
// command runs only after "go"; EOF or anything else means the supervisor is
// gone, and ccinit exits 125 without running anything and without a word
// (the supervisor speaks for itself).
func TestSyncPipe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		write   string
		code    int
		started bool
	}{
		{name: "go", write: initproc.SyncGo, code: 0, started: true},
		{name: "EOF", write: "", code: initproc.ExitSetup},
		{name: "garbage", write: "no", code: initproc.ExitSetup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			marker := filepath.Join(t.TempDir(), "started")
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			// The pipe holds what is written before ccinit starts, and
			// with the write end closed a read that finds no "go" sees EOF.
			if _, err := w.WriteString(tc.write); err != nil {
				t.Fatal(err)
			}
			w.Close()
			cmd := command(t, ccinitBin, "--sync-fd", "3", "--", "/bin/sh", "-c", "echo yes > "+marker)
			cmd.ExtraFiles = []*os.File{r}
			got := run(t, cmd)
			r.Close()
			wantExit(t, got, tc.code)
			if !tc.started && got.stderr != "" {
				t.Errorf("ccinit spoke after the supervisor went away: %q", got.stderr)
			}
			_, err = os.Stat(marker)
			if started := err == nil; started != tc.started {
				t.Errorf("command started: %v, want %v", started, tc.started)
			}
		})
	}
}
