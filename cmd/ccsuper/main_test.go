package main

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/ccontainer/ccontainer/supervisor"
)

func TestParseArgs(t *testing.T) {
	t.Setenv("CCTEST_FROM_HOST", "hostval")
	for _, tc := range []struct {
		name    string
		args    []string
		want    supervisor.Config
		wantErr string
	}{{
		name: "defaults",
		args: []string{"--rootfs", "./r"},
		want: supervisor.Config{Interactive: true, Rootfs: "./r", Hostname: supervisor.DefaultHostname, Net: supervisor.NetBridge, Subnet: supervisor.DefaultSubnet, Args: []string{"/bin/sh"}, Env: []string{"ENV=/etc/profile"}},
	}, {
		name: "everything",
		args: []string{"--rootfs=./r", "--hostname", "box", "-e", "A=1", "--env", "B=2", "-e", "CCTEST_FROM_HOST",
			"-e", "CCTEST_UNSET", "--workdir", "/w", "--init", "/opt/ccinit", "--net", "bridge", "--subnet", "10.9.0.0/16", "--nat",
			"--", "/bin/sh", "-c", "echo $A"},
		want: supervisor.Config{Interactive: true, Rootfs: "./r", Hostname: "box", Env: []string{"A=1", "B=2", "CCTEST_FROM_HOST=hostval"},
			Workdir: "/w", Init: "/opt/ccinit", Net: supervisor.NetBridge, Subnet: "10.9.0.0/16", NAT: true,
			Args: []string{"/bin/sh", "-c", "echo $A"}},
	}, {
		name: "security flags, repeatable",
		args: []string{"--rootfs", "r", "--cap-add", "SYS_ADMIN", "--cap-add", "net_admin", "--cap-drop", "ALL",
			"--seccomp", "unconfined", "--user", "app:tty", "--new-privileges", "--privileged"},
		want: supervisor.Config{Rootfs: "r", Hostname: supervisor.DefaultHostname, Net: supervisor.NetBridge, Subnet: supervisor.DefaultSubnet,
			CapAdd: []string{"SYS_ADMIN", "net_admin"}, CapDrop: []string{"ALL"}, Seccomp: "unconfined", User: "app:tty",
			NewPrivs: true, Privileged: true, Args: []string{"/bin/sh"}, Interactive: true, Env: []string{"ENV=/etc/profile"}},
	}, {
		name: "command flags after -- belong to the command",
		args: []string{"--rootfs", "r", "--", "ls", "--hostname", "-e"},
		want: supervisor.Config{Interactive: true, Rootfs: "r", Hostname: supervisor.DefaultHostname, Net: supervisor.NetBridge, Subnet: supervisor.DefaultSubnet,
			Args: []string{"ls", "--hostname", "-e"}},
	}, {
		name: "no network",
		args: []string{"--rootfs", "r", "--net", "none"},
		want: supervisor.Config{Interactive: true, Rootfs: "r", Hostname: supervisor.DefaultHostname, Net: supervisor.NetNone, Subnet: supervisor.DefaultSubnet,
			Args: []string{"/bin/sh"}, Env: []string{"ENV=/etc/profile"}},
	}, {
		name: "docker's -it, then no stdin",
		args: []string{"--rootfs", "r", "-it", "-i=false", "--", "-it"},
		want: supervisor.Config{Rootfs: "r", Hostname: supervisor.DefaultHostname, Net: supervisor.NetBridge, Subnet: supervisor.DefaultSubnet,
			TTY: true, Args: []string{"-it"}},
	}, {
		name: "the last of --tty and -ti wins",
		args: []string{"--rootfs", "r", "--tty=false", "-ti"},
		want: supervisor.Config{Interactive: true, Rootfs: "r", Hostname: supervisor.DefaultHostname, Net: supervisor.NetBridge, Subnet: supervisor.DefaultSubnet,
			TTY: true, Args: []string{"/bin/sh"}, Env: []string{"ENV=/etc/profile"}},
	}, {
		name:    "tty is a boolean",
		args:    []string{"--rootfs", "r", "--tty=maybe"},
		wantErr: `"maybe" is not a boolean`,
	}, {
		name: "root options",
		args: []string{"--rootfs", "r", "--read-only", "--overlay", "--keep", "-v", "/a:/b", "--volume", "c:/d:ro"},
		want: supervisor.Config{Rootfs: "r", Hostname: supervisor.DefaultHostname, Net: supervisor.NetBridge, Subnet: supervisor.DefaultSubnet,
			Interactive: true, Env: []string{"ENV=/etc/profile"},
			ReadOnly: true, Overlay: true, Keep: true, Volumes: []string{"/a:/b", "c:/d:ro"}, Args: []string{"/bin/sh"}},
	}, {
		name:    "unknown network mode",
		args:    []string{"--rootfs", "r", "--net", "overlay"},
		wantErr: "want bridge, none, host or pasta",
	}, {
		name:    "unknown flag",
		args:    []string{"--rootfs", "r", "--no-such-flag"},
		wantErr: "flag provided but not defined: -no-such-flag",
	}, {
		name:    "bad env",
		args:    []string{"--rootfs", "r", "-e", "=1"},
		wantErr: "empty name",
	}, {
		name:    "missing flag value",
		args:    []string{"--rootfs"},
		wantErr: "needs an argument",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := parseArgs(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseArgs(%q) error = %v, want one containing %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", tc.args, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseArgs(%q)\n got %+v\nwant %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out strings.Builder
	_, _, err := parseArgs([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseArgs(--help) error = %v, want flag.ErrHelp", err)
	}
	for _, f := range []string{"-rootfs", "-hostname", "-e ", "-env", "-workdir", "-init", "-net", "-subnet", "-nat", "-read-only", "-overlay", "-keep", "-v ", "-volume", "cleanup"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help output lacks %q:\n%s", f, out.String())
		}
	}
}
