package e2e

// The network tests. Unlike the rest of the suite they do not call
// t.Parallel, on purpose: Go runs a package's non-parallel top-level tests
// one after the other, and lets no parallel test go past its t.Parallel call
// until all of them are done. So each test here has the throwaway host's
// network (bridges, veths, nftables, ip_forward) and /run/ccontainer to
// itself, which the checks "no bridge, no lease, no NAT table left" need:
// every other e2e test runs a default bridge-mode container, in parallel.
// Keep it that way: a network test that calls t.Parallel breaks them all.
//
// Every test starts by checking that the throwaway host has no network state
// of ccsuper's (netTest), and ends with `ccsuper cleanup`, which must leave
// none: a bridge outlives its last container (as docker0 does) until cleanup
// removes it. When a test failed, it scrubs what it left so that the next
// test reports its own failures rather than this one's.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	defaultSubnet = "192.168.20.0/24"
	defaultBridge = "ccbr0"        // the bridge of the default subnet
	bridgeHost    = "192.168.20.1" // the host's address on it
	stateDir      = "/run/ccontainer"
	ipForwardPath = "/proc/sys/net/ipv4/ip_forward"

	// printAddr prints "addr A.B.C.D/N", the container's eth0 address.
	printAddr = `echo "addr $(ip -4 -o addr show dev eth0 | awk '{print $4}')"`
)

// netTest prepares a network test: the throwaway host must have none of
// ccsuper's network state. When the test is over, `ccsuper cleanup` must
// remove the bridges it kept, and then nothing of ccsuper's may be left; if
// the test failed, whatever it left is removed. (Cleanups run
// last-registered first, so this one runs after every kill registered
// later.)
func netTest(t *testing.T) {
	t.Helper()
	if left := vethsGone(t); len(left) > 0 {
		t.Fatalf("host veths of earlier tests' containers never went away: %v", left)
	}
	if left := netLeftovers(t, false); len(left) > 0 {
		t.Fatalf("network state left by an earlier test (or by a parallel test: network tests must not be parallel):\n%s",
			strings.Join(left, "\n"))
	}
	t.Cleanup(func() {
		if !t.Failed() {
			wantCleanedUp(t, "at the end of the test")
		}
		if t.Failed() {
			scrubNetwork()
		}
	})
}

// wantCleanedUp runs `ccsuper cleanup` and fails the test unless it
// succeeded and left nothing of ccsuper's network state on the throwaway
// host: no bridge, kept or not, and no state file.
func wantCleanedUp(t *testing.T, when string) {
	t.Helper()
	if r := run(t, command(t, ccsuperBin, "cleanup")); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("ccsuper cleanup %s: want exit status 0 and no output\n%s", when, r)
	}
	if left := netLeftovers(t, false); len(left) > 0 {
		t.Errorf("left on the host after ccsuper cleanup %s:\n%s", when, strings.Join(left, "\n"))
	}
}

// netLeftovers describes ccsuper's network state on the throwaway host that
// a supervisor removes itself before it exits: NAT tables, leases, /etc
// files directories, and with kept false, bridges and their state files.
// With kept true, a bridge that outlived its last container is no
// leftover: a state file saying the bridge is ccontainer's, with no lease
// and no NAT, and the bridge itself, up, holding the host's address and no
// port. Host veths are not in it: ccsuper leaves them to the kernel's
// teardown of the container's network namespace, which runs in the
// background (vethsGone).
func netLeftovers(t *testing.T, kept bool) []string {
	t.Helper()
	var left []string
	keptBridges := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(stateDir, "net", "*.json"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if kept && name != "ip_forward" && isKeptBridge(t, name) {
			keptBridges[name] = true
			continue
		}
		left = append(left, "state file "+f)
	}
	for _, l := range linkNames(t, "ccbr") {
		if !keptBridges[l] {
			left = append(left, "link "+l+linkDetails(l))
		}
	}
	for _, tb := range nftTables(t, "ccbr") {
		left = append(left, "nftables table "+tb)
	}
	for _, d := range filesDirs(t, "") {
		left = append(left, "files directory "+d)
	}
	return left
}

// isKeptBridge reports whether bridge is one ccsuper keeps after its last
// container: its state file owns it with no lease and no NAT, and it is up,
// with its subnet's first address and no port.
func isKeptBridge(t *testing.T, bridge string) bool {
	t.Helper()
	var st struct {
		Subnet string            `json:"subnet"`
		Owned  bool              `json:"owned"`
		NAT    bool              `json:"nat"`
		Leases []json.RawMessage `json:"leases"`
	}
	b, err := os.ReadFile(filepath.Join(stateDir, "net", bridge+".json"))
	if err != nil || json.Unmarshal(b, &st) != nil || !st.Owned || st.NAT || len(st.Leases) > 0 {
		return false
	}
	subnet, err := netip.ParsePrefix(st.Subnet)
	if err != nil {
		return false
	}
	l, err := netlink.LinkByName(bridge)
	if err != nil {
		return false
	}
	if _, ok := l.(*netlink.Bridge); !ok || l.Attrs().Flags&net.FlagUp == 0 {
		return false
	}
	links, err := listLinks()
	if err != nil {
		return false
	}
	for _, port := range links {
		if port.Attrs().MasterIndex == l.Attrs().Index {
			return false
		}
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 {
		return false
	}
	a, _ := netip.AddrFromSlice(addrs[0].IP)
	ones, _ := addrs[0].Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones) == netip.PrefixFrom(subnet.Addr().Next(), subnet.Bits())
}

// linkDetails describes link name for a report.
func linkDetails(name string) string {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return " (" + err.Error() + ")"
	}
	a := l.Attrs()
	return fmt.Sprintf(" (%s, %s, master %d, peer index %d, peer netns id %d)", l.Type(), a.OperState, a.MasterIndex, a.ParentIndex, a.NetNsID)
}

// wantNoNetState fails the test if anything of ccsuper's network state but
// the bridges it keeps is left on the throwaway host, once the kernel is done
// with the containers' namespaces and so with their host veths (a kept
// bridge has no port).
func wantNoNetState(t *testing.T, when string) {
	t.Helper()
	if left := vethsGone(t); len(left) > 0 {
		t.Errorf("host veths %s never went away:\n%s", when, strings.Join(left, "\n"))
	}
	if left := netLeftovers(t, true); len(left) > 0 {
		t.Errorf("left on the host %s:\n%s", when, strings.Join(left, "\n"))
	}
}

