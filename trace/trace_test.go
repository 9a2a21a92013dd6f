package trace

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSendReceive(t *testing.T) {
	in := []Event{
		{Side: "ccinit", Step: "enter root: pivot_root, mounts", Start: 100, End: 250},
		{Side: "ccinit", Step: `wait for "go"`, Start: 250, End: 250},
	}
	var buf bytes.Buffer
	if err := Send(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := Receive(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) || out[0] != in[0] || out[1] != in[1] {
		t.Errorf("got %+v, want %+v", out, in)
	}
	if out, err := Receive(strings.NewReader("")); err != nil || out != nil {
		t.Errorf("empty input: got %v, %v; want no events and no error", out, err)
	}
	for _, bad := range []string{"a\tb\t1\n", "a\tb\tx\t2\n", "a\tb\t5\t4\n"} {
		if _, err := Receive(strings.NewReader(bad)); err == nil {
			t.Errorf("Receive(%q): no error", bad)
		}
	}
}

func TestNilRecorderRecordsNothing(t *testing.T) {
	var r *Recorder
	r.Begin("x")()
	r.Mark("y")
	r.Span("z", 1)
	r.Record("w", 1, 2)
	r.Add([]Event{{}})
	if ev := r.Events(); ev != nil {
		t.Errorf("got %v from a nil recorder", ev)
	}
}

func TestBeginEndsOnce(t *testing.T) {
	r := New("ccsuper")
	end := r.Begin("step")
	end()
	first := r.Events()[0].End
	for Now() == first {
	}
	end() // a deferred second call must not move the end
	if got := r.Events()[0]; got.End != first || got.End < got.Start || got.Side != "ccsuper" {
		t.Errorf("got %+v, want the end of the first call, %d", got, first)
	}
}

func TestCovered(t *testing.T) {
	r := Report{Origin: 0, End: 100, Events: []Event{
		{Side: "ccsuper", Start: 0, End: 10},
		{Side: "ccsuper", Start: 5, End: 20},   // overlaps the first: 10..20 counts
		{Side: "ccinit", Start: 20, End: 90},   // the other side: not counted
		{Side: "ccsuper", Start: 30, End: 40},  // inside nothing
		{Side: "ccsuper", Start: 35, End: 38},  // inside the one before
		{Side: "ccsuper", Start: 95, End: 120}, // clipped at End
	}}
	if got := r.Covered("ccsuper"); got != 35 {
		t.Errorf("Covered = %d, want 35 (0..20, 30..40, 95..100)", got)
	}
}

func TestReportText(t *testing.T) {
	r := Report{Origin: 1_000_000, End: 5_000_000, Events: []Event{
		{Side: "ccinit", Step: "enter root", Start: 2_000_000, End: 3_000_000},
		{Side: "ccsuper", Step: "parse flags", Start: 1_000_000, End: 1_500_000},
	}}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"4.000 ms from ccsuper's main",
		"    0.000    0.500  ccsuper  parse flags",
		"    1.000    1.000  ccinit   enter root",
		"cover 0.500 of 4.000 ms (12.5%)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "parse flags") > strings.Index(out, "enter root") {
		t.Errorf("steps not in order of start:\n%s", out)
	}
	// The bar of "enter root" spans a quarter of the timeline, from a quarter in.
	if !strings.Contains(out, "[          ==========                    ]") {
		t.Errorf("timeline bar of enter root wrong:\n%s", out)
	}
}

func TestReportJSON(t *testing.T) {
	r := Report{Origin: 10, End: 110, Events: []Event{{Side: "ccsuper", Step: "a", Start: 20, End: 70}}}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Origin  int64 `json:"origin_monotonic_ns"`
		Total   int64 `json:"total_ns"`
		Covered int64 `json:"ccsuper_covered_ns"`
		Steps   []struct {
			Side, Step string
			StartNS    int64 `json:"start_ns"`
			DurNS      int64 `json:"duration_ns"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Origin != 10 || doc.Total != 100 || doc.Covered != 50 || len(doc.Steps) != 1 ||
		doc.Steps[0].StartNS != 10 || doc.Steps[0].DurNS != 50 || doc.Steps[0].Step != "a" {
		t.Errorf("got %+v", doc)
	}
}
