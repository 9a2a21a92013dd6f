package devicefilter

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func n(v int64) *int64 { return &v }

// rule builds a device rule: typ "" for every device, major or minor nil
// for "*".
func rule(allow bool, typ string, major, minor *int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: major, Minor: minor, Access: access}
}

func TestEmulate(t *testing.T) {
	denyAll := rule(false, "a", nil, nil, "rwm")
	allowAll := rule(true, "a", nil, nil, "rwm")
	for _, tc := range []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  Policy
	}{
		{"no rules", nil, Policy{DefaultAllow: true}},
		{"deny all", []specs.LinuxDeviceCgroup{denyAll}, Policy{}},
		{"an all-devices rule reads no numbers or access", []specs.LinuxDeviceCgroup{rule(false, "", n(1), n(3), "r")}, Policy{}},
		{"allowances merge for the same numbers", []specs.LinuxDeviceCgroup{
			denyAll, rule(true, "c", n(1), n(3), "r"), rule(true, "c", n(1), n(3), "w"), rule(true, "c", n(1), nil, "m"),
		}, Policy{Exceptions: []Exception{{Char, 1, 3, Read | Write}, {Char, 1, Wildcard, Mknod}}}},
		{"a denial takes operations from the same numbers' allowance", []specs.LinuxDeviceCgroup{
			denyAll, rule(true, "c", n(1), n(3), "rwm"), rule(false, "c", n(1), n(3), "w"),
		}, Policy{Exceptions: []Exception{{Char, 1, 3, Read | Mknod}}}},
		{"an allowance left with no operation goes", []specs.LinuxDeviceCgroup{
			denyAll, rule(true, "b", n(8), n(0), "r"), rule(false, "b", n(8), n(0), "rw"),
		}, Policy{Exceptions: []Exception{}}},
		{"a denial leaves a wider allowance alone", []specs.LinuxDeviceCgroup{
			denyAll, rule(true, "c", n(1), nil, "rw"), rule(false, "c", n(1), n(5), "rw"),
		}, Policy{Exceptions: []Exception{{Char, 1, Wildcard, Read | Write}}}},
		{"an allowance leaves a wider denial alone", []specs.LinuxDeviceCgroup{
			rule(false, "c", n(1), nil, "w"), rule(true, "c", n(1), n(3), "w"),
		}, Policy{DefaultAllow: true, Exceptions: []Exception{{Char, 1, Wildcard, Write}}}},
		{"an allowance under allow-all is a no-op", []specs.LinuxDeviceCgroup{rule(true, "b", n(8), n(0), "r")}, Policy{DefaultAllow: true}},
		{"allow all clears what came before", []specs.LinuxDeviceCgroup{
			denyAll, rule(true, "c", n(1), n(3), "rwm"), allowAll, rule(false, "b", nil, nil, "w"),
		}, Policy{DefaultAllow: true, Exceptions: []Exception{{Block, Wildcard, Wildcard, Write}}}},
		{"no access is every access; a negative number is every number", []specs.LinuxDeviceCgroup{
			denyAll, rule(true, "c", n(-1), n(4294967295), ""),
		}, Policy{Exceptions: []Exception{{Char, Wildcard, Wildcard, Read | Write | Mknod}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Emulate(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Exceptions) == 0 && len(tc.want.Exceptions) == 0 {
				got.Exceptions, tc.want.Exceptions = nil, nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEmulateRefuses(t *testing.T) {
	for _, tc := range []struct {
		rule specs.LinuxDeviceCgroup
		want string
	}{
		{rule(true, "p", nil, nil, "rwm"), `device rule 1: type "p" is not a, b or c`},
		{rule(true, "c", n(1), n(3), "rx"), `device rule 1: access "rx" is not made of r, w and m`},
		{rule(true, "c", n(1<<32), n(3), "r"), "device rule 1: major: 4294967296 is above the kernel's 4294967295"},
		{rule(true, "b", n(1), n(1<<40), "r"), "device rule 1: minor: 1099511627776 is above"},
	} {
		_, err := Emulate([]specs.LinuxDeviceCgroup{rule(false, "a", nil, nil, "rwm"), tc.rule})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("rule %+v: got error %v, want %q", tc.rule, err, tc.want)
		}
	}
}

func TestV1Rule(t *testing.T) {
	for _, tc := range []struct {
		r    specs.LinuxDeviceCgroup
		want string
	}{
		{rule(false, "", nil, nil, "rwm"), "a *:* rwm"},
		{rule(true, "c", n(1), n(3), "rw"), "c 1:3 rw"},
		{rule(true, "b", n(8), nil, "r"), "b 8:* r"},
		{rule(true, "c", n(-1), n(-1), ""), "c *:* rwm"},
	} {
		if got := V1Rule(tc.r); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.r, got, tc.want)
		}
	}
}
