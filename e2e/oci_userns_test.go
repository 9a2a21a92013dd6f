package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The host IDs the user namespace tests map their container to: above any
// ID Debian hands out to users or as subordinate ranges of the first users.
const (
	nsHostBase = 300000
	nsSize     = 65536
)

// mappedScript is what an engine's user namespace test runs in its
// container, with mappedVolume on /vol: wantMapped checks its result.
const mappedScript = "id -u; cat /proc/self/uid_map; touch /vol/made"

// mappedVolume is a volume owned by the container's root on the host
// (nsHostBase), as an engine prepares one for a remapped container.
func mappedVolume(t *testing.T) string {
	t.Helper()
	vol := t.TempDir()
	if err := os.Chown(vol, nsHostBase, nsHostBase); err != nil {
		t.Fatal(err)
	}
	return vol
}

// runMapped runs an engine's cmd of mappedScript and checks it: uid 0
// inside, the map 0 nsHostBase nsSize, and the file the container's root
// made in vol nsHostBase's on the host. The command runs with -i and a
// pipe for its stdin: else the engine gives the container the host's
// /dev/null, which crun 1.8.1 chowns to the mapped root, changing the
// machine (runc leaves /dev/null alone; ccsuper chowns no stdio).
func runMapped(t *testing.T, cmd *exec.Cmd, vol string) {
	t.Helper()
	cmd.Stdin = strings.NewReader("")
	r := run(t, cmd)
	wantExit(t, r, 0)
	if got := strings.Fields(r.stdout); len(got) != 4 || got[0] != "0" || got[1] != "0" || got[2] != fmt.Sprint(nsHostBase) || got[3] != fmt.Sprint(nsSize) {
		t.Errorf("inside: want uid 0 and the map 0 %d %d, got %q", nsHostBase, nsSize, r.stdout)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(vol, "made"), &st); err != nil || st.Uid != nsHostBase {
		t.Errorf("the file the container's root made is %d's on the host (%v), want %d's", st.Uid, err, nsHostBase)
	}
}

