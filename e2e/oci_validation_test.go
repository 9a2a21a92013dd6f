package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// validationSubset are programs of the OCI runtime-tools validation suite
// that take about a second each, pass with runc too, and look at nothing but
// the container they make (docs/oci.md has the whole suite's results, `make
// test-oci` runs it).
var validationSubset = []string{
	"create", "state", "kill_no_effect", "config_updates_without_affect",
	"delete_only_create_resources", "linux_ns_path_type", "process_user", "root_readonly_true", "linux_devices",
	"linux_uid_mappings", "linux_ns_nopath", "linux_ns_path",
}

// offline tells a build that could not reach the module proxy.
var offline = regexp.MustCompile(`dial tcp|no such host|network is unreachable|connection refused|i/o timeout|GOPROXY=off|-mod=mod.*disabled|GOFLAGS=-mod=mod.*cannot`)

// TestOCIValidationSubset runs a few programs of the validation suite
// against ccsuper through scripts/oci-validate.sh. The programs are built
// once into build/oci-validation/bin (`make test` does so before the e2e
// tests, since their network namespace cannot reach the module proxy); if
// they are not there, the test builds them, and skips only when that build
// cannot reach the proxy.
func TestOCIValidationSubset(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repo, "scripts", "oci-validate.sh")
	cache := filepath.Join(repo, "build", "oci-validation")
	if m, _ := filepath.Glob(filepath.Join(cache, "bin", ".built-*")); len(m) == 0 {
		cmd := exec.Command(script, cache)
		cmd.Env = append(os.Environ(), "OCI_BUILD_ONLY=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			if offline.Match(out) {
				t.Skipf("the validation programs are not built and the module proxy is out of reach (run make test, or OCI_BUILD_ONLY=1 scripts/oci-validate.sh build/oci-validation):\n%s", out)
			}
			t.Fatalf("build the validation programs: %v\n%s", err, out)
		}
	}
	out := t.TempDir()
	if err := os.Symlink(filepath.Join(cache, "bin"), filepath.Join(out, "bin")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, out, ccsuperBin)
	cmd.Env = append(os.Environ(), "OCI_TESTS="+strings.Join(validationSubset, " "))
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("oci-validate.sh: %v\n%s", err, res)
	}
	table, err := os.ReadFile(filepath.Join(out, "table.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range validationSubset {
		row := regexp.MustCompile(`(?m)^\| ` + name + ` \| (\S+) (\S+) \|$`).FindSubmatch(table)
		if row == nil {
			t.Errorf("%s: no result in the table:\n%s", name, table)
			continue
		}
		if string(row[1]) != "PASS" {
			tap, _ := os.ReadFile(filepath.Join(out, "ccsuper", name+".tap"))
			stderr, _ := os.ReadFile(filepath.Join(out, "ccsuper", name+".err"))
			t.Errorf("%s: %s %s\n--- TAP:\n%s--- stderr:\n%s", name, row[1], row[2], tap, stderr)
		}
	}
}
