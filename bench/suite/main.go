// Command suite runs the benchmark suite and writes results.json, which
// bench/report turns into BENCHMARKS.md and charts. A benchmark, not a test:
// it asserts nothing about timings.
//
//	scripts/throwaway-host.sh suite -rootfs DIR -ccsuper PATH -out DIR [-quick] [-only a,b]
//
// It must run in the throwaway network and mount namespace of
// scripts/throwaway-host.sh: it makes bridges, veths and a Docker engine
// there, and unmounts the cgroup2 hierarchy of the hybrid layout there (crun
// refuses the hybrid layout), and none of it reaches the machine.
//
// Every comparison runs its contenders interleaved, in a fresh random order
// each round, so slow drift on this shared machine lands on all of them
// alike; ratios are taken to a baseline from the same run. A peer that is
// missing or fails is skipped with a note in the results, never silently.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ccontainer/ccontainer/bench/record"
)

// sections lists what the suite can measure, in report order.
var sections = []section{
	{"startup", startupSections},
	{"pid1", pid1Section},
	{"sysbench", sysbenchSections},
	{"network", networkSections},
	{"memory", memorySections},
	{"scale", scaleSections},
	{"engines", engineSections},
}

// A section is one part of the suite; it returns the comparisons it made.
type section struct {
	name string
	run  func(*bench) ([]record.Section, error)
}

func main() {
	var o options
	flag.StringVar(&o.rootfs, "rootfs", "", "Debian rootfs `DIR` (make rootfs-debian) every contender runs (required)")
	flag.StringVar(&o.ccsuper, "ccsuper", "", "`PATH` of ccsuper; ccinit is taken from next to it (required)")
	flag.StringVar(&o.out, "out", "", "`DIR` to write results.json into (required)")
	flag.StringVar(&o.work, "work", "build/bench", "`DIR` for state kept between runs: images, Docker and podman storage, OCI bundles")
	flag.BoolVar(&o.quick, "quick", false, "the few-minute subset: fewer rounds, shorter runs")
	only := flag.String("only", "", "comma-separated `SECTIONS` to run (default all): startup,pid1,sysbench,network,memory,scale,engines")
	flag.Parse()
	if o.rootfs == "" || o.ccsuper == "" || o.out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: suite -rootfs DIR -ccsuper PATH -out DIR [-work DIR] [-quick] [-only LIST]")
		os.Exit(2)
	}
	want := map[string]bool{}
	for s := range strings.SplitSeq(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !slices.ContainsFunc(sections, func(x section) bool { return x.name == s }) {
				fmt.Fprintf(os.Stderr, "suite: unknown section %q\n", s)
				os.Exit(2)
			}
			want[s] = true
		}
	}
	if err := run(o, want); err != nil {
		fmt.Fprintf(os.Stderr, "suite: %v\n", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	rootfs, ccsuper, out, work string
	quick                      bool
}

func run(o options, want map[string]bool) error {
	if os.Getenv("CCONTAINER_THROWAWAY_HOST") != "1" {
		return fmt.Errorf("run me through scripts/throwaway-host.sh: I change the network and mounts of the namespace I run in")
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	b, err := newBench(o)
	if err != nil {
		return err
	}
	// Whatever happens, what was started is stopped: on return, and on a
	// signal (the run is long; people press ^C).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "suite: %v: stopping what I started\n", s)
		b.close()
		os.Exit(130)
	}()
	defer b.close()

	start := time.Now()
	res := &record.Run{
		Date:    start.Format(time.RFC3339),
		Quick:   o.quick,
		Command: reproduce(o.quick, want),
		Machine: machine(),
	}
	if err := b.setup(); err != nil {
		return err
	}
	for _, s := range sections {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		b.logf("== %s", s.name)
		secs, err := s.run(b)
		if err != nil {
			// One broken comparison should not cost the others: say so
			// in the results and go on.
			b.note("section %s failed and is missing: %v", s.name, err)
			continue
		}
		load := firstLine(os.ReadFile("/proc/loadavg"))
		for i := range secs {
			secs[i].Load = load
			printSection(secs[i])
		}
		res.Sections = append(res.Sections, secs...)
		// Saved after every section, so an interrupted run keeps what it
		// measured (partial.json: the report says nothing of what is missing).
		res.Notes, res.Duration = b.notes, time.Since(start).Seconds()
		if err := res.Save(filepath.Join(o.out, "partial.json")); err != nil {
			return err
		}
	}
	res.Machine = append(res.Machine, [2]string{"load at end", firstLine(os.ReadFile("/proc/loadavg"))})
	res.Versions = b.versions()
	res.Notes = b.notes
	res.Duration = time.Since(start).Seconds()
	path := filepath.Join(o.out, "results.json")
	if err := res.Save(path); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(o.out, "partial.json")) // superseded; a leftover would only confuse
	b.logf("wrote %s after %.0f s", path, res.Duration)
	return nil
}

// reproduce is the make command that runs the same selection.
func reproduce(quick bool, want map[string]bool) string {
	cmd := "make bench"
	if quick {
		cmd = "make bench-quick"
	}
	if len(want) > 0 {
		names := make([]string, 0, len(want))
		for n := range want {
			names = append(names, n)
		}
		slices.Sort(names)
		cmd += " BENCH_ONLY=" + strings.Join(names, ",")
	}
	return cmd
}

// printSection shows a section's medians as it finishes, so a long run can
// be watched.
func printSection(s record.Section) {
	fmt.Printf("\n%s (%s, %s is better, %d rounds)\n", s.Title, s.Unit, map[bool]string{true: "higher", false: "lower"}[s.Higher], s.Rounds)
	for i, sum := range record.Summarize(s) {
		ratio := ""
		if sum.Ratio != 0 {
			ratio = fmt.Sprintf("  %.2fx %s", sum.Ratio, s.Baseline)
		}
		fmt.Printf("  %-28s n=%-3d median %10.3f  p10 %10.3f  p90 %10.3f%s\n", s.Series[i].Name, sum.N, sum.Median, sum.P10, sum.P90, ratio)
	}
	for _, n := range s.Notes {
		fmt.Printf("  note: %s\n", n)
	}
}
