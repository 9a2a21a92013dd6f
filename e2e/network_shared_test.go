package e2e

// Network tests for state shared beyond one bridge. Not parallel, like the
// rest of the network tests (see network_test.go).

import (
	"testing"

	"github.com/vishvananda/netlink"
)

// TestNetworkForwardSharedAcrossBridges: ip_forward is one setting for the
// whole host. Two NAT users on different subnets (so different bridges) must
// share it: the first to leave must not turn it off under the other, and the
// last must put back the value from before the first.
func TestNetworkForwardSharedAcrossBridges(t *testing.T) {
	netTest(t)
	setIPForward(t, "0")
	const wait = "echo addr ready; read x; exit 0"
	a := startBox(t, "--rootfs", baseRootfs, "--nat", "--subnet", "10.77.0.0/24", "--", "/bin/sh", "-c", wait)
	a.waitLine(t, "addr ready")
	b := startBox(t, "--rootfs", baseRootfs, "--nat", "--", "/bin/sh", "-c", wait)
	b.waitLine(t, "addr ready")
	wantIPForward(t, "1", "with two NAT users")
	a.finish(t)
	wantIPForward(t, "1", "after the first of two NAT users left")
	if !hasNATTable(t, "ccbr0") {
		t.Error("the remaining NAT user's table is gone")
	}
	b.finish(t)
	wantIPForward(t, "0", "after the last NAT user left")
	wantNoNetState(t, "after both NAT users left")
}

// TestNetworkForeignBridge: a link that has the bridge's name but is not
// ccontainer's is neither used nor deleted.
func TestNetworkForeignBridge(t *testing.T) {
	netTest(t)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "ccbr0"}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatalf("add a foreign ccbr0: %v", err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(br) }) // gone already if the runtime wrongly took it
	a, err := netlink.ParseAddr("10.9.9.1/24")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(br, a); err != nil {
		t.Fatal(err)
	}
	r := runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/true")
	wantOneLineError(t, r, 125)
	if _, err := netlink.LinkByName("ccbr0"); err != nil {
		t.Errorf("the foreign ccbr0 is gone after ccsuper refused it: %v", err)
	}
}
