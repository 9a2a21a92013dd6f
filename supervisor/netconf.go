package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"strings"
)

// NetMode is how the container is connected.
type NetMode string

// The network modes, as --net spells them.
const (
	NetBridge NetMode = "bridge" // own namespace, veth to a host bridge (the default)
	NetNone   NetMode = "none"   // own namespace, loopback only
	NetHost   NetMode = "host"   // the host's namespace
	NetPasta  NetMode = "pasta"  // own namespace, user-mode networking through pasta (rootless default)
)

// DefaultSubnet is the original projects' network: host .1, containers from .2.
const DefaultSubnet = "192.168.20.0/24"

// ParseNetMode accepts the --net values.
func ParseNetMode(s string) (NetMode, error) {
	switch m := NetMode(s); m {
	case NetBridge, NetNone, NetHost, NetPasta:
		return m, nil
	}
	return "", fmt.Errorf("--net %q: want bridge, none, host or pasta", s)
}

// notHostRanges are the IPv4 ranges that are not a network of hosts
// (RFC 6890), which a bridge subnet must not touch. Their addresses mean
// something else to the kernel: a container given 127.0.0.0/8 got a default
// route via 127.0.0.1, its own loopback.
var notHostRanges = []struct {
	p    netip.Prefix
	what string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network"`},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	// Includes 255.255.255.255, the limited broadcast.
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
}

// ParseSubnet accepts an IPv4 network in CIDR form with room for the host and
// at least two containers (/29 or larger), given by its network address, and
// none of it in notHostRanges.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("--subnet %q is not a CIDR such as %s", s, DefaultSubnet)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("--subnet %q: only IPv4 is supported", s)
	}
	if p.Bits() < 8 {
		return netip.Prefix{}, fmt.Errorf("--subnet %q is too large: at least /8", s)
	}
	if p.Bits() > 29 {
		return netip.Prefix{}, fmt.Errorf("--subnet %q is too small: at most /29, for the host and a few containers", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("--subnet %q has host bits set; the network is %s", s, p.Masked())
	}
	for _, r := range notHostRanges {
		if p.Overlaps(r.p) {
			return netip.Prefix{}, fmt.Errorf("--subnet %q overlaps %s, the %s range", s, r.p, r.what)
		}
	}
	return p, nil
}

// hostAddr is the host's address on the bridge: the first in the subnet.
func hostAddr(p netip.Prefix) netip.Addr { return p.Addr().Next() }

// firstFree returns the lowest address a container may get that is not
// taken: from the second in the subnet up to the one before broadcast. It is
// invalid when all are taken. It stops at the first free one, so a large
// subnet costs no more than a small one.
func firstFree(p netip.Prefix, taken map[string]bool) netip.Addr {
	last := broadcast(p)
	for a := hostAddr(p).Next(); a.IsValid() && a.Less(last); a = a.Next() {
		if !taken[a.String()] {
			return a
		}
	}
	return netip.Addr{}
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	hostBits := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= 1<<hostBits - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// bridgeName names the host bridge of a subnet: ccbr0 for the default one, a
// name derived from the subnet otherwise, so that each subnet has its own and
// concurrent ccsupers on the same subnet find the same one. At most 15 bytes,
// the kernel's limit.
func bridgeName(p netip.Prefix) string {
	if p.String() == DefaultSubnet {
		return "ccbr0"
	}
	return fmt.Sprintf("ccbr%08x", crc32.ChecksumIEEE([]byte(p.String())))
}

// vethName names the host end of a container's veth after its supervisor.
func vethName(pid int) string { return fmt.Sprintf("ccv%d", pid) }

// hostsFile renders the container's /etc/hosts.
func hostsFile(hostname string, addr netip.Addr) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if addr.IsValid() {
		fmt.Fprintf(&b, "%s\t%s\n", addr, hostname)
	} else {
		fmt.Fprintf(&b, "127.0.1.1\t%s\n", hostname)
	}
	return b.String()
}

// resolvConf renders the container's /etc/resolv.conf from the host's. A
// name server on the host's loopback cannot be reached from another network
// namespace, so those are dropped unless the container shares the host's
// network.
func resolvConf(host string, shareHostNet bool) string {
	out, _ := resolvConfVia(host, shareHostNet, netip.Addr{})
	return out
}

// pastaDNS is the address a pasta container's resolv.conf names when the
// host's only IPv4 name servers are on its loopback (systemd-resolved's
// 127.0.0.53): pasta, told --dns-forward pastaDNS, carries the queries sent
// there to the host's first name server. A link-local address, as podman
// uses, is nobody's on the host's networks.
var pastaDNS = netip.MustParseAddr("169.254.1.1")

// resolvConfVia is resolvConf, except that when every IPv4 name server of the
// host's is on its loopback and forward is valid, the first of them is
// replaced by forward (pasta's --dns-forward) instead of leaving the
// container without a name server; it reports whether it did.
func resolvConfVia(host string, shareHostNet bool, forward netip.Addr) (string, bool) {
	var b strings.Builder
	loop4, other4 := false, false
	for _, line := range strings.Split(host, "\n") {
		if a, ok := nameserver(line); ok && a.Is4() {
			loop4, other4 = loop4 || a.IsLoopback(), other4 || !a.IsLoopback()
		}
	}
	via := forward.IsValid() && !shareHostNet && loop4 && !other4
	replace := via
	sc := bufio.NewScanner(strings.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		if a, ok := nameserver(line); ok && !shareHostNet && a.IsLoopback() {
			if replace && a.Is4() {
				fmt.Fprintf(&b, "nameserver %s\n", forward)
				replace = false // once
			}
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String(), via
}

// nameserver returns the address of a resolv.conf "nameserver" line.
func nameserver(line string) (netip.Addr, bool) {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "nameserver" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(f[1])
	return a, err == nil
}

var errNoAddress = errors.New("no free address left in the subnet")
