package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Capability masks as /proc/PID/status prints them.
const (
	// CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
	// NET_BIND_SERVICE NET_RAW SYS_CHROOT AUDIT_WRITE SETFCAP: Docker's
	// default set less MKNOD (no devices cgroup yet).
	dockerCaps = "00000000a00425fb"
	noCaps     = "0000000000000000"
)

// TestHardening checks that root inside is not root of the host: the command
// runs with Docker's default capability set (no CAP_SYS_ADMIN, so no remount
// of /sys), an empty inheritable set, no_new_privs and the seccomp filter,
// and /proc/sys, which writes host-wide kernel settings, is read-only. ccinit,
// whose threads do not all have the same capabilities, is not open to ptrace
// or /proc/1/environ from inside, and runs with none of it: it reaps and
// forwards signals with root's full rights, unfiltered.
func TestHardening(t *testing.T) {
	t.Parallel()
	const script = `
grep -E '^(Cap(Eff|Prm|Bnd|Inh)|NoNewPrivs|Seccomp):' /proc/self/status
grep -E '^Seccomp:' /proc/1/status | sed 's/^/pid1 /'
mount -o remount,rw /sys 2>/dev/null && echo remounted-sys
echo x > /proc/sys/kernel/domainname 2>/dev/null && echo wrote-proc-sys
mknod /tmp/disk b 8 0 2>/dev/null && echo made-block-device
cat /proc/1/environ >/dev/null 2>&1 && echo read-pid1-environ
ip link add probe0 type dummy 2>/dev/null && echo added-link
ip route add 10.99.0.0/24 dev lo 2>/dev/null && echo added-route
exit 0
`
	r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none", "--", "/bin/sh", "-c", script)
	wantExit(t, r, 0)
	wantLines(t, r, "CapEff:\t"+dockerCaps, "CapPrm:\t"+dockerCaps, "CapBnd:\t"+dockerCaps, "CapInh:\t"+noCaps,
		"NoNewPrivs:\t1", "Seccomp:\t2", "pid1 Seccomp:\t0")
	for _, bad := range []string{"remounted-sys", "wrote-proc-sys", "made-block-device", "read-pid1-environ", "added-link", "added-route"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("the command could do what it must not: %s\n%s", bad, r)
		}
	}
}

// wantLines fails the test unless every line of want is a line of r's stdout.
func wantLines(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains("\n"+r.stdout, "\n"+w+"\n") {
			t.Errorf("want a line %q in\n%s", w, r)
		}
	}
}

