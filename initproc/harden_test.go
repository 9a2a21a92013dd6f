package initproc

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestTweakCaps(t *testing.T) {
	for _, tc := range []struct {
		add, drop []string
		want      CapSet
		wantErr   string
	}{
		{want: DefaultCaps},
		{add: []string{"sys_admin"}, want: DefaultCaps | 1<<unix.CAP_SYS_ADMIN},
		{add: []string{"CAP_MKNOD"}, want: DefaultCaps | 1<<unix.CAP_MKNOD},
		{drop: []string{"Cap_Chown"}, want: DefaultCaps &^ (1 << unix.CAP_CHOWN)},
		// Dropped then added: the add wins, as in Docker.
		{add: []string{"CHOWN"}, drop: []string{"CHOWN"}, want: DefaultCaps},
		{drop: []string{"ALL"}, want: 0},
		{add: []string{"NET_RAW"}, drop: []string{"all"}, want: 1 << unix.CAP_NET_RAW},
		{add: []string{"ALL"}, want: AllCaps},
		{add: []string{"ALL"}, drop: []string{"ALL", "SYS_ADMIN"}, want: AllCaps &^ (1 << unix.CAP_SYS_ADMIN)},
		{add: []string{"CAP_NOPE"}, wantErr: `unknown capability "CAP_NOPE"`},
		{drop: []string{""}, wantErr: `unknown capability ""`},
	} {
		got, err := TweakCaps(tc.add, tc.drop)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("TweakCaps(%q, %q): got error %v, want %q", tc.add, tc.drop, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("TweakCaps(%q, %q): %v", tc.add, tc.drop, err)
		case got != tc.want:
			t.Errorf("TweakCaps(%q, %q): got %s, want %s", tc.add, tc.drop, got, tc.want)
		}
	}
}

func TestCapSetRoundTrip(t *testing.T) {
	for _, s := range []CapSet{0, DefaultCaps, AllCaps} {
		got, err := ParseCapSet(s.String())
		if err != nil || got != s {
			t.Errorf("ParseCapSet(%q): got %s, %v", s.String(), got, err)
		}
	}
	for _, bad := range []string{"", "0x", "zz", "0x" + (AllCaps + 1).String()[2:]} {
		if _, err := ParseCapSet(bad); err == nil {
			t.Errorf("ParseCapSet(%q) accepted", bad)
		}
	}
	if unix.CAP_LAST_CAP != len(capNames)-1 {
		t.Errorf("the kernel headers know %d capabilities, the name table %d", unix.CAP_LAST_CAP+1, len(capNames))
	}
	for c, n := range capNames {
		if n == "" {
			t.Errorf("capability %d has no name", c)
		}
	}
}

func TestLookupUser(t *testing.T) {
	const passwd = `root:x:0:0:root:/root:/bin/sh
# a comment
broken line
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000::/home/app:/bin/sh
nohome:x:1001:1001:::/bin/sh
nochange:x:4294967295:1000::/:/bin/sh
nochangegid:x:1002:4294967295::/:/bin/sh
negative:x:-1:1000::/:/bin/sh
member:x:1003:1003::/:/bin/sh
`
	const group = `root:x:0:
tty:x:5:app
audio:x:29:other,app
app:x:1000:
nogroup:x:65534:
nochangegrp:x:4294967295:
badmember:x:4294967295:member
`
	for _, tc := range []struct {
		spec    string
		want    Cred
		wantErr string
	}{
		{spec: "0", want: Cred{UID: 0, GID: 0, Home: "/root"}},
		{spec: "root", want: Cred{UID: 0, GID: 0, Home: "/root"}},
		{spec: "65534", want: Cred{UID: 65534, GID: 65534, Home: "/nonexistent"}},
		{spec: "app", want: Cred{UID: 1000, GID: 1000, Groups: []uint32{5, 29}, Home: "/home/app"}},
		{spec: "1000", want: Cred{UID: 1000, GID: 1000, Groups: []uint32{5, 29}, Home: "/home/app"}},
		{spec: "app:tty", want: Cred{UID: 1000, GID: 5, Groups: []uint32{5, 29}, Home: "/home/app"}},
		{spec: "app:42", want: Cred{UID: 1000, GID: 42, Groups: []uint32{5, 29}, Home: "/home/app"}},
		{spec: "nohome", want: Cred{UID: 1001, GID: 1001, Home: "/"}},
		// A number needs no entry; its group is 0 unless given.
		{spec: "4242", want: Cred{UID: 4242, Home: "/"}},
		{spec: "4242:4343", want: Cred{UID: 4242, GID: 4343, Home: "/"}},
		{spec: "nosuch", wantErr: `no user "nosuch"`},
		{spec: "app:nosuch", wantErr: `no group "nosuch"`},
		{spec: "", wantErr: "want USER[:GROUP]"},
		{spec: "app:", wantErr: "want USER[:GROUP]"},
		{spec: "1:2:3", wantErr: "want USER[:GROUP]"},
		{spec: "4294967296", wantErr: "out of range"},
		// (uid_t)-1 is "no change" to setresuid: the command would stay root.
		{spec: "4294967295", wantErr: "out of range"},
		{spec: "1000:4294967295", wantErr: "out of range"},
		{spec: "4294967294:4294967294", want: Cred{UID: 4294967294, GID: 4294967294, Home: "/"}},
		{spec: "-1", wantErr: "out of range"},
		{spec: "1000:-1", wantErr: "out of range"},
		{spec: "nochange", wantErr: "uid 4294967295 is out of range"},
		{spec: "4294967295:0", wantErr: "out of range"},
		{spec: "nochangegid", wantErr: "gid 4294967295 is out of range"},
		{spec: "1002", wantErr: "gid 4294967295 is out of range"},
		{spec: "negative", wantErr: "uid -1 is out of range"},
		{spec: "app:nochangegrp", wantErr: "gid 4294967295 is out of range"},
		{spec: "member", wantErr: `group "badmember"`},
	} {
		got, err := lookupUser(tc.spec, strings.NewReader(passwd), strings.NewReader(group))
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("lookupUser(%q): got error %v, want %q", tc.spec, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("lookupUser(%q): %v", tc.spec, err)
		case !reflect.DeepEqual(got, tc.want):
			t.Errorf("lookupUser(%q): got %+v, want %+v", tc.spec, got, tc.want)
		}
	}
}
