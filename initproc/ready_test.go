package initproc

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestReadyPipeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, reason, want string
	}{
		{"plain", "mount proc on /proc: permission denied", "mount proc on /proc: permission denied"},
		{"newline escaped", "working directory \"/a\nb\": not a directory", `working directory "/a\nb": not a directory`},
		{"empty reason", "", ""},
		{"reason that reads ready", ReadyMsg, ReadyMsg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := EncodeFailure(tc.reason)
			if strings.Contains(string(msg), "\n") {
				t.Errorf("EncodeFailure(%q) = %q: more than one line", tc.reason, msg)
			}
			ready, got := DecodeReady(msg)
			if ready || got != tc.want {
				t.Errorf("DecodeReady(EncodeFailure(%q)) = %v, %q; want false, %q", tc.reason, ready, got, tc.want)
			}
		})
	}
}

func TestEncodeFailureFitsOneWrite(t *testing.T) {
	// 3-byte characters, so that the cut lands inside one unless it looks.
	long := strings.Repeat("é€", MaxReadyMsg)
	msg := EncodeFailure(long)
	if len(msg) > MaxReadyMsg {
		t.Fatalf("message of %d bytes, want at most %d (one atomic pipe write)", len(msg), MaxReadyMsg)
	}
	_, got := DecodeReady(msg)
	if !utf8.ValidString(got) || !strings.HasPrefix(long, got) || len(got) < MaxReadyMsg-len(failHead)-3 {
		t.Errorf("cut reason of %d bytes (valid UTF-8: %v): want the longest whole-character prefix", len(got), utf8.ValidString(got))
	}
}

func TestDecodeReady(t *testing.T) {
	for _, tc := range []struct {
		msg        string
		ready      bool
		wantReason string
	}{
		{ReadyMsg, true, ""},
		{"", false, ""},               // EOF: ccinit gave no word
		{"rea", false, ""},            // cut short
		{ReadyMsg + "!", false, ""},   // not exactly ready
		{"fail: x\ny", false, `x\ny`}, // still one line
		{"fail:x", false, ""},         // not our head
		{"error: x", false, ""},       // nor this
	} {
		ready, reason := DecodeReady([]byte(tc.msg))
		if ready != tc.ready || reason != tc.wantReason {
			t.Errorf("DecodeReady(%q) = %v, %q; want %v, %q", tc.msg, ready, reason, tc.ready, tc.wantReason)
		}
	}
}
