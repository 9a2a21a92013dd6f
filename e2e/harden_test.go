package e2e

import (
	"strings"
	"testing"
)

// TestHardening checks that root inside is not root of the host: the command
// runs with Docker's default capability set (no CAP_SYS_ADMIN, so no remount
// of /sys), and /proc/sys, which writes host-wide kernel settings, is
// read-only. ccinit, whose threads do not all have the same capabilities, is
// not open to ptrace or /proc/1/environ from inside.
func TestHardening(t *testing.T) {
	t.Parallel()
	const script = `
grep -E '^Cap(Eff|Bnd|Inh):' /proc/self/status
mount -o remount,rw /sys 2>/dev/null && echo remounted-sys
echo x > /proc/sys/kernel/domainname 2>/dev/null && echo wrote-proc-sys
mknod /tmp/disk b 8 0 2>/dev/null && echo made-block-device
cat /proc/1/environ >/dev/null 2>&1 && echo read-pid1-environ
exit 0
`
	r := runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script)
	wantExit(t, r, 0)
	// CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
	// NET_BIND_SERVICE NET_RAW SYS_CHROOT AUDIT_WRITE SETFCAP: Docker's
	// default set less MKNOD (no devices cgroup yet).
	const docker = "00000000a00425fb"
	for _, want := range []string{"CapEff:\t" + docker, "CapBnd:\t" + docker, "CapInh:\t" + docker} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("the command's capabilities: got\n%s\nwant a line %q", r.stdout, want)
		}
	}
	for _, bad := range []string{"remounted-sys", "wrote-proc-sys", "made-block-device", "read-pid1-environ"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("the command could do what it must not: %s\n%s", bad, r)
		}
	}
}
