package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ccontainer/ccontainer/bench/record"
)

// A launch is one way of running /bin/true in a container on the rootfs.
type launch struct {
	name string
	argv []string
}

// launches lists every runtime found, each running /bin/true in a new
// container on the same rootfs. Peers that are missing are noted by tool.
func (b *bench) launches() []launch {
	r := b.rootfs
	ls := []launch{
		{"unshare", []string{"unshare", "-p", "-m", "-n", "-u", "-i", "--fork", "chroot", r, "/bin/true"}},
		{"ccsuper --net none", []string{b.ccsuper, "--rootfs", r, "--net", "none", "--", "/bin/true"}},
		{"ccsuper (veth)", []string{b.ccsuper, "--rootfs", r, "--", "/bin/true"}},
	}
	if p, ok := b.tool("bwrap"); ok {
		ls = append(ls, launch{"bubblewrap", []string{p, "--unshare-all", "--die-with-parent", "--bind", r, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"}})
	}
	for _, rt := range []string{"crun", "runc"} {
		p, ok := b.tool(rt)
		if !ok {
			continue
		}
		dir, err := b.bundle("true", "/bin/true")
		if err != nil {
			b.note("%s is skipped: %v", rt, err)
			continue
		}
		// One ID is enough: each run deletes its container before the next.
		ls = append(ls, launch{rt, []string{p, "run", "--bundle", dir, b.ociID(rt, 0)}})
		if rt == "crun" {
			// Like for like with ccsuper, which makes no cgroup unless
			// a limit asks for one: the same run without crun's cgroup.
			ls = append(ls, launch{"crun, no cgroup", []string{p, "--cgroup-manager=disabled", "run", "--bundle", dir, b.ociID(rt, 1)}})
		}
	}
	if p, ok := b.tool("systemd-nspawn"); ok {
		// --register=no --keep-unit: no systemd-machined here (GUIDE.md).
		ls = append(ls, launch{"systemd-nspawn", []string{p, "-q", "--register=no", "--keep-unit", "--private-network", "-D", r, "/bin/true"}})
	}
	if pm, ok := b.podmanCLI(); ok {
		for _, rt := range []string{"crun", "runc"} {
			if _, ok := b.tool(rt); ok {
				ls = append(ls, launch{"podman (" + rt + ")", b.podmanRun(pm, rt, []string{"--rm", "--network", "none"}, "/bin/true")})
			}
		}
	}
	if d, ok := b.dockerCLI(); ok {
		ls = append(ls,
			launch{"docker (bridge)", append(append([]string{}, d...), "run", "--rm", image, "/bin/true")},
			launch{"docker --network none", append(append([]string{}, d...), "run", "--rm", "--network", "none", image, "/bin/true")})
	}
	return ls
}

// startupSections times start-to-exit of /bin/true in every runtime, then
// 100 containers one after another in each.
func startupSections(b *bench) ([]record.Section, error) {
	// Another container keeps the bridge up meanwhile, as docker0 stays up:
	// otherwise every ccsuper run would make and remove its bridge (about
	// 50 ms here, the kernel's RCU grace periods of deleting a device).
	h, err := hold(append([]string{b.ccsuper, "--rootfs", b.rootfs, "--"}, upLine...))
	if err != nil {
		return nil, fmt.Errorf("bridge holder: %w", err)
	}
	defer h.stop()

	ls := b.launches()
	cs := make([]contender, len(ls))
	for i, l := range ls {
		cs[i] = timed(l.name, l.argv)
	}
	rounds, warmup := 50, 5
	if b.quick {
		rounds, warmup = 10, 2
	}
	start := record.Section{
		ID: "startup", Title: "Startup: start to exit of /bin/true", Unit: "ms", Baseline: "unshare", Rounds: rounds,
		About: "Wall time from fork to reap of the runtime's command running /bin/true in a new container on the " +
			"same Debian rootfs. ccsuper (veth) and docker (bridge) get a veth on a bridge that stays up " +
			"(another container holds ccsuper's); the others have no network but loopback. " +
			"podman and Docker run an image imported from the same rootfs.",
		Series: b.interleave("startup", rounds, warmup, cs)[""],
	}

	// The figure crun's README publishes: 100 containers, one after another.
	n := 100
	if b.quick {
		n = 10
	}
	seq := make([]contender, len(ls))
	for i, l := range ls {
		seq[i] = contender{name: l.name, command: fmt.Sprintf("%d × %s", n, strings.Join(l.argv, " ")), run: func() (map[string]float64, error) {
			t0 := time.Now()
			for range n {
				if _, err := timeArgv(l.argv); err != nil {
					return nil, err
				}
			}
			return map[string]float64{"": time.Since(t0).Seconds()}, nil
		}}
	}
	// One round: a batch of Docker's takes minutes on this machine.
	seqRounds := 1
	sequential := record.Section{
		ID: "startup-100", Title: fmt.Sprintf("%d containers one after another", n), Unit: "s", Baseline: "unshare", Rounds: seqRounds,
		About: fmt.Sprintf("Total wall time of %d runs of /bin/true in a row, the figure crun's README publishes "+
			"(there: 100 × `crun run`). Each runtime's batch runs in a shuffled order against the others'.", n),
		Series: b.interleave("startup-100", seqRounds, 0, seq)[""],
	}
	return []record.Section{start, sequential}, nil
}

// pid1Section times the same container with different PID 1s: the unshare
// line, with the command itself as PID 1 or with an init in front of it.
func pid1Section(b *bench) ([]record.Section, error) {
	line := []string{"unshare", "-p", "-m", "-n", "-u", "-i", "--fork", "chroot", b.rootfs}
	type init struct {
		name, tool, path string
		args             []string
	}
	inits := []init{
		{"/bin/true as PID 1", "", "", nil},
		{"ccinit", "", "/sbin/ccinit", []string{"--"}},
		{"ccinit as docker-init", "", initDir + "/docker-init", []string{"--"}},
		{"Go floor: fork, wait", "", initDir + "/gofloor", nil},
		{"Go floor: 61 signals, fork, wait", "", initDir + "/gofloor", []string{"-signals"}},
		{"tini-static", "tini-static", initDir + "/tini-static", []string{"--"}},
		{"catatonit", "catatonit", initDir + "/catatonit", []string{"--"}},
		{"dumb-init", "dumb-init", initDir + "/dumb-init", nil},
	}
	var cs []contender
	for _, in := range inits {
		if in.tool != "" {
			if _, ok := b.tool(in.tool); !ok {
				continue
			}
		}
		if _, err := os.Lstat(filepath.Join(b.rootfs, in.path)); in.path != "" && err != nil {
			continue // gofloor not built: noted in setup (Lstat: docker-init links inside the rootfs)
		}
		argv := append([]string{}, line...)
		if in.path != "" {
			argv = append(append(argv, in.path), in.args...)
		}
		cs = append(cs, timed(in.name, append(argv, "/bin/true")))
	}
	rounds, warmup := 100, 5
	if b.quick {
		rounds, warmup = 20, 2
	}
	return []record.Section{{
		ID: "pid1", Title: "PID 1 overhead: the same container with different inits", Unit: "ms",
		Baseline: "/bin/true as PID 1", Rounds: rounds,
		About: "`unshare -p -m -n -u -i --fork chroot ROOTFS [INIT] /bin/true`: the container is the same each time, " +
			"only what runs as PID 1 differs. ccinit runs standalone here (as tini would), without ccsuper; " +
			"the other inits are Debian's binaries copied into the rootfs under " + filepath.Clean(initDir) + ". " +
			"ccinit as docker-init takes tini's command line and, unlike standalone ccinit, mounts no missing /proc or /sys. " +
			"The Go floor is bench/gofloor: a static Go program that only forks /bin/true and waits, " +
			"and with -signals first asks os/signal for the 61 signals ccinit catches: the least any Go PID 1 pays.",
		Series: b.interleave("pid1", rounds, warmup, cs)[""],
	}}, nil
}
