package supervisor

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	const file = `# comment
alice:100000:65536
1001:300000:1000

bob:165536:65536
alice:200000:10
alice:bad:10
alice:5:0
alice:4294967290:100
alice:1:2:3
`
	for _, tc := range []struct {
		name string
		id   uint32
		want []subRange
	}{
		{"alice", 1001, []subRange{{100000, 65536}, {300000, 1000}, {200000, 10}}},
		{"bob", 1002, []subRange{{165536, 65536}}},
		{"carol", 1003, nil},
		{"", 1001, []subRange{{300000, 1000}}}, // no name: by number only
	} {
		got, err := parseSubIDs(strings.NewReader(file), tc.name, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseSubIDs(%q, %d) = %v, want %v", tc.name, tc.id, got, tc.want)
		}
	}
}

func TestRootlessMap(t *testing.T) {
	for _, tc := range []struct {
		own  uint32
		subs []subRange
		want string
	}{
		{1000, nil, "0 1000 1\n"},
		{1000, []subRange{{100000, 65536}}, "0 1000 1\n1 100000 65536\n"},
		{1000, []subRange{{100000, 10}, {300000, 5}}, "0 1000 1\n1 100000 10\n11 300000 5\n"},
		// Sorted by start, whatever the file's order (shadow-utils sorts
		// the file when useradd adds anyone's range).
		{1000, []subRange{{300000, 5}, {100000, 10}}, "0 1000 1\n1 100000 10\n11 300000 5\n"},
		// A range that would run past the last ID inside is left out.
		{1000, []subRange{{100000, 1 << 31}, {1 << 31, 1 << 31}}, "0 1000 1\n1 100000 2147483648\n"},
	} {
		if got := formatMap(rootlessMap(tc.own, tc.subs)); got != tc.want {
			t.Errorf("rootlessMap(%d, %v) =\n%s want\n%s", tc.own, tc.subs, got, tc.want)
		}
	}
	many := make([]subRange, 400)
	for i := range many {
		many[i] = subRange{uint32(100000 + 10*i), 10}
	}
	if m := rootlessMap(1000, many); len(m) != 340 || mapCount(m) != 1+339*10 {
		t.Errorf("400 ranges: %d lines of %d IDs, want the kernel's 340 lines", len(m), mapCount(m))
	}
}

func TestParsePublish(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Publish
		flag    string
		spec    string
		wantErr string
	}{
		{in: "8080:80", want: Publish{HostPort: 8080, ContainerPort: 80}, flag: "-t", spec: "8080:80"},
		{in: "127.0.0.1:8080:80/tcp", want: Publish{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerPort: 80}, flag: "-t", spec: "127.0.0.1/8080:80"},
		{in: "[::1]:53:5353/udp", want: Publish{HostIP: netip.MustParseAddr("::1"), HostPort: 53, ContainerPort: 5353, UDP: true}, flag: "-u", spec: "::1/53:5353"},
		{in: "80", wantErr: "want [IP:]HOST:CONTAINER"},
		{in: "0:80", wantErr: "host port"},
		{in: "80:65536", wantErr: "container port"},
		{in: "80:80/sctp", wantErr: "protocol"},
		{in: "host:80:80", wantErr: "not an IP address"},
	} {
		got, err := ParsePublish(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePublish(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePublish(%q) = %+v, %v, want %+v", tc.in, got, err, tc.want)
			continue
		}
		if f, s := got.pastaSpec(); f != tc.flag || s != tc.spec {
			t.Errorf("pastaSpec(%q) = %s %s, want %s %s", tc.in, f, s, tc.flag, tc.spec)
		}
	}
}

func TestInsideIDs(t *testing.T) {
	m := []IDRange{{0, 1001, 1}, {1, 100000, 65536}, {65537, 27, 1}}
	for _, tc := range []struct {
		ids, want []uint32
	}{
		{nil, nil},
		// The user's own group is root's inside; one /etc/subgid gave it
		// by itself is after the range; one in no line is left out.
		{[]uint32{1001, 27, 44}, []uint32{0, 65537}},
		{[]uint32{100000, 165535, 165536}, []uint32{1, 65536}},
		{[]uint32{27, 27}, []uint32{65537}},
	} {
		if got := insideIDs(tc.ids, m); !slices.Equal(got, tc.want) {
			t.Errorf("insideIDs(%v) = %v, want %v", tc.ids, got, tc.want)
		}
	}
}
