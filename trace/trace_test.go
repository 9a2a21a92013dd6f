package trace

import (
	"bytes"
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
