package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// dockerImage is the name `docker import` gives the suite's rootfs.
const dockerImage = "ccontainer-e2e-busybox"

// TestEngineDocker runs the same round trips as TestEnginePodman through a
// private dockerd 20.10 (Debian's docker.io) that has each OCI runtime
// registered in its daemon.json "runtimes", picked with `docker run
// --runtime NAME`: dockerd runs them through its own containerd and the
// io.containerd.runc.v2 shim with BinaryName set to the runtime's path.
//
// dockerd's data root, exec root, socket, pid file and config directory
// are the test's own; it runs in a mount namespace of its own with a private
// /etc/docker and /opt (see startDockerd); it makes no bridge and no
// iptables rules; containers have no network and go under a cgroup parent
// removed at the end.
func TestEngineDocker(t *testing.T) {
	needDocker(t)
	parent := engineCgroupParent("docker")
	// As long as dockerd's default exec root, /var/run/docker: runtimes'
	// state goes under it (runtime-runc/moby/ID), at the same length.
	execRoot := engineRunDir(t, "docker")
	dir := newEngineDir(t, parent)
	sock := startDockerd(t, dir, execRoot, parent, false)
	docker := func(args ...string) *exec.Cmd {
		cmd := command(t, dockerCLI, append([]string{"--host", "unix://" + sock}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(dir, "cli")) // not ~/.docker
		return cmd
	}
	if r := run(t, docker("import", rootfsTarball(t, dir), dockerImage)); r.code != 0 {
		t.Fatalf("docker import: %s", r)
	}

	cliRoundTrips(t, cliEngine{
		cli:      func(_ ociRuntime, args ...string) *exec.Cmd { return docker(args...) },
		image:    dockerImage,
		runFlags: func(rt ociRuntime) []string { return []string{"--runtime", dockerRuntimeName(rt)} },
		top:      []string{"-o", "pid,args"},
		shell: func(_ ociRuntime, args ...string) string {
			return "DOCKER_CONFIG=" + filepath.Join(dir, "cli") + " " + dockerCLI + " --host unix://" + sock + " " + strings.Join(args, " ")
		},
		// dockerd 20.10 gives every runtime of its v2 shim the root
		// of its runc, and the shim adds containerd's namespace, moby.
		runtimeRoot: func(ociRuntime) string { return filepath.Join(execRoot, "runtime-runc", "moby") },
		// dockerd hears of an OOM kill from containerd's cgroup
		// monitor, which watches the v1 memory cgroup itself.
		oomReported: true,
	})
}

// dockerCLI is the package's docker client: another docker on PATH may be
// a newer build.
const dockerCLI = "/usr/bin/docker"

// needDocker skips unless all engines are asked for and Docker's are
// installed.
func needDocker(t *testing.T) {
	t.Helper()
	needAllEngines(t)
	for _, p := range []string{dockerCLI, "dockerd", "containerd"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (scripts/engine-deps.sh all installs it)", p)
		}
	}
}

// dockerRuntimeName is the name rt has in dockerd's "runtimes": "runc" is
// taken by dockerd's built-in entry.
func dockerRuntimeName(rt ociRuntime) string { return "e2e-" + rt.name }

// startDockerd starts a private dockerd with everything under dir but its
// exec root, the OCI runtimes of ociRuntimes registered, and containers'
// cgroups under cgroupParent; it returns its socket. With remap, dockerd
// runs every container in a user namespace ("userns-remap"), with the range
// nsHostBase and on, given to nobody:nogroup in an /etc/subuid and
// /etc/subgid of its mount namespace's own, bound over the host's.
func startDockerd(t *testing.T, dir, execRoot, cgroupParent string, remap bool) string {
	t.Helper()
	return startDockerdUnder(t, dir, execRoot, cgroupParent, engineMountNS, remap, nil)
}

