package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hookScript writes an executable shell script at path.
func hookScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// readState reads a state a hook saved from its stdin.
func readState(t *testing.T, path string) specs.State {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the hook left no state: %v", err)
	}
	var st specs.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("the hook's stdin is not a state: %v\n%s", err, b)
	}
	return st
}

// TestOCIContainerHooks: a createContainer hook whose path exists only on
// the host runs in the container (its / is the rootfs, its hostname the
// config's) during create with the state on stdin; a startContainer hook
// found in the container's root runs at start, before the command.
func TestOCIContainerHooks(t *testing.T) {
	host := filepath.Join(t.TempDir(), "create-hook")
	hookScript(t, host, "cat > /create-state; hostname > /create-host")
	bundle, root := ociBundle(t, []string{"sh", "-c", "test -s /start-state && echo after-hook > /out; exec sleep 1000"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{
			CreateContainer: []specs.Hook{{Path: host, Args: []string{"create-hook"}}},
			StartContainer:  []specs.Hook{{Path: "/start-hook", Args: []string{"start-hook"}}},
		}
	})
	rootfs := bundleRootfs(t, bundle)
	hookScript(t, filepath.Join(rootfs, "start-hook"), "cat > /start-state")
	wantExit(t, oci(t, root, "create", "--bundle", bundle, "c1"), 0)
	st := ociState(t, root, "c1")
	cs := readState(t, filepath.Join(rootfs, "create-state"))
	if cs.ID != "c1" || cs.Pid != st.Pid || cs.Status != specs.StateCreated || cs.Bundle != bundle {
		t.Errorf("createContainer state: got %+v, want id c1, pid %d, created", cs, st.Pid)
	}
	if b, _ := os.ReadFile(filepath.Join(rootfs, "create-host")); strings.TrimSpace(string(b)) != "ccontainer" {
		t.Errorf("createContainer hook's hostname: got %q, want the container's", b)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "start-state")); err == nil {
		t.Fatal("startContainer hook ran at create")
	}
	wantExit(t, oci(t, root, "start", "c1"), 0)
	waitFileHolds(t, filepath.Join(rootfs, "out"), "after-hook")
	if ss := readState(t, filepath.Join(rootfs, "start-state")); ss.Pid != st.Pid || ss.Status != specs.StateCreated {
		t.Errorf("startContainer state: got %+v, want pid %d, created", ss, st.Pid)
	}
	wantExit(t, oci(t, root, "delete", "--force", "c1"), 0)
}

// TestOCIContainerHookFails: a createContainer hook that fails or outlives
// its timeout fails create, leaving no state and no process; a failing
// startContainer hook fails start, and the command never runs.
func TestOCIContainerHookFails(t *testing.T) {
	one := 1
	for _, c := range []struct {
		name, body string
		timeout    *int
		want       string
	}{
		{"fails", "echo no luck >&2; exit 3", nil, "exit status 3"},
		{"times out", "exec sleep 100", &one, "timed out after 1s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			host := filepath.Join(t.TempDir(), "hook")
			hookScript(t, host, c.body)
			bundle, root := ociBundle(t, []string{"sh", "-c", "echo ran > /out"}, func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: host, Timeout: c.timeout}}}
			})
			r := oci(t, root, "create", "--bundle", bundle, "c1")
			if r.code == 0 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "createContainer hook") {
				t.Fatalf("create: got %s, want a failure naming %q", r, c.want)
			}
			if _, err := os.Stat(filepath.Join(root, "c1")); !os.IsNotExist(err) {
				t.Errorf("state directory left after a failed create: %v", err)
			}
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", "pids", "ccsuper/c1")); err == nil {
				t.Error("cgroup left after a failed create")
			}
		})
	}
	t.Run("startContainer fails", func(t *testing.T) {
		bundle, root := ociBundle(t, []string{"sh", "-c", "echo ran > /out"}, func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/start-hook"}}}
		})
		rootfs := bundleRootfs(t, bundle)
		hookScript(t, filepath.Join(rootfs, "start-hook"), "exit 4")
		wantExit(t, oci(t, root, "create", "--bundle", bundle, "c1"), 0)
		pid := ociState(t, root, "c1").Pid
		if r := oci(t, root, "start", "c1"); r.code == 0 {
			t.Fatalf("start: got %s, want a failure", r)
		}
		waitGone(t, pid)
		if _, err := os.Stat(filepath.Join(rootfs, "out")); err == nil {
			t.Error("the command ran after its startContainer hook failed")
		}
		wantExit(t, oci(t, root, "delete", "c1"), 0)
	})
}
