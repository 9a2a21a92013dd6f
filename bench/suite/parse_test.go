package main

import (
	"strings"
	"testing"
)

// Outputs as the tools print them (sysbench 1.0.20, iputils 20221126,
// iperf3 3.12), shortened.
const fileioOut = `
File operations:
    reads/s:                      0.00
    writes/s:                     3012.55
Throughput:
    read, MiB/s:                  0.00
    written, MiB/s:               47.07
File operations:
    reads/s:                      90001.10
    writes/s:                     0.00
Throughput:
    read, MiB/s:                  1406.27
    written, MiB/s:               0.00
`

func TestParseSysbench(t *testing.T) {
	tests := map[string]sysbenchTest{}
	for _, x := range sysbenchTests(false) {
		tests[x.id] = x
	}
	for _, c := range []struct {
		test, out string
		want      map[string]float64
	}{
		{"cpu1", "CPU speed:\n    events per second:   912.34\n", map[string]float64{"cpu1": 912.34}},
		{"memory", "2048.00 MiB transferred (6021.50 MiB/sec)\n", map[string]float64{"memory": 6021.5}},
		{"fileio", fileioOut, map[string]float64{"fileio-rndwr": 47.07, "fileio-rndrd": 1406.27}},
	} {
		got, err := parseSysbench(c.out, tests[c.test])
		if err != nil {
			t.Errorf("%s: %v", c.test, err)
			continue
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", c.test, k, got[k], v)
			}
		}
	}
	if _, err := parseSysbench("FATAL: no such test\n", tests["fileio"]); err == nil {
		t.Errorf("fileio output without figures parsed without error")
	}
}

func TestParseNet(t *testing.T) {
	out := `--- 10.201.0.1 ping statistics ---
5000 packets transmitted, 5000 received, 0% packet loss, time 301ms
rtt min/avg/max/mdev = 0.011/0.042/0.310/0.012 ms, ipg/ewma 0.060/0.040 ms
[ ID] Interval           Transfer     Bitrate         Retr
[  5]   0.00-2.00   sec  1.10 GBytes  4712 Mbits/sec    0             sender
[  5]   0.00-2.00   sec  1.10 GBytes  4700 Mbits/sec                  receiver
[  5]   0.00-2.00   sec  900 MBytes  3801 Mbits/sec   12             sender
[  5]   0.00-2.00   sec  899 MBytes  3800 Mbits/sec                  receiver
`
	got, err := parseNet(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"ping": 42, "c2h": 4.7, "h2c": 3.8}
	for k, v := range want {
		if d := got[k] - v; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, err := parseNet(strings.Split(out, "[ ID]")[0]); err == nil {
		t.Errorf("output without iperf3 figures parsed without error")
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"/bin/sh", "-c", "echo up; read x", "it's"})
	want := `/bin/sh -c 'echo up; read x' 'it'\''s'`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