// TestOCIUserNS runs a bundle with a user namespace of its own, as rootless
// podman, `podman --uidmap` and Docker's userns-remap hand one to a runtime:
// root inside, the mapped IDs on the host, no capability over the host's
// files, files written in a bind owned by the mapped ID on disk, and in an
// idmapped bind by the container's own IDs.
func TestOCIUserNS(t *testing.T) {
	plain, idmapped, secret := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{plain, idmapped, secret} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The plain bind is the container root's on the host, as an engine
	// prepares a volume for a remapped container; the idmapped one and the
	// secret one stay the host root's.
	if err := os.Chown(plain, nsHostBase, nsHostBase); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secret, "f"), []byte("host root's"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `exec > /tmp/plain/result 2>&1
echo uid=$(id -u) gid=$(id -g)
cat /proc/self/uid_map /proc/self/gid_map
grep CapEff /proc/self/status
touch /tmp/plain/made-plain /tmp/idmapped/made-idmapped && echo touched
cat /tmp/secret/f || echo secret-refused
mknod /tmp/node c 1 3 || echo mknod-refused
ls -ln /dev/null
echo done
exec sleep 1000`
	bundle, root := ociBundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_MKNOD", "CAP_DAC_OVERRIDE")
		s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_MKNOD", "CAP_DAC_OVERRIDE")
		s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_MKNOD", "CAP_DAC_OVERRIDE")
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/tmp/plain", Type: "bind", Source: plain, Options: []string{"rbind"}},
			specs.Mount{Destination: "/tmp/idmapped", Type: "bind", Source: idmapped, Options: []string{"rbind", "idmap"}},
			specs.Mount{Destination: "/tmp/secret", Type: "bind", Source: secret, Options: []string{"rbind", "ro"}})
	})
	wantExit(t, oci(t, root, "create", "--bundle", bundle, "u1"), 0)
	t.Cleanup(func() { oci(t, root, "delete", "--force", "u1") })
	st := ociState(t, root, "u1")
	// ccsuper create has exited: a parent-death signal tied to it would
	// have killed ccinit by now.
	if st.Status != specs.StateCreated || !alive(st.Pid) {
		t.Fatalf("after create: %+v, ccinit alive %v", st, alive(st.Pid))
	}
	wantExit(t, oci(t, root, "start", "u1"), 0)
	result := filepath.Join(plain, "result")
	waitFileHolds(t, result, "done")
	raw, _ := os.ReadFile(result)
	// uid_map's columns are padded: one space between fields.
	got := strings.Join(strings.Fields(strings.ReplaceAll(string(raw), "\n", " @ ")), " ")
	for _, want := range []string{
		"uid=0 gid=0",
		fmt.Sprintf("0 %d %d", nsHostBase, nsSize),
		"CapEff: 0000000028000422", // the config's set, CAP_MKNOD and CAP_DAC_OVERRIDE with it
		"touched",
		"secret-refused",
		"mknod-refused",
		"crw-rw-rw- 1 ", "1, 3 ", // the host's /dev/null, bound, as mknod is refused
	} {
		if !strings.Contains(got, want) {
			t.Errorf("inside the container: want %q in\n%s", want, raw)
		}
	}
	if strings.Contains(got, "host root's") {
		t.Errorf("the container's root read a file of the host's root:\n%s", raw)
	}
	// On the host the container's root is the mapped ID.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", nsHostBase, nsHostBase, nsHostBase, nsHostBase),
		fmt.Sprintf("Gid:\t%d\t%d\t%d\t%d", nsHostBase, nsHostBase, nsHostBase, nsHostBase)} {
		if !strings.Contains(string(status), want) {
			t.Errorf("ccinit's /proc/PID/status on the host: want %q in\n%s", want, status)
		}
	}
	for _, f := range []struct {
		path     string
		uid, gid uint32
	}{
		{filepath.Join(plain, "made-plain"), nsHostBase, nsHostBase},
		{filepath.Join(idmapped, "made-idmapped"), 0, 0}, // the container's root is root on disk through the idmapped mount
	} {
		var s syscall.Stat_t
		if err := syscall.Stat(f.path, &s); err != nil {
			t.Errorf("%v", err)
			continue
		}
		if s.Uid != f.uid || s.Gid != f.gid {
			t.Errorf("%s is %d:%d on the host, want %d:%d", f.path, s.Uid, s.Gid, f.uid, f.gid)
		}
	}
	hostNS, _ := os.Readlink("/proc/self/ns/user")
	if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", st.Pid)); err != nil || ns == hostNS {
		t.Errorf("ccinit's user namespace %q (%v): want one of its own, not the host's %q", ns, err, hostNS)
	}
	wantExit(t, oci(t, root, "kill", "u1", "KILL"), 0)
	waitStatus(t, root, "u1", specs.StateStopped)
	wantExit(t, oci(t, root, "delete", "u1"), 0)
}

// TestOCIUserNSHostNetwork: a container with a user namespace but the host's
// network namespace may not mount a sysfs of its own (it would show the
// network devices of a namespace its root does not own): the host's /sys is
// bound read-only instead, as runc does.
func TestOCIUserNSHostNetwork(t *testing.T) {
	bundle, root := ociBundle(t, []string{"sh", "-c", "grep ' /sys' /proc/self/mounts; ls /sys/class/net > /dev/null && echo listed"}, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.NetworkNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = append(ns, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
	})
	r := oci(t, root, "run", "--bundle", bundle, "u2")
	wantExit(t, r, 0)
	// The host's, with the mounts below it (a new sysfs has none but the
	// config's cgroups).
	if !strings.Contains(r.stdout, "sysfs /sys sysfs ro,") || !strings.Contains(r.stdout, " /sys/kernel/") || !strings.Contains(r.stdout, "listed") {
		t.Errorf("want the host's sysfs on /sys, read-only; got\n%s", r)
	}
}

