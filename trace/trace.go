// Package trace records the steps of a container's start and end on both
// sides of the sync socket, for `ccsuper --trace`: what each step was, when it
// began and how long it took, on one clock.
//
// Both processes read CLOCK_MONOTONIC, which is one clock for the whole
// machine (ccontainer makes no time namespace), so ccinit's steps line up
// with ccsuper's without any exchange of clocks. ccinit sends its steps to
// ccsuper over a pipe when it exits; ccsuper prints them all, in order, after
// the run.
//
// A nil *Recorder records nothing and costs a nil check: tracing that is off
// reads no clock and allocates nothing.
package trace

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Event is one step: Start and End are CLOCK_MONOTONIC nanoseconds. A step
// with End == Start is a moment, not a span.
type Event struct {
	Side  string `json:"side"`
	Step  string `json:"step"`
	Start int64  `json:"start_ns"`
	End   int64  `json:"end_ns"`
}

// Recorder collects the events of one process. It is not safe for use by
// several goroutines at once; each side records from the goroutine that does
// the work.
type Recorder struct {
	side   string
	events []Event
}

// New returns a recorder for side ("ccsuper" or "ccinit").
func New(side string) *Recorder { return &Recorder{side: side, events: make([]Event, 0, 64)} }

// Now reads CLOCK_MONOTONIC in nanoseconds.
func Now() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return ts.Nano()
}

func nop() {}

// Begin starts step and returns the function that ends it. Only the first
// call of end counts, so it may be both deferred (for the error returns) and
// called where the step is done.
func (r *Recorder) Begin(step string) (end func()) {
	if r == nil {
		return nop
	}
	i := len(r.events)
	now := Now()
	r.events = append(r.events, Event{Side: r.side, Step: step, Start: now, End: now})
	done := false
	return func() {
		if !done {
			done = true
			r.events[i].End = Now()
		}
	}
}

// Span records step as having run from start to now.
func (r *Recorder) Span(step string, start int64) {
	if r == nil {
		return
	}
	r.events = append(r.events, Event{Side: r.side, Step: step, Start: start, End: Now()})
}

// Record records step as having run from start to end.
func (r *Recorder) Record(step string, start, end int64) {
	if r == nil {
		return
	}
	r.events = append(r.events, Event{Side: r.side, Step: step, Start: start, End: end})
}

// Mark records a moment.
func (r *Recorder) Mark(step string) {
	if r == nil {
		return
	}
	now := Now()
	r.events = append(r.events, Event{Side: r.side, Step: step, Start: now, End: now})
}

// Add takes in events recorded by another process.
func (r *Recorder) Add(events []Event) {
	if r == nil {
		return
	}
	r.events = append(r.events, events...)
}

// Events returns what was recorded so far.
func (r *Recorder) Events() []Event {
	if r == nil {
		return nil
	}
	return r.events
}

// Send writes the events to w (ccinit to ccsuper), one per line: side, step,
// start and end, separated by tabs. Plain text keeps encoding/json out of
// ccinit.
func Send(w io.Writer, events []Event) error {
	var b []byte
	for _, e := range events {
		b = fmt.Appendf(b, "%s\t%s\t%d\t%d\n", e.Side, e.Step, e.Start, e.End)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("send trace: %w", err)
	}
	return nil
}

// Receive reads what Send wrote. An empty input is no events: the other side
// died before it could send them.
func Receive(r io.Reader) ([]Event, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("receive trace: %w", err)
	}
	var events []Event
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return events, fmt.Errorf("receive trace: bad line %q", line)
		}
		start, err1 := strconv.ParseInt(f[2], 10, 64)
		end, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil || end < start {
			return events, fmt.Errorf("receive trace: bad times in %q", line)
		}
		events = append(events, Event{Side: f[0], Step: f[1], Start: start, End: end})
	}
	return events, nil
}
