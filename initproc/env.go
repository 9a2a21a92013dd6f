package initproc

import (
	"fmt"
	"strings"
)

// DefaultPath is the PATH a command gets when nobody set one. It is the
// container's, fixed here, never the host's.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// CheckEnv reports whether kv is a usable KEY=VALUE pair.
func CheckEnv(kv string) error {
	key, _, ok := strings.Cut(kv, "=")
	switch {
	case !ok:
		return fmt.Errorf("environment entry %q is not KEY=VALUE", kv)
	case key == "":
		return fmt.Errorf("environment entry %q has an empty name", kv)
	case strings.ContainsRune(kv, 0):
		return fmt.Errorf("environment entry %q contains a NUL byte", kv)
	}
	return nil
}

// EnvSpec is what BuildEnv combines, lowest priority first: the defaults, the
// inherited environment (unless Clean), then Extra.
type EnvSpec struct {
	Inherited []string
	Clean     bool
	Hostname  string
	Home      string
	Terminal  bool
	Extra     []string
}

// BuildEnv returns the command's environment. Later entries for the same name
// replace earlier ones in place, so the order is stable and each name appears
// once.
func BuildEnv(s EnvSpec) []string {
	var env []string
	at := map[string]int{}
	set := func(kv string) {
		key, _, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			return // the inherited environment can hold junk; drop it
		}
		if i, seen := at[key]; seen {
			env[i] = kv
			return
		}
		at[key] = len(env)
		env = append(env, kv)
	}
	set("PATH=" + DefaultPath)
	if s.Home != "" {
		set("HOME=" + s.Home)
	}
	if s.Hostname != "" {
		set("HOSTNAME=" + s.Hostname)
	}
	if s.Terminal {
		set("TERM=xterm")
	}
	if !s.Clean {
		for _, kv := range s.Inherited {
			set(kv)
		}
	}
	for _, kv := range s.Extra {
		set(kv)
	}
	return env
}

// Getenv returns the value of key in env, the last one winning.
func Getenv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
