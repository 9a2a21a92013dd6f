package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// image is the name of the rootfs imported into Docker and podman.
const image = "ccbench-debian"

// Docker's engine runs in the throwaway namespace with its own socket, exec
// root and data root, so it neither meets nor changes a Docker the machine
// may have.
const (
	dockerSock    = "/run/ccbench-docker.sock"
	dockerExec    = "/run/ccbench-docker"
	podmanRunroot = "/run/ccbench-podman"
)

// dockerd is the engine the suite started.
type dockerd struct {
	cmd *exec.Cmd
	cli string // the docker client
}

// dockerCLI returns the argv prefix of a docker client talking to the
// suite's engine, starting the engine and importing the image on first use;
// false when Docker is unavailable (noted).
func (b *bench) dockerCLI() ([]string, bool) {
	if b.docker != nil {
		return []string{b.docker.cli, "-H", "unix://" + dockerSock}, true
	}
	if !b.dockerOK {
		return nil, false
	}
	b.dockerOK = false
	engine, ok := b.tool("dockerd")
	if !ok {
		return nil, false
	}
	// Debian's client matches Debian's engine; another on PATH works too.
	cli := "/usr/bin/docker"
	if _, err := os.Stat(cli); err != nil {
		if cli, ok = b.tool("docker"); !ok {
			return nil, false
		}
	}
	if err := b.startDocker(engine, cli); err != nil {
		b.note("Docker is skipped: %v", err)
		return nil, false
	}
	b.dockerOK = true
	return b.dockerCLI()
}

