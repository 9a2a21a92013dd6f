package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ccontainer/ccontainer/bench/record"
)

// perRound is how many containers of each kind are held at once in one round
// of the memory comparison; the round's sample is their mean.
const perRound = 3

// memorySections measures the host memory a running container costs in
// each runtime's resident processes, and the binaries' sizes.
func memorySections(b *bench) ([]record.Section, error) {
	line := []string{"unshare", "-p", "-m", "-n", "-u", "-i", "--fork", "chroot", b.rootfs}
	ccsuper := append([]string{b.ccsuper, "--rootfs", b.rootfs, "--"}, upLine...)
	cs := []contender{
		heldContender("ccsuper", ccsuper, func(pid int) (int, error) { return pid, nil }),
		heldContender("ccinit (PID 1 under ccsuper)", ccsuper, waitChild),
		heldContender("ccinit (standalone PID 1)", append(append(append([]string{}, line...), "/sbin/ccinit", "--"), upLine...), waitChild),
	}
	for _, in := range []struct {
		name string
		args []string
	}{
		{"tini-static", []string{initDir + "/tini-static", "--"}},
		{"catatonit", []string{initDir + "/catatonit", "--"}},
		{"dumb-init", []string{initDir + "/dumb-init"}},
	} {
		if _, ok := b.tool(in.name); ok {
			cs = append(cs, heldContender(in.name, append(append(append([]string{}, line...), in.args...), upLine...), waitChild))
		}
	}
	if pm, ok := b.podmanCLI(); ok {
		if _, ok := b.tool("crun"); ok {
			cs = append(cs, b.podmanMemory(pm))
		}
	}
	if d, ok := b.dockerCLI(); ok {
		cs = append(cs, b.dockerMemory(d))
	}
	rounds := 5
	if b.quick {
		rounds = 2
	}
	got := b.interleave("memory", rounds, 0, cs)
	about := fmt.Sprintf("Per running container, from /proc/PID/smaps_rollup of the runtime's resident processes "+
		"(not the command's), the mean of %d containers held at once, each running `sh -c 'echo up; read x'` "+
		"(podman and Docker: `sleep`). tini-static, catatonit, dumb-init and standalone ccinit are PID 1 of the "+
		"unshare line. podman: conmon only, as crun exits once the container runs. docker: the container's "+
		"containerd-shim plus the growth of dockerd and containerd divided by the containers, so it is noisy. "+
		"PSS shares each page among the processes mapping it, so it is the fairer figure for many containers.", perRound)
	secs := []record.Section{
		{ID: "mem-pss", Title: "Memory per running container: PSS", Unit: "KiB", Baseline: "tini-static", Rounds: rounds, About: about, Series: got["pss"]},
		{ID: "mem-rss", Title: "Memory per running container: RSS", Unit: "KiB", Baseline: "tini-static", Rounds: rounds, About: about, Series: got["rss"]},
	}
	return append(secs, b.sizesSection()), nil
}

// heldContender holds perRound containers started by argv and measures the
// process pick returns from each launcher's PID.
func heldContender(name string, argv []string, pick func(launcher int) (int, error)) contender {
	return contender{name: name, command: shellQuote(argv), run: func() (map[string]float64, error) {
		var hs []*held
		defer func() {
			for _, h := range hs {
				_ = h.stop() // measured already; a failed exit does not change the figure
			}
		}()
		for range perRound {
			h, err := hold(argv)
			if err != nil {
				return nil, err
			}
			hs = append(hs, h)
		}
		var rss, pss float64
		for _, h := range hs {
			pid, err := pick(h.cmd.Process.Pid)
			if err != nil {
				return nil, err
			}
			r, p, err := memory(pid)
			if err != nil {
				return nil, err
			}
			rss, pss = rss+r, pss+p
		}
		return map[string]float64{"rss": rss / perRound, "pss": pss / perRound}, nil
	}}
}

// podmanMemory measures conmon, podman's resident process per container.
func (b *bench) podmanMemory(pm []string) contender {
	argv := b.podmanRun(pm, "crun", []string{"-d", "--network", "none"}, "sleep", "1000")
	return detachedMemory("conmon (podman, crun)", pm, argv, []string{"rm", "-f", "-t", "0"}, "{{.State.ConmonPid}}", memory, nil)
}

