// Command startup measures how long a container takes from start to exit:
// each contender runs /bin/true on the same rootfs, and the wall time of the
// whole process (fork, namespaces, mounts, the command, teardown) is timed.
//
//	go run ./bench/startup -rootfs DIR -ccsuper PATH [-rounds N] [-warmup N] [-json FILE]
//
// The machines are shared and noisy (see GUIDE.md, Benchmarks), so contenders
// are interleaved round by round in a fresh random order, and results are
// reported as medians and as ratios to a baseline measured in the same run.
// The per-round ratio (contender/baseline within one round) cancels drift
// that lasts longer than a round, such as a neighbour's load or a backlog of
// network namespaces the kernel is still tearing down.
package main

import (
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// baseline is the contender every other is compared with.
const baseline = "unshare"

// A contender is one way of running /bin/true in the rootfs.
type contender struct {
	Name string   `json:"name"`
	Argv []string `json:"argv"`
}

// contenders lists what is measured. To compare another runtime, add a row.
func contenders(ccsuper, rootfs string) []contender {
	return []contender{
		{"ccsuper", []string{ccsuper, "--rootfs", rootfs, "--", "/bin/true"}}, // bridge + veth, the default
		{"ccsuper --net none", []string{ccsuper, "--rootfs", rootfs, "--net", "none", "--", "/bin/true"}},
		{"unshare", []string{"unshare", "-p", "-m", "-n", "-u", "-i", "--fork", "chroot", rootfs, "/bin/true"}},
		// The unshare line with ccinit (the rootfs's /sbin/ccinit, as make
		// rootfs installs it) between chroot and /bin/true: what a Go PID 1
		// adds by itself, without ccsuper.
		{"unshare+ccinit", []string{"unshare", "-p", "-m", "-n", "-u", "-i", "--fork", "chroot", rootfs, "/sbin/ccinit", "--", "/bin/true"}},
	}
}

// result holds one contender's samples, in round order, and their summary.
type result struct {
	contender
	Wall       []time.Duration `json:"wall_ns"`
	CPU        []time.Duration `json:"cpu_ns"` // user+sys of the process and the children it waited for
	Median     time.Duration   `json:"median_ns"`
	P10        time.Duration   `json:"p10_ns"`
	P90        time.Duration   `json:"p90_ns"`
	MedianCPU  time.Duration   `json:"median_cpu_ns"`
	Ratio      float64         `json:"ratio_of_medians"`
	RoundRatio float64         `json:"median_round_ratio"`
}

func main() {
	rootfs := flag.String("rootfs", "", "rootfs `DIR` every contender runs /bin/true in (required)")
	ccsuper := flag.String("ccsuper", "", "`PATH` of the ccsuper binary (required)")
	rounds := flag.Int("rounds", 200, "measured rounds; each runs every contender once")
	warmup := flag.Int("warmup", 10, "rounds run first and not counted")
	jsonOut := flag.String("json", "", "also write header, raw samples and summary to `FILE` as JSON")
	hold := flag.Bool("hold-bridge", false, "keep one container running meanwhile, so the bridge stays up between runs (as docker0 does)")
	flag.Parse()
	if *rootfs == "" || *ccsuper == "" || *rounds < 1 || *warmup < 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: startup -rootfs DIR -ccsuper PATH [-rounds N>0] [-warmup N] [-json FILE]")
		os.Exit(2)
	}
	stop := func() {}
	if *hold {
		var err error
		if stop, err = holdBridge(*rootfs, *ccsuper); err != nil {
			fmt.Fprintf(os.Stderr, "startup: %v\n", err)
			os.Exit(1)
		}
	}
	err := run(*rootfs, *ccsuper, *rounds, *warmup, *jsonOut)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "startup: %v\n", err)
		os.Exit(1)
	}
}

// holdBridge starts a container that waits on its stdin, so the bridge the
// measured containers use is not removed and remade in every run; it returns
// how to stop it.
func holdBridge(rootfs, ccsuper string) (func(), error) {
	cmd := exec.Command(ccsuper, "--rootfs", rootfs, "--", "/bin/sh", "-c", "echo up; read x; exit 0")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the bridge holder: %w", err)
	}
	if _, err := io.ReadFull(out, make([]byte, 3)); err != nil {
		return nil, fmt.Errorf("bridge holder: %w", err)
	}
	return func() { in.Close(); _ = cmd.Wait() }, nil
}