func (b *bench) startDocker(engine, cli string) error {
	tar, fresh, err := b.rootfsTar()
	if err != nil {
		return err
	}
	if err := b.shadowDockerHostDirs(); err != nil {
		return err
	}
	logPath := filepath.Join(b.work, "dockerd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("dockerd log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(engine, "--data-root", filepath.Join(b.work, "docker"), "--exec-root", dockerExec,
		"--pidfile", dockerExec+".pid", "-H", "unix://"+dockerSock, "--cgroup-parent", "/"+b.cgroupParent("docker"))
	cmd.Args = append(cmd.Args, b.dockerRuntimeArgs()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	b.logf("starting dockerd (log %s)", logPath)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	d := &dockerd{cmd: cmd, cli: cli}
	b.onClose(d.stop)
	docker := []string{cli, "-H", "unix://" + dockerSock}
	ready := false
	for range 120 {
		if _, err := output(append(docker, "version")...); err == nil {
			ready = true
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !ready {
		return fmt.Errorf("dockerd did not answer within a minute; see %s", logPath)
	}
	b.docker = d
	if _, err := output(append(docker, "image", "inspect", image)...); err == nil && !fresh {
		return nil
	}
	_, _ = output(append(docker, "image", "rm", "-f", image)...) // an older import, if any
	b.logf("docker import of the rootfs")
	if _, err := output(append(docker, "import", tar, image)...); err != nil {
		return fmt.Errorf("docker import: %w", err)
	}
	return nil
}

// stop ends the engine by its PID and waits for it; dockerd stops the
// containerd it started.
func (d *dockerd) stop() error { return stopDaemon("dockerd", d.cmd) }

// podmanCLI returns podman's argv prefix, with storage under the work dir
// and its run root in the throwaway /run, importing the image on first use.
func (b *bench) podmanCLI() ([]string, bool) {
	if b.podman != nil {
		return b.podman, true
	}
	if !b.podmanOK {
		return nil, false
	}
	b.podmanOK = false
	p, ok := b.tool("podman")
	if !ok {
		return nil, false
	}
	argv := []string{p, "--root", filepath.Join(b.work, "podman"), "--runroot", podmanRunroot,
		"--cgroup-manager", "cgroupfs", "--events-backend", "file"}
	tar, fresh, err := b.rootfsTar()
	if err != nil {
		b.note("podman is skipped: %v", err)
		return nil, false
	}
	if _, err := output(append(argv, "image", "exists", image)...); err != nil || fresh {
		_, _ = output(append(argv, "image", "rm", "-f", image)...) // an older import, if any
		b.logf("podman import of the rootfs")
		if _, err := output(append(argv, "import", tar, image)...); err != nil {
			b.note("podman is skipped: %v", err)
			return nil, false
		}
	}
	b.podman, b.podmanOK = argv, true
	return argv, true
}

// podmanRun is podman's argv to run args in a new container; the ulimits
// are needed here because root lacks CAP_SYS_RESOURCE (GUIDE.md).
func (b *bench) podmanRun(podman []string, runtime string, extra []string, args ...string) []string {
	argv := append([]string{}, podman...)
	argv = append(argv, "run", "--runtime", runtime, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"--cgroup-parent", "/"+b.cgroupParent("podman"))
	argv = append(argv, extra...)
	return append(append(argv, image), args...)
}

// rootfsTar returns a tarball of the rootfs for docker and podman import,
// made again when the rootfs was rebuilt since (fresh is then true).
func (b *bench) rootfsTar() (path string, fresh bool, err error) {
	path = filepath.Join(b.work, "rootfs.tar")
	marker, err := os.Stat(filepath.Join(b.rootfs, "etc/ccontainer-bench-rootfs"))
	if err != nil {
		return "", false, fmt.Errorf("rootfs marker (make rootfs-debian): %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.ModTime().After(marker.ModTime()) {
		return path, false, nil
	}
	b.logf("tar of the rootfs for docker and podman import")
	tmp := path + ".tmp"
	if _, err := output("tar", "-C", b.rootfs, "--exclude", "."+fileioDir, "--exclude", "."+initDir, "-cf", tmp, "."); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("rootfs tar: %w", err)
	}
	return path, true, nil
}

// bundle writes an OCI bundle that runs args on the rootfs (read-only, the
// default of the spec; nothing measured writes to it) and returns its
// directory. The spec is the one
// `runc spec` (or `crun spec`) writes, with root, args and terminal changed.
func (b *bench) bundle(name string, args ...string) (string, error) {
	dir := filepath.Join(b.work, "oci", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("bundle dir: %w", err)
	}
	tool, ok := b.tool("runc")
	if !ok {
		if tool, ok = b.tool("crun"); !ok {
			return "", errors.New("neither runc nor crun is installed to write a spec")
		}
	}
	_ = os.Remove(filepath.Join(dir, "config.json")) // spec refuses to overwrite
	cmd := exec.Command(tool, "spec")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s spec: %w: %s", tool, err, lastLine(out))
	}
	path := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read spec: %w", err)
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return "", fmt.Errorf("parse spec: %w", err)
	}
	spec["root"] = map[string]any{"path": b.rootfs, "readonly": true}
	proc, ok := spec["process"].(map[string]any)
	if !ok {
		return "", errors.New("spec has no process")
	}
	proc["terminal"] = false
	proc["args"] = args
	out, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return "", fmt.Errorf("encode spec: %w", err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", fmt.Errorf("write spec: %w", err)
	}
	return dir, nil
}

// cgroupParent names the cgroup, unique on this machine, under which a
// runtime that would otherwise leave its parent cgroup (docker/,
// libpod_parent/) behind in the host's hierarchies creates its containers;
// close removes it.
func (b *bench) cgroupParent(runtime string) string {
	return b.ownCgroup(fmt.Sprintf("ccbench-%d-%s", os.Getpid(), runtime))
}

// ownCgroup registers a cgroup name a runtime may create, for close to
// remove it, and returns the name.
func (b *bench) ownCgroup(name string) string {
	if !b.cgroups[name] {
		b.cgroups[name] = true
		b.onClose(func() error { return removeCgroup(name) })
	}
	return name
}

// removeCgroup removes the cgroup name, and what is left under it, from
// every hierarchy, deepest first. /sys/fs/cgroup/unified is a plain
// directory of the host's cgroup tmpfs once the suite has unmounted cgroup2
// there, and crun still makes its cgroups in it (as files, hidden on the
// host under the cgroup2 mount): those are removed as files.
func removeCgroup(name string) error {
	dirs, err := filepath.Glob("/sys/fs/cgroup/*/" + name)
	if err != nil {
		return err
	}
	var errs []error
	for _, top := range dirs {
		var st unix.Statfs_t
		if err := unix.Statfs(top, &st); err == nil && st.Type == unix.TMPFS_MAGIC {
			if err := os.RemoveAll(top); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", top, err))
			}
			continue
		}
		var all []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error { // unreadable parts show in the rmdir below
			if err == nil && d.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		// conmon double-forks: its exited copy is reparented to the
		// machine's init, which may take seconds to reap it, and the
		// zombie keeps its cgroup busy until then.
		deadline := time.Now().Add(30 * time.Second)
		for i := len(all) - 1; i >= 0; i-- {
			err := os.Remove(all[i])
			for errors.Is(err, unix.EBUSY) && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				err = os.Remove(all[i])
			}
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// ociID names an OCI container uniquely on this machine: runc and crun keep
// their state under the throwaway /run, but their cgroups are the host's,
// and are removed on close if the runtime left them.
func (b *bench) ociID(what string, n int) string {
	return b.ownCgroup("ccbench-" + strconv.Itoa(os.Getpid()) + "-" + what + "-" + strconv.Itoa(n))
}