// dockerMemory measures what a container adds to Docker: its shim, and the
// engine's growth shared out.
func (b *bench) dockerMemory(d []string) contender {
	argv := append(append([]string{}, d...), "run", "-d", "--network", "none", image, "sleep", "1000")
	shim := func(pid int) (rss, pss float64, err error) {
		parent, err := parentOf(pid)
		if err != nil {
			return 0, 0, err
		}
		return memory(parent)
	}
	engine := func() (rss, pss float64, err error) {
		pids := []int{b.docker.cmd.Process.Pid}
		kids, err := children(pids[0])
		if err != nil {
			return 0, 0, err
		}
		for _, k := range kids {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", k)); strings.TrimSpace(string(comm)) == "containerd" {
				pids = append(pids, k)
			}
		}
		for _, p := range pids {
			r, s, err := memory(p)
			if err != nil {
				return 0, 0, err
			}
			rss, pss = rss+r, pss+s
		}
		return rss, pss, nil
	}
	return detachedMemory("docker (shim + engine growth)", d, argv, []string{"rm", "-f"}, "{{.State.Pid}}", shim, engine)
}

// detachedMemory is a contender that starts perRound containers with argv,
// a detached `run -d` of cli (docker or podman), and measures resident(pid)
// for the PID the inspect format names; shared, when set, measures the
// daemons all containers share, whose growth is divided among them.
func detachedMemory(name string, cli, argv, rm []string, format string,
	resident func(pid int) (rss, pss float64, err error), shared func() (rss, pss float64, err error)) contender {
	return contender{name: name, command: shellQuote(argv), run: func() (map[string]float64, error) {
		var ids []string
		defer func() {
			if len(ids) > 0 {
				_, _ = output(append(append(append([]string{}, cli...), rm...), ids...)...) // best effort; the throwaway namespace ends them anyway
			}
		}()
		if shared == nil {
			shared = func() (float64, float64, error) { return 0, 0, nil }
		}
		r0, p0, err := shared()
		if err != nil {
			return nil, err
		}
		var rss, pss float64
		for range perRound {
			id, pid, err := startDetached(cli, argv, format)
			if id != "" {
				ids = append(ids, id)
			}
			if err != nil {
				return nil, err
			}
			r, p, err := resident(pid)
			if err != nil {
				return nil, err
			}
			rss, pss = rss+r, pss+p
		}
		r1, p1, err := shared()
		if err != nil {
			return nil, err
		}
		return map[string]float64{"rss": (rss + r1 - r0) / perRound, "pss": (pss + p1 - p0) / perRound}, nil
	}}
}

// startDetached runs argv, a detached `run -d` of the cli (docker or
// podman), and returns the container's ID and the PID its inspect format
// names. The ID is returned whenever there is one, for the caller to remove.
func startDetached(cli, argv []string, format string) (id string, pid int, err error) {
	out, err := output(argv...)
	if err != nil {
		return "", 0, err
	}
	id = strings.TrimSpace(out)
	text, err := output(append(append([]string{}, cli...), "inspect", "-f", format, id)...)
	if err != nil {
		return id, 0, err
	}
	if pid, err = strconv.Atoi(strings.TrimSpace(text)); err != nil {
		return id, 0, fmt.Errorf("pid from %s: %q: %w", format, text, err)
	}
	return id, pid, nil
}

// parentOf returns the PPID of pid, from /proc/PID/stat (after the command
// name, which may hold spaces and parentheses).
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("parent of %d: %w", pid, err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("parent of %d: short stat", pid)
	}
	return strconv.Atoi(f[1])
}

// sizesSection lists the size of every runtime binary on disk.
func (b *bench) sizesSection() record.Section {
	s := record.Section{ID: "sizes", Title: "Binary sizes", Unit: "KiB", Baseline: "tini-static", Rounds: 1,
		About: "Size on disk of each binary as installed (ours as `make build` links them: static, stripped). " +
			"The command column says whether the binary is static; a dynamic one also maps its libraries."}
	bins := [][2]string{{"ccsuper", b.ccsuper}, {"ccinit", b.ccinit}}
	for _, t := range []string{"tini-static", "catatonit", "dumb-init", "crun", "runc", "conmon", "bwrap"} {
		if p, ok := b.tool(t); ok {
			bins = append(bins, [2]string{t, p})
		}
	}
	for _, bin := range bins {
		p, err := filepath.EvalSymlinks(bin[1])
		if err != nil {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		s.Series = append(s.Series, record.Series{Name: bin[0], Command: p + " (" + linking(p) + ")",
			Samples: []float64{float64(st.Size()) / 1024}})
	}
	return s
}

// linking says whether an ELF file is static (no program interpreter).
func linking(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return "not ELF"
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "dynamic"
		}
	}
	return "static"
}

