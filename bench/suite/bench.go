package main

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// bench is the state of one suite run: where things are, which peers exist,
// what was started and must be stopped, and the notes for the report.
type bench struct {
	options
	ccinit   string
	tools    map[string]string // name -> path of every peer found
	missing  map[string]bool   // peers already noted as missing
	docker   *dockerd          // started on first use; nil before
	dockerOK bool              // false once starting it failed
	podman   []string          // podman's argv prefix once its image is in; nil before
	podmanOK bool
	cgroups  map[string]bool // cgroup parents handed to runtimes, removed on close
	stops    []func() error  // undo of everything started, run in reverse
	notes    []string
	// ociMissing says why ccsuper is left out of the engine comparisons
	// ("" until that is noted).
	ociMissing string
}

// peers maps each peer command to the Debian package that provides it, for
// the note when it is missing; bench/peers.sh installs the same list.
var peers = map[string]string{
	"bwrap": "bubblewrap", "crun": "crun", "runc": "runc", "systemd-nspawn": "systemd-container",
	"podman": "podman", "conmon": "conmon", "dockerd": "docker.io", "docker": "docker.io",
	"tini-static": "tini", "catatonit": "catatonit", "dumb-init": "dumb-init",
	"sysbench": "sysbench", "iperf3": "iperf3", "ping": "iputils-ping", "ip": "iproute2",
}

// initDir is where the suite puts the other PID 1s inside the rootfs, so a
// chroot can run them.
const initDir = "/usr/local/sbin/ccbench"

// fileioDir is the directory, inside the rootfs, where sysbench fileio runs.
const fileioDir = "/var/tmp/ccbench-fileio"

func newBench(o options) (*bench, error) {
	var err error
	for _, p := range []*string{&o.rootfs, &o.ccsuper, &o.out, &o.work} {
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, fmt.Errorf("path %s: %w", *p, err)
		}
	}
	b := &bench{options: o, tools: map[string]string{}, missing: map[string]bool{}, cgroups: map[string]bool{}, dockerOK: true, podmanOK: true}
	b.ccinit = filepath.Join(filepath.Dir(o.ccsuper), "ccinit")
	for _, p := range []string{o.ccsuper, b.ccinit, filepath.Join(o.rootfs, "usr/bin/sysbench")} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("need %s (make build rootfs-debian): %w", p, err)
		}
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return nil, fmt.Errorf("unshare, the baseline, is missing: %w", err)
	}
	return b, nil
}

// setup prepares what every section shares. Preconditions: in the
// throwaway namespace.
func (b *bench) setup() error {
	// crun refuses the hybrid layout (cgroup2 mounted beside v1); without
	// the cgroup2 mount it sees plain v1, as runc and Docker do anyway. This
	// unmount is in the throwaway mount namespace only.
	if err := unix.Unmount("/sys/fs/cgroup/unified", unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount /sys/fs/cgroup/unified: %w", err)
	}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(b.rootfs, fileioDir), 0o755); err != nil {
		return fmt.Errorf("fileio dir: %w", err)
	}
	// The other PID 1s are copied into the rootfs, so the same chroot runs
	// each of them; Debian's rootfs has the libc catatonit links against.
	if err := os.MkdirAll(filepath.Join(b.rootfs, initDir), 0o755); err != nil {
		return fmt.Errorf("init dir: %w", err)
	}
	for _, name := range []string{"tini-static", "catatonit", "dumb-init"} {
		src, ok := b.tool(name)
		if !ok {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("copy %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(b.rootfs, initDir, name), data, 0o755); err != nil {
			return fmt.Errorf("copy %s: %w", name, err)
		}
	}
	// The yardstick for a Go PID 1 (bench/gofloor), built next to ccsuper by
	// make bench-tools, and ccinit under Docker's name for it, which takes
	// tini's command line and mounts nothing (see pid1Section).
	if data, err := os.ReadFile(filepath.Join(filepath.Dir(b.ccsuper), "gofloor")); err != nil {
		b.note("gofloor is not next to ccsuper (make bench-tools builds it): the Go floor rows are skipped")
	} else if err := os.WriteFile(filepath.Join(b.rootfs, initDir, "gofloor"), data, 0o755); err != nil {
		return fmt.Errorf("copy gofloor: %w", err)
	}
	link := filepath.Join(b.rootfs, initDir, "docker-init")
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("docker-init link: %w", err)
	}
	if err := os.Symlink("/sbin/ccinit", link); err != nil {
		return fmt.Errorf("docker-init link: %w", err)
	}
	return nil
}