// wantKeptBridge fails the test unless bridge is there, kept as
// isKeptBridge describes.
func wantKeptBridge(t *testing.T, bridge, when string) {
	t.Helper()
	if !isKeptBridge(t, bridge) {
		st, _ := os.ReadFile(filepath.Join(stateDir, "net", bridge+".json"))
		t.Errorf("bridge %s %s: want it kept (up, the host's address, no port, state owned with no lease): link%s, state %q",
			bridge, when, linkDetails(bridge), st)
	}
}

// vethsGone waits until the throwaway host has no ccv* link and returns
// those still there at the suite's deadline. A container's host veth goes
// when the kernel has torn down its network namespace, in the background
// after the container's last process is gone; the deadline only turns
// "never" into a failure.
func vethsGone(t *testing.T) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := linkNames(t, "ccv")
		if len(left) == 0 || time.Now().After(deadline) {
			for i, l := range left {
				left[i] = l + linkDetails(l)
			}
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scrubNetwork removes ccsuper's network state from the throwaway host.
// Only for cleaning up after a failure was reported.
func scrubNetwork() {
	links, _ := netlink.LinkList()
	for _, l := range links {
		if n := l.Attrs().Name; strings.HasPrefix(n, "ccv") || strings.HasPrefix(n, "ccbr") {
			_ = netlink.LinkDel(l) // best effort; the failure is already reported
		}
	}
	if c, err := nftables.New(); err == nil {
		tables, _ := c.ListTables()
		for _, tb := range tables {
			if strings.HasPrefix(tb.Name, "ccbr") {
				c.DelTable(tb)
			}
		}
		_ = c.Flush()
	}
	files, _ := filepath.Glob(filepath.Join(stateDir, "net", "*.json"))
	dirs, _ := filepath.Glob(filepath.Join(stateDir, "c[0-9]*"))
	for _, f := range append(files, dirs...) {
		_ = os.RemoveAll(f)
	}
}

// listLinks lists the throwaway host's links. The kernel interrupts a dump
// when links change under it, as they do while containers' veths go away:
// such a list may be incomplete, so it is taken again.
func listLinks() ([]netlink.Link, error) {
	for range 100 {
		links, err := netlink.LinkList()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return links, err
		}
	}
	return nil, fmt.Errorf("list links: %w, 100 times", netlink.ErrDumpInterrupted)
}

// linkNames returns the names of the throwaway host's links that start with
// one of prefixes, sorted.
func linkNames(t *testing.T, prefixes ...string) []string {
	t.Helper()
	links, err := listLinks()
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	var out []string
	for _, l := range links {
		n := l.Attrs().Name
		if slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(n, p) }) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// nftTables returns "FAMILY NAME" for the throwaway host's nftables tables
// whose name starts with prefix.
func nftTables(t *testing.T, prefix string) []string {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatalf("nftables: %v", err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatalf("list nftables tables: %v", err)
	}
	var out []string
	for _, tb := range tables {
		if strings.HasPrefix(tb.Name, prefix) {
			out = append(out, fmt.Sprintf("%d %s", tb.Family, tb.Name))
		}
	}
	slices.Sort(out)
	return out
}

// hasNATTable reports whether the IPv4 nftables table of bridge exists.
func hasNATTable(t *testing.T, bridge string) bool {
	t.Helper()
	return slices.Contains(nftTables(t, bridge), fmt.Sprintf("%d %s", nftables.TableFamilyIPv4, bridge))
}

