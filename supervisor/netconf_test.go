package supervisor

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseSubnet(t *testing.T) {
	for s, wantErr := range map[string]string{
		"192.168.20.0/24": "", "10.0.0.0/8": "", "10.0.0.8/29": "",
		"192.168.20.0": "not a CIDR", "nonsense": "not a CIDR", "10.0.0.0/30": "too small",
		"0.0.0.0/0": "too large", "10.0.0.0/7": "too large", "10.0.0.1/24": "host bits", "fd00::/64": "only IPv4",
		// Not networks of hosts (issue 10), and larger ranges around them.
		"0.0.0.0/8": "this network", "0.1.2.0/24": "this network",
		"127.0.0.0/8": "loopback", "127.0.0.0/24": "loopback", "127.255.255.248/29": "loopback",
		"169.254.0.0/16": "link-local", "169.254.1.0/24": "link-local", "169.0.0.0/8": "link-local",
		"224.0.0.0/24": "multicast", "239.255.255.0/24": "multicast", "224.0.0.0/8": "multicast",
		"240.0.0.0/8": "reserved", "255.255.255.248/29": "reserved", "250.0.0.0/16": "reserved",
		"255.255.255.255/32": "too small", "10.0.0.0/31": "too small",
		// Their neighbours are ordinary networks.
		"1.0.0.0/8": "", "126.255.255.0/24": "", "128.0.0.0/8": "", "169.253.0.0/16": "", "169.255.0.0/16": "",
		"223.255.255.248/29": "", "172.16.0.0/12": "", "100.64.0.0/10": "",
	} {
		_, err := ParseSubnet(s)
		if (err == nil) != (wantErr == "") || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("ParseSubnet(%q) = %v, want an error containing %q", s, err, wantErr)
		}
	}
}

func TestFirstFree(t *testing.T) {
	p := netip.MustParsePrefix("10.0.0.0/29") // .1 host, .2-.6 containers, .7 broadcast
	taken := map[string]bool{}
	var got []string
	for {
		a := firstFree(p, taken)
		if !a.IsValid() {
			break
		}
		got = append(got, a.String())
		taken[a.String()] = true
	}
	want := "10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6"
	if strings.Join(got, " ") != want {
		t.Errorf("addresses handed out = %v, want %s", got, want)
	}
	delete(taken, "10.0.0.3")
	if a := firstFree(p, taken); a.String() != "10.0.0.3" {
		t.Errorf("after 10.0.0.3 is freed, firstFree = %s, want it back", a)
	}
	// A /8 costs no more than a /29 when its first addresses are free.
	if a := firstFree(netip.MustParsePrefix("10.0.0.0/8"), nil); a.String() != "10.0.0.2" {
		t.Errorf("firstFree(/8) = %s, want 10.0.0.2", a)
	}
}

func TestNames(t *testing.T) {
	if got := bridgeName(netip.MustParsePrefix(DefaultSubnet)); got != "ccbr0" {
		t.Errorf("bridge of the default subnet = %q, want ccbr0", got)
	}
	a, b := bridgeName(netip.MustParsePrefix("10.1.0.0/16")), bridgeName(netip.MustParsePrefix("10.2.0.0/16"))
	if a == b || len(a) > 15 || len(b) > 15 {
		t.Errorf("bridges %q and %q: want distinct names of at most 15 bytes", a, b)
	}
	if got := vethName(4194304); len(got) > 15 {
		t.Errorf("veth name for the largest PID %q is longer than 15 bytes", got)
	}
	if got := macFor(netip.MustParseAddr("192.168.20.2")).String(); got != "02:cc:c0:a8:14:02" {
		t.Errorf("macFor(192.168.20.2) = %s", got)
	}
}

func TestEtcFiles(t *testing.T) {
	host := "search example\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n"
	if got, want := resolvConf(host, false), "search example\nnameserver 10.0.0.1\noptions edns0\n"; got != want {
		t.Errorf("resolvConf(own network) = %q, want %q", got, want)
	}
	if got := resolvConf(host, true); got != host {
		t.Errorf("resolvConf(host network) = %q, want the host's unchanged", got)
	}
	fwd := netip.MustParseAddr("169.254.1.1")
	for _, tc := range []struct {
		host, want string
		via        bool
	}{
		// Only loopback resolvers: the first IPv4 one becomes the forward.
		{"search x\nnameserver 127.0.0.53\noptions edns0\n", "search x\nnameserver 169.254.1.1\noptions edns0\n", true},
		{"nameserver ::1\nnameserver 127.0.0.53\nnameserver 127.0.0.54\n", "nameserver 169.254.1.1\n", true},
		// A reachable IPv4 resolver: no forward, loopback ones dropped.
		{host, "search example\nnameserver 10.0.0.1\noptions edns0\n", false},
		// IPv6 on loopback only: pasta is given no IPv6 forward.
		{"nameserver ::1\n", "", false},
	} {
		got, via := resolvConfVia(tc.host, false, fwd)
		if got != tc.want || via != tc.via {
			t.Errorf("resolvConfVia(%q, pasta) = %q, %v; want %q, %v", tc.host, got, via, tc.want, tc.via)
		}
	}
	if got, via := resolvConfVia("nameserver 127.0.0.53\n", false, netip.Addr{}); got != "" || via {
		t.Errorf("resolvConfVia without a forward = %q, %v; want the loopback dropped", got, via)
	}
	if got := hostsFile("box", netip.MustParseAddr("192.168.20.2")); !strings.Contains(got, "192.168.20.2\tbox\n") || !strings.HasPrefix(got, "127.0.0.1\tlocalhost\n") {
		t.Errorf("hostsFile with an address = %q", got)
	}
	if got := hostsFile("box", netip.Addr{}); !strings.Contains(got, "127.0.1.1\tbox\n") {
		t.Errorf("hostsFile without an address = %q", got)
	}
}
