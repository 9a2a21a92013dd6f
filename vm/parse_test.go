package vm

import (
	"strings"
	"testing"
)

// TestParseSerial checks how the guest's console is read: only what lies
// between the suite's markers, each top-level test with its own output (a
// parallel test's too), and a missing exit line reported as -1.
func TestParseSerial(t *testing.T) {
	console := strings.Join([]string{
		"SeaBIOS noise",
		"Probing EDD... \x1b[2Jccvm: kernel 6.1.0-48-amd64, cgroup controllers: cpu memory pids",
		"ccvm: suite start",
		"=== RUN   TestA",
		"=== PAUSE TestA",
		"=== RUN   TestB",
		"    b_test.go:3: b says",
		"--- FAIL: TestB (0.10s)",
		"=== CONT  TestA",
		"=== RUN   TestA/sub",
		"    a_test.go:9: a's sub says",
		"=== NAME  TestA",
		"    a_test.go:12: a says",
		"--- PASS: TestA (0.20s)",
		"    --- PASS: TestA/sub (0.01s)",
		"=== RUN   TestC",
		"    c_test.go:1: needs something",
		"--- SKIP: TestC (0.00s)",
		"FAIL",
		"ccvm: suite exit 1\r",
		"[    6.6] reboot: Power down",
	}, "\r\n")
	s := parseSerial([]byte(console))
	if s.exit != 1 || s.banner != "kernel 6.1.0-48-amd64, cgroup controllers: cpu memory pids" {
		t.Errorf("got exit %d banner %q", s.exit, s.banner)
	}
	want := []struct{ name, verdict, out string }{
		{"TestB", "FAIL", "    b_test.go:3: b says\n--- FAIL: TestB (0.10s)"},
		{"TestA", "PASS", "    a_test.go:9: a's sub says\n    a_test.go:12: a says\n--- PASS: TestA (0.20s)\n    --- PASS: TestA/sub (0.01s)"},
		{"TestC", "SKIP", "    c_test.go:1: needs something\n--- SKIP: TestC (0.00s)"},
	}
	if len(s.results) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(s.results), len(want), s.results)
	}
	for i, w := range want {
		r := s.results[i]
		if r.name != w.name || r.verdict != w.verdict || strings.Join(r.lines, "\n") != w.out {
			t.Errorf("result %d: got %s %s\n%s\nwant %s %s\n%s", i, r.name, r.verdict, strings.Join(r.lines, "\n"), w.name, w.verdict, w.out)
		}
	}
	if !s.failed() {
		t.Error("failed() is false with TestB failing")
	}
	if s := parseSerial([]byte("ccvm: suite start\n=== RUN   TestA\n")); s.exit != -1 {
		t.Errorf("no exit line: got exit %d, want -1", s.exit)
	}
}
