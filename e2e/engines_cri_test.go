package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// criPauseImage is the pod sandbox image: the suite's rootfs with a command
// that keeps running, as a pause image's does.
const criPauseImage = "ccontainer.local/e2e-pause:latest"

// TestEngineKubernetesCRI runs a pod the way kubelet does, through the CRI
// plugin of a private containerd, once per OCI runtime: each runtime is a
// runtime handler in the CRI config (runtime_type io.containerd.runc.v2 with
// BinaryName in its options, docs/kubernetes.md), and the pod names it as a
// RuntimeClass would (`crictl runp --runtime HANDLER`). crictl, the CRI's
// own client, plays kubelet: runp, create, start, exec -s, logs, inspect,
// stop, rm, stopp, rmp.
//
// The pod has a network of its own made by CNI plugins (Debian's
// containernetworking-plugins: bridge, host-local, loopback; criCNIConfig):
// the sandbox gets an address, and a second container of the pod serves on
// the pod's loopback, which the first reaches, and on the pod's address,
// which the node reaches. containerd runs in a network namespace of this
// test's own, where the CNI bridge, the veths and the IP forwarding are made
// and die with it; CNI's cache and host-local's leases are in the test's
// directory. The pod's cgroups go under a parent named for the test. Like
// Docker's, this test needs what `make test-engines` installs (crictl is
// built from its Go module by scripts/engine-deps.sh all).
func TestEngineKubernetesCRI(t *testing.T) {
	needAllEngines(t)
	for _, name := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "crictl"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s is not installed (scripts/engine-deps.sh all installs it)", name)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(criCNIBin, plugin)); err != nil {
			t.Skipf("CNI plugin %s: %v (scripts/engine-deps.sh all installs containernetworking-plugins)", plugin, err)
		}
	}
	netns := netNSHolder(t)
	parent := engineCgroupParent("cri")
	runDir := engineRunDir(t, "cri")
	dir := newEngineDir(t, parent)
	runtimeRoot := func(rt ociRuntime) string { return filepath.Join(runDir, rt.name) }

	var cri strings.Builder
	// restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so no
	// oom_score_adj below containerd's own (the sandbox asks for -998).
	fmt.Fprintf(&cri, `[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
`, criPauseImage, criCNIBin, criCNIConfig(t, dir))
	for _, rt := range ociRuntimes() {
		if rt.skip != "" {
			continue
		}
		// What docs/kubernetes.md tells a node's config to say.
		fmt.Fprintf(&cri, `    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s.options]
        BinaryName = %q
        Root = %q
`, rt.name, rt.name, rt.path, runtimeRoot(rt))
	}
	// libcni keeps its cache of results in /var/lib/cni, which it makes:
	// in containerd's mount namespace /var/lib is a directory of the
	// test's. Then the holder's network namespace.
	varLib := filepath.Join(dir, "var-lib")
	if err := os.Mkdir(varLib, 0o755); err != nil {
		t.Fatal(err)
	}
	setup := fmt.Sprintf(`! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified || exit 125
mount --bind %q /var/lib || exit 125
exec nsenter --net=/proc/%d/ns/net "$@"`, varLib, netns)
	sock := startContainerdUnder(t, dir, cri.String(), setup)

	// The CRI plugin keeps its images in containerd's namespace k8s.io.
	ctr := func(args ...string) *exec.Cmd {
		return command(t, "ctr", append([]string{"--address", sock, "--namespace", "k8s.io"}, args...)...)
	}
	tarball := rootfsTarball(t, dir)
	for _, img := range []struct{ name, cmd string }{
		{containerdImage, `["/bin/sh"]`},
		{criPauseImage, `["/bin/sleep","2147483647"]`},
	} {
		archive := filepath.Join(dir, strings.NewReplacer("/", "-", ":", "-").Replace(img.name)+".tar")
		wantExit(t, run(t, command(t, "../scripts/mkimage-oci.sh", tarball, img.name, archive, img.cmd)), 0)
		wantExit(t, run(t, ctr("images", "import", "--snapshotter", "native", archive)), 0)
	}
	crictlConfig := filepath.Join(dir, "crictl.yaml") // not /etc/crictl.yaml
	if err := os.WriteFile(crictlConfig, []byte("runtime-endpoint: unix://"+sock+"\nimage-endpoint: unix://"+sock+"\ntimeout: 30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	crictl := func(args ...string) result {
		t.Helper()
		return run(t, command(t, "crictl", append([]string{"--config", crictlConfig}, args...)...))
	}
	// writeJSON writes v as JSON into dir and returns the file's path.
	writeJSON := func(name string, v any) string {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	forEachRuntime(t, func(t *testing.T, rt ociRuntime) {
		logs := filepath.Join(dir, "pod-logs-"+rt.name)
		// runPod writes the config of pod name+"-"+runtime with the
		// namespace options ns, runs it on the runtime's handler (gone
		// at the test's end), and returns the config and the pod's ID.
		runPod := func(name string, ns map[string]any) (config, id string) {
			t.Helper()
			config = writeJSON(name+"-pod-"+rt.name+".json", map[string]any{
				"metadata":      map[string]any{"name": name + "-" + rt.name, "namespace": "default", "uid": name + "-uid-" + rt.name, "attempt": 1},
				"log_directory": logs,
				"linux": map[string]any{
					"cgroup_parent":    "/" + parent,
					"security_context": ns,
				},
			})
			r := crictl("runp", "--runtime", rt.name, config)
			wantExit(t, r, 0)
			id = strings.TrimSpace(r.stdout)
			t.Cleanup(func() {
				_ = run(t, command(t, "crictl", "--config", crictlConfig, "stopp", id))
				_ = run(t, command(t, "crictl", "--config", crictlConfig, "rmp", "--force", id))
			})
			return config, id
		}
		// As kubelet asks by default: network and IPC shared in the
		// pod (POD, 0: the containers join the sandbox's by path), a
		// PID namespace per container (CONTAINER, 1). The pod's and
		// each container's config both say it.
		namespaces := map[string]any{"namespace_options": map[string]any{"ipc": 0, "pid": 1, "network": 0}}
		const script = `trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done`
		ctrConfig := writeJSON("ctr-"+rt.name+".json", map[string]any{
			"metadata": map[string]any{"name": "app"},
			"image":    map[string]any{"image": containerdImage},
			"command":  []string{"sh", "-c", script},
			"envs":     []map[string]string{{"key": "GREETING", "value": "hello"}},
			"log_path": "app.log",
			"linux":    map[string]any{"security_context": namespaces},
		})

		pod, podID := runPod("pod", namespaces)
		// The sandbox itself runs on the handler's runtime.
		wantRuntimeState(t, rt, filepath.Join(runtimeRoot(rt), "k8s.io"), podID, inspectPID(t, crictl("inspectp", podID)))

		r := crictl("create", podID, ctrConfig, pod)
		wantExit(t, r, 0)
		id := strings.TrimSpace(r.stdout)
		wantExit(t, crictl("start", id), 0)
		waitFor(t, "the container logs ready", func() bool {
			return fileHasLine(filepath.Join(logs, "app.log"), "ready") || strings.Contains(crictl("logs", id).stdout, "ready")
		})
		wantRuntimeState(t, rt, filepath.Join(runtimeRoot(rt), "k8s.io"), id, inspectPID(t, crictl("inspect", id)))

		// ExecSync (kubectl exec without a terminal): the environment
		// and the output come back, and a failure's status (crictl
		// itself then exits 1, saying the status).
		if r := crictl("exec", "-s", id, "sh", "-c", `echo "$GREETING"`); r.code != 0 || strings.TrimSpace(r.stdout) != "hello" { // crictl adds a newline
			t.Errorf("exec -s: got %s\nwant stdout hello", r)
		}
		if r := crictl("exec", "-s", id, "sh", "-c", "exit 4"); r.code != 1 || !strings.Contains(r.stderr, "exited with 4") {
			t.Errorf("exec -s: got %s\nwant status 1 and the command's status 4 in the message", r)
		}

		// The pod's network: the sandbox's address on the CNI
		// bridge is the containers' eth0; a second container serves
		// on port 8080 of the pod, which the first reaches on the
		// pod's loopback and the node on the pod's address.
		podIP := strings.TrimSpace(crictl("inspectp", "--output", "go-template", "--template", "{{.status.network.ip}}", podID).stdout)
		if !strings.HasPrefix(podIP, criPodSubnetPrefix) {
			t.Fatalf("the pod's address is %q, want one in %s*", podIP, criPodSubnetPrefix)
		}
		if _, err := os.Stat(filepath.Join(dir, "cni-ipam", criNetwork, podIP)); err != nil {
			t.Errorf("host-local's lease of the pod's address: %v", err)
		}
		if r := crictl("exec", "-s", id, "ip", "-4", "-o", "addr", "show", "eth0"); !strings.Contains(r.stdout, " "+podIP+"/") {
			t.Errorf("the container's eth0 has not the pod's address %s: %s", podIP, r)
		}
		served := "served by " + rt.name
		serverConfig := writeJSON("server-"+rt.name+".json", map[string]any{
			"metadata": map[string]any{"name": "server"},
			"image":    map[string]any{"image": containerdImage},
			"command":  []string{"sh", "-c", fmt.Sprintf("while :; do echo %q | nc -l -p 8080; done", served)},
			"log_path": "server.log",
			"linux":    map[string]any{"security_context": namespaces},
		})
		r = crictl("create", podID, serverConfig, pod)
		wantExit(t, r, 0)
		server := strings.TrimSpace(r.stdout)
		wantExit(t, crictl("start", server), 0)
		wantRuntimeState(t, rt, filepath.Join(runtimeRoot(rt), "k8s.io"), server, inspectPID(t, crictl("inspect", server)))
		// Until the server listens, nc fails: wait for the answer.
		var last result
		waitFor(t, "the app container reaches the server on the pod's loopback", func() bool {
			last = crictl("exec", "-s", id, "nc", "127.0.0.1", "8080")
			return strings.TrimSpace(last.stdout) == served
		})
		if got := strings.TrimSpace(dialIn(t, netns, podIP+":8080")); got != served {
			t.Errorf("from the node, %s:8080 answers %q, want %q", podIP, got, served)
		}
		wantExit(t, crictl("stop", "--timeout", "0", server), 0)
		wantExit(t, crictl("rm", server), 0)

		// Stopping the container sends SIGTERM, which its trap turns
		// into status 0 well within the timeout.
		wantExit(t, crictl("stop", "--timeout", "30", id), 0)
		r = crictl("inspect", "--output", "go-template", "--template", "{{.status.state}} {{.status.exitCode}}", id)
		wantOutput(t, r, "CONTAINER_EXITED 0\n")
		if !strings.Contains(crictl("logs", id).stdout, "got-term") {
			t.Errorf("the container's log has no got-term: SIGTERM did not reach its trap")
		}
		wantExit(t, crictl("rm", id), 0)
		wantExit(t, crictl("stopp", podID), 0)
		wantExit(t, crictl("rmp", podID), 0)
		if r := crictl("pods", "--quiet", "--id", podID); r.stdout != "" {
			t.Errorf("pod %s still listed after rmp", podID)
		}
		// The pod's veth went with it, and its address back to
		// host-local: only lo and the bridge, and no lease.
		waitFor(t, "only lo and the CNI bridge left", func() bool {
			r := run(t, command(t, "nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", netns), "ip", "-o", "link", "show"))
			return r.code == 0 && strings.Count(r.stdout, "\n") == 2 && strings.Contains(r.stdout, " "+criBridge+":")
		})
		if leases, _ := filepath.Glob(filepath.Join(dir, "cni-ipam", criNetwork, criPodSubnetPrefix+"*")); len(leases) != 0 {
			t.Errorf("host-local still holds %q after rmp", leases)
		}

		// hostPID: true (pid NODE, 2, in the pod's and the container's
		// config): the sandbox and the container in the node's PID
		// namespace, where the container sees a process the test
		// started; a process it leaves behind is gone once it stops
		// (docs/oci.md, "No PID namespace of its own").
		hostNS := map[string]any{"namespace_options": map[string]any{"ipc": 0, "pid": 2, "network": 0}}
		marker := command(t, "sleep", "1000")
		if err := marker.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = marker.Process.Kill(); _ = marker.Wait() })
		hpod, hpodID := runPod("hostpid", hostNS)
		hctr := writeJSON("hostpid-ctr-"+rt.name+".json", map[string]any{
			"metadata": map[string]any{"name": "hostpid"},
			"image":    map[string]any{"image": containerdImage},
			"command": []string{"sh", "-c", fmt.Sprintf(`tr '\0' ' ' </proc/%d/cmdline; echo; sleep 1000 & echo "left $! $(cut -d' ' -f22 /proc/$!/stat)"; while :; do sleep 0.1; done`,
				marker.Process.Pid)},
			"log_path": "hostpid.log",
			"linux":    map[string]any{"security_context": hostNS},
		})
		r = crictl("create", hpodID, hctr, hpod)
		wantExit(t, r, 0)
		hid := strings.TrimSpace(r.stdout)
		wantExit(t, crictl("start", hid), 0)
		var left []string
		waitFor(t, "the hostPID container logs the sleep it leaves", func() bool {
			for _, line := range strings.Split(crictl("logs", hid).stdout, "\n") {
				if f := strings.Fields(line); len(f) == 3 && f[0] == "left" {
					left = f[1:]
					return true
				}
			}
			return false
		})
		if out := crictl("logs", hid).stdout; !strings.Contains(out, "sleep 1000 \n") {
			t.Errorf("the hostPID container does not see the test's sleep %d in its /proc: %q", marker.Process.Pid, out)
		}
		wantExit(t, crictl("stop", "--timeout", "0", hid), 0)
		waitFor(t, fmt.Sprintf("the sleep %s left by the hostPID container gone", left[0]), func() bool {
			return processGone(left[0], left[1])
		})
		wantExit(t, crictl("rm", hid), 0)
		wantExit(t, crictl("stopp", hpodID), 0)
		wantExit(t, crictl("rmp", hpodID), 0)
	})
}

