package initproc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestParseArgsUsageOnlyForHelp checks that a bad flag writes nothing (the
// caller reports the error in one line) and -h writes the usage.
func TestParseArgsUsageOnlyForHelp(t *testing.T) {
	var out bytes.Buffer
	if _, err := ParseArgs([]string{"-bogus", "--", "true"}, &out); err == nil || out.Len() != 0 {
		t.Errorf("ParseArgs(-bogus): error %v, usage written %q; want an error and nothing written", err, out.String())
	}
	out.Reset()
	if _, err := ParseArgs([]string{"-h"}, &out); !errors.Is(err, ErrHelp) || !strings.HasPrefix(out.String(), "usage: ccinit") || !strings.Contains(out.String(), "-grace") {
		t.Errorf("ParseArgs(-h): error %v, wrote %q; want ErrHelp and the whole usage", err, out.String())
	}
}
