package initproc

import (
	"errors"
	"os/signal"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWaitGo(t *testing.T) {
	for _, tc := range []struct {
		name string
		send []string // messages, then the supervisor's end is closed
		want error
	}{
		{"go", []string{SyncGo}, nil},
		{"EOF: supervisor gone", nil, ErrSupervisorGone},
		{"anything else", []string{"stop"}, ErrSupervisorGone},
		{"go with trailing bytes", []string{SyncGo + "!"}, ErrSupervisorGone},
		{"a prefix of go", []string{SyncGo[:1]}, ErrSupervisorGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, theirs := syncPair(t)
			for _, m := range tc.send {
				if err := sendMsg(ours, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			closeFD(t, ours)
			// waitGo owns and closes the fd it is given.
			if got := waitGo(theirs); !errors.Is(got, tc.want) {
				t.Errorf("waitGo after %q = %v, want %v", tc.send, got, tc.want)
			}
		})
	}
}

func TestConfigRoundTrip(t *testing.T) {
	o := Options{
		Rootfs: "/srv/root with space", Hostname: "box", Env: []string{"A=1", "B=x=y", "C=line\nbreak"}, CleanEnv: true,
		Grace: 500 * time.Millisecond, Caps: "0xa00425fb", Overlay: "/var/lib/l", TraceFD: 5,
		Args: []string{"/bin/sh", "-c", "echo --; exit 3", ""},
	}
	got, err := DecodeConfig(EncodeConfig(o))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("DecodeConfig(EncodeConfig(o))\n got %+v\nwant %+v", got, o)
	}
}

func TestDecodeConfigRefuses(t *testing.T) {
	good := string(EncodeConfig(Options{Grace: DefaultGrace, Args: []string{"sh"}}))
	for _, tc := range []struct{ name, msg, wantErr string }{
		{"another version", strings.Replace(good, SyncVersion, "ccinit-sync-0", 1), "version"},
		{"no version", "--\x00sh\x00", "version"},
		{"cut short", strings.TrimSuffix(good, "\x00"), "malformed"},
		{"names a channel", SyncVersion + "\x00--sync-fd\x003\x00", "names a sync channel"},
		{"no command", SyncVersion + "\x00--\x00", "no command"},
	} {
		if _, err := DecodeConfig([]byte(tc.msg)); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: DecodeConfig(%q) = %v, want an error containing %q", tc.name, tc.msg, err, tc.wantErr)
		}
	}
}

// TestReceiveConfig plays the supervisor: the config waits in the socket
// before ccinit looks, and hello comes back.
func TestReceiveConfig(t *testing.T) {
	ours, theirs := syncPair(t)
	defer closeFD(t, theirs)
	big := strings.Repeat("x", 100<<10) // more than one page, less than the default buffer
	want := Options{Grace: DefaultGrace, Env: []string{"BIG=" + big}, Args: []string{"/bin/true"}}
	if err := sendMsg(ours, EncodeConfig(want)); err != nil {
		t.Fatal(err)
	}
	got, err := ReceiveConfig(theirs)
	if err != nil {
		t.Fatal(err)
	}
	want.SyncFD = theirs
	if got.sigs == nil {
		t.Error("ReceiveConfig did not ask for the early signals before its hello")
	} else {
		signal.Stop(got.sigs) // this test process's own again
		got.sigs = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReceiveConfig: got %d env bytes, args %q; want the options sent", len(strings.Join(got.Env, "")), got.Args)
	}
	hello, err := recvMsg(ours)
	if err != nil || string(hello) != SyncVersion {
		t.Errorf("hello: got %q (%v), want %q", hello, err, SyncVersion)
	}
	closeFD(t, ours)
	// The supervisor gone before "go".
	if _, err := ReceiveConfig(theirs); !errors.Is(err, ErrSupervisorGone) {
		t.Errorf("ReceiveConfig after the supervisor closed its end: %v, want ErrSupervisorGone", err)
	}
}
