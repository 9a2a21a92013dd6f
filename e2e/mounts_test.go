package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestHostMountTable checks that the host's mount table is the same before,
// during and after containers, good and failed ones: every mount ccinit
// makes lives in the container's own mount namespace.
func TestHostMountTable(t *testing.T) {
	t.Parallel()
	hostMounts.RLock()
	defer hostMounts.RUnlock()
	before := hostMountTable(t)

	t.Run("after a good run", func(t *testing.T) {
		wantExit(t, runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/true"), 0)
		wantMountTable(t, before, "by a run that exited 0")
	})

	t.Run("during a run", func(t *testing.T) {
		// The command waits for its stdin to close, so the container is
		// certainly up while the host's table is read.
		cmd := ccsuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", "echo ready; read x; exit 0")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := start(t, cmd)
		p.waitLine(t, "ready")

		wantMountTable(t, before, "while a container runs")
		if m, err := mountsUnder(baseRootfs); err != nil || len(m) > 0 {
			t.Errorf("host mounts under the rootfs while a container runs: %v %v", m, err)
		}
		// The mounts do exist, in the container's namespace: ccinit's is
		// the only child of ccsuper.
		kids := children(t, cmd.Process.Pid)
		if len(kids) != 1 {
			t.Fatalf("ccsuper has children %v, want exactly ccinit", kids)
		}
		inside, err := mountTable(fmt.Sprintf("/proc/%d/mountinfo", kids[0]))
		if err != nil {
			t.Fatal(err)
		}
		// Exactly the container's own mounts: the host's old root is detached.
		if len(inside) > 0 && strings.HasPrefix(inside[0], "/ ") {
			inside = inside[1:] // the rootfs, whatever its file system type
		} else {
			t.Errorf("container's mount table has no /:\n%s", strings.Join(inside, "\n"))
		}
		// The /etc files come from ccsuper's state directory, a tmpfs in
		// the suite's throwaway namespace (TestMain).
		// Then what ccinit masks or makes read-only in /proc and /sys; those
		// this kernel lacks (/proc/kcore, /proc/scsi, ...) are skipped, so
		// only the mount points are compared that exist on this machine.
		want := []string{"/dev tmpfs", "/dev/mqueue mqueue", "/dev/pts devpts", "/dev/shm tmpfs",
			"/etc/hostname tmpfs", "/etc/hosts tmpfs", "/etc/resolv.conf tmpfs", "/proc proc"}
		for _, m := range []string{"/proc/acpi tmpfs", "/proc/bus proc", "/proc/fs proc", "/proc/irq proc",
			"/proc/kcore tmpfs", "/proc/keys tmpfs", "/proc/latency_stats tmpfs", "/proc/sched_debug tmpfs",
			"/proc/scsi tmpfs", "/proc/sys proc", "/proc/sysrq-trigger proc", "/proc/timer_list tmpfs"} {
			if _, err := os.Stat(strings.Fields(m)[0]); err == nil {
				want = append(want, m)
			}
		}
		want = append(want, "/sys sysfs", "/sys/firmware tmpfs")
		if !slices.Equal(inside, want) {
			t.Errorf("container's mount table below /:\n%s\nwant\n%s", strings.Join(inside, "\n"), strings.Join(want, "\n"))
		}

		if err := stdin.Close(); err != nil {
			t.Fatal(err)
		}
		wantExit(t, p.wait(t), 0)
		wantMountTable(t, before, "by a run that waited on stdin")
	})

	t.Run("after failed runs", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
		}{
			{[]string{"--rootfs", baseRootfs, "--", "nosuchcmd"}, 127},
			{[]string{"--rootfs", baseRootfs, "--nosuchflag", "--", "/bin/true"}, 125},
			{[]string{"--rootfs", baseRootfs, "--workdir", "/etc/passwd", "--", "/bin/true"}, 125}, // fails inside ccinit
		} {
			r := runCCSuper(t, tc.args...)
			wantExit(t, r, tc.code)
			wantMountTable(t, before, fmt.Sprintf("by ccsuper %q", tc.args))
		}
	})
}

// TestMountPropagation runs a container from a namespace whose / is shared,
// as it is on systemd hosts: without ccinit making / private first, its
// mounts would propagate back there and outlive the container. (This
// machine's / may well be private, which would hide that from
// TestHostMountTable.) The shared namespace is a throwaway one made by
// unshare; the host's mounts are not touched.
func TestMountPropagation(t *testing.T) {
	t.Parallel()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("needs unshare from util-linux: %v", err)
	}
	// The namespace starts as a copy of the throwaway host's table, and a
	// copied mount goes from it when the host's directory under it is
	// removed (rmdir of a mount point in another namespace detaches the
	// mount there): a test mounting in the host meanwhile, then removing
	// its directory, would change this table behind the container's back.
	hostMounts.RLock()
	defer hostMounts.RUnlock()
	// "private" first cuts the new namespace off from the host's peer
	// groups, so that making it shared afterwards stays inside it.
	const script = `
mount --make-rshared / || exit 100
cat /proc/self/mountinfo
echo ---
"$1" --rootfs "$2" -- /bin/sh -c 'grep -c "^proc /proc " /proc/mounts' >&2
echo "status $?"
echo ---
cat /proc/self/mountinfo
`
	cmd := command(t, unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", ccsuperBin, baseRootfs)
	r := run(t, cmd)
	wantExit(t, r, 0)
	parts := strings.Split(r.stdout, "---\n")
	if len(parts) != 3 {
		t.Fatalf("got\n%s\nwant three parts separated by ---", r)
	}
	if got := strings.TrimSpace(parts[1]); got != "status 0" {
		t.Errorf("ccsuper in a shared namespace: got %q, want status 0\n%s", got, r.stderr)
	}
	if r.stderr != "1\n" {
		t.Errorf("got stderr %q, want the container's proc mount counted once (1)", r.stderr)
	}
	before, err := parseMountInfo(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseMountInfo(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Errorf("mount table of the shared namespace changed by the container:\nbefore:\n%s\nafter:\n%s",
			strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}
