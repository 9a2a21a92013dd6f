package supervisor

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"4096", 4096}, {"4096b", 4096}, {"64k", 64 << 10}, {"64K", 64 << 10}, {"64kb", 64 << 10},
		{"64m", 64 << 20}, {"64MB", 64 << 20}, {"64MiB", 64 << 20}, {"1.5g", 3 << 29}, {"2t", 2 << 40},
		{".5m", 1 << 19},
	} {
		got, err := ParseBytes(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "m", "-1", "+1m", "1e9", "0x10", "1 m", "1mm", "1p", "1.m", "inf", "NaN", "1_000", "9999999999t"} {
		if got, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	for in, want := range map[string]float64{"1": 1, "0.5": 0.5, ".25": 0.25, "2.0": 2} {
		if got, err := ParseCPUs(in); err != nil || got != want {
			t.Errorf("ParseCPUs(%q) = %g, %v, want %g", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0.0", "-1", "half", "1e3", "Inf", "NaN", "0x1p1"} {
		if got, err := ParseCPUs(in); err == nil {
			t.Errorf("ParseCPUs(%q) = %g, want an error", in, got)
		}
	}
}

func TestLimitsCheck(t *testing.T) {
	for _, tc := range []struct {
		l    Limits
		want string // "" for valid
	}{
		{Limits{}, ""},
		{Limits{Memory: MinMemory, CPUQuota: 0.01, Pids: MinPids}, ""},
		{Limits{Pids: MinPids - 1}, "--pids-limit"},
		{Limits{Memory: MinMemory - 1}, "--memory"},
		{Limits{Memory: -1}, "--memory"},
		{Limits{CPUQuota: 0.009}, "--cpus"},
		{Limits{CPUQuota: -1}, "--cpus"},
		{Limits{CPUQuota: 2e6}, "--cpus"},
		{Limits{Pids: -1}, "--pids-limit"},
	} {
		err := tc.l.check()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v.check() = %v, want %q", tc.l, err, tc.want)
		}
	}
}

func TestQuotaMicros(t *testing.T) {
	for cpus, want := range map[float64]int64{0.01: 1000, 0.5: 50000, 1: 100000, 1.5: 150000, 0.333: 33300} {
		if got := (Limits{CPUQuota: cpus}).quotaMicros(); got != want {
			t.Errorf("quota for %g CPUs = %d µs, want %d", cpus, got, want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for b, want := range map[uint64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 64 << 20: "64 MiB", 3 << 29: "1.5 GiB", 1<<20 + 1: "1 MiB",
	} {
		if got := formatBytes(b); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", b, got, want)
		}
	}
}

func TestUsageString(t *testing.T) {
	u := Usage{MemoryPeak: 3 << 20, HasMemoryPeak: true, CPUUser: 1500 * time.Millisecond, CPUSystem: 250 * time.Millisecond,
		HasCPU: true, PidsPeak: 7, HasPidsPeak: true}
	want := "memory peak 3 MiB, cpu 1.750s (user 1.500s, system 0.250s), tasks peak 7"
	if got := u.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := (Usage{HasCPU: true, OOMKills: 2}).String(); got != "cpu 0.000s (user 0.000s, system 0.000s), out-of-memory kills 2" {
		t.Errorf("got %q", got)
	}
	if got := (Usage{}).String(); got != "no accounting available" {
		t.Errorf("got %q", got)
	}
}

func TestControllers(t *testing.T) {
	for _, tc := range []struct {
		l          Limits
		stats      bool
		need, want []string
	}{
		{Limits{}, false, nil, nil},
		{Limits{}, true, nil, []string{"memory", "cpuacct", "pids"}},
		{Limits{Memory: 1 << 30}, false, []string{"memory"}, nil},
		{Limits{CPUQuota: 1, Pids: 5}, true, []string{"cpu", "pids"}, []string{"memory", "cpuacct"}},
	} {
		need, want := controllers(tc.l, tc.stats)
		if !slices.Equal(need, tc.need) || !slices.Equal(want, tc.want) {
			t.Errorf("controllers(%+v, %v) = %v, %v, want %v, %v", tc.l, tc.stats, need, want, tc.need, tc.want)
		}
	}
}
