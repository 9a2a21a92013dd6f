package e2e

// The bridge's life: it outlives its last container, as docker0 does, until
// `ccsuper cleanup` removes it (issue 16). Not parallel, like the rest of
// the network tests (see network_test.go).

import (
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestNetworkBridgeKept checks that a lone container leaves its bridge up
// for the next one, that NAT and ip_forward still go with their last user,
// that a kept bridge still keeps an overlapping subnet out (with a line that
// says how to remove it), that a kept bridge someone deleted or set down is
// made whole again, and that `ccsuper cleanup` spares a bridge in use and
// removes a kept one with its state, after which the overlapping subnet runs.
func TestNetworkBridgeKept(t *testing.T) {
	netTest(t)
	setIPForward(t, "0")
	wantAddr := func(t *testing.T, want string, args ...string) {
		t.Helper()
		args = append(append([]string{"--rootfs", baseRootfs}, args...), "--", "/bin/sh", "-c", printAddr)
		r := runCCSuper(t, args...)
		wantExit(t, r, 0)
		if r.stdout != "addr "+want+"\n" {
			t.Errorf("container's address: got %q, want %s", r.stdout, want)
		}
		wantNoNetState(t, "after the run")
	}
	bridgeIndex := func(t *testing.T) int {
		t.Helper()
		br, err := netlink.LinkByName(defaultBridge)
		if err != nil {
			t.Fatalf("bridge %s: %v", defaultBridge, err)
		}
		return br.Attrs().Index
	}

	t.Run("kept after the last container, used by the next", func(t *testing.T) {
		wantAddr(t, "192.168.20.2/24")
		wantKeptBridge(t, defaultBridge, "after its only container")
		index := bridgeIndex(t)
		wantAddr(t, "192.168.20.2/24")
		if got := bridgeIndex(t); got != index {
			t.Errorf("bridge index %d after the next container, was %d: made again, not kept", got, index)
		}
		wantKeptBridge(t, defaultBridge, "after the next container")
	})

	t.Run("NAT and ip_forward go with their last user", func(t *testing.T) {
		wantAddr(t, "192.168.20.2/24", "--nat")
		if hasNATTable(t, defaultBridge) {
			t.Errorf("nftables table %s still there after the last --nat container", defaultBridge)
		}
		wantIPForward(t, "0", "after the last --nat container")
		wantKeptBridge(t, defaultBridge, "after a --nat container")
	})

	t.Run("a kept bridge keeps an overlapping subnet out", func(t *testing.T) {
		r := runCCSuper(t, "--rootfs", baseRootfs, "--subnet", "192.168.0.0/16", "--", "/bin/true")
		wantOneLineError(t, r, 125)
		if !strings.Contains(r.stderr, defaultBridge) || !strings.Contains(r.stderr, "ccsuper cleanup") {
			t.Errorf("refusal %q: want it to name %s and say that ccsuper cleanup removes it", r.stderr, defaultBridge)
		}
		wantNoNetState(t, "after the refused run")
	})

	t.Run("a kept bridge set down or deleted is made whole", func(t *testing.T) {
		br, err := netlink.LinkByName(defaultBridge)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetDown(br); err != nil {
			t.Fatal(err)
		}
		wantAddr(t, "192.168.20.2/24")
		wantKeptBridge(t, defaultBridge, "after a container found it down")
		if err := netlink.LinkDel(br); err != nil {
			t.Fatal(err)
		}
		wantAddr(t, "192.168.20.2/24")
		wantKeptBridge(t, defaultBridge, "after a container found it gone")
	})

	t.Run("cleanup spares a bridge in use", func(t *testing.T) {
		b := startBox(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", "echo ready; cat >/dev/null")
		b.waitLine(t, "ready")
		wantExit(t, runCCSuper(t, "cleanup"), 0)
		wantOnBridge(t, "ccv"+strconv.Itoa(b.cmd.Process.Pid), defaultBridge, "after cleanup")
		b.finish(t)
		wantNoNetState(t, "after the container exited")
		wantKeptBridge(t, defaultBridge, "after the container exited")
	})

	t.Run("cleanup removes a kept bridge", func(t *testing.T) {
		wantCleanedUp(t, "with a kept bridge")
		// Its route gone with it, the overlapping subnet is free.
		wantAddr(t, "192.168.0.2/16", "--subnet", "192.168.0.0/16")
	})
}