// startDockerdUnder is startDockerd with the daemon's mount namespace
// finished by ns (engineMountNS, or a script ending as it does) and the
// settings of daemon.json in override put over the test's defaults (which
// have no bridge and no iptables).
func startDockerdUnder(t *testing.T, dir, execRoot, cgroupParent, ns string, remap bool, override map[string]any) string {
	t.Helper()
	sock := filepath.Join(dir, "docker.sock")
	runtimes := map[string]any{}
	for _, rt := range ociRuntimes() {
		if rt.skip == "" {
			runtimes[dockerRuntimeName(rt)] = map[string]string{"path": rt.path}
		}
	}
	config := map[string]any{
		"data-root":      filepath.Join(dir, "data"),
		"exec-root":      execRoot,
		"pidfile":        filepath.Join(dir, "docker.pid"),
		"hosts":          []string{"unix://" + sock},
		"bridge":         "none",
		"iptables":       false,
		"ip6tables":      false,
		"ip-forward":     false,
		"ip-masq":        false,
		"storage-driver": "overlay2",
		"cgroup-parent":  "/" + cgroupParent,
		"exec-opts":      []string{"native.cgroupdriver=cgroupfs"},
		"runtimes":       runtimes,
	}
	setup := ""
	if remap {
		// Any user and group of the host's, whose ranges dockerd reads
		// in the files bound: dockerd refuses to remap to root.
		config["userns-remap"] = "nobody:nogroup"
		uids, gids := filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
		// dockerd 20.10 looks the gid range up by the user's name too.
		for _, f := range []string{uids, gids} {
			if err := os.WriteFile(f, []byte(fmt.Sprintf("nobody:%d:%d\n", nsHostBase, nsSize)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		setup = "mount --bind " + uids + " /etc/subuid && mount --bind " + gids + " /etc/subgid || exit 125\n"
	}
	maps.Copy(config, override)
	b, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, "daemon.json")
	etc := filepath.Join(dir, "etc-docker")
	for _, err := range []error{os.WriteFile(configPath, b, 0o644), os.Mkdir(etc, 0o700)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// dockerd 20.10 writes /etc/docker/key.json, and the containerd it
	// starts makes /opt/containerd (its "opt" plugin, which dockerd's
	// config leaves on): in dockerd's mount namespace /etc/docker is $1,
	// where there is one, and /opt an empty tmpfs. Then ns.
	setup += `if [ -d /etc/docker ]; then mount --bind "$1" /etc/docker || exit 125; fi; shift
mount -t tmpfs -o mode=755 tmpfs /opt || exit 125
` + ns
	startDaemon(t, dir, "dockerd", setup, []string{etc, "dockerd", "--config-file", configPath}, func() bool {
		return run(t, command(t, dockerCLI, "--host", "unix://"+sock, "version")).code == 0
	})
	return sock
}

// TestEngineDockerUsernsRemap runs containers of a dockerd with
// "userns-remap": each in a user namespace whose root is the first ID of the
// daemon's range, with its image's files chowned to the range by dockerd, as
// Docker hands one to any runtime: uid 0 inside, the range's map, and a file
// the container's root makes in a volume is the range's first ID's.
func TestEngineDockerUsernsRemap(t *testing.T) {
	needAllEngines(t)
	const dockerCLI = "/usr/bin/docker"
	for _, p := range []string{dockerCLI, "dockerd", "containerd"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (scripts/engine-deps.sh all installs it)", p)
		}
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("no %s to bind the test's own range over in dockerd's mount namespace: %v", f, err)
		}
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skipf("no user nobody to remap to: %v", err)
	}
	parent := engineCgroupParent("dockerremap")
	execRoot := engineRunDir(t, "dockr")
	dir := newEngineDir(t, parent)
	// dockerd wants the remapped root to reach its data root (o+x on the
	// way): the test's own directories.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	sock := startDockerd(t, dir, execRoot, parent, true)
	docker := func(args ...string) *exec.Cmd {
		cmd := command(t, dockerCLI, append([]string{"--host", "unix://" + sock}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(dir, "cli"))
		return cmd
	}
	if r := run(t, docker("import", rootfsTarball(t, dir), dockerImage)); r.code != 0 {
		t.Fatalf("docker import: %s", r)
	}
	forEachRuntime(t, func(t *testing.T, rt ociRuntime) {
		vol := mappedVolume(t)
		runMapped(t, docker("run", "--rm", "-i", "--runtime", dockerRuntimeName(rt), "-v", vol+":/vol", dockerImage,
			"sh", "-c", mappedScript), vol)
	})
}
