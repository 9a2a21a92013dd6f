package e2e

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/seccomp"
)

// kernelFeatures are the system calls ccsuper and ccinit need that an old
// kernel may lack, as the README's "Kernel" section lists them, each with the
// first Linux that has it and a run of ccsuper that makes it.
var kernelFeatures = []struct {
	name    string
	nr      uintptr
	version string
	run     []string // ccsuper's arguments before "--"
	v2      bool     // needed on a pure cgroup v2 host only
}{
	{"close_range", unix.SYS_CLOSE_RANGE, "5.9 (CLOSE_RANGE_CLOEXEC 5.11)", nil, false},
	{"open_tree", unix.SYS_OPEN_TREE, "5.2", []string{"--volume", "/tmp:/mnt"}, false},
	{"move_mount", unix.SYS_MOVE_MOUNT, "5.2", []string{"--volume", "/tmp:/mnt"}, false},
	{"openat2", unix.SYS_OPENAT2, "5.6", []string{"--volume", "/tmp:/mnt"}, false},
	{"statx", unix.SYS_STATX, "4.11 (STATX_ATTR_MOUNT_ROOT 5.8)", nil, false},
	{"fsopen", unix.SYS_FSOPEN, "5.2 (overlayfs volatile 5.10)", []string{"--overlay"}, false},
	{"mount_setattr", unix.SYS_MOUNT_SETATTR, "5.12", []string{"--read-only"}, false},
	// Go's fork falls back to clone unless it must clone into a cgroup.
	{"clone3", unix.SYS_CLONE3, "5.3 (CLONE_INTO_CGROUP 5.7)", nil, true},
}

// nosysEnv, in the environment of this test binary, makes it a helper: it
// puts itself under a seccomp filter that fails the system call of that
// number with ENOSYS, as a kernel without it would, and executes its
// arguments (ccsuper), which pass the filter on to ccinit.
const nosysEnv = "CCONTAINER_E2E_NOSYS"

func init() {
	nr := os.Getenv(nosysEnv)
	if nr == "" {
		return
	}
	// During init the main goroutine is locked to the main thread, the one
	// that executes ccsuper below: only it needs the filter.
	if err := execWithout(nr, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "e2e helper: %v\n", err)
		os.Exit(2)
	}
}

func execWithout(nr string, argv []string) error {
	n, err := strconv.ParseUint(nr, 10, 32)
	if err != nil {
		return err
	}
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(n), Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	if err := seccomp.Install(filter); err != nil {
		return err
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, nosysEnv+"=") {
			env = append(env, kv)
		}
	}
	return unix.Exec(argv[0], argv, env)
}

// TestKernelFeatures checks that this kernel has every system call in the
// README's list (the guest of `make test-vm` runs it on Debian's 6.1), and
// that ccsuper, on a kernel without one, fails with one line that says which
// kernel it needs, and leaves nothing behind.
func TestKernelFeatures(t *testing.T) {
	t.Parallel()
	if runtime.GOARCH != "amd64" {
		t.Skip("the ENOSYS filter is checked for x86_64's syscall numbers only")
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts) // only for the log
	t.Logf("kernel %s", unix.ByteSliceToString(uts.Release[:]))
	for _, f := range kernelFeatures {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			// Present: a call with a bad descriptor fails for that
			// reason, not for want of the call.
			_, _, errno := unix.Syscall6(f.nr, ^uintptr(0), 0, 0, 0, 0, 0)
			if errors.Is(errno, unix.ENOSYS) {
				t.Errorf("%s (Linux %s) is missing from this kernel", f.name, f.version)
			}

			if f.v2 && !isCgroup2("/sys/fs/cgroup") {
				return // a v1 or hybrid host makes no use of it
			}
			args := append([]string{ccsuperBin, "--rootfs", newRootfs(t), "--net", "none", "--memory", "64m"}, f.run...)
			args = append(args, "--", "/bin/true")
			cmd := command(t, os.Args[0], args...)
			cmd.Env = append(os.Environ(), nosysEnv+"="+strconv.Itoa(int(f.nr)))
			r := run(t, cmd)
			t.Logf("without %s: %s", f.name, strings.TrimSpace(r.stderr))
			wantOneLineError(t, r, 125)
			if !strings.Contains(r.stderr, "function not implemented (this kernel lacks a system call ccontainer needs: Linux 5.12 or later)") {
				t.Errorf("without %s: got %q, want the one line to name the kernel needed", f.name, r.stderr)
			}
			wantNoCgroup(t, cmd.Process.Pid, "after the refused start")
		})
	}
}
