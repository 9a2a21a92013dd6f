// Command tracestat runs `ccsuper --trace=json` many times and prints, per
// step, the median start and duration, and how the traced span compares with
// start-to-exit measured from outside (fork to wait4 of ccsuper): the
// difference is what no trace can see from inside, ccsuper's exec, its Go
// runtime's start before main and its exit.
//
//	tracestat -ccsuper build/ccsuper -rootfs rootfs [-n 50] [-- ccsuper flags]
//
// Run it as root in a throwaway network namespace (scripts/throwaway-host.sh)
// when the flags leave bridge mode on.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"
)

type step struct {
	Side    string `json:"side"`
	Step    string `json:"step"`
	StartNS int64  `json:"start_ns"`
	DurNS   int64  `json:"duration_ns"`
}

type doc struct {
	TotalNS   int64  `json:"total_ns"`
	CoveredNS int64  `json:"ccsuper_covered_ns"`
	Steps     []step `json:"steps"`
}

func main() {
	ccsuper := flag.String("ccsuper", "build/ccsuper", "ccsuper binary")
	rootfs := flag.String("rootfs", "rootfs", "rootfs")
	n := flag.Int("n", 50, "runs")
	flag.Parse()
	args := append([]string{"--rootfs", *rootfs, "--trace=json"}, flag.Args()...)
	args = append(args, "--", "/bin/true")

	type key struct{ side, step string }
	starts, durs := map[key][]float64{}, map[key][]float64{}
	var order []key
	var outside, total, covered, unseen []float64
	for i := 0; i < *n+1; i++ {
		cmd := exec.Command(*ccsuper, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t0 := time.Now()
		err := cmd.Run()
		wall := time.Since(t0)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tracestat: %v\n%s", err, stderr.String())
			os.Exit(1)
		}
		if i == 0 {
			continue // warm-up: page cache, the bridge's first creation
		}
		var d doc
		if err := json.Unmarshal(stderr.Bytes(), &d); err != nil {
			fmt.Fprintf(os.Stderr, "tracestat: %v\n%s", err, stderr.String())
			os.Exit(1)
		}
		outside = append(outside, ms(wall.Nanoseconds()))
		total = append(total, ms(d.TotalNS))
		covered = append(covered, ms(d.CoveredNS))
		unseen = append(unseen, ms(wall.Nanoseconds()-d.TotalNS))
		for _, s := range d.Steps {
			k := key{s.Side, s.Step}
			if _, ok := starts[k]; !ok {
				order = append(order, k)
			}
			starts[k] = append(starts[k], ms(s.StartNS))
			durs[k] = append(durs[k], ms(s.DurNS))
		}
	}
	slices.SortStableFunc(order, func(a, b key) int {
		ma, mb := median(starts[a]), median(starts[b])
		switch {
		case ma < mb:
			return -1
		case ma > mb:
			return 1
		}
		return 0
	})
	fmt.Printf("%d runs of ccsuper %v; medians in ms\n", *n, args)
	fmt.Printf("%9s %9s  %-7s  %s\n", "start", "took", "side", "step")
	for _, k := range order {
		fmt.Printf("%9.3f %9.3f  %-7s  %s\n", median(starts[k]), median(durs[k]), k.side, k.step)
	}
	fmt.Printf("start-to-exit from outside (fork to wait4): %.3f ms\n", median(outside))
	fmt.Printf("traced span (ccsuper's main to its last step): %.3f ms; covered by ccsuper's steps: %.3f ms\n", median(total), median(covered))
	fmt.Printf("not visible from inside (exec, Go runtime start, exit of ccsuper): %.3f ms (median of each run's difference)\n", median(unseen))
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