// TestSecurityFlags checks --cap-add, --cap-drop (Docker's rules), --user,
// --new-privileges, --seccomp=unconfined and --privileged.
func TestSecurityFlags(t *testing.T) {
	t.Parallel()
	const status = "grep -E '^(Cap(Eff|Prm|Bnd|Inh)|NoNewPrivs|Seccomp):' /proc/self/status; id; echo home=$HOME"
	for _, tc := range []struct {
		name  string
		flags []string
		want  []string
	}{
		{"cap-add with prefix, any case", []string{"--cap-add", "cap_sys_admin"},
			[]string{"CapEff:\t00000000a02425fb", "Seccomp:\t2"}},
		{"cap-drop then cap-add of the same: kept", []string{"--cap-drop", "CHOWN", "--cap-add", "CHOWN", "--cap-drop", "KILL"},
			[]string{"CapEff:\t00000000a00425db"}},
		{"drop ALL, add one", []string{"--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"},
			[]string{"CapEff:\t0000000000000400", "CapBnd:\t0000000000000400"}},
		{"add ALL wins over drop ALL; drops still apply", []string{"--cap-add", "ALL", "--cap-drop", "ALL", "--cap-drop", "SYS_ADMIN"},
			// Every capability this host's root has, less SYS_ADMIN.
			[]string{"CapEff:\t" + allButSysAdmin(t), "Seccomp:\t2"}},
		{"numeric user", []string{"--user", "65534"},
			[]string{"CapEff:\t" + noCaps, "CapPrm:\t" + noCaps, "CapBnd:\t" + dockerCaps, "CapInh:\t" + noCaps,
				"uid=65534(nobody) gid=65534(nogroup)", "home=/nonexistent"}},
		{"user and group by name", []string{"--user", "nobody:tty"},
			[]string{"uid=65534(nobody) gid=5(tty)", "CapEff:\t" + noCaps}},
		{"numeric user unknown to passwd", []string{"--user", "1234:1234"},
			[]string{"uid=1234 gid=1234", "home=/"}},
		{"user switch without SETUID and SETGID", []string{"--cap-drop", "SETUID", "--cap-drop", "SETGID", "--user", "1234:1234"},
			[]string{"uid=1234 gid=1234", "CapBnd:\t00000000a004253b"}},
		{"root as user keeps the capabilities", []string{"--user", "0:0"},
			[]string{"CapEff:\t" + dockerCaps, "uid=0(root) gid=0(root)"}},
		{"new privileges", []string{"--new-privileges"},
			[]string{"NoNewPrivs:\t0", "Seccomp:\t2"}},
		{"new privileges as a user", []string{"--new-privileges", "--user", "65534"},
			[]string{"NoNewPrivs:\t0", "Seccomp:\t2", "CapEff:\t" + noCaps}},
		{"seccomp unconfined", []string{"--seccomp=unconfined"},
			[]string{"Seccomp:\t0", "NoNewPrivs:\t1", "CapEff:\t" + dockerCaps}},
		{"privileged", []string{"--privileged"},
			[]string{"Seccomp:\t0", "NoNewPrivs:\t0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--rootfs", baseRootfs, "--net", "none"}, tc.flags...)
			r := runCCSuper(t, append(args, "--", "/bin/sh", "-c", status)...)
			wantExit(t, r, 0)
			wantLines(t, r, tc.want...)
		})
	}
}

// TestHostGroupsStayOut checks the supplementary groups of whoever started
// ccsuper do not follow root into the container.
func TestHostGroupsStayOut(t *testing.T) {
	t.Parallel()
	cmd := ccsuper(t, "--rootfs", baseRootfs, "--net", "none", "--", "/bin/sh", "-c", "grep '^Groups:' /proc/self/status")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{0, 4242}}}
	r := run(t, cmd)
	wantExit(t, r, 0)
	if strings.Contains(r.stdout, "4242") {
		t.Errorf("the host's group 4242 is in the container: %q", r.stdout)
	}
}

// TestPrivilegedUnmasked checks --privileged leaves /proc and /sys as the
// kernel mounts them, and a default container does not.
func TestPrivilegedUnmasked(t *testing.T) {
	t.Parallel()
	const masks = "grep -cE ' /(proc/(kcore|keys|sys|acpi|scsi|timer_list)|sys/firmware) ' /proc/self/mountinfo"
	r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none", "--privileged", "--", "/bin/sh", "-c", masks)
	if strings.TrimSpace(r.stdout) != "0" {
		t.Errorf("--privileged: got %q masked paths, want 0\n%s", r.stdout, r)
	}
	r = runCCSuper(t, "--rootfs", baseRootfs, "--net", "none", "--", "/bin/sh", "-c", masks)
	if strings.TrimSpace(r.stdout) == "0" {
		t.Errorf("default: no masked path\n%s", r)
	}
}

// allButSysAdmin returns the test's own effective capabilities (root's on
// this host, which may lack some) less CAP_SYS_ADMIN, as /proc prints them.
func allButSysAdmin(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CapEff:\t([0-9a-f]+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no CapEff in /proc/self/status:\n%s", b)
	}
	caps, err := strconv.ParseUint(string(m[1]), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%016x", caps&^(1<<unix.CAP_SYS_ADMIN))
}
