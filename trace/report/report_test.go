package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ccontainer/ccontainer/trace"
)

func TestCovered(t *testing.T) {
	r := Report{Origin: 0, End: 100, Events: []trace.Event{
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
	r := Report{Origin: 1_000_000, End: 5_000_000, Events: []trace.Event{
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
	r := Report{Origin: 10, End: 110, Events: []trace.Event{{Side: "ccsuper", Step: "a", Start: 20, End: 70}}}
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
