package initproc

import (
	"errors"
	"os"
	"testing"
)

func TestWaitGo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write string
		want  error
	}{
		{"go", SyncGo, nil},
		{"EOF: supervisor gone", "", ErrSupervisorGone},
		{"anything else", "stop", ErrSupervisorGone},
		{"go with trailing bytes", SyncGo + "!", ErrSupervisorGone},
		{"a prefix of go", SyncGo[:1], ErrSupervisorGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.WriteString(tc.write); err != nil {
				t.Fatal(err)
			}
			w.Close()
			// waitGo owns and closes the fd it is given.
			fd, err := dupFD(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got := waitGo(fd); !errors.Is(got, tc.want) {
				t.Errorf("waitGo after %q = %v, want %v", tc.write, got, tc.want)
			}
		})
	}
}
