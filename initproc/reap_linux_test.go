package initproc

import (
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSignalSets(t *testing.T) {
	seen := map[os.Signal]int{}
	for _, s := range append(append([]os.Signal{}, early...), rest()...) {
		seen[s]++
	}
	for n := syscall.Signal(1); n <= 64; n++ {
		want := 1
		if n == unix.SIGKILL || n == unix.SIGSTOP || n == unix.SIGURG {
			want = 0
		}
		if seen[n] != want {
			t.Errorf("signal %d (%v) is caught %d times, want %d", n, n, seen[n], want)
		}
	}
}
