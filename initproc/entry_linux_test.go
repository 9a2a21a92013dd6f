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
