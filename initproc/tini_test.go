package initproc

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestParseTiniArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		// what must hold
		want    []string // Args
		check   func(o TiniOptions) bool
		wantErr error  // a sentinel
		errText string // or a part of the error's text
	}{
		{name: "dashes", args: []string{"--", "cmd", "-x"}, want: []string{"cmd", "-x"}},
		{name: "options before", args: []string{"-s", "-g", "cmd"}, want: []string{"cmd"},
			check: func(o TiniOptions) bool { return o.Subreaper && o.Group }},
		// getopt moves options found after the command in front, up to
		// "--", which it drops: tini's documented `tini CMD -- ARGS`.
		{name: "permuted", args: []string{"cmd", "-v", "--", "a", "-b"}, want: []string{"cmd", "a", "-b"},
			check: func(o TiniOptions) bool { return o.Verbosity == 2 }},
		{name: "posix", args: []string{"-w", "cmd", "-v", "--", "a"}, env: map[string]string{"POSIXLY_CORRECT": ""},
			want: []string{"cmd", "-v", "--", "a"}, check: func(o TiniOptions) bool { return o.WarnOnReap && o.Verbosity == 1 }},
		{name: "cluster", args: []string{"-vvvsg", "--", "cmd"}, want: []string{"cmd"},
			check: func(o TiniOptions) bool { return o.Verbosity == 4 && o.Subreaper && o.Group }},
		{name: "remap", args: []string{"-e", "3", "-e143", "-ve", "+7", "-e", "", "cmd"}, want: []string{"cmd"},
			check: func(o TiniOptions) bool {
				return o.Remap[3] && o.Remap[143] && o.Remap[7] && o.Remap[0] && !o.Remap[1] && o.Verbosity == 2
			}},
		{name: "pdeathsig", args: []string{"-p", "SIGKILL", "cmd"}, want: []string{"cmd"},
			check: func(o TiniOptions) bool { return o.PdeathSig == syscall.SIGKILL }},
		{name: "pdeathsig glued", args: []string{"-pSIGUSR1", "cmd"}, want: []string{"cmd"},
			check: func(o TiniOptions) bool { return o.PdeathSig == syscall.SIGUSR1 }},
		{name: "a lone dash is a command", args: []string{"-"}, want: []string{"-"}},
		{name: "env", args: []string{"cmd"}, want: []string{"cmd"},
			env:   map[string]string{"TINI_SUBREAPER": "", "TINI_KILL_PROCESS_GROUP": "0", "TINI_VERBOSITY": "3"},
			check: func(o TiniOptions) bool { return o.Subreaper && o.Group && o.Verbosity == 3 }},
		{name: "env verbosity replaces -v", args: []string{"-vvv", "cmd"}, env: map[string]string{"TINI_VERBOSITY": "0"},
			want: []string{"cmd"}, check: func(o TiniOptions) bool { return o.Verbosity == 0 }},
		{name: "env verbosity as atoi", args: []string{"cmd"}, env: map[string]string{"TINI_VERBOSITY": " 2x"},
			want: []string{"cmd"}, check: func(o TiniOptions) bool { return o.Verbosity == 2 }},
		{name: "version", args: []string{"--version"}, wantErr: ErrTiniVersion},
		{name: "version not alone", args: []string{"--version", "cmd"}, errText: `unknown option "--"`},
		{name: "help first", args: []string{"-h", "-x"}, wantErr: ErrTiniHelp},
		{name: "license", args: []string{"-sl"}, wantErr: ErrTiniLicense},
		{name: "unknown", args: []string{"-x", "cmd"}, errText: `unknown option "-x"`},
		{name: "option after command", args: []string{"sh", "-c", "exit 1"}, errText: `unknown option "-c"`},
		{name: "no value", args: []string{"-e"}, errText: "-e needs a value"},
		{name: "bad code", args: []string{"-e", "256", "cmd"}, errText: `-e "256"`},
		{name: "negative code", args: []string{"-e", "-1", "cmd"}, errText: `-e "-1"`},
		{name: "trailing blank", args: []string{"-e", "3 ", "cmd"}, errText: `-e "3 "`},
		{name: "bad signal", args: []string{"-p", "KILL", "cmd"}, errText: `-p "KILL"`},
		{name: "no command", args: []string{"-s"}, errText: "no command given"},
		{name: "no command after dashes", args: []string{"-s", "--"}, errText: "no command given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			o, err := ParseTiniArgs(tc.args, lookup)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ParseTiniArgs(%q) error = %v, want %v", tc.args, err, tc.wantErr)
				}
				return
			case tc.errText != "":
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("ParseTiniArgs(%q) error = %v, want one containing %q", tc.args, err, tc.errText)
				}
				return
			case err != nil:
				t.Fatalf("ParseTiniArgs(%q): %v", tc.args, err)
			}
			if !slices.Equal(o.Args, tc.want) {
				t.Errorf("ParseTiniArgs(%q).Args = %q, want %q", tc.args, o.Args, tc.want)
			}
			if tc.check != nil && !tc.check(o) {
				t.Errorf("ParseTiniArgs(%q) = %+v: not what the case expects", tc.args, o)
			}
		})
	}
}

func TestIsTiniName(t *testing.T) {
	for name, want := range map[string]bool{
		"tini": true, "/sbin/tini": true, "/usr/bin/docker-init": true, "./docker-init": true,
		"ccinit": false, "/sbin/ccinit": false, "tini-static": false, "/tini/ccinit": false, "": false,
	} {
		if got := IsTiniName(name); got != want {
			t.Errorf("IsTiniName(%q) = %v, want %v", name, got, want)
		}
	}
}
