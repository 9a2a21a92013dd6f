package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestCheckUnifiedKey: a key is a plain file name of the container's cgroup,
// and none of the core files that would move, kill, freeze or reshape it.
func TestCheckUnifiedKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want string // "" for taken, else a part of the error
	}{
		{"memory.oom.group", ""},
		{"pids.max", ""},
		{"cgroup.max.depth", ""},
		{"cgroup.max.descendants", ""},
		{"io.bfq.weight", ""},
		{"", "an empty key"},
		{"../x", "no '/', NUL or '..'"},
		{"..", "no '/', NUL or '..'"},
		{"memory..max", "no '/', NUL or '..'"},
		{"a/pids.max", "no '/', NUL or '..'"},
		{"/pids.max", "no '/', NUL or '..'"},
		{"pids.max\x00", "no '/', NUL or '..'"},
		{".", "not a file"},
		{"cgroup.procs", "move processes"},
		{"cgroup.threads", "move threads"},
		{"cgroup.kill", "kill"},
		{"cgroup.freeze", "freeze"},
		{"cgroup.subtree_control", "hand controllers down"},
		{"cgroup.type", "threaded"},
	} {
		err := checkUnifiedKey(tc.key)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v, want it taken", tc.key, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want an error with %q", tc.key, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%q: error of more than one line: %q", tc.key, err)
		}
	}
}

// TestCheckUnifiedOrder: of several bad keys the first in sorted order is
// the one refused, whatever the map's iteration order.
func TestCheckUnifiedOrder(t *testing.T) {
	u := map[string]string{"pids.max": "1", "cgroup.procs": "1", "a/b": "1", "cgroup.kill": "1"}
	for range 20 {
		err := checkResources(&specs.LinuxResources{Unified: u})
		if err == nil || !strings.Contains(err.Error(), `"a/b"`) {
			t.Fatalf("got %v, want the refusal of \"a/b\", the first key", err)
		}
	}
	if err := checkResources(&specs.LinuxResources{Unified: map[string]string{}}); err != nil {
		t.Errorf("an empty map: %v", err)
	}
}

// TestUnifiedV2 writes unified keys into a real cgroup of the unified
// hierarchy, where a hybrid host has no controller enabled: a core file is
// written and reads back; a key of a controller the kernel has but the
// cgroup does not enable, and a key naming no file, each fail in one line
// naming the key. On a v1 layout the map is refused before any cgroup is
// made.
func TestUnifiedV2(t *testing.T) {
	root := cgroup2Root(t)
	// Two levels below the root: the middle one hands no controller down
	// (nothing is written to its subtree_control), so the test's cgroup
	// has none, whatever the root hands down on this host.
	middle := fmt.Sprintf("/ccsuper-test-unified-%d", os.Getpid())
	g := &ociCgroup{V2: true, Dirs: map[string]string{}, fd: -1}
	if err := g.makeV2(root, middle+"/c", []string{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.remove(); _ = unix.Rmdir(filepath.Join(root, middle)) })
	dir := g.Dirs[""]

	if err := g.apply(&specs.LinuxResources{Unified: map[string]string{"cgroup.max.depth": "3", "cgroup.max.descendants": "7"}}); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"cgroup.max.depth": "3", "cgroup.max.descendants": "7"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s = %q (%v), want %q", f, b, err, want)
		}
	}

	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	if len(strings.Fields(string(b))) != 0 {
		t.Fatalf("the test's cgroup has controllers %q, want none", b)
	}
	if slices.Contains(knownControllers(), "hugetlb") {
		err = g.apply(&specs.LinuxResources{Unified: map[string]string{"hugetlb.2MB.max": "0"}})
		if err == nil || !strings.Contains(err.Error(), "the hugetlb controller is not enabled") {
			t.Errorf("hugetlb.2MB.max with no hugetlb controller: got %v, want it not enabled", err)
		}
	}
	// memory is a controller of every kernel here (v1 or v2), never
	// enabled in this cgroup.
	err = g.apply(&specs.LinuxResources{Unified: map[string]string{"memory.oom.group": "1"}})
	if err == nil || !strings.Contains(err.Error(), `"memory.oom.group": the memory controller is not enabled for the container's cgroup `+dir+" (enabled: ") {
		t.Errorf("memory.oom.group with no memory controller: got %v, want it not enabled", err)
	}
	err = g.apply(&specs.LinuxResources{Unified: map[string]string{"nosuch.file": "1"}})
	if err == nil || !strings.Contains(err.Error(), `"nosuch.file": the kernel has no such file`) {
		t.Errorf("nosuch.file: got %v, want no such file", err)
	}
	err = g.apply(&specs.LinuxResources{Unified: map[string]string{"cgroup.max.depth": "lots"}})
	if err == nil || !strings.Contains(err.Error(), `"cgroup.max.depth": write "lots" to `+filepath.Join(dir, "cgroup.max.depth")) {
		t.Errorf("a value the kernel refuses: got %v, want the key and the file named", err)
	}

	t.Run("v1", func(t *testing.T) {
		v1Layout(t)
		path := fmt.Sprintf("/ccsuper-test-unified-v1-%d", os.Getpid())
		g, err := newOCICgroup(path, &specs.LinuxResources{Unified: map[string]string{"memory.oom.group": "1"}}, false)
		if err == nil {
			_ = g.remove()
			t.Fatal("unified on v1: taken, want it refused")
		}
		if !strings.Contains(err.Error(), "needs cgroup v2") {
			t.Errorf("unified on v1: %v", err)
		}
		if _, err := os.Stat(filepath.Join(cgroupFS, "pids", path)); !os.IsNotExist(err) {
			t.Errorf("unified on v1 left cgroup %s (%v)", path, err)
		}
		g, err = newOCICgroup(path, &specs.LinuxResources{Unified: map[string]string{}}, false)
		if err != nil {
			t.Fatalf("an empty unified map on v1: %v", err)
		}
		if err := g.remove(); err != nil {
			t.Error(err)
		}
	})
}

// TestUnifiedLines: a value of several lines is written a line at a time,
// as the kernel reads io.max and the like (the spec's example gives two
// devices in one value).
func TestUnifiedLines(t *testing.T) {
	for v, want := range map[string][]string{
		"1":                        {"1"},
		"":                         {""},
		"8:0 rbps=1\n8:16 wiops=2": {"8:0 rbps=1", "8:16 wiops=2"},
		"max\n":                    {"max"},
	} {
		if got := unifiedLines(v); !slices.Equal(got, want) {
			t.Errorf("unifiedLines(%q) = %q, want %q", v, got, want)
		}
	}
}
