package initproc

import (
	"reflect"
	"testing"
)

func TestBuildEnv(t *testing.T) {
	hostPath := "PATH=/home/user/evil:/usr/bin"
	for _, tc := range []struct {
		name string
		spec EnvSpec
		want []string
	}{{
		name: "clean environment never takes the host's",
		spec: EnvSpec{Inherited: []string{hostPath, "SECRET=1"}, Clean: true, Home: "/root", Hostname: "box"},
		want: []string{"PATH=" + DefaultPath, "HOME=/root", "HOSTNAME=box"},
	}, {
		name: "terminal adds TERM, extra overrides defaults in place",
		spec: EnvSpec{Clean: true, Home: "/root", Terminal: true, Extra: []string{"FOO=bar", "HOME=/home/x", "TERM=vt100"}},
		want: []string{"PATH=" + DefaultPath, "HOME=/home/x", "TERM=vt100", "FOO=bar"},
	}, {
		name: "standalone keeps the inherited environment, as tini does",
		spec: EnvSpec{Inherited: []string{"PATH=/opt/bin", "LANG=C", "junk-without-equals", "=empty"}, Home: "/"},
		want: []string{"PATH=/opt/bin", "HOME=/", "LANG=C"},
	}, {
		name: "last of repeated names wins",
		spec: EnvSpec{Clean: true, Extra: []string{"A=1", "A=2", "B="}},
		want: []string{"PATH=" + DefaultPath, "A=2", "B="},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := BuildEnv(tc.spec); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("BuildEnv()\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestCheckEnv(t *testing.T) {
	for kv, ok := range map[string]bool{
		"A=1": true, "A=": true, "A=b=c": true, "lower_case=1": true,
		"A": false, "=1": false, "": false, "A=x\x00y": false,
	} {
		if err := CheckEnv(kv); (err == nil) != ok {
			t.Errorf("CheckEnv(%q) = %v, want ok=%v", kv, err, ok)
		}
	}
}

func TestGetenv(t *testing.T) {
	env := []string{"PATH=/a", "X=1", "PATH=/b"}
	if got := Getenv(env, "PATH"); got != "/b" {
		t.Errorf("Getenv PATH = %q, want /b", got)
	}
	if got := Getenv(env, "NOPE"); got != "" {
		t.Errorf("Getenv NOPE = %q, want empty", got)
	}
}
