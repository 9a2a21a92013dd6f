package supervisor

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadBundle: config.json decodes whole into the plan's spec, and a
// section of another platform is refused, unless it is null.
func TestLoadBundle(t *testing.T) {
	want, err := json.Marshal(DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, extra, err string
	}{
		{"linux only", "", ""},
		{"windows null", `"windows": null,`, ""},
		{"windows", `"windows": {"layerFolders": ["x"]},`, "only linux containers"},
		{"vm", `"vm": {"hypervisor": {"path": "/x"}},`, "only linux containers"},
		{"freebsd", `"freebsd": {},`, "only linux containers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			config := append([]byte("{"+tc.extra), want[1:]...)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := loadBundle(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(p.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded spec:\ngot  %s\nwant %s", got, want)
			}
		})
	}
}