// filesDirs returns ccsuper's /etc files directories (c<pid>-<start>) for
// supervisor pid, or for any when pid is "".
func filesDirs(t *testing.T, pid string) []string {
	t.Helper()
	pattern := "c[0-9]*"
	if pid != "" {
		pattern = "c" + pid + "-*"
	}
	dirs, err := filepath.Glob(filepath.Join(stateDir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// ipForward returns the throwaway host's net.ipv4.ip_forward.
func ipForward(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(ipForwardPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// setIPForward sets the throwaway host's net.ipv4.ip_forward to v for the
// test (it is per network namespace).
func setIPForward(t *testing.T, v string) {
	t.Helper()
	old := ipForward(t)
	if err := os.WriteFile(ipForwardPath, []byte(v+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.WriteFile(ipForwardPath, []byte(old+"\n"), 0o644) })
}

func wantIPForward(t *testing.T, want, when string) {
	t.Helper()
	if got := ipForward(t); got != want {
		t.Errorf("ip_forward %s: got %s, want %s", when, got, want)
	}
}

// value waits until p has printed a line starting with prefix and returns
// the rest of that line.
func (p *proc) value(t *testing.T, prefix string) string {
	t.Helper()
	find := func() (string, bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.lines {
			if v, ok := strings.CutPrefix(l, prefix); ok {
				return v, true
			}
		}
		return "", false
	}
	deadline := time.After(timeout)
	for {
		if v, ok := find(); ok {
			return v
		}
		select {
		case <-p.update:
		case <-p.eof:
			if v, ok := find(); ok {
				return v
			}
			r := p.wait(t)
			t.Fatalf("%s ended before printing a line %q...\n%s", p.cmd, prefix, r)
		case <-deadline:
			t.Fatalf("%s did not print a line %q... within %s", p.cmd, prefix, timeout)
		}
	}
}

// box is a container that runs until its stdin is closed.
type box struct {
	*proc
	stdin io.WriteCloser
}

// startBox starts ccsuper with args (which end with the command) and stdin
// on a pipe the test holds.
func startBox(t *testing.T, args ...string) *box {
	t.Helper()
	cmd := ccsuper(t, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	return &box{start(t, cmd), stdin}
}

// addr waits for the "addr" line of printAddr and returns the address.
func (b *box) addr(t *testing.T) netip.Addr {
	t.Helper()
	v := b.value(t, "addr ")
	p, err := netip.ParsePrefix(v)
	if err != nil {
		t.Fatalf("%s printed eth0 address %q: %v", b.cmd, v, err)
	}
	return p.Addr()
}

// finish closes the container's stdin and wants it to exit 0.
func (b *box) finish(t *testing.T) result {
	t.Helper()
	if err := b.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	r := b.wait(t)
	wantExit(t, r, 0)
	if r.stderr != "" {
		t.Errorf("%s: exited 0 but said on stderr:\n%s", b.cmd, r.stderr)
	}
	return r
}

// killSupervisor SIGKILLs the box's ccsuper and waits until it and its
// container are gone (stdout at EOF: every process in the container held it).
func (b *box) killSupervisor(t *testing.T) {
	t.Helper()
	if err := b.cmd.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.eof:
	case <-time.After(timeout):
		t.Fatalf("container of the killed %s still holds its stdout after %s", b.cmd, timeout)
	}
	_ = b.cmd.Wait() // the error is the signal, checked below
	b.waited = true
	ws, ok := b.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Fatalf("%s: got %v, want killed by SIGKILL", b.cmd, b.cmd.ProcessState)
	}
}

// hostPing pings addr once from the throwaway host.
func hostPing(t *testing.T, addr string) error {
	t.Helper()
	r := run(t, command(t, busybox, "ping", "-c1", "-W30", addr))
	if r.code != 0 {
		return fmt.Errorf("ping %s from the host: %s", addr, r)
	}
	return nil
}

// addTestLink adds a veth pair name/peer to the throwaway host, both ends
// up (so that an address on name has its route), with addr (CIDR) on name
// unless it is "", for the test. (This kernel has no dummy links.)
func addTestLink(t *testing.T, name, peer, addr string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(v); err != nil {
			t.Errorf("delete veth %s: %v", name, err)
		}
	})
	if addr != "" {
		a, err := netlink.ParseAddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.AddrAdd(v, a); err != nil {
			t.Fatalf("address %s on %s: %v", addr, name, err)
		}
	}
	for _, n := range []string{name, peer} {
		l, err := netlink.LinkByName(n)
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			t.Fatalf("bring %s up: %v", n, err)
		}
	}
}

// TestNetworkHostContainer checks that the network is complete before the
// command's first instruction (it pings the host as the command itself,
// every time), and that the host reaches the container.
func TestNetworkHostContainer(t *testing.T) {
	netTest(t)

	t.Run("container pings host first thing", func(t *testing.T) {
		for i := range 20 {
			r := runCCSuper(t, "--rootfs", baseRootfs, "--", "ping", "-c1", "-W30", bridgeHost)
			if r.code != 0 {
				t.Fatalf("run %d: container's first action, ping %s: %s", i+1, bridgeHost, r)
			}
			wantNoNetState(t, fmt.Sprintf("after run %d", i+1))
		}
	})

	t.Run("host pings container", func(t *testing.T) {
		b := startBox(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", printAddr+"; cat >/dev/null")
		addr := b.addr(t)
		if want := netip.MustParsePrefix(defaultSubnet); !want.Contains(addr) || addr.String() == bridgeHost {
			t.Errorf("container address %s: want one in %s other than the host's", addr, want)
		}
		if err := hostPing(t, addr.String()); err != nil {
			t.Error(err)
		}
		b.finish(t)
		wantNoNetState(t, "after the container exited")
	})
}

// TestNetworkContainerToContainer runs two containers at once: they get
// different addresses and each reaches the other.
func TestNetworkContainerToContainer(t *testing.T) {
	netTest(t)
	// Each prints its address, reads the other's, pings it and waits for EOF.
	const script = printAddr + `
read peer
ping -c1 -W30 "$peer" >/dev/null
echo "ping $?"
cat >/dev/null`
	a := startBox(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script)
	b := startBox(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script)
	addrA, addrB := a.addr(t), b.addr(t)
	if addrA == addrB {
		t.Fatalf("two containers running at once both got %s", addrA)
	}
	for _, c := range []struct {
		from *box
		to   netip.Addr
	}{{a, addrB}, {b, addrA}} {
		if _, err := io.WriteString(c.from.stdin, c.to.String()+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.value(t, "ping "); got != "0" {
		t.Errorf("ping from %s to %s: exit status %s, want 0", addrA, addrB, got)
	}
	if got := b.value(t, "ping "); got != "0" {
		t.Errorf("ping from %s to %s: exit status %s, want 0", addrB, addrA, got)
	}
	a.finish(t)
	b.finish(t)
	wantNoNetState(t, "after both containers exited")
}

// TestNetworkModes checks --net none (loopback only, and up) and --net host
// (the host's own interfaces, and nothing made for it).
func TestNetworkModes(t *testing.T) {
	netTest(t)
	const script = `echo links: $(ls /sys/class/net)
ping -c1 -W30 127.0.0.1 >/dev/null && echo lo-works
cat /etc/hosts`

	t.Run("none", func(t *testing.T) {
		r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "none", "--hostname", "alone", "--", "/bin/sh", "-c", script)
		wantExit(t, r, 0)
		lines := strings.Split(r.stdout, "\n")
		if lines[0] != "links: lo" {
			t.Errorf("--net none: got %q, want only lo", lines[0])
		}
		if !slices.Contains(lines, "lo-works") {
			t.Errorf("--net none: ping 127.0.0.1 failed (is lo up?):\n%s", r)
		}
		if !slices.Contains(lines, "127.0.1.1\talone") {
			t.Errorf("--net none: /etc/hosts maps no address to the hostname:\n%s", r.stdout)
		}
		wantNoNetState(t, "after a --net none run")
	})

	t.Run("host", func(t *testing.T) {
		addTestLink(t, "cctestlink", "cctestpeer", "")
		var want []string
		links, err := netlink.LinkList()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			want = append(want, l.Attrs().Name)
		}
		slices.Sort(want)
		r := runCCSuper(t, "--rootfs", baseRootfs, "--net", "host", "--", "/bin/sh", "-c", script)
		wantExit(t, r, 0)
		lines := strings.Split(r.stdout, "\n")
		// Exactly the host's links: it sees the test's veth, and no bridge or
		// veth was made for it.
		if got := "links: " + strings.Join(want, " "); lines[0] != got {
			t.Errorf("--net host: got %q, want the host's %q", lines[0], got)
		}
		if !slices.Contains(lines, "lo-works") {
			t.Errorf("--net host: ping 127.0.0.1 failed:\n%s", r)
		}
		wantNoNetState(t, "after a --net host run")
	})
}

// TestNetworkEtcFiles checks the generated /etc/hostname, /etc/hosts and
// /etc/resolv.conf inside, and that the rootfs's own files are left as they
// were.
func TestNetworkEtcFiles(t *testing.T) {
	netTest(t)
	root := newRootfs(t)
	etc := filepath.Join(root, "etc")

	// The host's resolv.conf, with a loopback name server the container
	// cannot reach from its own namespace. Bound over the throwaway host's
	// file, in its own mount namespace.
	const hostResolv = "# host\nnameserver 127.0.0.53\nnameserver 10.1.2.3\nsearch example.test\n"
	fake := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(fake, []byte(hostResolv), 0o644); err != nil {
		t.Fatal(err)
	}
	// No other test runs now (see the top of the file); the lock says what
	// this does to the host's mount table all the same.
	hostMounts.Lock()
	defer hostMounts.Unlock()
	if err := unix.Mount(fake, "/etc/resolv.conf", "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind a resolv.conf over the throwaway host's: %v", err)
	}
	defer func() {
		if err := unix.Unmount("/etc/resolv.conf", 0); err != nil {
			t.Errorf("unmount the test's resolv.conf: %v", err)
		}
	}()

	before := map[string][]byte{}
	for _, name := range []string{"hosts", "hostname", "resolv.conf"} {
		b, err := os.ReadFile(filepath.Join(etc, name))
		switch {
		case err == nil:
			before[name] = b
		case !errors.Is(err, os.ErrNotExist):
			t.Fatal(err)
		}
	}
	if before["hosts"] == nil {
		t.Fatal("the test rootfs has no /etc/hosts (rootfs-overlay/etc/hosts): nothing to compare")
	}

	const script = printAddr + `
echo "hostname $(hostname)"
for f in hostname hosts resolv.conf; do echo "== $f"; cat /etc/$f; done`
	for _, tc := range []struct {
		mode       string
		wantResolv string
	}{
		{"bridge", "# host\nnameserver 10.1.2.3\nsearch example.test\n"},
		{"host", hostResolv}, // the host's loopback is the container's too
	} {
		t.Run(tc.mode, func(t *testing.T) {
			r := runCCSuper(t, "--rootfs", root, "--net", tc.mode, "--hostname", "cctest-box", "--", "/bin/sh", "-c", script)
			wantExit(t, r, 0)
			head, rest, _ := strings.Cut(r.stdout, "== hostname\n")
			hostname, rest, _ := strings.Cut(rest, "== hosts\n")
			hosts, resolv, _ := strings.Cut(rest, "== resolv.conf\n")
			if hostname != "cctest-box\n" {
				t.Errorf("/etc/hostname inside: got %q, want %q", hostname, "cctest-box\n")
			}
			if !strings.Contains(head, "hostname cctest-box\n") {
				t.Errorf("hostname inside: got\n%s\nwant cctest-box", head)
			}
			// In bridge mode eth0's address names the container; in host
			// mode there is no eth0 of its own, and 127.0.1.1 does.
			want := "127.0.1.1"
			if tc.mode == "bridge" {
				a, _ := strings.CutPrefix(strings.SplitN(head, "\n", 2)[0], "addr ")
				p, err := netip.ParsePrefix(a)
				if err != nil {
					t.Fatalf("eth0 address inside: %q: %v", a, err)
				}
				want = p.Addr().String()
			}
			mapped := false
			for _, line := range strings.Split(hosts, "\n") {
				f := strings.Fields(line)
				if len(f) >= 2 && f[0] == want && slices.Contains(f[1:], "cctest-box") {
					mapped = true
				}
				if len(f) >= 2 && f[0] != want && slices.Contains(f[1:], "cctest-box") {
					t.Errorf("/etc/hosts inside maps cctest-box to %s, want only %s:\n%s", f[0], want, hosts)
				}
			}
			if !mapped {
				t.Errorf("/etc/hosts inside does not map %s to cctest-box:\n%s", want, hosts)
			}
			if !strings.Contains(hosts, "127.0.0.1\tlocalhost\n") {
				t.Errorf("/etc/hosts inside has no localhost:\n%s", hosts)
			}
			if resolv != tc.wantResolv {
				t.Errorf("/etc/resolv.conf inside: got\n%s\nwant\n%s", resolv, tc.wantResolv)
			}
		})
	}

	// On disk the rootfs is as it was: its own files unchanged, and a file
	// it did not have is at most an empty mount point ccinit had to create
	// (documented in initproc's bindTarget).
	for _, name := range []string{"hosts", "hostname", "resolv.conf"} {
		p := filepath.Join(etc, name)
		after, err := os.ReadFile(p)
		was, existed := before[name]
		switch {
		case existed && err != nil:
			t.Errorf("rootfs's %s after the runs: %v", p, err)
		case existed && string(after) != string(was):
			t.Errorf("rootfs's %s changed by the runs: got %q, want %q", p, after, was)
		case !existed && err == nil && len(after) > 0:
			t.Errorf("rootfs's %s, missing before, now holds %q", p, after)
		case !existed && err == nil:
			t.Logf("note: rootfs's /etc/%s did not exist; ccinit left an empty mount point file there", name)
		case !existed && !errors.Is(err, os.ErrNotExist):
			t.Errorf("rootfs's %s: %v", p, err)
		}
	}
	wantNoNetState(t, "after the runs")
}

// upstream is a fake outside host: a TCP server on 10.99.0.2:8080 in a
// network namespace of its own, linked to the throwaway host by a veth
// (10.99.0.1 on the host's side). It has no route to the containers'
// subnet, so only masqueraded connections from them can be answered.
type upstream struct {
	ln net.Listener

	mu    sync.Mutex
	peers []string // remote addresses of the accepted connections
}

const (
	upstreamHost = "10.99.0.1" // the throwaway host's side
	upstreamAddr = "10.99.0.2" // the server's
	upstreamPort = "8080"
	upstreamHi   = "hello from upstream"
)

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	type made struct {
		ns  netns.NsHandle
		ln  net.Listener
		err error
	}
	ch := make(chan made)
	go func() {
		// Never unlocked: the thread, the only one in the new namespace,
		// ends with this goroutine. The namespace lives on in ns and in the
		// listener's socket.
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			ch <- made{err: fmt.Errorf("new network namespace: %w", err)}
			return
		}
		ln, err := net.Listen("tcp4", ":"+upstreamPort)
		if err != nil {
			ns.Close()
			ch <- made{err: fmt.Errorf("listen in the upstream namespace: %w", err)}
			return
		}
		ch <- made{ns, ln, nil}
	}()
	m := <-ch
	if m.err != nil {
		t.Fatal(m.err)
	}
	defer m.ns.Close() // the veth moved in and the listener keep it
	u := &upstream{ln: m.ln}
	done := make(chan struct{})
	t.Cleanup(func() {
		m.ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := m.ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.peers = append(u.peers, c.RemoteAddr().(*net.TCPAddr).IP.String())
			u.mu.Unlock()
			_, _ = io.WriteString(c, upstreamHi+"\n") // the client checks what it got
			c.Close()
		}
	}()

	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: "cctestup"},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(m.ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("veth to the upstream namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(veth); err != nil {
			t.Errorf("delete the upstream veth: %v", err)
		}
	})
	// Routing alone: a handle made with no family also opens an XFRM
	// socket, which fails on a kernel whose xfrm_user is a module not
	// loaded (Debian's, in the guest of `make test-vm`).
	host := func(...int) (*netlink.Handle, error) { return netlink.NewHandle(unix.NETLINK_ROUTE) }
	if err := configure(host, "cctestup", upstreamHost+"/24"); err != nil {
		t.Fatal(err)
	}
	inside := func(...int) (*netlink.Handle, error) { return netlink.NewHandleAt(m.ns, unix.NETLINK_ROUTE) }
	if err := configure(inside, "eth0", upstreamAddr+"/24"); err != nil {
		t.Fatalf("in the upstream namespace: %v", err)
	}
	return u
}

