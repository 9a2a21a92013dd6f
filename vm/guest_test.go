// Package vm runs the e2e suite where this machine cannot: in a qemu guest
// booted with Debian's kernel (a second kernel, 6.1 against the host's) and
// pure cgroup v2 (cgroup_no_v1=all), the layout most users have. The image
// is built by scripts/vm-image.sh from our own binaries; the guest's /init
// (scripts/vm-init.sh) runs the e2e test binary and powers off, and its
// `go test -v` output comes back over the serial console, where this test
// turns each guest test into a subtest of its own.
//
// It skips, saying why, without qemu-system-x86_64 or a kernel in /boot
// (scripts/test-deps.sh installs both); `make test-vm` runs it alone.
package vm

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// guestRun is the -test.run of the suite in the guest: what this machine
// cannot test (cgroup v2 limits, statistics and cleanup, rootless limits in
// a delegated cgroup, OOM attribution, the container's own cgroup, kernel
// features, the OCI runtime on v2 with its device rules as an eBPF program,
// a container without a PID namespace killed by cgroup.kill and the unified
// map's cgroup files)
// and what depends on the kernel's modules (bridge, veth, NAT, overlay).
// Under TCG a container start costs several times what it costs on the host,
// so it is not the whole suite. The devicefilter package's tests run there
// too, whatever this says.
const guestRun = `^(TestCgroup|TestOverlay$|TestOverlayFailures|TestNetwork(HostContainer|ContainerToContainer|NAT|Teardown)$|TestExitStatus$|TestKernelFeatures|TestOOM|TestOwnCgroup|TestConsoleDeleted|TestRootlessCgroup|TestOCIRootlessUser$|TestOCI(Lifecycle|KillCreated|Run|Config|Exec|ExecLongRoot|DeviceUnderDenyAll|DeviceRules|ContainerHooks|HostPID|HostPIDKill|JoinedCgroupKeepsOthers|Unified)$)`

var runFlag = flag.String("vm.run", guestRun, "the e2e tests to run in the guest (-test.run there)")

// bootTimeout bounds the whole guest: boot, suite, power off. It only turns
// a hung guest into a failure: above the suite's own -test.timeout in the
// guest (8 minutes), below go test's default 10 minutes here.
const bootTimeout = 9 * time.Minute

func TestGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a virtual machine; skipped in -short mode")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (scripts/test-deps.sh installs qemu-system-x86)")
	}
	if k, _ := filepath.Glob("/boot/vmlinuz-*"); len(k) == 0 {
		t.Skip("no kernel in /boot (scripts/test-deps.sh installs linux-image-amd64)")
	}
	dir := t.TempDir()
	build := exec.Command("../scripts/vm-image.sh", dir)
	var stderr bytes.Buffer
	build.Stderr = &stderr
	out, err := build.Output()
	if err != nil {
		t.Fatalf("build the guest image: %v\n%s", err, stderr.String())
	}
	kernel := strings.TrimSpace(string(out))

	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	// TCG: /dev/kvm exists on these machines, but a nested guest hangs
	// before its kernel prints anything.
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-m", "1024", "-smp", "2",
		"-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio",
		"-kernel", kernel, "-initrd", filepath.Join(dir, "initrd.gz"),
		"-append", "console=ttyS0 cgroup_no_v1=all panic=-1 loglevel=1 ccvm.run="+*runFlag)
	serial, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("guest still running after %s\n%s", bootTimeout, tail(serial, 60))
	}
	if err != nil {
		t.Fatalf("qemu: %v\n%s", err, tail(serial, 60))
	}
	s := parseSerial(serial)
	t.Log(s.banner)
	if s.exit < 0 {
		t.Fatalf("the guest powered off without finishing the suite\n%s", tail(serial, 60))
	}
	for _, r := range s.results {
		t.Run(r.name, func(t *testing.T) {
			switch r.verdict {
			case "SKIP":
				t.Skip(strings.Join(r.lines, "\n"))
			case "FAIL":
				t.Error(strings.Join(r.lines, "\n"))
			default:
				t.Log(strings.Join(r.lines, "\n")) // shown with -v
			}
		})
	}
	if s.exit != 0 && !s.failed() {
		t.Errorf("suite exited %d in the guest with no test failing\n%s", s.exit, tail(serial, 60))
	}
	if len(s.results) == 0 {
		t.Errorf("no guest test matched %q", *runFlag)
	}
}

// suite is what the guest reported.
type suite struct {
	banner  string // the guest's kernel and cgroup controllers
	exit    int    // the test binary's exit status, -1 if never reported
	results []result
}

// result is one top-level test of the guest's suite.
type result struct {
	name, verdict string   // verdict: PASS, FAIL or SKIP
	lines         []string // its output in the guest
}

func (s suite) failed() bool {
	for _, r := range s.results {
		if r.verdict == "FAIL" {
			return true
		}
	}
	return false
}

var (
	header  = regexp.MustCompile(`^=== (RUN|CONT|NAME|PAUSE)\s+(\S+)`)
	verdict = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)
)

// parseSerial reads the guest's console: `go test -v` output between the
// markers of scripts/vm-init.sh. Output is given to the test named by the
// latest "=== RUN/CONT/NAME" line, which is how `go test -v` attributes
// the output of parallel tests.
func parseSerial(b []byte) suite {
	s := suite{exit: -1}
	out := map[string][]string{}
	cur := ""
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		// The firmware's last escape sequences share a line with the
		// guest's first words.
		if i := strings.Index(l, "ccvm: "); i > 0 {
			l = l[i:]
		}
		switch {
		case strings.HasPrefix(l, "ccvm: kernel "):
			s.banner = strings.TrimPrefix(l, "ccvm: ")
		case l == "ccvm: suite start":
			in = true
		case strings.HasPrefix(l, "ccvm: suite exit "):
			s.exit, _ = strconv.Atoi(strings.TrimPrefix(l, "ccvm: suite exit "))
			in = false
		case !in || strings.HasPrefix(l, "ccvm: kernel: "):
			if strings.HasPrefix(l, "ccvm: ") { // the guest's setup failed, or its kernel's log
				s.banner += "\n" + l
			}
		case header.MatchString(l):
			cur = topLevel(header.FindStringSubmatch(l)[2])
		case verdict.MatchString(l):
			m := verdict.FindStringSubmatch(l)
			out[topLevel(m[2])] = append(out[topLevel(m[2])], l)
			if m[2] == topLevel(m[2]) {
				s.results = append(s.results, result{name: m[2], verdict: m[1]})
				cur = "" // what follows (the summary) is nobody's
			}
		default:
			out[cur] = append(out[cur], l)
		}
	}
	for i := range s.results {
		s.results[i].lines = out[s.results[i].name]
	}
	return s
}

// topLevel is the top-level test of a test's full name (Test/sub/sub).
func topLevel(name string) string {
	top, _, _ := strings.Cut(name, "/")
	return top
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
