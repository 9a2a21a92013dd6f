package record

import (
	"path/filepath"
	"testing"
)

func TestQuantile(t *testing.T) {
	s := []float64{1, 2, 3, 4}
	for _, c := range []struct{ q, want float64 }{{0, 1}, {0.5, 2.5}, {0.9, 3.7}, {1, 4}} {
		if got := Quantile(s, c.q); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("Quantile(%v, %v) = %v, want %v", s, c.q, got, c.want)
		}
	}
	if got := Quantile(nil, 0.5); got != 0 {
		t.Errorf("Quantile(nil) = %v, want 0", got)
	}
}

func TestSummarize(t *testing.T) {
	s := Section{Baseline: "base", Series: []Series{
		{Name: "base", Samples: []float64{10, 20, 30}},
		{Name: "x", Samples: []float64{20, 20, 90}}, // per round 2, 1, 3
		{Name: "short", Samples: []float64{5}},
		{Name: "none"},
	}}
	got := Summarize(s)
	want := []Summary{
		{N: 3, Median: 20, P10: 12, P90: 28, Ratio: 1, RoundRatio: 1},
		{N: 3, Median: 20, P10: 20, P90: 76, Ratio: 1, RoundRatio: 2},
		{N: 1, Median: 5, P10: 5, P90: 5, Ratio: 0.25},
		{},
	}
	for i := range want {
		if !near(got[i], want[i]) {
			t.Errorf("series %s: got %+v, want %+v", s.Series[i].Name, got[i], want[i])
		}
	}
	s.Baseline = "absent"
	if r := Summarize(s)[1]; r.Ratio != 0 || r.RoundRatio != 0 {
		t.Errorf("without a baseline: ratios %v %v, want none", r.Ratio, r.RoundRatio)
	}
}

func near(a, b Summary) bool {
	eq := func(x, y float64) bool { return x-y < 1e-9 && y-x < 1e-9 }
	return a.N == b.N && eq(a.Median, b.Median) && eq(a.P10, b.P10) && eq(a.P90, b.P90) && eq(a.Ratio, b.Ratio) && eq(a.RoundRatio, b.RoundRatio)
}

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	r := &Run{Date: "2026-11-23T12:00:00Z", Sections: []Section{{ID: "a", Series: []Series{{Name: "x", Samples: []float64{1.5}}}}}}
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Date != r.Date || got.Sections[0].Series[0].Samples[0] != 1.5 {
		t.Errorf("round trip: got %+v", got)
	}
}
