// Package record is the format of a benchmark run, results.json, written by
// bench/suite and read by bench/report, and the statistics both print: medians,
// spread and ratios to a baseline measured in the same run.
package record

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// Run is one benchmark run: where and when it ran, what it compared and
// every sample it took.
type Run struct {
	Date     string      `json:"date"`       // RFC 3339, when the run started
	Duration float64     `json:"duration_s"` // wall time of the whole run
	Quick    bool        `json:"quick"`      // the few-minute subset
	Command  string      `json:"command"`    // how to reproduce it
	Machine  [][2]string `json:"machine"`    // kernel, CPU, memory, load...
	Versions [][2]string `json:"versions"`   // every tool measured, as it reports itself
	Notes    []string    `json:"notes"`      // peers skipped and why, anything a reader must know
	Sections []Section   `json:"sections"`
}

// Section is one comparison: a table and a chart in the report.
type Section struct {
	ID       string   `json:"id"`    // file name of its chart; unique in a run
	Title    string   `json:"title"` // heading in the report
	About    string   `json:"about"` // what was measured and how, for the reader
	Unit     string   `json:"unit"`  // of every sample: "ms", "MiB/s", "KiB"...
	Higher   bool     `json:"higher_is_better"`
	Baseline string   `json:"baseline"` // the series ratios are taken to; "" for none
	Rounds   int      `json:"rounds"`   // interleaved, shuffled rounds
	Series   []Series `json:"series"`
	Notes    []string `json:"notes"` // contenders skipped here and why, observations
	Load     string   `json:"load"`  // /proc/loadavg as the comparison ended: how busy the machine was
}

// Series is one contender's samples, in round order: sample i of every
// series in a section was taken in the same round.
type Series struct {
	Name    string    `json:"name"`
	Command string    `json:"command"` // what ran, as a reader could type it
	Samples []float64 `json:"samples"`
}

// Summary is what the report prints for a series.
type Summary struct {
	N                int
	Median, P10, P90 float64
	Ratio            float64 // median / baseline's median; 0 without a baseline
	RoundRatio       float64 // median over rounds of sample / baseline's sample; 0 when not paired
}

// Summarize returns the summary of every series of s, in order. Ratios need
// the baseline; the round ratio also needs the same number of samples in both
// series, which is how the suite pairs them.
func Summarize(s Section) []Summary {
	out := make([]Summary, len(s.Series))
	base := slices.IndexFunc(s.Series, func(x Series) bool { return x.Name == s.Baseline })
	for i, x := range s.Series {
		if len(x.Samples) == 0 {
			continue
		}
		sorted := slices.Sorted(slices.Values(x.Samples))
		out[i] = Summary{N: len(sorted), Median: Quantile(sorted, 0.5), P10: Quantile(sorted, 0.1), P90: Quantile(sorted, 0.9)}
	}
	if base < 0 || out[base].Median == 0 {
		return out
	}
	b := s.Series[base].Samples
	for i, x := range s.Series {
		if out[i].N == 0 {
			continue
		}
		out[i].Ratio = out[i].Median / out[base].Median
		if len(x.Samples) != len(b) {
			continue
		}
		per := make([]float64, 0, len(b))
		for j := range b {
			if b[j] != 0 {
				per = append(per, x.Samples[j]/b[j])
			}
		}
		if len(per) > 0 {
			out[i].RoundRatio = Quantile(slices.Sorted(slices.Values(per)), 0.5)
		}
	}
	return out
}

// Quantile returns the q-quantile of sorted, interpolating linearly between
// the two nearest samples (so the median of an even count is their mean).
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (sorted[lo+1]-sorted[lo])*(pos-float64(lo))
}

// Load reads a run from a results.json file.
func Load(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &r, nil
}

// Save writes r to path as indented JSON.
func (r *Run) Save(path string) error {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}
