package supervisor

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// TestUserNSVar checks the variable ccinit's entry point reads: four
// non-zero bytes after the name, from which the flags come back as the
// assembly decodes them.
func TestUserNSVar(t *testing.T) {
	for _, tt := range []struct {
		flags        uintptr
		pipe, wantFD byte
	}{
		{userNSFlags, 9, 9},
		{unix.CLONE_NEWNS | unix.CLONE_NEWNET, 9, 0xff}, // no PID namespace: no pipe
		{0, 0, 0xff},
	} {
		v := userNSVar(7, tt.flags, int(tt.pipe))
		val, ok := strings.CutPrefix(v, initproc.UserNSVar+"=")
		if !ok || len(val) != 4 || strings.IndexByte(val, 0) >= 0 {
			t.Errorf("flags %#x: got %q, want %s= and four non-zero bytes", tt.flags, v, initproc.UserNSVar)
			continue
		}
		got := uintptr(val[1]&0x7f)<<17 | uintptr(val[2]&0x7f)<<24
		if val[0] != 7 || got != tt.flags || val[3] != tt.wantFD {
			t.Errorf("flags %#x: got fd %d, flags %#x, pipe %d; want 7, %#x, %d", tt.flags, val[0], got, val[3], tt.flags, tt.wantFD)
		}
	}
}

func TestParseIDMap(t *testing.T) {
	got, err := parseIDMap("         0     300000      65536\n     65536         5          1\n")
	want := []IDRange{{Inside: 0, Outside: 300000, Count: 65536}, {Inside: 65536, Outside: 5, Count: 1}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	if got, err := parseIDMap(""); err != nil || len(got) != 0 {
		t.Errorf("empty map: got %v, %v; want none", got, err)
	}
	if _, err := parseIDMap("0 1\n"); err == nil {
		t.Error("a line of two numbers: no error")
	}
}

// TestOpenUserNS refuses what is no user namespace to join.
func TestOpenUserNS(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"/proc/self/ns/net", "is not a user namespace"},
		{"/proc/self/ns/user", "ccsuper's own"},
		{"/nonexistent/ns", "no such file"},
	} {
		f, err := openUserNS(tt.path)
		if err == nil {
			f.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error saying %q", tt.path, err, tt.want)
		}
	}
}

func TestSameMap(t *testing.T) {
	a := []IDRange{{Inside: 0, Outside: 300000, Count: 1}, {Inside: 1, Outside: 5, Count: 10}}
	b := []IDRange{a[1], a[0]}
	if !sameMap(a, b) {
		t.Errorf("%v and %v: want the same map, in another order", a, b)
	}
	if sameMap(a, a[:1]) || sameMap(a, []IDRange{a[0], {Inside: 1, Outside: 6, Count: 10}}) {
		t.Error("different maps reported the same")
	}
	if got := mapLine(a); got != "0 300000 1, 1 5 10" {
		t.Errorf("mapLine: got %q", got)
	}
}
