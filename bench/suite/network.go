package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/ccontainer/ccontainer/bench/record"
)

const (
	iperfPort = "5299"
	// ccsuperHost is the host's address on ccsuper's default bridge.
	ccsuperHost = "192.168.20.1"
	// The plain veth pair: host side and namespace side.
	vethHost, vethNS = "10.201.0.1", "10.201.0.2"
)

var (
	pingAvg   = regexp.MustCompile(`rtt min/avg/max/mdev = [0-9.]+/([0-9.]+)/`)
	iperfRecv = regexp.MustCompile(`([0-9.]+) Mbits/sec\s+receiver`)
)

// networkSections measures the path between a container and the host: ping
// -f round trip and iperf3 TCP throughput both ways, for ccsuper's veth, a
// plain veth pair made by iproute2 and Docker's bridge. The "host" is the
// throwaway namespace the suite runs in.
func networkSections(b *bench) ([]record.Section, error) {
	iperf, ok := b.tool("iperf3")
	if !ok {
		return nil, fmt.Errorf("iperf3 is not installed on the host")
	}
	if _, ok := b.tool("ping"); !ok {
		return nil, fmt.Errorf("ping is not installed on the host")
	}
	ip, ok := b.tool("ip")
	if !ok {
		return nil, fmt.Errorf("ip (iproute2) is not installed")
	}
	count, secs, rounds := "20000", "5", 5
	if b.quick {
		count, secs, rounds = "5000", "2", 2
	}
	script := func(host string) string {
		c := "iperf3 -c " + host + " -p " + iperfPort + " -t " + secs + " -f m"
		return "ping -f -q -c " + count + " " + host + " && " + c + " && " + c + " -R"
	}

	// One server answers all of them, one client at a time.
	srv := exec.Command(iperf, "-s", "-p", iperfPort)
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start iperf3 server: %w", err)
	}
	defer func() { _ = srv.Process.Signal(syscall.SIGTERM); _ = srv.Wait() }() // it only serves this section

	ns := fmt.Sprintf("ccbench-%d", os.Getpid())
	hostIf, nsIf := fmt.Sprintf("ccbh%d", os.Getpid()), fmt.Sprintf("ccbn%d", os.Getpid())
	undo, err := vethPair(ip, ns, hostIf, nsIf)
	if err != nil {
		return nil, err
	}
	defer undo()

	cs := []contender{
		netContender("ccsuper (veth)", append([]string{b.ccsuper, "--rootfs", b.rootfs, "--", "/bin/sh", "-c"}, script(ccsuperHost))),
		netContender("ip netns + veth", []string{ip, "netns", "exec", ns, "/bin/sh", "-c", script(vethHost)}),
	}
	if d, ok := b.dockerCLI(); ok {
		gw, err := output(append(append([]string{}, d...), "network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}")...)
		if err == nil && strings.TrimSpace(gw) == "" {
			// dockerd 20.10 may leave the IPAM gateway empty: the
			// address docker0 holds is the gateway.
			gw, err = docker0Address(ip)
		}
		if err != nil {
			b.note("network: Docker is skipped: %v", err)
		} else {
			cs = append(cs, netContender("docker (bridge)", append(append([]string{}, d...), "run", "--rm", image, "/bin/sh", "-c", script(strings.TrimSpace(gw)))))
		}
	}
	got := b.interleave("network", rounds, 0, cs)
	about := "The host is the suite's throwaway network namespace; each container reaches it over its own veth. " +
		"ip netns + veth: a namespace and a veth pair made with iproute2, no bridge, the same kernel path " +
		"without a runtime. Commands run in the container: `" + script("HOST") + "`."
	return []record.Section{
		{ID: "net-ping", Title: "ping -f round trip, container to host", Unit: "µs", Baseline: "ip netns + veth", Rounds: rounds,
			About: about + " Figure: ping's average rtt.", Series: got["ping"]},
		{ID: "net-c2h", Title: "iperf3 TCP, container to host", Unit: "Gbit/s", Higher: true, Baseline: "ip netns + veth", Rounds: rounds,
			About: "iperf3 -c HOST, receiver's figure, " + secs + " s.", Series: got["c2h"]},
		{ID: "net-h2c", Title: "iperf3 TCP, host to container", Unit: "Gbit/s", Higher: true, Baseline: "ip netns + veth", Rounds: rounds,
			About: "iperf3 -c HOST -R, receiver's figure, " + secs + " s.", Series: got["h2c"]},
	}, nil
}

func netContender(name string, argv []string) contender {
	return contender{name: name, command: shellQuote(argv), run: func() (map[string]float64, error) {
		text, err := output(argv...)
		if err != nil {
			return nil, err
		}
		return parseNet(text)
	}}
}

// parseNet reads ping's average round trip (in µs) and the two iperf3
// receiver figures (in Gbit/s) from the script's output.
func parseNet(text string) (map[string]float64, error) {
	p := pingAvg.FindStringSubmatch(text)
	r := iperfRecv.FindAllStringSubmatch(text, -1)
	if p == nil || len(r) != 2 {
		return nil, fmt.Errorf("unexpected output: %s", lastLine([]byte(text)))
	}
	rtt, err1 := strconv.ParseFloat(p[1], 64)
	c2h, err2 := strconv.ParseFloat(r[0][1], 64)
	h2c, err3 := strconv.ParseFloat(r[1][1], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, fmt.Errorf("unexpected numbers in: %s", text)
	}
	return map[string]float64{"ping": rtt * 1000, "c2h": c2h / 1000, "h2c": h2c / 1000}, nil
}

// vethPair makes a network namespace with one end of a veth pair, the other
// end in the suite's namespace, both addressed and up; undo removes both.
func vethPair(ip, ns, hostIf, nsIf string) (undo func(), err error) {
	undo = func() {
		_, _ = output(ip, "netns", "del", ns)    // takes the namespace's end, and so the pair, with it
		_, _ = output(ip, "link", "del", hostIf) // in case the namespace was never made
	}
	steps := [][]string{
		{"netns", "add", ns},
		{"link", "add", hostIf, "type", "veth", "peer", "name", nsIf, "netns", ns},
		{"addr", "add", vethHost + "/24", "dev", hostIf},
		{"link", "set", hostIf, "up"},
		{"-n", ns, "addr", "add", vethNS + "/24", "dev", nsIf},
		{"-n", ns, "link", "set", nsIf, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := output(append([]string{ip}, s...)...); err != nil {
			undo()
			return nil, fmt.Errorf("veth pair: %w", err)
		}
	}
	return undo, nil
}

// docker0Address returns the IPv4 address of the docker0 bridge, from
// `ip -4 -o addr show dev docker0` ("... inet 172.17.0.1/16 ...").
func docker0Address(ip string) (string, error) {
	out, err := output(ip, "-4", "-o", "addr", "show", "dev", "docker0")
	if err != nil {
		return "", err
	}
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "inet" {
			addr, _, _ := strings.Cut(f[i+1], "/")
			return addr, nil
		}
	}
	return "", fmt.Errorf("no IPv4 address on docker0: %q", out)
}
