package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// traceDoc is what ccsuper --trace=json prints.
type traceDoc struct {
	Total   int64 `json:"total_ns"`
	Covered int64 `json:"ccsuper_covered_ns"`
	Steps   []struct {
		Side    string `json:"side"`
		Step    string `json:"step"`
		StartNS int64  `json:"start_ns"`
		DurNS   int64  `json:"duration_ns"`
	} `json:"steps"`
}

// TestTrace checks that --trace shows both sides' steps on one clock: what
// one side waits for, the other has done by then. No durations are judged.
func TestTrace(t *testing.T) {
	t.Parallel()
	for _, net := range []string{"none", "bridge"} {
		t.Run(net, func(t *testing.T) {
			t.Parallel()
			r := runCCSuper(t, "--rootfs", baseRootfs, "--net", net, "--trace=json", "--", "/bin/sh", "-c", "echo out")
			wantExit(t, r, 0)
			if r.stdout != "out\n" {
				t.Errorf("the trace must not touch stdout: got %q", r.stdout)
			}
			var doc traceDoc
			if err := json.Unmarshal([]byte(r.stderr), &doc); err != nil {
				t.Fatalf("stderr is not the JSON trace: %v\n%s", err, r.stderr)
			}
			type span struct{ start, end int64 }
			steps := map[string]span{}
			for _, s := range doc.Steps {
				if s.DurNS < 0 || s.StartNS < 0 || s.StartNS+s.DurNS > doc.Total {
					t.Errorf("step %q from %d for %d is outside the run (0..%d)", s.Step, s.StartNS, s.DurNS, doc.Total)
				}
				steps[s.Side+": "+s.Step] = span{s.StartNS, s.StartNS + s.DurNS}
			}
			get := func(name string) span {
				s, ok := steps[name]
				if !ok {
					t.Fatalf("no step %q in the trace:\n%s", name, r.stderr)
				}
				return s
			}
			clone := get("ccsuper: clone+exec ccinit (new namespaces)")
			goWritten := get(`ccsuper: start: send "go" on the sync socket`)
			runs := get("ccsuper: container runs (until ccinit exits)")
			inMain := get("ccinit: ccinit: in main, configuration received")
			waitGo := get(`ccinit: wait for "go" on the sync socket`)
			cmdExec := get("ccinit: fork+exec command (until its first instruction)")
			exit := get("ccinit: ccinit: exit")
			get("ccinit: enter root: pivot_root, mounts, /dev")
			get("ccinit: (exec done -> main: Go runtime start)")
			if net == "bridge" {
				get("ccsuper: veth: create pair, peer in container as eth0")
			}
			for _, c := range []struct {
				what          string
				before, after int64
			}{
				// Not after clone.end: that is when ccsuper's thread,
				// back from ForkExec, read the clock, and on a busy
				// machine ccinit's runtime may reach main before it does.
				{"ccinit's main after ccsuper began the clone", clone.start, inMain.start},
				{`ccinit's wait for "go" ends after "go" was written`, goWritten.start, waitGo.end},
				{"the command starts after ccinit's wait", waitGo.end, cmdExec.start},
				{"ccinit exits before ccsuper sees the container end", exit.start, runs.end},
			} {
				if c.before > c.after {
					t.Errorf("%s: %d > %d", c.what, c.before, c.after)
				}
			}
			if doc.Covered <= 0 || doc.Covered > doc.Total {
				t.Errorf("covered %d of %d", doc.Covered, doc.Total)
			}
		})
	}
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none", "--trace", "--", "/bin/true")
		wantExit(t, r, 0)
		for _, want := range []string{"ccsuper --trace: ", "clone+exec ccinit", "enter root", "ccsuper's steps cover "} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("the text trace lacks %q:\n%s", want, r.stderr)
			}
		}
	})
	t.Run("bad value", func(t *testing.T) {
		t.Parallel()
		wantOneLineError(t, runCCSuper(t, "--rootfs", baseRootfs, "--trace=yaml", "--", "/bin/true"), 125)
	})
}
