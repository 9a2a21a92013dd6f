package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckHostname(t *testing.T) {
	for h, ok := range map[string]bool{
		"box": true, "my-box.example": true, "a1": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "a b": false, "-x": false, "x-": false,
		"a..b": false, ".a": false, "a_b": false, "é": false,
	} {
		if err := CheckHostname(h); (err == nil) != ok {
			t.Errorf("CheckHostname(%q) = %v, want ok=%v", h, err, ok)
		}
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	good := Config{Rootfs: dir, Hostname: "box", Net: NetBridge, Subnet: DefaultSubnet, Args: []string{"/bin/sh"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v, want nil", good, err)
	}
	for _, tc := range []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"no rootfs", func(c *Config) { c.Rootfs = "" }, "--rootfs is required"},
		{"missing rootfs", func(c *Config) { c.Rootfs = filepath.Join(dir, "nope") }, "no such file"},
		{"rootfs is a file", func(c *Config) { c.Rootfs = file }, "not a directory"},
		{"bad hostname", func(c *Config) { c.Hostname = "a b" }, "hostname"},
		{"bad env", func(c *Config) { c.Env = []string{"=1"} }, "empty name"},
		{"relative workdir", func(c *Config) { c.Workdir = "tmp" }, "not an absolute path"},
		{"no command", func(c *Config) { c.Args = nil }, "no command"},
		{"unknown network", func(c *Config) { c.Net = "overlay" }, "want bridge, none, host or pasta"},
		{"subnet not a CIDR", func(c *Config) { c.Subnet = "192.168.20.0" }, "not a CIDR"},
		{"subnet too small", func(c *Config) { c.Subnet = "192.168.20.0/30" }, "too small"},
		{"subnet with host bits", func(c *Config) { c.Subnet = "192.168.20.1/24" }, "host bits"},
		{"IPv6 subnet", func(c *Config) { c.Subnet = "fd00::/64" }, "only IPv4"},
		{"NAT without a bridge", func(c *Config) { c.Net = NetNone; c.NAT = true }, "--nat needs --net bridge"},
		{"keep without overlay", func(c *Config) { c.Keep = true }, "--keep needs --overlay"},
		{"bad volume spec", func(c *Config) { c.Volumes = []string{dir} }, "HOST:CONTAINER"},
		{"missing volume source", func(c *Config) { c.Volumes = []string{filepath.Join(dir, "nope") + ":/x"} }, "no such file"},
		{"volume on /proc", func(c *Config) { c.Volumes = []string{dir + ":/proc/x"} }, "in /proc"},
		{"unknown capability", func(c *Config) { c.CapDrop = []string{"NET_RAW", "SYS_NOPE"} }, `unknown capability "SYS_NOPE"`},
		{"unknown seccomp profile", func(c *Config) { c.Seccomp = "strict" }, "want default or unconfined"},
		{"user with two colons", func(c *Config) { c.User = "a:b:c" }, "want USER[:GROUP]"},
		{"NUL in argument", func(c *Config) { c.Args = []string{"/bin/sh", "a\x00b"} }, "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("Validate() error spans lines: %q", err)
			}
		})
	}
}
