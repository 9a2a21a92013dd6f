package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ccontainer/ccontainer/bench/record"
	"golang.org/x/sys/unix"
)

// An ociRuntime is an OCI runtime the engines are told to run containers with.
type ociRuntime struct{ name, path string }

// engineRuntimes returns crun, runc and ccsuper, the last only once it has
// the OCI command line (`ccsuper features` answers); what is left out is noted.
func (b *bench) engineRuntimes() []ociRuntime {
	var rts []ociRuntime
	for _, name := range []string{"crun", "runc"} {
		if p, ok := b.tool(name); ok {
			rts = append(rts, ociRuntime{name, p})
		}
	}
	if out, err := output(b.ccsuper, "features"); err != nil || !strings.Contains(out, "ociVersionMin") {
		if b.ociMissing == "" {
			b.ociMissing = fmt.Sprintf("ccsuper is left out of the engine comparisons: it has no OCI command line yet (`ccsuper features`: %v)", err)
			b.note("%s", b.ociMissing)
		}
		return rts
	}
	return append(rts, ociRuntime{"ccsuper", b.ccsuper})
}

// dockerRuntimeArgs registers, on dockerd's command line, the runtimes the
// engine comparisons pick with `docker run --runtime NAME`; runc is dockerd's
// own default.
func (b *bench) dockerRuntimeArgs() []string {
	var args []string
	for _, rt := range b.engineRuntimes() {
		if rt.name != "runc" {
			args = append(args, "--add-runtime", rt.name+"="+rt.path)
		}
	}
	return args
}

// shadowDockerHostDirs covers, in the suite's throwaway mount namespace, the
// two host directories Docker writes to whatever its flags say: dockerd 20.10
// writes /etc/docker/key.json, and the containerd it starts makes
// /opt/containerd. /etc/docker becomes a directory of the work dir, /opt an
// empty tmpfs; the host's stay as they were.
func (b *bench) shadowDockerHostDirs() error {
	etc := filepath.Join(b.work, "etc-docker")
	if err := os.MkdirAll(etc, 0o700); err != nil {
		return fmt.Errorf("private /etc/docker: %w", err)
	}
	if _, err := os.Stat("/etc/docker"); err == nil {
		if err := unix.Mount(etc, "/etc/docker", "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("private /etc/docker: %w", err)
		}
	}
	if err := unix.Mount("tmpfs", "/opt", "tmpfs", 0, "mode=755"); err != nil {
		return fmt.Errorf("private /opt: %w", err)
	}
	return nil
}

// engineContenders time, in each round, the engine starting a container
// that runs /bin/true with one runtime, start to exit ("start"), and running
// /bin/true in a container of that runtime already running ("exec"): two
// contenders, so that a runtime whose exec fails still has its starts. A
// nil exec leaves the exec contender out.
func engineContenders(rt ociRuntime, start, exec []string) []contender {
	metric := func(key string, argv []string) contender {
		return contender{name: rt.name, command: strings.Join(argv, " "), run: func() (map[string]float64, error) {
			d, err := timeArgv(argv)
			return map[string]float64{key: ms(d)}, err
		}}
	}
	if exec == nil {
		return []contender{metric("start", start)}
	}
	return []contender{metric("start", start), metric("exec", exec)}
}

// engineSections compares the OCI runtimes under each real engine: podman,
// containerd (ctr through the io.containerd.runc.v2 shim with BinaryName set,
// the Kubernetes path) and Docker.
func engineSections(b *bench) ([]record.Section, error) {
	rts := b.engineRuntimes()
	if len(rts) == 0 {
		return nil, errors.New("no OCI runtime to compare")
	}
	rounds, warmup := 30, 3
	if b.quick {
		rounds, warmup = 10, 2
	}
	engines := []struct {
		name, what string
		setup      func([]ociRuntime) ([]contender, error)
	}{
		{"podman", "podman run --rm --network none --runtime PATH; podman exec", b.podmanEngine},
		{"containerd", "ctr run --rm --runtime io.containerd.runc.v2 --runc-binary PATH (overlayfs snapshotter); ctr task exec", b.containerdEngine},
		{"docker", "docker run --rm --network none --runtime NAME (runtimes added with dockerd --add-runtime); docker exec", b.dockerEngine},
	}
	var secs []record.Section
	for _, e := range engines {
		cs, err := e.setup(rts)
		if err != nil {
			b.note("engine %s is skipped: %v", e.name, err)
			continue
		}
		series := b.interleave("engines-"+e.name, rounds, warmup, cs)
		about := "Per round and runtime, in a shuffled order: " + e.what + ". Start is the wall time of the client " +
			"command from fork to reap, running /bin/true in a new container on an image of the Debian rootfs; " +
			"exec runs /bin/true in a container of the same runtime kept running. crun is the baseline."
		secs = append(secs,
			record.Section{ID: "engines-" + e.name + "-start", Title: e.name + ": start to exit of /bin/true, per OCI runtime",
				About: about, Unit: "ms", Baseline: "crun", Rounds: rounds, Series: series["start"]},
			record.Section{ID: "engines-" + e.name + "-exec", Title: e.name + ": exec of /bin/true, per OCI runtime",
				About: about, Unit: "ms", Baseline: "crun", Rounds: rounds, Series: series["exec"]})
	}
	return secs, nil
}