// scaleSections starts 1, 10 and 100 networked containers at once and
// measures how long until all run their command, and the host memory they
// take while they run.
func scaleSections(b *bench) ([]record.Section, error) {
	ns := []int{1, 10, 100}
	rounds := 3
	if b.quick {
		rounds = 1
	}
	var cs []contender
	for _, n := range ns {
		cs = append(cs, contender{name: fmt.Sprintf("%d at once", n),
			command: fmt.Sprintf("%d × %s", n, shellQuote(append([]string{b.ccsuper, "--rootfs", b.rootfs, "--"}, upLine...))),
			run:     func() (map[string]float64, error) { return b.scaleOnce(n) }})
	}
	got := b.interleave("scale", rounds, 0, cs)
	about := "N ccsuper containers with a veth on the bridge are started together, each running " +
		"`sh -c 'echo up; read x'`; up = until every one has printed up. Host memory = the drop in MemAvailable " +
		"while they run (all of it: processes, namespaces, veths, page tables), divided by N; it is noisy on " +
		"this shared machine. PSS = ccsuper + ccinit per container."
	return []record.Section{
		{ID: "scale-up", Title: "Scale: until all N run their command", Unit: "ms", Baseline: "1 at once", Rounds: rounds, About: about, Series: got["up"]},
		{ID: "scale-per", Title: "Scale: start time per container", Unit: "ms", Baseline: "1 at once", Rounds: rounds, About: about, Series: got["per"]},
		{ID: "scale-mem", Title: "Scale: host memory per container (MemAvailable drop / N)", Unit: "KiB", Baseline: "1 at once", Rounds: rounds, About: about, Series: got["mem"]},
		{ID: "scale-pss", Title: "Scale: ccsuper + ccinit PSS per container", Unit: "KiB", Baseline: "1 at once", Rounds: rounds, About: about, Series: got["pss"]},
		{ID: "scale-down", Title: "Scale: until all N have exited and been torn down", Unit: "ms", Baseline: "1 at once", Rounds: rounds, About: about, Series: got["down"]},
	}, nil
}

// scaleOnce runs one scale step of n containers.
func (b *bench) scaleOnce(n int) (map[string]float64, error) {
	before, err := memAvailable()
	if err != nil {
		return nil, err
	}
	var hs []*held
	stopAll := func() error {
		var errs []error
		for _, h := range hs {
			_ = h.stdin.Close() // the close is the message; all at once, so they end together
		}
		for _, h := range hs {
			errs = append(errs, h.stop())
		}
		hs = nil
		return errors.Join(errs...)
	}
	defer stopAll()
	argv := append([]string{b.ccsuper, "--rootfs", b.rootfs, "--"}, upLine...)
	var ups []<-chan error
	start := time.Now()
	for range n {
		h, up, err := startHeld(argv)
		if err != nil {
			return nil, err
		}
		hs, ups = append(hs, h), append(ups, up)
	}
	for _, up := range ups {
		if err := <-up; err != nil {
			return nil, fmt.Errorf("container: %w", err)
		}
	}
	up := time.Since(start)
	during, err := memAvailable()
	if err != nil {
		return nil, err
	}
	var pss float64
	for _, h := range hs {
		_, p, err := memory(h.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		kid, err := waitChild(h.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		_, q, err := memory(kid)
		if err != nil {
			return nil, err
		}
		pss += p + q
	}
	t0 := time.Now()
	if err := stopAll(); err != nil {
		return nil, err
	}
	down := time.Since(t0)
	return map[string]float64{"up": ms(up), "per": ms(up) / float64(n), "down": ms(down),
		"mem": (before - during) / float64(n), "pss": pss / float64(n)}, nil
}

// memAvailable returns MemAvailable from /proc/meminfo, in KiB.
func memAvailable() (float64, error) {
	v := procField("/proc/meminfo", "MemAvailable")
	kib, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64)
	if err != nil {
		return 0, fmt.Errorf("MemAvailable %q: %w", v, err)
	}
	return kib, nil
}
