package initproc

import (
	"os"
	"strings"
	"testing"
)

// TestCheckEntry reads the marks ccinit's entry point leaves on MountNSVar
// and UserNSVar.
func TestCheckEntry(t *testing.T) {
	for _, tt := range []struct {
		name, val string
		want      string // in the error; "" for none
	}{
		{"", "", ""},
		{"cCMNTNS", "\x05", ""},
		{"CCMNTNS", "\x05", "built without its entry point"},
		{"ECMNTNS", "\x01", "operation not permitted"},
		{"ECMNTNS", "\x01\x02", "malformed"},
		{"cCUSRNS", "\x05\x81\xa0\x06", ""},
		{"CCUSRNS", "\x05\x81\xa0\x06", "built without its entry point"},
		{"ECUSRNS", "\x16u\xa0\x06", "join a user namespace: invalid argument"},
		{"ECUSRNS", "\x16i\xa0\x06", "become uid 0 of the joined user namespace: invalid argument"},
		{"ECUSRNS", "\x01n\xa0\x06", "make the container's namespaces in the joined user namespace: operation not permitted"},
		{"ECUSRNS", "\x01z\xa0\x06", "malformed"},
	} {
		if tt.name != "" {
			t.Setenv(tt.name, tt.val)
		}
		err := CheckEntry()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s=%q: %v, want no error", tt.name, tt.val, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s=%q: %v, want an error saying %q", tt.name, tt.val, err, tt.want)
		}
		if _, set := os.LookupEnv(tt.name); tt.name != "" && set {
			t.Errorf("%s is still set", tt.name)
		}
	}
}

// TestMapWaitMark reads the marks ccinit's entry point leaves on
// MapWaitVar.
func TestMapWaitMark(t *testing.T) {
	for _, tt := range []struct {
		name, val string
		mapped    bool
		sig       int
		want      string // in the error; "" for none
	}{
		{name: ""},
		{name: "CCMAPFD", val: "\x03@"}, // no entry point ran
		{name: "cCMAPFD", val: "\x03I", mapped: true, sig: 9}, // SIGKILL to arm again
		{name: "cCMAPFD", val: "\x03@", mapped: true},         // no signal
		{name: "ECMAPFD", val: "\x09@", want: "bad file descriptor"},
		{name: "GCMAPFD", val: "\x03@", want: ErrSupervisorGone.Error()},
		{name: "MCMAPFD", val: "\x03@", want: "another message"},
		{name: "cCMAPFD", val: "\x03", want: "malformed"},
		{name: "xCMAPFD", val: "\x03@", want: "malformed"},
	} {
		if tt.name != "" {
			t.Setenv(tt.name, tt.val)
		}
		mapped, sig, err := mapWaitMark()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s=%q: %v, want no error", tt.name, tt.val, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s=%q: %v, want an error saying %q", tt.name, tt.val, err, tt.want)
		case mapped != tt.mapped || sig != tt.sig:
			t.Errorf("%s=%q: mapped %v, signal %d, want %v, %d", tt.name, tt.val, mapped, sig, tt.mapped, tt.sig)
		}
		if _, set := os.LookupEnv(tt.name); tt.name != "" && set {
			t.Errorf("%s is still set", tt.name)
		}
	}
	if got := MapWaitEnv(3); got != "CCMAPFD=\x03@" {
		t.Errorf("MapWaitEnv(3) = %q", got)
	}
}