// tool returns the path of a peer, noting once that it is missing.
func (b *bench) tool(name string) (string, bool) {
	if p, ok := b.tools[name]; ok {
		return p, true
	}
	p, err := exec.LookPath(name)
	if err != nil {
		if !b.missing[name] {
			b.missing[name] = true
			b.note("%s is not installed: everything that needs it is skipped (Debian package %s; make bench installs it)", name, peers[name])
		}
		return "", false
	}
	b.tools[name] = p
	return p, true
}

// note records something a reader of the report must know, and says it now.
func (b *bench) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.notes = append(b.notes, msg)
	fmt.Fprintf(os.Stderr, "suite: note: %s\n", msg)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "suite: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// onClose registers an undo for close, which runs them in reverse.
func (b *bench) onClose(f func() error) { b.stops = append(b.stops, f) }

// close stops everything the suite started. It may run twice (a signal
// during the deferred call); the second finds nothing left.
func (b *bench) close() {
	for len(b.stops) > 0 {
		f := b.stops[len(b.stops)-1]
		b.stops = b.stops[:len(b.stops)-1]
		if err := f(); err != nil {
			fmt.Fprintf(os.Stderr, "suite: cleanup: %v\n", err)
		}
	}
}

// versions returns the version of every tool the run used, as each reports
// itself, plus ours.
func (b *bench) versions() [][2]string {
	v := [][2]string{{"ccsuper", describe(b.ccsuper)}, {"ccinit", describe(b.ccinit)}}
	cmds := []struct {
		name, tool string
		args       []string
	}{
		{"unshare", "unshare", []string{"--version"}},
		{"bubblewrap", "bwrap", []string{"--version"}},
		{"crun", "crun", []string{"--version"}},
		{"runc", "runc", []string{"--version"}},
		{"systemd-nspawn", "systemd-nspawn", []string{"--version"}},
		{"podman", "podman", []string{"--version"}},
		{"conmon", "conmon", []string{"--version"}},
		{"docker (engine)", "dockerd", []string{"--version"}},
		{"containerd", "containerd", []string{"--version"}},
		{"tini-static", "tini-static", []string{"--version"}},
		{"catatonit", "catatonit", []string{"--version"}},
		{"dumb-init", "dumb-init", []string{"--version"}},
		{"sysbench (host)", "sysbench", []string{"--version"}},
		{"iperf3 (host)", "iperf3", []string{"--version"}},
		{"ping (host)", "ping", []string{"-V"}},
		{"iproute2", "ip", []string{"-V"}},
	}
	for _, c := range cmds {
		p, ok := b.tools[c.tool]
		if !ok {
			if p, ok = lookQuiet(c.tool); !ok {
				continue
			}
		}
		v = append(v, [2]string{c.name, firstLine(exec.Command(p, c.args...).CombinedOutput())})
	}
	v = append(v, [2]string{"sysbench (rootfs)", firstLine(exec.Command("chroot", b.rootfs, "sysbench", "--version").CombinedOutput())})
	v = append(v, [2]string{"rootfs", firstLine(os.ReadFile(filepath.Join(b.rootfs, "etc/ccontainer-bench-rootfs")))})
	return v
}

func lookQuiet(name string) (string, bool) {
	p, err := exec.LookPath(name)
	return p, err == nil
}

// describe names one of our binaries: the commit it was built from when the
// worktree is a git checkout, its Go version and size.
func describe(bin string) string {
	parts := []string{}
	if c, err := exec.Command("git", "-C", filepath.Dir(bin), "describe", "--always", "--dirty").Output(); err == nil {
		parts = append(parts, "commit "+strings.TrimSpace(string(c)))
	}
	if bi, err := buildinfo.ReadFile(bin); err == nil {
		parts = append(parts, bi.GoVersion)
	}
	if st, err := os.Stat(bin); err == nil {
		parts = append(parts, fmt.Sprintf("%d bytes", st.Size()))
	}
	return strings.Join(parts, ", ")
}

// machine describes where the run happens.
func machine() [][2]string {
	osName := "unknown"
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	return [][2]string{
		{"kernel", firstLine(os.ReadFile("/proc/sys/kernel/osrelease"))},
		{"os", osName},
		{"cpu", procField("/proc/cpuinfo", "model name")},
		{"cpus", fmt.Sprint(runtime.NumCPU())},
		{"memory", procField("/proc/meminfo", "MemTotal")},
		{"cgroups", "v1 hybrid on the host; the suite unmounts cgroup2 in its own mount namespace (crun needs that)"},
		{"load at start", firstLine(os.ReadFile("/proc/loadavg"))},
	}
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// firstLine returns the first line of what a read or a command produced, or
// the error in its place: versions are informative, never a reason to stop.
func firstLine(b []byte, err error) string {
	if err != nil && len(b) == 0 {
		return fmt.Sprintf("unknown (%v)", err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(line)
}
