package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// probeRootfs returns a private rootfs with the probe helper (testdata/probe)
// built static at /bin/probe, and the path of a file only the host has, which
// the chroot escape looks for.
func probeRootfs(t *testing.T) (root, marker string) {
	t.Helper()
	root = newRootfs(t)
	marker = filepath.Join(t.TempDir(), "host-only")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command: %v", err)
	}
	cmd := command(t, gobin, "build", "-trimpath", "-o", filepath.Join(root, "bin/probe"), "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	return root, marker
}

// attempt is one probe run in a container: ccsuper's flags, the probe and its
// argument, and what the probe must print (one of want).
type attempt struct {
	flags []string
	probe string
	arg   string
	want  []string
}

func (a attempt) String() string {
	return strings.TrimSpace(strings.Join(a.flags, " ") + " " + a.probe + " " + a.arg)
}

// runAttempts runs each attempt in a container of its own, in parallel, and
// checks the probe's answer: "ok" with status 0, or an errno name with 1.
func runAttempts(t *testing.T, root string, attempts []attempt) {
	for _, a := range attempts {
		t.Run(a.String(), func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--rootfs", root, "--net", "none"}, a.flags...)
			args = append(args, "--", "/bin/probe", a.probe)
			if a.arg != "" {
				args = append(args, a.arg)
			}
			r := runCCSuper(t, args...)
			got := strings.TrimSpace(r.stdout)
			if i := strings.LastIndexByte(got, '\n'); i >= 0 {
				got = got[i+1:] // lines before the answer are the probe's report
			}
			if !slices.Contains(a.want, got) {
				t.Fatalf("got %q, want one of %q\n%s", got, a.want, r)
			}
			wantCode := 1
			if got == "ok" {
				wantCode = 0
			}
			wantExit(t, r, wantCode)
		})
	}
}

// TestEscape tries, from inside a default container, what would reach the
// host or the kernel beyond the container, and checks each attempt fails
// with the error the layer that stops it gives: EPERM from the seccomp filter
// or a missing capability, ENOSYS for clone3 (so C libraries fall back to
// clone, which the filter can check), EROFS from the read-only /proc/sys.
func TestEscape(t *testing.T) {
	t.Parallel()
	root, marker := probeRootfs(t)
	eperm := []string{"EPERM"}
	runAttempts(t, root, []attempt{
		// New namespaces, even a user namespace, which needs no capability.
		{probe: "clone-newuser", want: eperm},
		{probe: "clone-newns", want: eperm},
		{probe: "unshare-net", want: eperm},
		{probe: "setns", want: eperm},
		{probe: "clone3", want: []string{"ENOSYS"}},
		// Kernel facilities outside any namespace.
		{probe: "add_key", want: eperm},
		{probe: "keyctl", want: eperm},
		{probe: "bpf", want: eperm},
		{probe: "perf_event_open", want: eperm},
		{probe: "userfaultfd", want: eperm},
		{probe: "finit_module", arg: "/etc/passwd", want: eperm},
		{probe: "personality", want: eperm},
		{probe: "vsock", want: eperm},
		// Devices and mounts: no CAP_MKNOD, no CAP_SYS_ADMIN, no mount(2).
		{probe: "mknod-disk", arg: "/tmp/disk", want: eperm},
		{probe: "mount-proc", arg: "/tmp", want: eperm},
		{probe: "mount-dev", arg: "/etc/hostname", want: eperm},
		// Host-wide kernel settings. This kernel may have no sysrq at all.
		{probe: "open-write", arg: "/proc/sysrq-trigger", want: []string{"EROFS", "ENOENT"}},
		{probe: "open-write", arg: "/proc/sys/kernel/domainname", want: []string{"EROFS"}},
		{probe: "open-write", arg: "/proc/sys/net/ipv4/ip_forward", want: []string{"EROFS"}},
		// ccinit is not dumpable: no ptrace, even as the same user.
		{probe: "ptrace", arg: "1", want: eperm},
		// pivot_root left nothing of the host above the root to climb to.
		{probe: "chroot-escape", arg: marker, want: []string{"ENOENT"}},
		// Raw sockets are in Docker's default set (ping needs them); they
		// go when NET_RAW is dropped. A packet socket sees the container's
		// own network namespace only.
		{probe: "raw-socket", want: []string{"ok"}},
		{flags: []string{"--cap-drop", "net_raw"}, probe: "raw-socket", want: eperm},
	})
	t.Run("busybox insmod", func(t *testing.T) {
		t.Parallel()
		r := runCCSuper(t, "--rootfs", root, "--net", "none", "--", "insmod", "/etc/passwd")
		if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("insmod from a default container: want it refused with EPERM\n%s", r)
		}
	})
	t.Run("packet socket", func(t *testing.T) {
		t.Parallel()
		r := runCCSuper(t, "--rootfs", root, "--net", "none", "--", "/bin/probe", "packet-ifaces")
		wantExit(t, r, 0)
		if r.stdout != "interfaces: lo\nok\n" {
			t.Errorf("a packet socket in a container without a network: got %q, want to see lo only", r.stdout)
		}
	})
	t.Run("x32 syscall", func(t *testing.T) {
		t.Parallel()
		// Killed by SIGSYS (31) before the kernel reads its x32 number.
		r := runCCSuper(t, "--rootfs", root, "--net", "none", "--", "/bin/probe", "x32-getpid")
		wantExit(t, r, 128+31)
	})
}

