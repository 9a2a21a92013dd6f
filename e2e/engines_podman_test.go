package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// podmanImage is the name `podman import` gives the suite's rootfs.
const podmanImage = "localhost/ccontainer-e2e-busybox"

// TestEnginePodman runs podman's everyday round trips with each OCI runtime
// as `podman --runtime PATH`: run --rm with an exit status and -e, run -d with
// exec, logs, ps, top, stop, kill and rm, a --memory limit that ends in an
// OOM kill podman reports, and --network none.
//
// podman's storage (vfs: no mounts), run and temporary directories are the
// test's own; each podman command, and so conmon and the runtime, runs in a
// mount namespace of its own (engineMountNS); the containers' cgroups go
// under a parent named for this test, removed at the end.
func TestEnginePodman(t *testing.T) {
	podmanBin, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (scripts/engine-deps.sh installs it)")
	}
	parent := engineCgroupParent("podman")
	runDir := engineRunDir(t, "podman")
	dir := newEngineDir(t, parent)
	conf := podmanConf(t, dir)
	// Each runtime's state goes under a directory of the test's own.
	runtimeRoot := func(rt ociRuntime) string { return filepath.Join(runDir, rt.name) }
	// podmanIn runs podman in the network and mount namespaces of the
	// process nsPID, or each time in a mount namespace of its own
	// (engineMountNS) when it is 0.
	podmanArgv := func(rt ociRuntime, args ...string) []string {
		argv := []string{podmanBin, "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"),
			"--tmpdir", filepath.Join(dir, "tmp"), "--cgroup-manager", "cgroupfs",
			"--events-backend", "none", "--storage-driver", "vfs"}
		if rt.path != "" {
			argv = append(argv, "--runtime", rt.path, "--runtime-flag", "root="+runtimeRoot(rt))
		}
		return append(argv, args...)
	}
	podmanIn := func(nsPID int, rt ociRuntime, args ...string) *exec.Cmd {
		argv := podmanArgv(rt, args...)
		var cmd *exec.Cmd
		if nsPID == 0 {
			cmd = engineCommand(t, engineMountNS, argv...)
		} else {
			ns := fmt.Sprintf("/proc/%d/ns/", nsPID)
			cmd = command(t, "nsenter", append([]string{"--net=" + ns + "net", "--mount=" + ns + "mnt"}, argv...)...)
		}
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
		// conmon, started by podman, writes a file "oom" into the
		// directory it runs in when it sees an OOM kill: the test's.
		cmd.Dir = dir
		return cmd
	}
	podman := func(rt ociRuntime, args ...string) *exec.Cmd { return podmanIn(0, rt, args...) }
	if r := run(t, podman(ociRuntime{}, "import", rootfsTarball(t, dir), podmanImage)); r.code != 0 {
		t.Fatalf("podman import: %s", r)
	}

	runFlags := []string{"--cgroup-parent", "/" + parent,
		// Root here lacks CAP_SYS_RESOURCE: podman's default limits
		// cannot be set (GUIDE.md, machine notes).
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

	cliRoundTrips(t, cliEngine{
		cli:      podman,
		image:    podmanImage,
		runFlags: func(ociRuntime) []string { return runFlags },
		top:      []string{"pid", "args"},
		// Neither engineMountNS nor the paths hold a single quote.
		shell: func(rt ociRuntime, args ...string) string {
			return "CONTAINERS_CONF=" + conf + " unshare --mount --propagation private sh -c '" + engineMountNS + "' sh " +
				strings.Join(podmanArgv(rt, args...), " ")
		},
		runtimeRoot: runtimeRoot,
		// conmon 2.1.6 sees the OOM kill (it writes its file "oom" into
		// its working directory), but podman 4.3 reports OOMKilled false
		// here with runc and crun too.
		oomReported: false,
	})

	// podman's default network: netavark makes a bridge and a veth and
	// hands the runtime the container's network namespace by path. It
	// runs in a network namespace of this subtest's own, so that its
	// bridge, iptables rules and ip_forward meet no other test.
	t.Run("default network", func(t *testing.T) {
		// One mount namespace for all the commands too: podman keeps
		// the network namespace it made as a bind mount under /run/netns.
		const setup = `! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified || exit 125
ip link set lo up && echo ready && exec sleep 1000000`
		holder := start(t, command(t, "unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", setup))
		holder.waitLine(t, "ready")
		netns := holder.cmd.Process.Pid
		forEachRuntime(t, func(t *testing.T, rt ociRuntime) {
			pm := func(args ...string) result { t.Helper(); return run(t, podmanIn(netns, rt, args...)) }
			name := rt.name + "-bridged"
			t.Cleanup(func() { _ = run(t, podmanIn(netns, rt, "rm", "--force", "--time", "0", name)) })
			args := append(append([]string{"run", "-d", "--name", name}, runFlags...), podmanImage,
				"sh", "-c", "echo ready; while :; do sleep 0.1; done")
			wantExit(t, pm(args...), 0)
			waitFor(t, name+" logs ready", func() bool { return strings.Contains(pm("logs", name).stdout, "ready\n") })

			// Inside: eth0 with the address podman gave it, and a
			// default route through the bridge.
			r := pm("inspect", "--format", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}}", name)
			wantExit(t, r, 0)
			addr, gw, _ := strings.Cut(strings.TrimSpace(r.stdout), " ")
			if addr == "" || gw == "" {
				t.Fatalf("podman inspect gives address %q, gateway %q", addr, gw)
			}
			r = pm("exec", name, "sh", "-c", "ip -4 -o addr show eth0; ip route show default")
			wantExit(t, r, 0)
			if !strings.Contains(r.stdout, " "+addr+"/") || !strings.Contains(r.stdout, "default via "+gw+" ") {
				t.Errorf("the container's eth0 and route do not match podman's %s via %s:\n%s", addr, gw, r.stdout)
			}
			// From the namespace podman calls the host: the container
			// answers on its address.
			ping := command(t, "nsenter", "--net="+fmt.Sprintf("/proc/%d/ns/net", netns), busybox, "ping", "-c", "1", "-W", "5", addr)
			wantExit(t, run(t, ping), 0)
			wantExit(t, pm("rm", "--force", "--time", "0", name), 0)
		})
	})

	// A user namespace, as podman hands one to the runtime with --uidmap
	// and --gidmap: root inside is the mapped ID on the host, and a
	// volume's file made by the container's root is that ID's. (podman
	// 4.3 refuses --userns=keep-id itself as root: "only supported in
	// rootless mode", with every runtime.)
	t.Run("uidmap", func(t *testing.T) {
		forEachRuntime(t, func(t *testing.T, rt ociRuntime) {
			vol := mappedVolume(t)
			m := fmt.Sprintf("0:%d:%d", nsHostBase, nsSize)
			// --network none: podman's default network would make its
			// bridge and rules in the suite's namespace, where the
			// network tests that follow look at the routes and tables.
			args := append(append([]string{"run", "--rm", "-i", "--network", "none", "--uidmap", m, "--gidmap", m, "-v", vol + ":/vol"}, runFlags...),
				podmanImage, "sh", "-c", mappedScript)
			runMapped(t, podman(rt, args...), vol)
		})
	})

	// --userns=container:X, how podman shares a user namespace between
	// containers (a pod's with --userns too): the second container's
	// config joins the first's user namespace by path, with its maps.
	t.Run("userns container", func(t *testing.T) {
		forEachRuntime(t, func(t *testing.T, rt ociRuntime) {
			m := fmt.Sprintf("0:%d:%d", nsHostBase, nsSize)
			owner := rt.name + "-usernsowner"
			t.Cleanup(func() { _ = run(t, podman(rt, "rm", "--force", "--time", "0", owner)) })
			args := append(append([]string{"run", "-d", "--name", owner, "--network", "none", "--uidmap", m, "--gidmap", m}, runFlags...),
				podmanImage, "sleep", "1000000")
			wantExit(t, run(t, podman(rt, args...)), 0)
			r := run(t, podman(rt, "inspect", "--format", "{{.State.Pid}}", owner))
			wantExit(t, r, 0)
			pid, err := strconv.Atoi(strings.TrimSpace(r.stdout))
			if err != nil {
				t.Fatalf("podman inspect gives PID %q", r.stdout)
			}
			want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
			if err != nil {
				t.Fatal(err)
			}
			args = append(append([]string{"run", "--rm", "-i", "--network", "none", "--userns", "container:" + owner}, runFlags...),
				podmanImage, "sh", "-c", "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user")
			cmd := podman(rt, args...)
			cmd.Stdin = strings.NewReader("") // as runMapped: not the host's /dev/null
			r = run(t, cmd)
			wantExit(t, r, 0)
			if got := strings.Fields(r.stdout); len(got) != 5 || got[0] != "0" || got[2] != fmt.Sprint(nsHostBase) || got[4] != want {
				t.Errorf("inside: got %q, want uid 0, the map 0 %d %d and the first container's user namespace %s", r.stdout, nsHostBase, nsSize, want)
			}
		})
	})

	// podman kube play of a two-container pod, the Kubernetes pod shape on
	// one machine: the containers join the pod's network namespace (its
	// infra container's, by path), where the client reaches the server
	// on 127.0.0.1.
	t.Run("kube play", func(t *testing.T) {
		forEachRuntime(t, func(t *testing.T, rt ociRuntime) {
			pod := "duo-" + rt.name
			yaml := duoPod(pod)
			file := filepath.Join(dir, pod+".yaml")
			if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			r := run(t, podman(rt, "kube", "play", "--network", "none", file))
			// A pod's cgroup is /libpod_parent/ID (kube play takes no
			// cgroup parent): that one goes at the end, and the
			// shared parent if it is then empty.
			if f := strings.Fields(r.stdout); len(f) > 1 && f[0] == "Pod:" {
				podCgroup := "libpod_parent/" + f[1]
				t.Cleanup(func() {
					removeCgroups(t, podCgroup)
					removeHiddenCgroupDirs(t, podCgroup)
					for _, d := range append(globOrNil("/sys/fs/cgroup/*/libpod_parent"), "/sys/fs/cgroup/libpod_parent") {
						_ = unix.Rmdir(d) // busy, or missing: another pod's, or none
					}
					// The same under the hidden cgroup2 mount point, if empty.
					_ = run(t, command(t, "unshare", "--mount", "--propagation", "private", "sh", "-c",
						"umount /sys/fs/cgroup/unified 2>/dev/null; rmdir /sys/fs/cgroup/unified/libpod_parent 2>/dev/null; true"))
				})
			}
			t.Cleanup(func() { _ = run(t, podman(rt, "pod", "rm", "--force", "--time", "0", pod)) })
			wantExit(t, r, 0)
			wantExit(t, run(t, podman(rt, "wait", pod+"-client", pod+"-server")), 0)
			wantOutput(t, run(t, podman(rt, "logs", pod+"-client")), "hello-from-server\n")
			wantExit(t, run(t, podman(rt, "pod", "rm", pod)), 0)
		})
	})
}

// globOrNil is filepath.Glob for a pattern known to be well formed.
func globOrNil(pattern string) []string {
	m, _ := filepath.Glob(pattern) // only a malformed pattern fails
	return m
}

// podmanConf writes the only containers.conf podman reads, in dir: limits
// within what root may set here (it lacks CAP_SYS_RESOURCE; GUIDE.md,
// machine notes) for what takes no --ulimit, as kube play.
func podmanConf(t *testing.T, dir string) string {
	t.Helper()
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// duoPod is the YAML of a two-container pod for podman kube play: a server
// on port 8080 and a client that reaches it on the pod's 127.0.0.1.
func duoPod(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  containers:
  - name: server
    image: %s
    command: ["/bin/sh", "-c", "echo hello-from-server | nc -l -p 8080"]
    env: [{name: PATH, value: /usr/sbin:/usr/bin:/sbin:/bin}]
  - name: client
    image: %s
    command: ["/bin/sh", "-c", "until nc 127.0.0.1 8080; do sleep 0.1; done"]
    env: [{name: PATH, value: /usr/sbin:/usr/bin:/sbin:/bin}]
`, name, podmanImage, podmanImage)
}
