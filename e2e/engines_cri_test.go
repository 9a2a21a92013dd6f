package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// The pod has the node's network (the suite's throwaway one), so no CNI
// plugin is involved; its cgroups go under a parent named for the test. Like
// Docker's, this test needs what `make test-engines` installs (crictl is
// built from its Go module by scripts/engine-deps.sh all).
func TestEngineKubernetesCRI(t *testing.T) {
	needAllEngines(t)
	for _, name := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "crictl"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s is not installed (scripts/engine-deps.sh all installs it)", name)
		}
	}
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
`, criPauseImage, filepath.Join(dir, "cni-bin"), filepath.Join(dir, "cni-conf"))
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
	sock := startContainerd(t, dir, cri.String())

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
		// As kubelet asks by default, except for the network: IPC
		// shared in the pod (POD, 0: the containers join the sandbox's
		// by path), a PID namespace per container (CONTAINER, 1), and
		// the node's network (NODE, 2) so that no CNI plugin is needed.
		// The pod's and each container's config both say it.
		namespaces := map[string]any{"namespace_options": map[string]any{"ipc": 0, "pid": 1, "network": 2}}
		pod := writeJSON("pod-"+rt.name+".json", map[string]any{
			"metadata":      map[string]any{"name": "pod-" + rt.name, "namespace": "default", "uid": "uid-" + rt.name, "attempt": 1},
			"log_directory": logs,
			"linux": map[string]any{
				"cgroup_parent":    "/" + parent,
				"security_context": namespaces,
			},
		})
		const script = `trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done`
		ctrConfig := writeJSON("ctr-"+rt.name+".json", map[string]any{
			"metadata": map[string]any{"name": "app"},
			"image":    map[string]any{"image": containerdImage},
			"command":  []string{"sh", "-c", script},
			"envs":     []map[string]string{{"key": "GREETING", "value": "hello"}},
			"log_path": "app.log",
			"linux":    map[string]any{"security_context": namespaces},
		})

		r := crictl("runp", "--runtime", rt.name, pod)
		wantExit(t, r, 0)
		podID := strings.TrimSpace(r.stdout)
		t.Cleanup(func() {
			_ = run(t, command(t, "crictl", "--config", crictlConfig, "stopp", podID))
			_ = run(t, command(t, "crictl", "--config", crictlConfig, "rmp", "--force", podID))
		})
		// The sandbox itself runs on the handler's runtime.
		wantRuntimeState(t, rt, filepath.Join(runtimeRoot(rt), "k8s.io"), podID, inspectPID(t, crictl("inspectp", podID)))

		r = crictl("create", podID, ctrConfig, pod)
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
	})
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