// TestEscapeProbesCanSucceed shows the probes of TestEscape are able to
// succeed, so that their failures there are the container's doing: the
// seccomp-only ones pass with --seccomp=unconfined, the others with
// --privileged, and the chroot escape reaches the host from a plain chroot.
func TestEscapeProbesCanSucceed(t *testing.T) {
	t.Parallel()
	root, marker := probeRootfs(t)
	unconfined := []string{"--seccomp=unconfined"}
	privileged := []string{"--privileged"}
	ok := []string{"ok"}
	runAttempts(t, root, []attempt{
		{flags: unconfined, probe: "clone-newuser", want: ok},
		{flags: unconfined, probe: "clone3", want: []string{"EINVAL"}}, // the kernel's answer to no arguments
		{flags: unconfined, probe: "add_key", want: ok},
		{flags: unconfined, probe: "keyctl", want: ok},
		{flags: unconfined, probe: "personality", want: ok},
		// ENOSYS from a kernel built without x32: answered, not killed.
		{flags: unconfined, probe: "x32-getpid", want: []string{"ok", "ENOSYS"}},
		// No vsock transport in a kernel gives EAFNOSUPPORT: still the kernel's word.
		{flags: unconfined, probe: "vsock", want: []string{"ok", "EAFNOSUPPORT"}},
		{flags: privileged, probe: "clone-newns", want: ok},
		{flags: privileged, probe: "unshare-net", want: ok},
		{flags: privileged, probe: "setns", want: ok},
		{flags: privileged, probe: "bpf", want: ok},
		{flags: privileged, probe: "perf_event_open", want: ok},
		{flags: privileged, probe: "userfaultfd", want: ok},
		// Not a module: ENOEXEC, or ENOSYS from a kernel without modules.
		{flags: privileged, probe: "finit_module", arg: "/etc/passwd", want: []string{"ENOEXEC", "ENOSYS"}},
		{flags: privileged, probe: "mknod-disk", arg: "/tmp/disk", want: ok},
		{flags: privileged, probe: "mount-proc", arg: "/tmp", want: ok},
		{flags: privileged, probe: "mount-dev", arg: "/etc/hostname", want: ok},
		{flags: privileged, probe: "open-write", arg: "/proc/sys/kernel/domainname", want: ok},
		{flags: privileged, probe: "ptrace", arg: "1", want: ok},
	})

	t.Run("chroot escape from a plain chroot", func(t *testing.T) {
		r := run(t, command(t, "chroot", root, "/bin/probe", "chroot-escape", marker))
		if strings.TrimSpace(r.stdout) != "ok" {
			t.Fatalf("the probe did not reach the host's root from a chroot\n%s", r)
		}
	})
	t.Run("ptrace of a sibling", func(t *testing.T) {
		// The sibling is traced once it is sleep: attached during its
		// exec, it would get the exec's SIGTRAP and be left stopped.
		const script = `sleep 30 & while [ "$(cat /proc/$!/comm)" != sleep ]; do sleep 0.01; done; /bin/probe ptrace $!; kill $!`
		r := runCCSuper(t, "--rootfs", root, "--net", "none", "--", "/bin/sh", "-c", script)
		if strings.TrimSpace(r.stdout) != "ok" {
			t.Fatalf("ptrace of the container's own process failed\n%s", r)
		}
	})
}
