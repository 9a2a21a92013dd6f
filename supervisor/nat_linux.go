package supervisor

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
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

// forwardState is the host-wide record of who needs net.ipv4.ip_forward on:
// one sysctl for the whole host, shared by every bridge with NAT. Before is
// its value before the first of them turned it on, put back by the last.
type forwardState struct {
	Before  string   `json:"before"`
	Bridges []string `json:"bridges"`
}

// natOn masquerades traffic from the subnet that leaves through anything but
// the bridge, and turns IPv4 forwarding on for it. The caller has recorded
// st.NAT already, so a supervisor killed half-way is undone by natOff.
func natOn(subnet netip.Prefix, bridge string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	// Start from nothing, in case a killed supervisor left the table.
	if err := deleteTable(c, bridge); err != nil {
		return err
	}
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
		return fmt.Errorf("add masquerade for %s: %w", subnet, err)
	}
	return useForward(bridge, true)
}

// natOff deletes the bridge's table and gives up its use of ip_forward. It
// does nothing that is already undone, so it can be repeated after a failure.
func natOff(bridge string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if err := deleteTable(c, bridge); err != nil {
		return err
	}
	return useForward(bridge, false)
}

// useForward adds bridge to, or removes it from, the users of ip_forward:
// the first user records the old value and turns it on, the last puts the
// old value back. Lock order: a bridge's lock, then this one, never the
// other way round.
func useForward(bridge string, on bool) error {
	var st forwardState
	l, err := lockState("ip_forward", &st)
	if err != nil {
		return err
	}
	defer l.unlock()
	has := slices.Contains(st.Bridges, bridge)
	switch {
	case on && has, !on && !has:
		return nil
	case on:
		if len(st.Bridges) == 0 {
			b, err := os.ReadFile(ipForward)
			if err != nil {
				return fmt.Errorf("read ip_forward: %w", err)
			}
			st.Before = strings.TrimSpace(string(b))
		}
		st.Bridges = append(st.Bridges, bridge)
		if err := l.save(&st); err != nil {
			return err
		}
		if err := os.WriteFile(ipForward, []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("turn on ip_forward: %w", err)
		}
		return nil
	}
	st.Bridges = slices.DeleteFunc(st.Bridges, func(b string) bool { return b == bridge })
	if len(st.Bridges) > 0 {
		return l.save(&st)
	}
	if err := os.WriteFile(ipForward, []byte(st.Before+"\n"), 0o644); err != nil {
		return fmt.Errorf("restore ip_forward: %w", err)
	}
	return l.remove()
}

// deleteTable deletes ccontainer's table of a bridge; none is fine.
func deleteTable(c *nftables.Conn, name string) error {
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: name})
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete nftables table %s: %w", name, err)
	}
	return nil
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