func run(rootfs, ccsuper string, rounds, warmup int, jsonOut string) error {
	rootfs, err := filepath.Abs(rootfs)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	cs := contenders(ccsuper, rootfs)
	for i := range cs {
		// Resolve once, so no PATH search is timed and a missing tool is
		// reported before anything runs.
		p, err := exec.LookPath(cs[i].Argv[0])
		if err != nil {
			return fmt.Errorf("contender %s: %w", cs[i].Name, err)
		}
		cs[i].Argv[0] = p
	}
	base := slices.IndexFunc(cs, func(c contender) bool { return c.Name == baseline })
	if base < 0 {
		return fmt.Errorf("baseline %q is not a contender", baseline)
	}
	hdr := header(ccsuper)

	// One /dev/null for stdin and stdout and one scratch file for stderr,
	// opened once: the child gets them as they are, with no per-run open
	// and no copying goroutine inside the timed span.
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer null.Close()
	errf, err := os.CreateTemp("", "startup-stderr-")
	if err != nil {
		return fmt.Errorf("stderr file: %w", err)
	}
	defer os.Remove(errf.Name())
	defer errf.Close()

	res := make([]result, len(cs))
	for i, c := range cs {
		res[i].contender = c
	}
	for r := -warmup; r < rounds; r++ {
		for _, i := range rand.Perm(len(cs)) { // a fresh order every round
			wall, cpu, err := runOnce(cs[i].Argv, null, errf)
			if err != nil && r < 0 {
				return fmt.Errorf("warm-up round %d, %s: %w", warmup+r+1, cs[i].Name, err)
			}
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, cs[i].Name, err)
			}
			if r >= 0 {
				res[i].Wall = append(res[i].Wall, wall)
				res[i].CPU = append(res[i].CPU, cpu)
			}
		}
	}
	for i := range res {
		summarize(&res[i], &res[base])
	}
	report(os.Stdout, hdr, rounds, warmup, res)
	if jsonOut == "" {
		return nil
	}
	b, err := json.MarshalIndent(map[string]any{"header": hdr, "rounds": rounds, "warmup": warmup,
		"baseline": baseline, "contenders": res}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// runOnce runs argv and returns its wall time from just before the fork to
// just after it is reaped, and the CPU time it and its reaped children used.
func runOnce(argv []string, null, errf *os.File) (wall, cpu time.Duration, err error) {
	if err := errf.Truncate(0); err != nil {
		return 0, 0, fmt.Errorf("reset stderr file: %w", err)
	}
	if _, err := errf.Seek(0, io.SeekStart); err != nil {
		return 0, 0, fmt.Errorf("reset stderr file: %w", err)
	}
	cmd := &exec.Cmd{Path: argv[0], Args: argv, Stdin: null, Stdout: null, Stderr: errf}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	err = cmd.Wait()
	wall = time.Since(start)
	if err != nil {
		msg, _ := os.ReadFile(errf.Name()) // best effort: only decorates the error
		return 0, 0, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(msg)))
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// summarize fills in r's statistics; b is the baseline, already holding its
// samples in the same round order.
func summarize(r, b *result) {
	w := slices.Sorted(slices.Values(r.Wall))
	r.Median, r.P10, r.P90 = quantile(w, 0.5), quantile(w, 0.1), quantile(w, 0.9)
	r.MedianCPU = quantile(slices.Sorted(slices.Values(r.CPU)), 0.5)
	bm := quantile(slices.Sorted(slices.Values(b.Wall)), 0.5)
	r.Ratio = float64(r.Median) / float64(bm)
	per := make([]float64, len(r.Wall))
	for i := range r.Wall {
		per[i] = float64(r.Wall[i]) / float64(b.Wall[i])
	}
	slices.Sort(per)
	r.RoundRatio = quantile(per, 0.5)
}

// quantile returns the q-quantile of sorted s, interpolating linearly between
// the two nearest samples (so the median of an even count is their mean).
func quantile[T time.Duration | float64](s []T, q float64) T {
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[lo] + T(float64(s[lo+1]-s[lo])*(pos-float64(lo)))
}

func report(w io.Writer, hdr [][2]string, rounds, warmup int, res []result) {
	for _, kv := range hdr {
		fmt.Fprintf(w, "%-10s %s\n", kv[0]+":", kv[1])
	}
	fmt.Fprintf(w, "%-10s %d measured + %d warm-up, order shuffled each round; baseline %s\n\n", "rounds:", rounds, warmup, baseline)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "contender\tn\tmedian\tp10\tp90\tcpu median\tratio\tround ratio\t")
	for _, r := range res {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%.2fx\t%.2fx\t\n", r.Name, len(r.Wall),
			ms(r.Median), ms(r.P10), ms(r.P90), ms(r.MedianCPU), r.Ratio, r.RoundRatio)
	}
	_ = tw.Flush() // w is stdout; a failed write has nowhere better to go
	fmt.Fprintf(w, "\ntimes in ms, wall clock from fork to reap; cpu = user+sys of the process tree;\n"+
		"ratio = median / %[1]s median; round ratio = median over rounds of (time / %[1]s time in that round)\n", baseline)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// header describes the machine and the versions measured, for the record.
func header(ccsuper string) [][2]string {
	goVersion := runtime.Version() + " (harness)"
	if bi, err := buildinfo.ReadFile(ccsuper); err == nil {
		goVersion = bi.GoVersion + " (built ccsuper)"
	}
	h := [][2]string{
		{"date", time.Now().Format(time.RFC3339)},
		{"kernel", firstLine(os.ReadFile("/proc/sys/kernel/osrelease"))},
		{"cpu", cpuModel()},
		{"nproc", fmt.Sprint(runtime.NumCPU())},
		{"loadavg", firstLine(os.ReadFile("/proc/loadavg"))},
		{"go", goVersion},
		{"unshare", firstLine(exec.Command("unshare", "--version").Output())},
	}
	for _, p := range []string{ccsuper, filepath.Join(filepath.Dir(ccsuper), "ccinit")} {
		size := "unknown"
		if st, err := os.Stat(p); err == nil {
			size = fmt.Sprintf("%d bytes (%.0f KiB)", st.Size(), float64(st.Size())/1024)
		}
		h = append(h, [2]string{filepath.Base(p), p + ", " + size})
	}
	return h
}

// firstLine returns the first line of what a read or a command produced, or
// the error in its place: the header is informative, never a reason to stop.
func firstLine(b []byte, err error) string {
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
