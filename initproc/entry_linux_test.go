package initproc

import (
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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
		{"ECUSRNS", "\x16u\xa0\x06", "malformed"}, // a failure goes on the pipe, never here
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

// TestEntryFailure names the failed step the entry point writes on its
// pipe.
func TestEntryFailure(t *testing.T) {
	for _, tt := range []struct {
		errno unix.Errno
		step  byte
		want  string
	}{
		{unix.EINVAL, 'm', "join a mount namespace: invalid argument"},
		{unix.EPERM, 'u', "join a user namespace: operation not permitted"},
		{unix.EINVAL, 'g', "become gid 0 of the joined user namespace (the joined user namespace does not map 0): invalid argument"},
		{unix.ENOSPC, 'n', "make the container's namespaces in the joined user namespace: no space left on device"},
		{unix.EAGAIN, 'f', "fork PID 1 of the new PID namespace: resource temporarily unavailable"},
		{0, 'e', "built without its entry point"},
		{unix.EPERM, 'z', "unknown step"},
	} {
		if err := EntryFailure(byte(tt.errno), tt.step); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q, %v: got %v, want an error saying %q", tt.step, tt.errno, err, tt.want)
		}
	}
}

// TestReportNoEntry: an unmarked UserNSVar is reported on its pipe, which
// is then closed; a marked one, or none, is left alone.
func TestReportNoEntry(t *testing.T) {
	var p [2]int // raw: ReportNoEntry closes the write end itself
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, fd := os.NewFile(uintptr(p[0]), "pipe"), p[1]
	defer r.Close()
	if fd > 0xff {
		_ = unix.Close(fd)
		t.Skipf("descriptor %d is more than a byte", fd)
	}
	if ReportNoEntry() {
		t.Error("no variable: reported")
	}
	t.Setenv("c"+UserNSVar[1:], "\x05\x81\xa0"+string(rune(fd)))
	if ReportNoEntry() {
		t.Error("a marked variable: reported")
	}
	t.Setenv(UserNSVar, "\x05\x81\xa0"+string(rune(fd)))
	if !ReportNoEntry() {
		t.Fatal("an unmarked variable: not reported")
	}
	b, err := io.ReadAll(r) // EOF: ReportNoEntry closed the only write end
	if err != nil || string(b) != "\x00e\x00\x80" {
		t.Errorf("on the pipe: got %q, %v; want errno 0, step e, 0, 0x80", b, err)
	}
}
