package supervisor

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Publish is one -p flag: connections to HostPort on the host (on HostIP
// only, when set) are forwarded to ContainerPort in the container.
type Publish struct {
	HostIP        netip.Addr
	HostPort      uint16
	ContainerPort uint16
	UDP           bool
}

// ParsePublish reads -p [IP:]HOST:CONTAINER[/tcp|/udp], Docker's form
// without ranges.
func ParsePublish(s string) (Publish, error) {
	var p Publish
	spec, proto, _ := strings.Cut(s, "/")
	switch proto {
	case "", "tcp":
	case "udp":
		p.UDP = true
	default:
		return p, fmt.Errorf("-p %q: protocol %q: want tcp or udp", s, proto)
	}
	i := strings.LastIndexByte(spec, ':')
	if i < 0 {
		return p, fmt.Errorf("-p %q: want [IP:]HOST:CONTAINER", s)
	}
	hostPart, ctr := spec[:i], spec[i+1:]
	host := hostPart
	if j := strings.LastIndexByte(hostPart, ':'); j >= 0 {
		ip := strings.TrimSuffix(strings.TrimPrefix(hostPart[:j], "["), "]")
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("-p %q: %q is not an IP address", s, ip)
		}
		p.HostIP, host = a, hostPart[j+1:]
	}
	var err error
	if p.HostPort, err = parsePort(host); err != nil {
		return p, fmt.Errorf("-p %q: host port: %w", s, err)
	}
	if p.ContainerPort, err = parsePort(ctr); err != nil {
		return p, fmt.Errorf("-p %q: container port: %w", s, err)
	}
	return p, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port from 1 to 65535", s)
	}
	return uint16(n), nil
}

// pastaSpec is p as pasta's -t or -u argument: [IP/]HOST:CONTAINER.
func (p Publish) pastaSpec() (flag, spec string) {
	flag = "-t"
	if p.UDP {
		flag = "-u"
	}
	spec = fmt.Sprintf("%d:%d", p.HostPort, p.ContainerPort)
	if p.HostIP.IsValid() {
		spec = p.HostIP.String() + "/" + spec
	}
	return flag, spec
}
