package supervisor

import (
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// TestUserNSVar checks the variable is four non-zero bytes after the name,
// which the entry point requires (it ignores the variable otherwise). What
// the assembly makes of them is for the e2e tests (TestOCIUserNSPath*).
func TestUserNSVar(t *testing.T) {
	for _, flags := range []uintptr{userNSFlags, unix.CLONE_NEWNS | unix.CLONE_NEWNET, 0} {
		v := userNSVar(7, flags, 9)
		val, ok := strings.CutPrefix(v, initproc.UserNSVar+"=")
		if !ok || len(val) != 4 || strings.IndexByte(val, 0) >= 0 {
			t.Errorf("flags %#x: got %q, want %s= and four non-zero bytes", flags, v, initproc.UserNSVar)
		}
	}
}

// TestReadClonePID reads what the entry point writes on its pipe, through a
// real pipe: a PID, 0, a failure, a short write.
func TestReadClonePID(t *testing.T) {
	for _, tt := range []struct {
		name    string
		b       []byte
		want    int
		wantErr string
	}{
		{"pid", []byte{0x39, 0x30, 0, 0}, 12345, ""},
		{"no clone", []byte{0, 0, 0, 0}, 0, ""},
		{"unshare failed", []byte{byte(unix.ENOSPC), 'n', 0, 0x80}, 0, "make the container's namespaces in the joined user namespace: " + unix.ENOSPC.Error()},
		{"no entry point", []byte{0, 'e', 0, 0x80}, 0, "built without its entry point"},
		{"eof", []byte{1, 2}, 0, "ended before it joined"},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(tt.b); err != nil {
			t.Fatal(err)
		}
		w.Close()
		got, err := readClonePID(r)
		r.Close()
		if tt.wantErr == "" && (err != nil || got != tt.want) {
			t.Errorf("%s: got %d, %v; want %d", tt.name, got, err, tt.want)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: got %d, %v; want an error saying %q", tt.name, got, err, tt.wantErr)
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
