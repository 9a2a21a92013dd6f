package supervisor

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOwnCgroup(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
		fail             bool
	}{
		{"pure v2", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-u7.scope\n",
			"/user.slice/user-1000.slice/user@1000.service/app.slice/run-u7.scope", false},
		{"hybrid", "12:pids:/\n4:memory:/x\n1:name=systemd:/\n0::/ccrl-1/ccontainer-leaf\n", "/ccrl-1/ccontainer-leaf", false},
		{"root", "0::/\n", "/", false},
		{"v1 only", "4:memory:/\n1:name=systemd:/\n", "", true},
		{"not a path", "0::\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "cgroup")
			if err := os.WriteFile(p, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ownCgroup(p)
			if (err != nil) != tc.fail || got != tc.want {
				t.Errorf("got %q, %v; want %q, failing %v", got, err, tc.want, tc.fail)
			}
		})
	}
}
