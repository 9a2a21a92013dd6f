package initproc

import (
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/seccomp"
)

// startTrue does what reaper.start does for the command, for /bin/true on
// the host: a throwaway thread takes on h and forks; then it waits for it.
func startTrue(h hardening) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := h.apply(); err != nil {
			done <- err
			return
		}
		pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{Env: []string{}})
		if err != nil {
			done <- err
			return
		}
		var ws unix.WaitStatus
		_, err = unix.Wait4(pid, &ws, 0, nil)
		done <- err
	}()
	return <-done
}

func defaultHardening(t testing.TB) hardening {
	caps := DefaultCaps
	prog, err := seccomp.Build(seccomp.Options{Caps: uint64(caps)})
	if err != nil {
		t.Fatal(err)
	}
	return hardening{caps: &caps, cred: &Cred{Home: "/root"}, noNewPrivs: true, filter: prog}
}

// TestApplyKeepsOtherThreads applies the default hardening on a throwaway
// thread, runs a command from it, and checks the test's own threads kept
// their rights: the filter and the capability drop stayed on that thread.
func TestApplyKeepsOtherThreads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: sets capabilities")
	}
	if err := startTrue(defaultHardening(t)); err != nil {
		t.Fatal(err)
	}
	held, err := heldCaps()
	if err != nil {
		t.Fatal(err)
	}
	if held&(1<<unix.CAP_SYS_ADMIN) == 0 {
		t.Errorf("this thread lost CAP_SYS_ADMIN: %s", held)
	}
	// Refused by the filter, answered by the kernel here.
	if _, _, e := unix.RawSyscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, 0, 0); e == unix.EPERM {
		t.Errorf("keyctl on this thread: %v, the filter leaked out of its thread", e)
	}
}

// BenchmarkStart is what each layer of the default hardening adds to
// starting a command: /bin/true (dynamic, so it makes a few dozen syscalls
// through the filter) from a throwaway thread, bare, with one layer, and with
// all, in turn in a shuffled order (this machine's speed drifts too much for
// one batch after the other). The medians are reported in microseconds.
func BenchmarkStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: sets capabilities")
	}
	d := defaultHardening(b)
	names := []string{"bare-us", "caps-us", "user-us", "nnp-us", "nnp+seccomp-us", "all-us"}
	variants := []hardening{{}, {caps: d.caps}, {cred: d.cred}, {noNewPrivs: true}, {noNewPrivs: true, filter: d.filter}, d}
	took := make([][]float64, len(variants))
	for b.Loop() {
		for _, i := range rand.Perm(len(variants)) {
			t0 := time.Now()
			if err := startTrue(variants[i]); err != nil {
				b.Fatal(err)
			}
			took[i] = append(took[i], float64(time.Since(t0).Microseconds()))
		}
	}
	for i, name := range names {
		slices.Sort(took[i])
		b.ReportMetric(took[i][len(took[i])/2], name)
	}
}
