package supervisor

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestThreadRestore: a thread that idmappedOverlay used (its own mount
// namespace, its securebits and file system IDs changed) is put back as it
// was, so that Go may run other goroutines on it.
func TestThreadRestore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to unshare a mount namespace and change IDs")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: if the test fails, the thread goes with it.
		runtime.LockOSThread()
		before := thread()
		saved, err := saveThread()
		if err != nil {
			t.Error(err)
			return
		}
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			t.Error(err)
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, secbitNoSetuidFixup, 0); e != 0 {
			t.Error(e)
			return
		}
		_ = unix.Setfsuid(123456)
		_ = unix.Setfsgid(123456)
		_ = unix.Chdir("/proc")
		if changed := thread(); changed == before {
			t.Errorf("nothing changed: %+v", changed)
		}
		if err := saved.restore(); err != nil {
			t.Error(err)
		}
		if after := thread(); after != before {
			t.Errorf("after restore %+v, want %+v", after, before)
		}
	}()
	<-done
}

// threadView is what restore puts back, as the thread sees it.
type threadView struct {
	mntNS, cwd   string
	secbits      uintptr
	fsuid, fsgid int
}

func thread() threadView {
	var v threadView
	v.mntNS, _ = os.Readlink("/proc/thread-self/ns/mnt")
	v.cwd, _ = os.Readlink("/proc/thread-self/cwd")
	v.secbits, _, _ = unix.RawSyscall(unix.SYS_PRCTL, unix.PR_GET_SECUREBITS, 0, 0)
	v.fsuid, _ = unix.SetfsuidRetUid(-1)
	v.fsgid, _ = unix.SetfsgidRetGid(-1)
	return v
}
