package initproc

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestArgvRoundTrip(t *testing.T) {
	for _, o := range []Options{
		{Grace: DefaultGrace, Args: []string{"/bin/true"}},
		{
			Rootfs: "/srv/root", Hostname: "box",
			Env: []string{"A=1", "B=x=y"}, CleanEnv: true, Workdir: "/tmp",
			Group: true, Grace: 500 * time.Millisecond, Caps: "0xa00425fb", User: "nobody:65534", NoNewPrivs: true, Seccomp: true, ProcUnmasked: true, CPUs: "0-3,8", Binds: []string{"/run/x/hosts:/etc/hosts", "/a:/b"},
			ReadOnly: true, Overlay: "/var/lib/l", KeepLayer: true, ConsoleSocket: 4, TraceFD: 5, Cgroup2: true, UserNS: true, HostFDs: true,
			Volumes: []Volume{{Source: "/srv", Target: "/data", ReadOnly: true}, {Source: "/f", Target: "/etc/f"}},
			Args:    []string{"/bin/sh", "-c", "echo --; exit 3"},
		},
		// A command whose first word looks like a flag is still the command.
		{Grace: DefaultGrace, Args: []string{"-weird", "--rootfs", "x"}},
	} {
		got, err := ParseArgs(o.Argv(), io.Discard)
		if err != nil {
			t.Fatalf("ParseArgs(%q): %v", o.Argv(), err)
		}
		if !reflect.DeepEqual(got, o) {
			t.Errorf("ParseArgs(%q)\n got %+v\nwant %+v", o.Argv(), got, o)
		}
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    []string // the command, when no error
		wantErr string
	}{
		{args: []string{"--", "sleep", "1"}, want: []string{"sleep", "1"}},
		{args: []string{"sleep", "1"}, want: []string{"sleep", "1"}}, // tini style, no --
		{args: []string{"-g", "--", "sh"}, want: []string{"sh"}},
		{args: nil, wantErr: "no command"},
		{args: []string{"--"}, wantErr: "no command"},
		{args: []string{"-e", "NOEQUALS", "--", "sh"}, wantErr: "not KEY=VALUE"},
		{args: []string{"--grace", "-1s", "--", "sh"}, wantErr: "negative"},
		{args: []string{"--sync-fd", "-2", "--", "sh"}, wantErr: "negative"},
		{args: []string{"--sync-fd", "3"}, want: []string{}}, // the rest comes over the channel
		{args: []string{"--sync-fd", "3", "--", "sh"}, wantErr: "comes alone"},
		{args: []string{"--sync-fd", "3", "-g"}, wantErr: "comes alone"},
		{args: []string{"--nope", "--", "sh"}, wantErr: "not defined"},
		{args: []string{"--cpus", "1-0", "--", "sh"}, wantErr: "CPU list"},
		{args: []string{"--bind", "/a", "--", "sh"}, wantErr: "SRC:DST"},
		{args: []string{"--bind", "a:/b", "--", "sh"}, wantErr: "absolute"},
		{args: []string{"--rootfs", "/r", "--volume", "a:/b", "--", "sh"}, wantErr: "not absolute"},
		{args: []string{"--volume", "/a:/b", "--", "sh"}, wantErr: "need --rootfs"},
		{args: []string{"--read-only", "--", "sh"}, wantErr: "need --rootfs"},
		{args: []string{"--rootfs", "/r", "--overlay", "l", "--", "sh"}, wantErr: "not absolute"},
		{args: []string{"--rootfs", "/r", "--keep-layer", "--", "sh"}, wantErr: "needs --overlay"},
	} {
		o, err := ParseArgs(tc.args, io.Discard)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseArgs(%q) error = %v, want one containing %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseArgs(%q): %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(o.Args, tc.want) {
			t.Errorf("ParseArgs(%q).Args = %q, want %q", tc.args, o.Args, tc.want)
		}
	}
}