// configure gives the link name of the namespace h is made for addr and
// brings it up.
func configure(handle func(...int) (*netlink.Handle, error), name, addr string) error {
	h, err := handle()
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		return err
	}
	a, err := netlink.ParseAddr(addr)
	if err != nil {
		return err
	}
	if err := h.AddrAdd(l, a); err != nil {
		return fmt.Errorf("address %s on %s: %w", addr, name, err)
	}
	return h.LinkSetUp(l)
}

// takePeers returns the peers seen so far and forgets them.
func (u *upstream) takePeers() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.peers
	u.peers = nil
	return p
}

// TestNetworkNAT connects from containers to a fake upstream host: without
// --nat nothing gets through; with it the upstream sees the host's address,
// the NAT table and ip_forward stay while any NAT user runs and are put back
// after the last.
func TestNetworkNAT(t *testing.T) {
	netTest(t)
	setIPForward(t, "0")
	up := newUpstream(t)

	// The fixture itself: the throwaway host reaches the server directly.
	c, err := net.DialTimeout("tcp4", net.JoinHostPort(upstreamAddr, upstreamPort), 5*time.Second)
	if err != nil {
		t.Fatalf("the host cannot reach the fake upstream: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || line != upstreamHi+"\n" {
		t.Fatalf("from the fake upstream: got %q, %v", line, err)
	}
	if got := up.takePeers(); !slices.Equal(got, []string{upstreamHost}) {
		t.Fatalf("fake upstream saw %v, want the host's %s", got, upstreamHost)
	}

	// A connection that must work may take long on a busy machine; one
	// that must fail is given up on sooner (a pass either way).
	connect := []string{"--", "nc", "-w", "30", upstreamAddr, upstreamPort}
	mustFail := []string{"--", "nc", "-w", "2", upstreamAddr, upstreamPort}

	t.Run("without --nat", func(t *testing.T) {
		r := runCCSuper(t, append([]string{"--rootfs", baseRootfs}, mustFail...)...)
		if r.code == 0 || strings.Contains(r.stdout, upstreamHi) {
			t.Errorf("container reached the upstream without --nat: %s", r)
		}
		if got := up.takePeers(); len(got) > 0 {
			t.Errorf("upstream accepted connections from %v without --nat", got)
		}
		if tables := nftTables(t, "ccbr"); len(tables) > 0 {
			t.Errorf("nftables tables after a run without --nat: %v", tables)
		}
		wantIPForward(t, "0", "after a run without --nat")
		wantNoNetState(t, "after the run")
	})

	t.Run("with --nat", func(t *testing.T) {
		// A NAT user that stays while another comes and goes.
		stay := startBox(t, "--rootfs", baseRootfs, "--nat", "--", "/bin/sh", "-c", "echo ready; cat >/dev/null")
		stay.waitLine(t, "ready")
		if !hasNATTable(t, defaultBridge) {
			t.Errorf("no nftables table %s while a --nat container runs (tables: %v)", defaultBridge, nftTables(t, ""))
		}
		wantIPForward(t, "1", "while a --nat container runs")

		r := runCCSuper(t, append([]string{"--rootfs", baseRootfs, "--nat"}, connect...)...)
		wantExit(t, r, 0)
		if r.stdout != upstreamHi+"\n" {
			t.Errorf("container got %q from the upstream, want %q", r.stdout, upstreamHi+"\n")
		}
		if got := up.takePeers(); !slices.Equal(got, []string{upstreamHost}) {
			t.Errorf("upstream saw the connection from %v, want the host's %s (masqueraded)", got, upstreamHost)
		}

		if !hasNATTable(t, defaultBridge) {
			t.Errorf("nftables table %s gone while a --nat container still runs", defaultBridge)
		}
		wantIPForward(t, "1", "while a --nat container still runs")

		stay.finish(t)
		if tables := nftTables(t, ""); len(tables) > 0 {
			t.Errorf("nftables tables after the last --nat container: %v", tables)
		}
		wantIPForward(t, "0", "after the last --nat container")
		wantNoNetState(t, "after the last --nat container")
	})
}

// TestNetworkManyContainers runs 50 containers at once: 50 addresses, 50 host
// veths on the bridge, every container reaches the host and the host every
// container, and nothing is left once they are gone.
func TestNetworkManyContainers(t *testing.T) {
	netTest(t)
	const n = 50
	const script = printAddr + `
ping -c1 -W30 ` + bridgeHost + ` >/dev/null
echo "ping $?"
cat >/dev/null`
	boxes := make([]*box, n)
	for i := range boxes {
		boxes[i] = startBox(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script)
	}
	addrs := map[netip.Addr]int{} // address -> ccsuper PID
	for _, b := range boxes {
		a := b.addr(t)
		if pid, dup := addrs[a]; dup {
			t.Errorf("containers of ccsuper %d and %d both got %s", pid, b.cmd.Process.Pid, a)
		}
		addrs[a] = b.cmd.Process.Pid
		if got := b.value(t, "ping "); got != "0" {
			t.Errorf("container %s pinging the host: exit status %s, want 0", a, got)
		}
	}
	// All started from a bridge nobody else used: the first n after the host's.
	want := netip.MustParseAddr(bridgeHost)
	for range n {
		want = want.Next()
		if _, ok := addrs[want]; !ok {
			t.Errorf("no container got %s; addresses given: %v", want, addrs)
		}
	}

	br, err := netlink.LinkByName(defaultBridge)
	if err != nil {
		t.Fatalf("bridge while %d containers run: %v", n, err)
	}
	var wantVeths []string
	for _, b := range boxes {
		name := "ccv" + strconv.Itoa(b.cmd.Process.Pid)
		wantVeths = append(wantVeths, name)
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Errorf("host veth of ccsuper %d: %v", b.cmd.Process.Pid, err)
			continue
		}
		if l.Attrs().MasterIndex != br.Attrs().Index {
			t.Errorf("host veth %s is not on %s", name, defaultBridge)
		}
	}
	slices.Sort(wantVeths)
	if got := linkNames(t, "ccv"); !slices.Equal(got, wantVeths) {
		t.Errorf("host veths while %d containers run:\n%v\nwant\n%v", n, got, wantVeths)
	}

	for a := range addrs {
		if err := hostPing(t, a.String()); err != nil {
			t.Error(err)
		}
	}

	for _, b := range boxes {
		if err := b.stdin.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range boxes {
		wantExit(t, b.wait(t), 0)
	}
	wantNoNetState(t, fmt.Sprintf("after %d containers exited", n))
}

// leaseFile is the part of a bridge's state file the tests read.
type leaseFile struct {
	Leases []struct {
		Owner struct {
			PID int `json:"pid"`
		} `json:"owner"`
		Veth string `json:"veth"`
	} `json:"leases"`
}

func readLeases(t *testing.T, bridge string) leaseFile {
	t.Helper()
	p := filepath.Join(stateDir, "net", bridge+".json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("state of %s: %v", bridge, err)
	}
	var lf leaseFile
	if err := json.Unmarshal(b, &lf); err != nil {
		t.Fatalf("%s: %v\n%s", p, err, b)
	}
	return lf
}

// TestNetworkSupervisorKilled SIGKILLs a ccsuper of a --nat container: its
// lease, bridge, NAT table, ip_forward and /etc files stay behind, and both
// `ccsuper cleanup` and the next ccsuper's start reclaim them (but the
// bridge, which only cleanup removes), while a live container's are left
// alone.
func TestNetworkSupervisorKilled(t *testing.T) {
	netTest(t)
	setIPForward(t, "0")

	// killed starts a --nat container, kills its ccsuper and checks what
	// stayed behind; it returns the killed ccsuper's PID.
	killed := func(t *testing.T) int {
		t.Helper()
		b := startBox(t, "--rootfs", baseRootfs, "--nat", "--", "/bin/sh", "-c", "echo ready; cat >/dev/null")
		b.waitLine(t, "ready")
		pid := b.cmd.Process.Pid
		b.killSupervisor(t)

		var owners []int
		for _, l := range readLeases(t, defaultBridge).Leases {
			owners = append(owners, l.Owner.PID)
		}
		if !slices.Equal(owners, []int{pid}) {
			t.Errorf("leases after ccsuper %d was killed: owners %v, want its own (stale)", pid, owners)
		}
		if _, err := netlink.LinkByName(defaultBridge); err != nil {
			t.Errorf("bridge after its only ccsuper was killed: %v (want it left, nobody removed it)", err)
		}
		if !hasNATTable(t, defaultBridge) {
			t.Errorf("no NAT table after its ccsuper was killed (want it left)")
		}
		wantIPForward(t, "1", "after the --nat ccsuper was killed")
		if len(filesDirs(t, strconv.Itoa(pid))) != 1 {
			t.Errorf("no /etc files directory of the killed ccsuper %d (want it left)", pid)
		}
		return pid
	}
	wantReclaimed := func(t *testing.T, pid int, by string) {
		t.Helper()
		if _, err := netlink.LinkByName(fmt.Sprintf("ccv%d", pid)); err == nil {
			t.Errorf("veth ccv%d of the killed ccsuper still there after %s", pid, by)
		}
		wantNoNetState(t, "after "+by)
		wantIPForward(t, "0", "after "+by)
	}

	t.Run("cleanup", func(t *testing.T) {
		pid := killed(t)
		r := runCCSuper(t, "cleanup")
		wantExit(t, r, 0)
		if r.stdout != "" || r.stderr != "" {
			t.Errorf("ccsuper cleanup said something:\n%s", r)
		}
		wantReclaimed(t, pid, "ccsuper cleanup")
		if left := netLeftovers(t, false); len(left) > 0 {
			t.Errorf("left after ccsuper cleanup, bridge included:\n%s", strings.Join(left, "\n"))
		}
		// Nothing to do is no error either.
		wantExit(t, runCCSuper(t, "cleanup"), 0)
	})

	t.Run("next start", func(t *testing.T) {
		pid := killed(t)
		// The dead container's lease is reclaimed before the new one gets
		// its address: it gets the first one again.
		r := runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", printAddr)
		wantExit(t, r, 0)
		if want := "addr 192.168.20.2/24\n"; r.stdout != want {
			t.Errorf("next container after the killed one: got %q, want %q (the stale lease reclaimed)", r.stdout, want)
		}
		wantReclaimed(t, pid, "the next container's run")
	})

	t.Run("cleanup spares the living", func(t *testing.T) {
		live := startBox(t, "--rootfs", baseRootfs, "--nat", "--", "/bin/sh", "-c", printAddr+`
read x
ping -c1 -W30 `+bridgeHost+` >/dev/null
echo "ping $?"
cat >/dev/null`)
		addr := live.addr(t)
		wantExit(t, runCCSuper(t, "cleanup"), 0)
		wantOnBridge(t, "ccv"+strconv.Itoa(live.cmd.Process.Pid), defaultBridge, "after cleanup")
		if !hasNATTable(t, defaultBridge) {
			t.Error("cleanup removed the NAT table of a live --nat container")
		}
		wantIPForward(t, "1", "after cleanup with a live --nat container")
		if lf := readLeases(t, defaultBridge); len(lf.Leases) != 1 || lf.Leases[0].Owner.PID != live.cmd.Process.Pid {
			t.Errorf("leases after cleanup with a live container: %+v, want its own", lf)
		}
		if err := hostPing(t, addr.String()); err != nil {
			t.Error(err)
		}
		if _, err := io.WriteString(live.stdin, "\n"); err != nil {
			t.Fatal(err)
		}
		if got := live.value(t, "ping "); got != "0" {
			t.Errorf("live container pinging the host after cleanup: exit status %s, want 0", got)
		}
		live.finish(t)
		wantNoNetState(t, "after the live container exited")
		wantIPForward(t, "0", "after the live container exited")
	})

	// PIDs are reused: the PID in a stale lease may by now be a live
	// supervisor's, whose host veth then has the stale lease's veth name.
	// The test cannot make the kernel reuse a PID, so it writes the stale
	// lease a supervisor with the live one's PID would have left on the
	// default bridge, SIGKILLed before the PID came round again.
	t.Run("reclaim spares a live veth of the same name", func(t *testing.T) {
		// The stale state file replaces the default bridge's: start with
		// no bridge kept, whose record it would overwrite.
		wantCleanedUp(t, "before the stale lease is written")
		live := startBox(t, "--rootfs", baseRootfs, "--subnet", "10.77.0.0/24", "--", "/bin/sh", "-c", printAddr+"; cat >/dev/null")
		addr := live.addr(t)
		pid := live.cmd.Process.Pid
		veth := fmt.Sprintf("ccv%d", pid)
		l, err := netlink.LinkByName(veth)
		if err != nil {
			t.Fatalf("host veth of the live container: %v", err)
		}
		master, err := netlink.LinkByIndex(l.Attrs().MasterIndex)
		if err != nil {
			t.Fatalf("bridge of the live container's veth: %v", err)
		}
		stale := fmt.Sprintf(`{"subnet": "%s", "leases": [{"owner": {"pid": %d, "start": 1}, "addr": "192.168.20.2", "veth": "%s", "nat": false}]}`,
			defaultSubnet, pid, veth)
		staleFile := filepath.Join(stateDir, "net", defaultBridge+".json")
		if err := os.WriteFile(staleFile, []byte(stale), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(staleFile) }) // if the runtime did not

		wantExit(t, runCCSuper(t, "cleanup"), 0)
		wantOnBridge(t, veth, master.Attrs().Name, "after cleanup reclaimed a stale lease naming the same veth")
		if err := hostPing(t, addr.String()); err != nil {
			t.Errorf("live container after cleanup reclaimed a stale lease naming its veth: %v", err)
		}
		if _, err := os.Stat(staleFile); err == nil {
			t.Errorf("%s still there after cleanup", staleFile)
		}
		live.finish(t)
		wantNoNetState(t, "after the live container exited")
	})
}

