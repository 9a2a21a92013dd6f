package initproc

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestArgvRoundTrip(t *testing.T) {
	for _, o := range []Options{
		{Grace: DefaultGrace, Args: []string{"/bin/true"}},
		fullOptions(),
		fullOCI(),
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

// fullOptions sets every field of ccinit's own options.
func fullOptions() Options {
	return Options{
		Rootfs: "/srv/root", Hostname: "box",
		Env: []string{"A=1", "B=x=y"}, CleanEnv: true, Workdir: "/tmp",
		Group: true, Grace: 500 * time.Millisecond, Caps: "0xa00425fb", User: "nobody:65534", AddGroups: []uint32{100, 65537}, NoNewPrivs: true, Seccomp: true, ProcUnmasked: true, CPUs: "0-3,8", Binds: []string{"/run/x/hosts:/etc/hosts", "/a:/b"},
		ReadOnly: true, Overlay: "/var/lib/l", KeepLayer: true, ConsoleSocket: 4, TraceFD: 5, Cgroup2: true, Cgroup1: []string{"/sys/fs/cgroup/memory/x:memory"}, UserNS: true, Loopback: true, HostFDs: true,
		Volumes: []Volume{{Source: "/srv", Target: "/data", ReadOnly: true}, {Source: "/f", Target: "/etc/f"}},
		Args:    []string{"/bin/sh", "-c", "echo --; exit 3"},
	}
}

// fullOCI sets every field an OCI bundle gives ccinit.
func fullOCI() Options {
	return Options{
		Rootfs: "/b/rootfs", Grace: DefaultGrace, Args: []string{"sh"},
		OCI: OCI{
			Enabled: true,
			Mounts: []Mount{
				{Type: "proc", Source: "proc", Target: "/proc", Flags: 0xe},
				{Type: "bind", Source: "/h", Target: "/c", Flags: 0x5000, Propagation: 0x40000, Data: "x=1"},
			},
			Devices:         []Device{{Path: "/dev/fuse", Major: 10, Minor: 229, Mode: 0o20666, UID: 1, GID: 2}},
			RootPropagation: 0x80000,
			NoDev:           true,
			Sysctl:          []string{"net.ipv4.ip_forward=1", "kernel.msgmax=8192"},
			MaskedPaths:     []string{"/proc/kcore", "/sys/firmware"},
			ReadonlyPaths:   []string{"/proc/sys"},
			Rlimits:         []Rlimit{{Resource: 7, Soft: 1024, Hard: 4096}},
			Groups:          []uint32{10, 20},
			Umask:           "027",
			Bounding:        "0xff", Inheritable: "0x1", Ambient: "0x1",
			Seccomp:     "0600000000000000",
			ConsoleRows: 24, ConsoleCols: 80,
			ExecFIFO: 4, ReadyFD: 5, ExecSock: 6,
			Hooks: []Hook{
				{Path: "/bin/h", Args: []string{"h", "a b"}, Env: []string{"A=1"}, Timeout: 3},
				{Start: true, Path: "/bin/s", Args: []string{"s"}, Env: []string{"B=2"}},
			},
			HookState: `{"id":"x"}`,
		},
	}
}

// TestArgvEveryFlag: the round trip's populated options set every flag but
// --sync-fd (which comes alone), so a flag Argv could drop is caught there.
func TestArgvEveryFlag(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range []Options{fullOptions(), fullOCI()} {
		for _, a := range o.Argv() {
			if a == "--" {
				break
			}
			seen[strings.TrimLeft(a, "-")] = true
		}
	}
	var o Options
	NewFlagSet(&o, io.Discard).VisitAll(func(f *flag.Flag) {
		if f.Name != "sync-fd" && !seen[f.Name] {
			t.Errorf("no test options set --%s: TestArgvRoundTrip does not cover it", f.Name)
		}
	})
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