// podmanEngine returns podman's contenders, one container per runtime kept
// running for exec.
func (b *bench) podmanEngine(rts []ociRuntime) ([]contender, error) {
	pm, ok := b.podmanCLI()
	if !ok {
		return nil, errors.New("podman is unavailable (noted)")
	}
	var cs []contender
	for _, rt := range rts {
		name := fmt.Sprintf("ccbench-%d-exec-%s", os.Getpid(), rt.name)
		// podmanRun registers the cgroup parent's removal: before the
		// container's, so that it runs after it.
		start := b.podmanRun(pm, rt.path, []string{"--rm", "--network", "none"}, "/bin/true")
		exec := append(append([]string{}, pm...), "exec", name, "/bin/true")
		b.onClose(func() error { _, err := output(append(pm, "rm", "--force", "--time", "0", name)...); return err })
		if _, err := output(b.podmanRun(pm, rt.path, []string{"-d", "--name", name, "--network", "none"}, "sleep", "infinity")...); err != nil {
			b.note("podman exec with %s is left out: no container to exec in: %v", rt.name, err)
			exec = nil
		}
		cs = append(cs, engineContenders(rt, start, exec)...)
	}
	return cs, nil
}

// dockerEngine returns Docker's contenders, one container per runtime kept
// running for exec.
func (b *bench) dockerEngine(rts []ociRuntime) ([]contender, error) {
	d, ok := b.dockerCLI()
	if !ok {
		return nil, errors.New("Docker is unavailable (noted)")
	}
	docker := func(args ...string) []string { return append(append([]string{}, d...), args...) }
	var cs []contender
	for _, rt := range rts {
		name := fmt.Sprintf("ccbench-%d-exec-%s", os.Getpid(), rt.name)
		exec := docker("exec", name, "/bin/true")
		b.onClose(func() error { _, err := output(docker("rm", "--force", name)...); return err })
		if _, err := output(docker("run", "-d", "--name", name, "--runtime", rt.name, "--network", "none", image, "sleep", "infinity")...); err != nil {
			b.note("docker exec with %s is left out: no container to exec in: %v", rt.name, err)
			exec = nil
		}
		cs = append(cs, engineContenders(rt, docker("run", "--rm", "--runtime", rt.name, "--network", "none", image, "/bin/true"), exec)...)
	}
	return cs, nil
}

// containerdImage is what the OCI archive of the rootfs is called in containerd.
const containerdImage = "ccbench.local/debian:latest"

// containerdEngine starts a private containerd (root in the work dir, state
// and socket in the throwaway /run, the CRI plugin off), imports the rootfs
// as an OCI archive written by scripts/mkimage-oci.sh, and returns ctr's
// contenders, one task per runtime kept running for exec.
func (b *bench) containerdEngine(rts []ociRuntime) ([]contender, error) {
	for _, name := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(name); err != nil {
			return nil, fmt.Errorf("%s is not installed (scripts/engine-deps.sh)", name)
		}
	}
	run := "/run/ccbench-containerd"
	sock := filepath.Join(run, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(b.work, "containerd"), filepath.Join(run, "state"), sock, sock+".ttrpc")
	if err := os.MkdirAll(run, 0o755); err != nil {
		return nil, fmt.Errorf("containerd dir: %w", err)
	}
	configPath := filepath.Join(run, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, fmt.Errorf("containerd config: %w", err)
	}
	logPath := filepath.Join(b.work, "containerd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("containerd log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command("containerd", "--config", configPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	b.logf("starting containerd (log %s)", logPath)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	b.onClose(func() error { return stopDaemon("containerd", cmd) })

	// The ctr namespace is also the containers' cgroup parent.
	ns := b.ownCgroup(fmt.Sprintf("ccbench-%d-containerd", os.Getpid()))
	ctr := func(args ...string) []string {
		return append([]string{"ctr", "--address", sock, "--namespace", ns}, args...)
	}
	for i := 0; ; i++ {
		if _, err := output("ctr", "--address", sock, "version"); err == nil {
			break
		} else if i == 120 {
			return nil, fmt.Errorf("containerd did not answer within a minute: %w (see %s)", err, logPath)
		}
		time.Sleep(500 * time.Millisecond)
	}
	tar, _, err := b.rootfsTar()
	if err != nil {
		return nil, err
	}
	archive := filepath.Join(b.work, "rootfs-oci.tar")
	if _, err := output("scripts/mkimage-oci.sh", tar, containerdImage, archive); err != nil {
		return nil, fmt.Errorf("OCI archive (run from the repository's top directory): %w", err)
	}
	if _, err := output(ctr("images", "import", archive)...); err != nil {
		return nil, err
	}

	var cs []contender
	for _, rt := range rts {
		runArgs := func(flags ...string) []string {
			return append(ctr(append([]string{"run", "--runtime", "io.containerd.runc.v2", "--runc-binary", rt.path,
				"--runc-root", filepath.Join(run, "runtime-"+rt.name)}, flags...)...), containerdImage)
		}
		held := "exec-" + rt.name
		exec := ctr("task", "exec", "--exec-id", "bench", held, "/bin/true")
		// Shims outlive containerd: the task goes before the daemon.
		b.onClose(func() error {
			_, _ = output(ctr("task", "delete", "--force", held)...) // no task when it failed to start
			_, err := output(ctr("container", "delete", held)...)
			return err
		})
		if _, err := output(append(runArgs("-d", "--null-io"), held, "sleep", "infinity")...); err != nil {
			b.note("ctr task exec with %s is left out: no task to exec in: %v", rt.name, err)
			exec = nil
		}
		cs = append(cs, engineContenders(rt, append(runArgs("--rm"), "start-"+rt.name, "/bin/true"), exec)...)
	}
	return cs, nil
}

// stopDaemon ends a daemon the suite started by its PID and waits for it.
func stopDaemon(name string, cmd *exec.Cmd) error {
	_ = cmd.Process.Signal(syscall.SIGTERM) // it may have died on its own; Wait says
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill() // the grace is over
		<-done
		return errors.New(name + " ignored SIGTERM for 30 s and was killed; PID " + strconv.Itoa(cmd.Process.Pid))
	}
}