// TestNetworkAddressReuse checks that a container that gets the address of
// one that has gone, while the bridge stays up, is the one reached at that
// address at once, from the host and from the other containers: no ARP
// cache may still send its address to the old container's MAC, and nothing
// of the old container may still answer for it. Each container serves its
// name on TCP port 7777, so the test sees who answers (a ping cannot tell).
func TestNetworkAddressReuse(t *testing.T) {
	netTest(t)
	// Keeps the bridge up, and asks the addresses it reads, numbered, who
	// they are.
	keeper := startBox(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", printAddr+`
while read n a; do echo "got$n $(nc -w 30 "$a" 7777 </dev/null)"; done`)
	keeper.addr(t)
	askFromContainer := func(n int, a netip.Addr, want string) {
		t.Helper()
		if _, err := fmt.Fprintf(keeper.stdin, "%d %s\n", n, a); err != nil {
			t.Fatal(err)
		}
		if got := keeper.value(t, fmt.Sprintf("got%d ", n)); got != want {
			t.Errorf("another container asking %s who it is: got %q, want %q", a, got, want)
		}
	}
	askFromHost := func(a netip.Addr, want string) {
		t.Helper()
		r := run(t, command(t, busybox, "nc", "-w", "30", a.String(), "7777"))
		if r.stdout != want+"\n" {
			t.Errorf("host asking %s who it is: got %q, want %q\n%s", a, strings.TrimSpace(r.stdout), want, r)
		}
	}
	// serve starts a container that answers name on port 7777; it is ready
	// once its own server answers it.
	serve := func(name string) (*box, netip.Addr) {
		t.Helper()
		b := startBox(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", `nc -ll -p 7777 -e echo `+name+` &
until nc -w 1 127.0.0.1 7777 </dev/null >/dev/null 2>&1; do usleep 10000; done
`+printAddr+`
cat >/dev/null`)
		return b, b.addr(t)
	}

	first, addr := serve("first")
	askFromHost(addr, "first")
	askFromContainer(1, addr, "first")
	first.finish(t)

	second, again := serve("second")
	if again != addr {
		t.Skipf("the next container got %s, not the freed %s: addresses are not reused at once, nothing to check", again, addr)
	}
	askFromHost(addr, "second")
	askFromContainer(2, addr, "second")
	second.finish(t)
	keeper.finish(t)
	wantNoNetState(t, "after the containers exited")
}

// wantOnBridge fails the test unless the host veth name is on bridge.
func wantOnBridge(t *testing.T, name, bridge, when string) {
	t.Helper()
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		t.Errorf("bridge %s %s: %v", bridge, when, err)
		return
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Errorf("host veth %s of a live container %s: %v", name, when, err)
		return
	}
	if l.Attrs().MasterIndex != br.Attrs().Index {
		t.Errorf("host veth %s of a live container %s: not on %s any more%s", name, when, bridge, linkDetails(name))
	}
}

// TestNetworkBadInput checks that bad network options exit 125 with one line
// on stderr and leave no network state and no process.
func TestNetworkBadInput(t *testing.T) {
	netTest(t)
	super, init := privateBinaries(t)
	check := func(t *testing.T, cmd *exec.Cmd, want string) {
		t.Helper()
		r := run(t, cmd)
		if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			// firstLines: a Go crash's stack is hundreds of lines.
			t.Errorf("got %s\nwant exit status 125, one line on stderr, nothing on stdout", firstLines(r.String(), 8))
		}
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q does not mention %q", firstLines(r.stderr, 3), want)
		}
		if left := processesOf(super, init); len(left) > 0 {
			t.Errorf("processes left after the failed run: %v", left)
		}
		wantNoNetState(t, "after the failed run")
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"subnet not a CIDR", []string{"--subnet", "nonsense"}, "nonsense"},
		{"subnet too small", []string{"--subnet", "10.0.0.0/30"}, "10.0.0.0/30"},
		{"subnet with host bits", []string{"--subnet", "192.168.20.1/24"}, "192.168.20.1/24"},
		{"subnet IPv6", []string{"--subnet", "fd00::/64"}, "fd00::/64"},
		// Ranges that are not a network of hosts (issue 10, item 5a): the
		// container's default route went to 127.0.0.1 with the first.
		{"subnet loopback", []string{"--subnet", "127.0.0.0/8"}, "127.0.0.0/8"},
		{"subnet link-local", []string{"--subnet", "169.254.0.0/16"}, "169.254.0.0/16"},
		{"subnet reserved", []string{"--subnet", "240.0.0.0/8"}, "240.0.0.0/8"},
		{"subnet multicast", []string{"--subnet", "224.0.0.0/24"}, "224.0.0.0/24"},
		{"subnet this network", []string{"--subnet", "0.0.0.0/8"}, "0.0.0.0/8"},
		{"subnet around link-local", []string{"--subnet", "169.0.0.0/8"}, "169.0.0.0/8"},
		{"unknown mode", []string{"--net", "overlay"}, "overlay"},
		{"nat without bridge", []string{"--nat", "--net", "none"}, "--nat"},
		{"nat with host", []string{"--nat", "--net", "host"}, "--nat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--rootfs", baseRootfs}, tc.args...)
			check(t, command(t, super, append(args, "--", "/bin/true")...), tc.want)
		})
	}

	t.Run("subnet overlaps a host route", func(t *testing.T) {
		addTestLink(t, "cctestlink", "cctestpeer", "10.99.0.1/24")
		check(t, command(t, super, "--rootfs", baseRootfs, "--subnet", "10.99.0.0/24", "--", "/bin/true"), "10.99.0.0/24")
		// A smaller one inside it, and a larger one around it, too.
		check(t, command(t, super, "--rootfs", baseRootfs, "--subnet", "10.99.0.128/25", "--", "/bin/true"), "10.99.0.0/24")
		check(t, command(t, super, "--rootfs", baseRootfs, "--subnet", "10.0.0.0/8", "--", "/bin/true"), "10.99.0.0/24")
	})

	t.Run("subnet overlaps a live bridge", func(t *testing.T) {
		b := startBox(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", "echo ready; cat >/dev/null")
		b.waitLine(t, "ready")
		r := run(t, command(t, super, "--rootfs", baseRootfs, "--subnet", "192.168.20.0/25", "--", "/bin/true"))
		wantOneLineError(t, r, 125)
		if got := linkNames(t, "ccbr"); !slices.Equal(got, []string{defaultBridge}) {
			t.Errorf("bridges after the failed run: %v, want only %s", got, defaultBridge)
		}
		b.finish(t)
		wantNoNetState(t, "after the live container exited")
	})

	// A whole-Internet subnet is not a bridge network. Under a memory cap,
	// so that a supervisor that tries to list its 2^32 addresses fails
	// instead of taking the machine's memory.
	t.Run("subnet 0.0.0.0/0", func(t *testing.T) {
		prlimit := lookPrlimit(t)
		check(t, command(t, prlimit, dataCap, "--", super, "--rootfs", baseRootfs, "--subnet", "0.0.0.0/0", "--", "/bin/true"), "0.0.0.0/0")
	})
}

// dataCap is a cap on a supervisor's data segment, in prlimit's terms: far
// above what starting one container takes (a few MB), far below what a
// supervisor that allocates per address in its subnet needs on a /8.
const dataCap = "--data=268435456"

func lookPrlimit(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skipf("needs prlimit from util-linux: %v", err)
	}
	return p
}

// TestNetworkLargeSubnet runs a container on a /8: what a start costs must
// not grow with the number of addresses in the subnet.
func TestNetworkLargeSubnet(t *testing.T) {
	netTest(t)
	prlimit := lookPrlimit(t)
	for _, subnet := range []string{defaultSubnet, "10.0.0.0/8"} {
		r := run(t, command(t, prlimit, dataCap, "--", ccsuperBin, "--rootfs", baseRootfs, "--subnet", subnet, "--", "/bin/sh", "-c", printAddr))
		if r.code != 0 {
			t.Errorf("--subnet %s with the data segment capped at 256 MiB: %s", subnet, firstLines(r.String(), 8))
		}
		wantNoNetState(t, "after --subnet "+subnet)
		scrubNetwork() // a supervisor that crashed leaves its state file; it is reported
	}
}

// firstLines returns the first n lines of s (a Go crash's stack is long).
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines[n] = "..."
	}
	return strings.Join(lines, "\n")
}

// TestNetworkTeardown checks that a run leaves no network state but the kept
// bridge, whether the command ran and exited, was not found, or ccinit
// failed before it.
func TestNetworkTeardown(t *testing.T) {
	netTest(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"normal exit", []string{"--", "/bin/true"}, 0},
		{"command's own status", []string{"--", "/bin/sh", "-c", "exit 3"}, 3},
		{"command not found", []string{"--", "nosuchcmd"}, 127},
		{"ccinit fails (workdir is a file)", []string{"--workdir", "/etc/passwd", "--", "/bin/true"}, 125},
		{"--nat, normal exit", []string{"--nat", "--", "/bin/true"}, 0},
		{"--nat, command not found", []string{"--nat", "--", "nosuchcmd"}, 127},
		{"--net none", []string{"--net", "none", "--", "/bin/true"}, 0},
		{"--net host", []string{"--net", "host", "--", "/bin/true"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setIPForward(t, "0")
			r := runCCSuper(t, append([]string{"--rootfs", baseRootfs}, tc.args...)...)
			wantExit(t, r, tc.code)
			wantNoNetState(t, "after the run")
			wantIPForward(t, "0", "after the run")
		})
	}
	wantKeptBridge(t, defaultBridge, "after the runs")
}
