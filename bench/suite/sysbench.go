package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/ccontainer/ccontainer/bench/record"
)

// A sysbenchTest is one of the original project's sysbench commands.
type sysbenchTest struct {
	id, title, unit string
	script          string // shell run in the environment; FILEDIR is replaced by its scratch dir
	metrics         map[string]*regexp.Regexp
	pick            map[string]int // which match of the metric's pattern is the figure
}

var (
	eventsPerSec = regexp.MustCompile(`events per second:\s+([0-9.]+)`)
	mibPerSec    = regexp.MustCompile(`([0-9.]+) MiB/sec`)
	writtenMiB   = regexp.MustCompile(`written, MiB/s:\s+([0-9.]+)`)
	readMiB      = regexp.MustCompile(`read, MiB/s:\s+([0-9.]+)`)
)

// sysbenchTests are the original project's exact commands; the quick run
// adds --time=3 to each run (sysbench's default is 10 s).
func sysbenchTests(quick bool) []sysbenchTest {
	t := ""
	if quick {
		t = " --time=3"
	}
	fio := "sysbench fileio --file-total-size=512M --file-num=1"
	return []sysbenchTest{
		{id: "cpu1", title: "sysbench cpu --cpu-max-prime=20000, 1 thread", unit: "events/s",
			script:  "sysbench cpu --cpu-max-prime=20000 --threads=1" + t + " run",
			metrics: map[string]*regexp.Regexp{"cpu1": eventsPerSec}},
		{id: "cpu4", title: "sysbench cpu --cpu-max-prime=20000, 4 threads", unit: "events/s",
			script:  "sysbench cpu --cpu-max-prime=20000 --threads=4" + t + " run",
			metrics: map[string]*regexp.Regexp{"cpu4": eventsPerSec}},
		{id: "memory", title: "sysbench memory --memory-block-size=4K --memory-total-size=2G", unit: "MiB/s",
			script:  "sysbench memory --memory-block-size=4K --memory-total-size=2G" + t + " run",
			metrics: map[string]*regexp.Regexp{"memory": mibPerSec}},
		// One file is prepared per run and both modes run on it; the
		// written figure is rndwr's (rndrd writes nothing), the read one
		// rndrd's, the second "read" line of the output.
		{id: "fileio", title: "sysbench fileio --file-total-size=512M --file-num=1", unit: "MiB/s",
			script: "set -e; mkdir -p FILEDIR; cd FILEDIR; " + fio + " prepare >/dev/null; " +
				fio + " --file-test-mode=rndwr" + t + " run; " + fio + " --file-test-mode=rndrd" + t + " run; " +
				fio + " cleanup >/dev/null",
			metrics: map[string]*regexp.Regexp{"fileio-rndwr": writtenMiB, "fileio-rndrd": readMiB},
			pick:    map[string]int{"fileio-rndwr": 0, "fileio-rndrd": 1}},
	}
}

// sysbenchSections runs each test on the host, in a ccsuper container and in
// Docker, interleaved; fileio also in Docker with a volume, to tell the
// overlay's share from the container's.
func sysbenchSections(b *bench) ([]record.Section, error) {
	if _, ok := b.tool("sysbench"); !ok {
		return nil, fmt.Errorf("sysbench is not installed on the host, the baseline")
	}
	docker, haveDocker := b.dockerCLI()
	vol := filepath.Join(b.work, "fileio-volume")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		return nil, fmt.Errorf("fileio volume: %w", err)
	}
	rounds := 3
	if b.quick {
		rounds = 1
	}
	var out []record.Section
	for _, t := range sysbenchTests(b.quick) {
		// Each environment runs the script as the last argument of argv,
		// in its own scratch dir.
		type env struct {
			name string
			argv []string
			dir  string
		}
		envs := []env{
			{"host", []string{"/bin/sh", "-c"}, filepath.Join(b.rootfs, fileioDir, "host")},
			{"ccsuper", []string{b.ccsuper, "--rootfs", b.rootfs, "--net", "none", "--", "/bin/sh", "-c"}, fileioDir + "/ccsuper"},
		}
		if haveDocker {
			d := append(append([]string{}, docker...), "run", "--rm", "--network", "none")
			envs = append(envs, env{"docker", append(append([]string{}, d...), image, "/bin/sh", "-c"), fileioDir + "/docker"})
			if t.id == "fileio" {
				envs = append(envs, env{"docker (volume)",
					append(append([]string{}, d...), "-v", vol+":/mnt/vol", image, "/bin/sh", "-c"), "/mnt/vol"})
			}
		}
		var cs []contender
		for _, e := range envs {
			argv := append(append([]string{}, e.argv...), strings.ReplaceAll(t.script, "FILEDIR", e.dir))
			cs = append(cs, contender{name: e.name, command: shellQuote(argv), run: func() (map[string]float64, error) {
				text, err := output(argv...)
				if err != nil {
					return nil, err
				}
				return parseSysbench(text, t)
			}})
		}
		b.logf("sysbench %s", t.id)
		got := b.interleave("sysbench "+t.id, rounds, 0, cs)
		for _, id := range sortedMetrics(t) {
			title := t.title
			if strings.HasPrefix(id, "fileio-") {
				title += ", " + strings.TrimPrefix(id, "fileio-")
			}
			out = append(out, record.Section{
				ID: "sysbench-" + id, Title: title, Unit: t.unit, Higher: true, Baseline: "host", Rounds: rounds,
				About:  sysbenchAbout(id),
				Series: got[id],
			})
		}
	}
	return out, nil
}

func sortedMetrics(t sysbenchTest) []string {
	if t.id == "fileio" {
		return []string{"fileio-rndwr", "fileio-rndrd"}
	}
	return []string{t.id}
}

func sysbenchAbout(id string) string {
	switch {
	case strings.HasPrefix(id, "fileio"):
		return "One 512 MiB file, prepared in each run. host: in a directory of the rootfs on the host's ext4; " +
			"ccsuper: the same filesystem, as ccsuper binds the rootfs directory itself; docker: in the " +
			"container's overlay2 upper layer (Docker's data root is on the same ext4); docker (volume): " +
			"in a bind-mounted directory on the same ext4. sysbench's defaults apply (fsync every 100 requests). " +
			"Host and containers run Debian bookworm's sysbench (the host's and the rootfs's)."
	case id == "memory":
		return "The run stops after 2 GiB in 4 KiB blocks, in well under sysbench's 10 s."
	default:
		return "CPU-bound: a container should cost nothing here; 4 threads on this 2-vCPU machine."
	}
}

// parseSysbench pulls the test's figures out of sysbench's output.
func parseSysbench(text string, t sysbenchTest) (map[string]float64, error) {
	out := map[string]float64{}
	for id, re := range t.metrics {
		all := re.FindAllStringSubmatch(text, -1)
		i := t.pick[id]
		if len(all) <= i {
			return nil, fmt.Errorf("sysbench %s: no %q in its output: %s", t.id, re.String(), lastLine([]byte(text)))
		}
		v, err := strconv.ParseFloat(all[i][1], 64)
		if err != nil {
			return nil, fmt.Errorf("sysbench %s: %w", t.id, err)
		}
		out[id] = v
	}
	return out, nil
}

// shellQuote writes argv as a reader could paste it into a shell.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@", r)
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