// processGone reports whether the process pid whose start time (field 22
// of /proc/PID/stat) was start has exited: no such PID, a zombie, or
// another process's PID now.
func processGone(pid, start string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil {
		return true
	}
	f := procStatFields(n)
	return len(f) < 20 || f[19] != start || f[0] == "Z"
}

// The CNI network of TestEngineKubernetesCRI's pods.
const (
	criCNIBin          = "/usr/lib/cni" // where Debian's containernetworking-plugins puts them
	criNetwork         = "e2e-pods"
	criBridge          = "cni-e2e0"
	criPodSubnetPrefix = "10.213.8."
)

// criCNIConfig writes the CNI network of the pods, a conflist as a node's
// /etc/cni/net.d would hold, into a directory of dir and returns that
// directory: a bridge with the gateway address, addresses from host-local
// (its leases in dir too), and the pod's loopback.
func criCNIConfig(t *testing.T, dir string) string {
	t.Helper()
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": "%s0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
`, criNetwork, criBridge, filepath.Join(dir, "cni-ipam"), criPodSubnetPrefix)
	confDir := filepath.Join(dir, "cni-conf")
	if err := os.Mkdir(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(confDir, "10-e2e.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return confDir
}

// inspectPID returns the PID in crictl inspect's or inspectp's JSON output,
// 0 (which no check accepts) when it has none.
func inspectPID(t *testing.T, r result) int {
	t.Helper()
	wantExit(t, r, 0)
	var v struct {
		Info struct {
			PID int `json:"pid"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Errorf("crictl inspect output: %v\n%s", err, r.stdout)
	}
	return v.Info.PID
}
