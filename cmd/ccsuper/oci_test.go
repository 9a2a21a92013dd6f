package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestIsOCI(t *testing.T) {
	tests := []struct {
		args string
		want bool
	}{
		{"create c1", true},
		{"--root /x --log /l --log-format json create --bundle b c1", true},
		{"--root=/x state c1", true},
		{"--debug --systemd-cgroup kill c1 KILL", true},
		{"--version", true},
		{"features", true},
		{"--rootfs r", false},
		{"--rootfs r -- create", false},
		{"--rootfs create", false},
		{"cleanup", false},
		{"", false},
		{"--root /x", false},
		{"--root /x frobnicate", false},
	}
	for _, tt := range tests {
		if got := isOCI(strings.Fields(tt.args)); got != tt.want {
			t.Errorf("isOCI(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want unix.Signal
		err  bool
	}{
		{"KILL", unix.SIGKILL, false}, {"SIGTERM", unix.SIGTERM, false}, {"term", unix.SIGTERM, false},
		{"9", unix.SIGKILL, false}, {"64", unix.Signal(64), false},
		{"0", 0, true}, {"65", 0, true}, {"NOPE", 0, true}, {"", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSignal(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestLogJSON: engines parse runc's log lines for "level", "msg", "time".
func TestLogJSON(t *testing.T) {
	var buf bytes.Buffer
	e := &ociEnv{log: &buf, logFormat: "json"}
	e.logLine("error", "container c1: no such thing")
	var line map[string]string
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not a JSON line: %q: %v", buf.String(), err)
	}
	if line["level"] != "error" || line["msg"] != "container c1: no such thing" || line["time"] == "" {
		t.Errorf("got %v", line)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("want one line, got %q", buf.String())
	}
}

// TestOCIUsageErrors: bad command lines fail with 125 before anything runs.
func TestOCIUsageErrors(t *testing.T) {
	for _, args := range []string{
		"--log-format yaml state c1",
		"state",
		"state a b",
		"kill",
		"create --no-such-flag c1",
		"spec extra",
		"features extra",
		"state ../x",
	} {
		if got := runOCI(append([]string{"--root", t.TempDir()}, strings.Fields(args)...)); got != 125 {
			t.Errorf("%q: exit %d, want 125", args, got)
		}
	}
}
