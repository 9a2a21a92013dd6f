package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// linux.resources.unified is cgroup v2's files by name: each key is a file
// in the container's cgroup, its value written there after the structured
// resources (so a key overrides the field that wrote the same file). The
// kubelet sets {"memory.oom.group": "1"} on every container of a cgroup v2
// node, so that an OOM kill takes the container's whole process tree; podman
// passes --cgroup-conf here. On v1 the map has no meaning and a non-empty
// one is refused (runc does the same). See docs/cgroups.md.

// refusedUnified are the core files a config may not write through
// unified, and why: they are not limits but the cgroup's membership, life
// and shape, which ccsuper owns.
var refusedUnified = map[string]string{
	"cgroup.procs":           "it would move processes into the container's cgroup",
	"cgroup.threads":         "it would move threads into the container's cgroup",
	"cgroup.kill":            "it would kill the container's processes at create",
	"cgroup.freeze":          "it would freeze the container before it starts (ccsuper has no pause; its kill of a container without a PID namespace freezes and thaws it)",
	"cgroup.subtree_control": "it would hand controllers down, and a cgroup doing that may hold no process: ccinit could not be cloned into it",
	"cgroup.type":            "it would make the container's cgroup threaded, which takes no process of its own",
}

// checkUnifiedKey refuses a key that is no plain file name of a cgroup, or
// one of refusedUnified. Whether the file is there is for the kernel to say
// (unifiedMissing), once the cgroup is made.
func checkUnifiedKey(k string) error {
	switch {
	case k == "":
		return errors.New("linux.resources.unified: an empty key")
	case strings.ContainsAny(k, "/\x00") || strings.Contains(k, ".."):
		return fmt.Errorf("linux.resources.unified %q: a key is a file name in the container's cgroup, with no '/', NUL or '..'", k)
	case k == ".":
		return fmt.Errorf("linux.resources.unified %q: not a file", k)
	}
	if why, ok := refusedUnified[k]; ok {
		return fmt.Errorf("linux.resources.unified %q: refused, %s", k, why)
	}
	return nil
}

// checkUnified checks the keys of a config's unified map, in order.
func checkUnified(u map[string]string) error {
	for _, k := range unifiedKeys(u) {
		if err := checkUnifiedKey(k); err != nil {
			return err
		}
	}
	return nil
}

// unifiedKeys returns u's keys sorted: the writes, and so which one fails
// first, do not change from run to run.
func unifiedKeys(u map[string]string) []string {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkUnifiedFiles refuses u when a key is no file of the v2 cgroup dir,
// before anything is written to it.
func checkUnifiedFiles(dir string, u map[string]string) error {
	for _, k := range unifiedKeys(u) {
		if err := checkUnifiedKey(k); err != nil {
			return err
		}
		if _, err := os.Lstat(filepath.Join(dir, k)); errors.Is(err, fs.ErrNotExist) {
			return unifiedMissing(dir, k)
		}
	}
	return nil
}

// applyUnified writes u, checked by checkUnifiedFiles before the first
// resource was written, into the v2 cgroup dir, in key order, each error
// naming the key and the file. A value of several lines is written a line
// at a time, as the kernel reads such files (io.max takes one device per
// write: the spec's own example is two).
func applyUnified(dir string, u map[string]string) error {
	for _, k := range unifiedKeys(u) {
		for _, line := range unifiedLines(u[k]) {
			if err := writeCgroup(dir, k, line); err != nil {
				return fmt.Errorf("linux.resources.unified %q: %w", k, err)
			}
		}
	}
	return nil
}

// unifiedLines splits a value into the lines written one by one; a value
// with no newline (or an empty one) is written as it is.
func unifiedLines(v string) []string {
	if !strings.Contains(v, "\n") {
		return []string{v}
	}
	var out []string
	for _, l := range strings.Split(v, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// unifiedMissing says why the cgroup dir has no file k: its controller (the
// part of the name before the first '.') is one the kernel has but the
// cgroup does not have enabled, or else (an enabled controller's file, or
// no controller's) the kernel has no such file. It
// is asked only once the file is found missing, not of every key: some
// files are there with their controller off (cpu.pressure and
// memory.pressure are the core's).
func unifiedMissing(dir, k string) error {
	c, _, _ := strings.Cut(k, ".")
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("linux.resources.unified %q: %w", k, err)
	}
	enabled := strings.Fields(string(b))
	if c != "cgroup" && !slices.Contains(enabled, c) && slices.Contains(knownControllers(), c) {
		list := "none"
		if len(enabled) > 0 {
			list = strings.Join(enabled, " ")
		}
		return fmt.Errorf("linux.resources.unified %q: the %s controller is not enabled for the container's cgroup %s (enabled: %s)", k, c, dir, list)
	}
	return fmt.Errorf("linux.resources.unified %q: the kernel has no such file in the container's cgroup %s", k, dir)
}

// knownControllers returns the cgroup controllers this kernel has: those
// the unified hierarchy's root offers, and those /proc/cgroups lists (the
// v1 names: a hybrid host's controllers bound to v1 hierarchies are not in
// the unified root; v1's blkio is v2's io).
func knownControllers() []string {
	var out []string
	if mnt := cgroup2Mount(); mnt != "" {
		if b, err := os.ReadFile(filepath.Join(mnt, "cgroup.controllers")); err == nil {
			out = append(out, strings.Fields(string(b))...)
		}
	}
	b, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		out = append(out, f[0])
		if f[0] == "blkio" {
			out = append(out, "io")
		}
	}
	return out
}

// refuseUnifiedV1 refuses a non-empty unified map where the container's
// cgroup is in v1 hierarchies (a v1 or hybrid host).
func refuseUnifiedV1(u map[string]string) error {
	if len(u) == 0 {
		return nil
	}
	return fmt.Errorf("linux.resources.unified (%s) needs cgroup v2, and this host's controllers are in cgroup v1 hierarchies", strings.Join(unifiedKeys(u), " "))
}
