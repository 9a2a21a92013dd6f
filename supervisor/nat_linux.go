package supervisor

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// NAT is done with nftables through github.com/google/nftables, which speaks
// netlink directly: no iptables or nft binary, and no parsing of their
// output. All of ccontainer's rules live in one table per bridge, named
// after it, so turning NAT off is deleting that table: nothing anyone else
// wrote is flushed, rewritten or even read.

const ipForward = "/proc/sys/net/ipv4/ip_forward"

// natOn masquerades traffic from the subnet that leaves through anything but
// the bridge, and turns on IPv4 forwarding, remembering its old value in st.
func natOn(st *bridgeState, subnet netip.Prefix, bridge string) error {
	if st.ForwardBefore == "" {
		b, err := os.ReadFile(ipForward)
		if err != nil {
			return fmt.Errorf("read ip_forward: %w", err)
		}
		st.ForwardBefore = strings.TrimSpace(string(b))
	}
	if err := os.WriteFile(ipForward, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("turn on ip_forward: %w", err)
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting()
	// Start from nothing, in case a killed supervisor left the table.
	deleteTableIfPresent(c, bridge)
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: bridge})
	ch := c.AddChain(&nftables.Chain{
		Name:     "postrouting",
		Table:    t,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
	})
	mask := netipMask(subnet)
	network := subnet.Addr().As4()
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		// ip saddr & mask == network
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask[:], Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: network[:]},
		// oifname != bridge
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(bridge)},
		&expr.Masq{},
	}})
	if err := c.Flush(); err != nil {
		return errors.Join(fmt.Errorf("add masquerade for %s: %w", subnet, err), natOff(st, bridge))
	}
	return nil
}

// natOff deletes the bridge's table and puts ip_forward back as it was.
func natOff(st *bridgeState, bridge string) error {
	var errs []error
	c, err := nftables.New()
	if err != nil {
		errs = append(errs, fmt.Errorf("nftables: %w", err))
	} else {
		defer c.CloseLasting()
		deleteTableIfPresent(c, bridge)
	}
	if st.ForwardBefore != "" {
		if err := os.WriteFile(ipForward, []byte(st.ForwardBefore+"\n"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore ip_forward: %w", err))
		}
		st.ForwardBefore = ""
	}
	return errors.Join(errs...)
}

func deleteTableIfPresent(c *nftables.Conn, name string) {
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: name}
	c.DelTable(t)
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		// ENOENT: there was none. Anything else shows up again when the
		// table is added.
		return
	}
}

func netipMask(p netip.Prefix) [4]byte {
	var m [4]byte
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// ifname pads an interface name as the kernel stores it.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}
