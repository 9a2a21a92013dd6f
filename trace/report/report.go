// Package report prints the steps of a traced run (package trace) for a
// person or a tool. It is apart from package trace so that ccinit, which only
// records and sends, does not link encoding/json.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ccontainer/ccontainer/trace"
)

// Report is the trace of one run as ccsuper prints it: every step of both
// sides, relative to Origin, ccsuper's entry into main.
type Report struct {
	Origin int64 // CLOCK_MONOTONIC ns of ccsuper's main
	End    int64 // CLOCK_MONOTONIC ns of ccsuper's last step's end
	Events []trace.Event
}

// sorted returns the events by start, longer first for equal starts, so a
// step comes before the steps inside it.
func (r Report) sorted() []trace.Event {
	ev := slices.Clone(r.Events)
	slices.SortStableFunc(ev, func(a, b trace.Event) int {
		if a.Start != b.Start {
			return cmpInt(a.Start, b.Start)
		}
		return cmpInt(b.End, a.End)
	})
	return ev
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Covered returns how much of Origin..End the steps of side cover, counting
// time covered by several steps once.
func (r Report) Covered(side string) int64 {
	var covered, reach int64 = 0, r.Origin
	for _, e := range r.sorted() {
		if e.Side != side {
			continue
		}
		start, end := max(e.Start, reach), min(e.End, r.End)
		if end > start {
			covered += end - start
			reach = end
		}
	}
	return covered
}

// barWidth is the width of the timeline column, in characters.
const barWidth = 40

// WriteText writes the report for a person: one line per step with its
// start and duration in milliseconds from ccsuper's main, and a timeline bar,
// then how much of the run the steps account for.
func (r Report) WriteText(w io.Writer) error {
	total := r.End - r.Origin
	if total <= 0 {
		total = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ccsuper --trace: %.3f ms from ccsuper's main to its last step; times in ms from main\n", ms(r.End-r.Origin))
	fmt.Fprintf(&b, "%9s %8s  %-7s  %-50s %s\n", "start", "took", "side", "step", "timeline")
	for _, e := range r.sorted() {
		from := int((e.Start - r.Origin) * barWidth / total)
		to := int((e.End - r.Origin) * barWidth / total)
		from, to = clamp(from), clamp(to)
		bar := strings.Repeat(" ", from) + "|"
		if to > from {
			bar = strings.Repeat(" ", from) + strings.Repeat("=", to-from)
		}
		fmt.Fprintf(&b, "%9.3f %8.3f  %-7s  %-50s [%-*s]\n", ms(e.Start-r.Origin), ms(e.End-e.Start), e.Side, e.Step, barWidth, bar)
	}
	covered := r.Covered("ccsuper")
	fmt.Fprintf(&b, "ccsuper's steps cover %.3f of %.3f ms (%.1f%%); the rest is time between steps.\n",
		ms(covered), ms(r.End-r.Origin), 100*float64(covered)/float64(total))
	b.WriteString("Not seen from inside: the exec of ccsuper and its Go runtime's start before main, and its exit after the last step.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func clamp(x int) int { return min(max(x, 0), barWidth) }

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// jsonStep is one step in the JSON report, times relative to Origin.
type jsonStep struct {
	Side    string `json:"side"`
	Step    string `json:"step"`
	StartNS int64  `json:"start_ns"`
	DurNS   int64  `json:"duration_ns"`
}

// WriteJSON writes the report for tools: the origin and end on
// CLOCK_MONOTONIC, and every step relative to the origin.
func (r Report) WriteJSON(w io.Writer) error {
	doc := struct {
		OriginNS  int64      `json:"origin_monotonic_ns"`
		TotalNS   int64      `json:"total_ns"`
		CoveredNS int64      `json:"ccsuper_covered_ns"`
		Steps     []jsonStep `json:"steps"`
	}{OriginNS: r.Origin, TotalNS: r.End - r.Origin, CoveredNS: r.Covered("ccsuper"), Steps: []jsonStep{}}
	for _, e := range r.sorted() {
		doc.Steps = append(doc.Steps, jsonStep{e.Side, e.Step, e.Start - r.Origin, e.End - e.Start})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
