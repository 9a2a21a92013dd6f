package supervisor

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestAwaitExit: delete's wait for a stopped ccinit returns once the
// process has exited (here a zombie no one reaps yet), blocks while it
// runs, and does not wait for a process that took a dead container's PID.
func TestAwaitExit(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	start, err := startTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	st := containerState{ID: "t", Pid: pid, PidStart: start}

	// Another process's start time: nothing to wait for.
	if err := (containerState{ID: "t", Pid: pid, PidStart: start + 1}).awaitExit(); err != nil {
		t.Fatalf("PID taken by another process: got %v, want nil at once", err)
	}

	done := make(chan error, 1)
	go func() { done <- st.awaitExit() }()
	select {
	case err := <-done:
		t.Fatalf("returned while the process runs: %v", err)
	case <-time.After(100 * time.Millisecond):
		// Still waiting, as it should; this bound only shortens the
		// test, a slow machine cannot make it fail.
	}
	// Killed, not reaped: a zombie, whose pidfd is readable.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("after the kill: got %v, want nil", err)
	}
}
