package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReport writes the report of a small fixture run and checks the
// figures it computed, the links to the charts and the charts themselves.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	charts := filepath.Join(dir, "charts")
	findings := filepath.Join(dir, "findings.md")
	if err := os.WriteFile(findings, []byte("## Findings\n\nHand-written.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run("testdata/results.json", md, charts, findings); err != nil {
		t.Fatalf("run: %v", err)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		// unshare 10 12 11: median 11; ccsuper 30 24 22: median 24, p10 22.4,
		// p90 28.8, ratio 24/11, round ratios 3, 2, 2.
		"| unshare | 11.0 | 10.2 | 11.8 | 1.00× | 1.00× | 3 |",
		"| ccsuper | 24.0 | 22.4 | 28.8 | 2.18× | 2.00× | 3 |",
		// Unpaired: a ratio of medians, no round ratio.
		"| host | 150 | 110 | 190 | 1.00× | 1.00× | 2 |",
		"| docker | 150 | 150 | 150 | 1.00× | – | 1 |",
		"![Startup](charts/startup.png)",
		"![Throughput](charts/tput.png)",
		"MiB/s, higher is better, 2 round(s), ratios to host; load average 3.10 2.50 1.20 as it ended.",
		"No contender finished this comparison",
		"| kernel | 6.18.44 |",
		`| odd\|name | x |`,
		"- podman is not installed",
		"- docker has one sample: no round ratio",
		"## Findings\n\nHand-written.",
		"the quick subset",
		"`make bench-quick`",
		"- ccsuper: `ccsuper --rootfs R -- /bin/true`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q; got:\n%s", want, got)
		}
	}
	if strings.Contains(got, "empty.png") {
		t.Errorf("report links a chart for a section without series")
	}
	for id, rows := range map[string]int{"startup": 2, "tput": 2} {
		f, err := os.Open(filepath.Join(charts, id+".png"))
		if err != nil {
			t.Fatalf("chart %s: %v", id, err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("chart %s: %v", id, err)
		}
		if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != chartWidth || h != topMargin+rows*rowHeight+axisHeight+10 {
			t.Errorf("chart %s is %dx%d, want %dx%d", id, w, h, chartWidth, topMargin+rows*rowHeight+axisHeight+10)
		}
	}
	if _, err := os.Stat(filepath.Join(charts, "empty.png")); !os.IsNotExist(err) {
		t.Errorf("chart for a section without series: %v", err)
	}
}

func TestNiceStep(t *testing.T) {
	for _, c := range []struct{ raw, want float64 }{{0.7, 1}, {1, 1}, {1.3, 2}, {3, 5}, {7, 10}, {120, 200}, {0, 0}} {
		if got := niceStep(c.raw); got != c.want {
			t.Errorf("niceStep(%v) = %v, want %v", c.raw, got, c.want)
		}
	}
}

func TestNumber(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{1234.5, "1234"}, {24, "24.0"}, {2.184, "2.18"}, {0.0123, "0.012"}, {0, "0"}} {
		if got := number(c.v); got != c.want {
			t.Errorf("number(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}
