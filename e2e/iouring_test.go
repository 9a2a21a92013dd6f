package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestIOUringBlocked checks the default filter refuses io_uring (issue 10,
// item 4): a ring's operations run in kernel threads the filter never sees,
// so a container with a ring could open, read, write and connect past any
// rule on those syscalls. Docker's profile refuses the three calls since
// 25.0. The filter answers EPERM, as for every other syscall it refuses:
// liburing and the programs built on it fall back to ordinary calls on any
// error from io_uring_setup. --seccomp=unconfined and --privileged, which
// install no filter, leave io_uring to the kernel.
func TestIOUringBlocked(t *testing.T) {
	t.Parallel()
	root, _ := probeRootfs(t)
	eperm := []string{"EPERM"}
	attempts := []attempt{
		{probe: "io_uring_setup", want: eperm},
		{probe: "io_uring_enter", want: eperm},
		{probe: "io_uring_register", want: eperm},
		// A capability does not unlock it either, as in Docker.
		{flags: []string{"--cap-add", "ALL"}, probe: "io_uring_setup", want: eperm},
		{flags: []string{"--user", "65534"}, probe: "io_uring_setup", want: eperm},
		// The kernel's own answer to fd -1: the filter let the call through.
		{flags: []string{"--seccomp=unconfined"}, probe: "io_uring_enter", want: []string{"EBADF"}},
		{flags: []string{"--seccomp=unconfined"}, probe: "io_uring_register", want: []string{"EBADF"}},
	}
	// kernel.io_uring_disabled (Linux 6.6) turns io_uring off for
	// everyone (2) or for the unprivileged (1); only with 0 can a ring be
	// made from an unconfined container.
	if v, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); err == nil && strings.TrimSpace(string(v)) != "0" {
		t.Logf("kernel.io_uring_disabled is %s: not checking that an unconfined container can make a ring", strings.TrimSpace(string(v)))
	} else {
		attempts = append(attempts,
			attempt{flags: []string{"--seccomp=unconfined"}, probe: "io_uring_setup", want: []string{"ok"}},
			attempt{flags: []string{"--privileged"}, probe: "io_uring_setup", want: []string{"ok"}})
	}
	runAttempts(t, root, attempts)
}