// TestOCIUserNSRefused: what a user namespace cannot be given is refused
// with one line, and nothing is left behind. The joined ones: maps other
// than the joined namespace's, a path to another type of namespace, ccsuper's own user namespace,
// and one with no uid 0 to become (an unshare --user's maps nothing: the entry point's
// setresgid fails, and says so).
func TestOCIUserNSRefused(t *testing.T) {
	holder := start(t, command(t, "unshare", "--user", "--net", "sh", "-c", "echo ready; exec sleep 1000000"))
	holder.waitLine(t, "ready")
	mapped := start(t, command(t, "unshare", "--user", "--map-root-user", "sh", "-c", "echo ready; exec sleep 1000000"))
	mapped.waitLine(t, "ready")
	join := func(path string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: path})
		}
	}
	held := fmt.Sprintf("/proc/%d/ns/", holder.cmd.Process.Pid)
	for _, tt := range []struct {
		name   string
		change func(*specs.Spec)
		want   string
	}{
		{"root unmapped", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 1, HostID: nsHostBase, Size: nsSize}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
		}, "container ID 0"},
		{"joined with maps", func(s *specs.Spec) {
			join(fmt.Sprintf("/proc/%d/ns/user", mapped.cmd.Process.Pid))(s)
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nsHostBase, Size: nsSize}}
		}, "has the uid_map [0 0 1], not the config's [0 300000 65536]"},
		{"joined, not a user namespace", join(held + "net"), "is not a user namespace"},
		{"joined, the runtime's own", join(fmt.Sprintf("/proc/%d/ns/user", os.Getpid())), "ccsuper's own user namespace"},
		{"joined, no root", join(held + "user"), "does not map 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if strings.HasPrefix(tt.name, "joined") && runtime.GOARCH != "amd64" {
				t.Skip("ccinit's entry point is written for amd64")
			}
			bundle, root := ociBundle(t, []string{"true"}, tt.change)
			r := oci(t, root, "run", "--bundle", bundle, "u3")
			wantOneLineError(t, r, 125)
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("want %q in the error, got %s", tt.want, r.stderr)
			}
			if ents, _ := os.ReadDir(root); len(ents) > 0 {
				t.Errorf("left in the state root: %v", ents)
			}
		})
	}
}

// TestOCIMountNSPath joins a mount namespace given by path, as the
// validation suite's linux_ns_path does: ccinit's entry point enters it
// before the Go runtime starts (setns into a mount namespace needs a
// single-threaded process), and the container's root is made in it, from
// the rootfs ccsuper opened in its own.
func TestOCIMountNSPath(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("ccinit's entry point is written for amd64")
	}
	holder := start(t, command(t, "unshare", "--mount", "--propagation", "private", "sh", "-c", "echo ready; exec sleep 1000000"))
	holder.waitLine(t, "ready")
	nsPath := fmt.Sprintf("/proc/%d/ns/mnt", holder.cmd.Process.Pid)
	want, err := os.Readlink(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	bundle, root := ociBundle(t, []string{"sh", "-c", "readlink /proc/self/ns/mnt; cat /etc/hostname-probe"}, func(s *specs.Spec) {
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.MountNamespace {
				s.Linux.Namespaces[i].Path = nsPath
			}
		}
	})
	if err := os.WriteFile(filepath.Join(bundleRootfs(t, bundle), "etc/hostname-probe"), []byte("from the bundle's rootfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := oci(t, root, "run", "--bundle", bundle, "m1")
	wantExit(t, r, 0)
	if r.stdout != want+"\nfrom the bundle's rootfs\n" {
		t.Errorf("inside: got %q, want the mount namespace %s and the bundle's file", r.stdout, want)
	}
}

// TestOCIMountNSPathFails: a mount namespace joined by path (no user
// namespace joined) that ccinit's entry point cannot enter (the path is a
// network namespace's: EINVAL). The process is then still in ccsuper's own
// mount namespace: the create fails in one line before any hook is given its
// PID, and leaves no state.
func TestOCIMountNSPathFails(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("ccinit's entry point is written for amd64")
	}
	holder := start(t, command(t, "unshare", "--net", "sh", "-c", "echo ready; exec sleep 1000000"))
	holder.waitLine(t, "ready")
	ran := filepath.Join(t.TempDir(), "hook-ran")
	hook := []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo $0 >> " + ran}}}
	bundle, root := ociBundle(t, []string{"true"}, func(s *specs.Spec) {
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.MountNamespace {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/net", holder.cmd.Process.Pid)
			}
		}
		s.Hooks = &specs.Hooks{CreateRuntime: hook, Prestart: hook}
	})
	r := oci(t, root, "create", "--bundle", bundle, "m2")
	wantOneLineError(t, r, 125)
	if !strings.Contains(r.stderr, "mount namespace") {
		t.Errorf("got %q, want it to name the mount namespace", r.stderr)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("a hook ran")
	}
	if ents, _ := os.ReadDir(root); len(ents) > 0 {
		t.Errorf("left in the state root: %v", ents)
	}
}
