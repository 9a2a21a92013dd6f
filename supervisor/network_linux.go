package supervisor

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
	"github.com/ccontainer/ccontainer/trace"
)

// netPlan is the container's network as decided before the clone, and what
// must be undone afterwards.
type netPlan struct {
	mode   NetMode
	subnet netip.Prefix
	bridge string
	addr   netip.Addr // the container's address (bridge mode)
	nat    bool
	me     owner
	files  string   // directory of the generated /etc files
	binds  []string // SRC:DST pairs for ccinit
	// dnsForward: the container's resolv.conf names pastaDNS, which pasta
	// must forward to the host's resolver (--net pasta, loopback resolver).
	dnsForward bool
	trace      *trace.Recorder
}

// prepareNetwork does the host-side work that needs no container yet: it
// writes the container's /etc files and, in bridge mode, takes an address
// lease and makes sure the bridge (and NAT) are there. It runs under the
// bridge's lock, so concurrent ccsupers never hand out one address twice or
// race to create or delete the bridge.
func prepareNetwork(c Config, me owner) (_ *netPlan, err error) {
	root, err := stateRoot()
	if err != nil {
		return nil, err
	}
	// The /etc files a supervisor binds into its container are in a
	// directory named after it (ownerDir), so stale ones can be found.
	p := &netPlan{mode: c.Net, nat: c.NAT, me: me, files: ownerDir(root, me), trace: c.Trace}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.release())
		}
	}()
	reclaimFiles(root)
	if c.Net == NetBridge {
		if p.subnet, err = ParseSubnet(c.Subnet); err != nil {
			return nil, err
		}
		p.bridge = bridgeName(p.subnet)
		if err := p.lease(); err != nil {
			return nil, err
		}
	}
	defer p.trace.Begin("  /etc files: hosts, hostname, resolv.conf")()
	if err := p.writeFiles(c.Hostname); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *netPlan) lease() (err error) {
	endLock := p.trace.Begin("  lease: lock, read state")
	ls, st, err := lockBridgeState(p.bridge)
	if err != nil {
		return err
	}
	defer ls.unlock()
	endLock()
	endCheck := p.trace.Begin("  lease: reclaim, check routes, pick, save")
	defer endCheck()
	reclaimLeases(st, p.bridge)
	if st.Subnet != "" && st.Subnet != p.subnet.String() && len(st.Leases) > 0 {
		return fmt.Errorf("bridge %s is in use for %s", p.bridge, st.Subnet)
	}
	br, _ := netlink.LinkByName(p.bridge) // nil: not there (yet)
	_, isBridge := br.(*netlink.Bridge)
	// Our bridge of this subnet, kept from earlier containers: its network
	// was checked when it was made, and its route is the subnet's, so the
	// common start needs neither the route dump nor the checks.
	if !(st.Owned && st.Subnet == p.subnet.String() && isBridge) {
		if err := checkRoutes(p.subnet, p.bridge); err != nil {
			return err
		}
		if st.Owned && st.Subnet != p.subnet.String() {
			// Our kept bridge of another subnet whose name this one
			// shares (crc32 collides): unused, so it can go.
			if err := deleteLink(p.bridge); err != nil {
				return err
			}
			st.Owned, br = false, nil
		}
		if !st.Owned {
			if err := checkForeignBridge(p.bridge, p.subnet); err != nil {
				return err
			}
		}
	}
	taken := map[string]bool{}
	for _, l := range st.Leases {
		taken[l.Addr] = true
	}
	if p.addr = firstFree(p.subnet, taken); !p.addr.IsValid() {
		return fmt.Errorf("%s: %w", p.subnet, errNoAddress)
	}
	firstNAT := p.nat && st.natUsers() == 0
	// Write down what is about to be done before doing it: a supervisor
	// killed in the middle leaves a record the next one can undo.
	st.Subnet = p.subnet.String()
	st.Owned = true
	st.NAT = st.NAT || p.nat
	st.Leases = append(st.Leases, lease{Owner: p.me, Addr: p.addr.String(), Veth: vethName(p.me.PID), NAT: p.nat})
	if err := ls.save(st); err != nil {
		return err
	}
	endCheck()
	// From here on, a failure is undone by release: the lease is recorded.
	endBridge := p.trace.Begin("  bridge: find (kept) or create; NAT")
	defer endBridge()
	if err := ensureBridge(p.bridge, p.subnet, br); err != nil {
		return err
	}
	switch {
	case firstNAT:
		return natOn(p.subnet, p.bridge)
	case st.NAT && st.natUsers() == 0:
		// A killed NAT user's table is still there: nobody needs it now.
		if err := natOff(p.bridge); err != nil {
			return err
		}
		st.NAT = false
		return ls.save(st)
	}
	return nil
}

// checkRoutes refuses a subnet that overlaps a route the host already has,
// other than our own bridge's: the container would hide, or be hidden by,
// that network.
func checkRoutes(subnet netip.Prefix, bridge string) error {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	for try := 0; errors.Is(err, netlink.ErrDumpInterrupted) && try < 10; try++ {
		// Routes changed during the dump (another container's veth
		// came or went): the list may be incomplete; take it again.
		routes, err = netlink.RouteList(nil, netlink.FAMILY_V4)
	}
	if err != nil {
		return fmt.Errorf("list host routes: %w", err)
	}
	brIndex := -1
	if br, err := netlink.LinkByName(bridge); err == nil {
		brIndex = br.Attrs().Index
	}
	for _, r := range routes {
		if r.Dst == nil || r.LinkIndex == brIndex {
			continue
		}
		dst, ok := netipPrefix(r.Dst)
		if ok && dst.Bits() > 0 && dst.Overlaps(subnet) {
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil && strings.HasPrefix(l.Attrs().Name, "ccbr") {
				// Most likely a bridge of ours that outlived its last
				// container: say how to remove it.
				return fmt.Errorf("--subnet %s overlaps %s, the host's route to %s on %s (ccsuper cleanup removes ccontainer's unused bridges)",
					subnet, dst, dst, l.Attrs().Name)
			}
			return fmt.Errorf("--subnet %s overlaps the host's route to %s", subnet, dst)
		}
	}
	return nil
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// checkForeignBridge refuses a link with the bridge's name that ccontainer
// has no record of, unless it is a bridge holding the host's address of the
// subnet: one of ours whose record was lost. Another program's link is never
// taken over, nor deleted later.
func checkForeignBridge(name string, subnet netip.Prefix) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil // not there: ours to create
	}
	if _, ok := l.(*netlink.Bridge); ok {
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err == nil {
			for _, a := range addrs {
				if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == hostAddr(subnet) {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("link %s exists and is not ccontainer's: remove it or choose another --subnet", name)
}

// ensureBridge creates the bridge with the host's address when it is not
// there (l, the link of its name, is nil), and brings it up. A bridge
// outlives its containers (retire), so usually it is there and up, and this
// costs nothing.
func ensureBridge(name string, subnet netip.Prefix, l netlink.Link) error {
	if l != nil {
		if _, ok := l.(*netlink.Bridge); !ok {
			return fmt.Errorf("link %s exists and is not a bridge: remove it or choose another --subnet", name)
		}
		if l.Attrs().Flags&net.FlagUp != 0 {
			return nil
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("bring bridge %s up: %w", name, err)
		}
		return nil
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: hostAddr(subnet).AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)}}
	if err := netlink.AddrAdd(br, addr); err != nil {
		return fmt.Errorf("address bridge %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring bridge %s up: %w", name, err)
	}
	return nil
}

// attach connects the started container pid: in bridge mode a veth pair
// whose container end is created straight in the container's namespace as
// eth0, with its address and a default route via the host; in every mode
// with a namespace of its own, loopback up.
func (p *netPlan) attach(pid int) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("open network namespace of %d: %w", pid, err)
	}
	defer ns.Close()
	if p.mode == NetBridge {
		end := p.trace.Begin("veth: create pair, peer in container as eth0")
		defer end()
		br, err := netlink.LinkByName(p.bridge)
		if err != nil {
			return fmt.Errorf("find bridge %s: %w", p.bridge, err)
		}
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: vethName(p.me.PID), MasterIndex: br.Attrs().Index},
			PeerName:      "eth0",
			PeerNamespace: netlink.NsFd(int(ns)),
			// From the address, as Docker does: ARP caches stay right when
			// the address is reused.
			PeerHardwareAddr: macFor(p.addr),
		}
		err = netlink.LinkAdd(veth)
		if errors.Is(err, unix.EEXIST) {
			// Left by an earlier supervisor with our PID whose namespace
			// the kernel has not finished tearing down.
			if derr := deleteLink(veth.Name); derr != nil {
				return derr
			}
			err = netlink.LinkAdd(veth)
		}
		if err != nil {
			return fmt.Errorf("create veth %s: %w", veth.Name, err)
		}
		if err := netlink.LinkSetUp(veth); err != nil {
			return fmt.Errorf("bring veth %s up: %w", veth.Name, err)
		}
		// The container's MAC is this port's from the start, for good.
		// Addresses, and so MACs, are reused, and the bridge may have
		// learnt this MAC on the port of the container that had the
		// address before, whose veth stays until the kernel has torn its
		// namespace down: until this container sent a frame of its own,
		// frames for it went there, and its dying stack answered a
		// connection with a reset. Static and sticky (as `bridge fdb
		// replace MAC dev VETH master static sticky`): learning never
		// moves it; it goes with the port.
		fdb := &netlink.Neigh{
			LinkIndex: veth.Attrs().Index, Family: unix.AF_BRIDGE, HardwareAddr: veth.PeerHardwareAddr,
			Flags: netlink.NTF_MASTER | netlink.NTF_STICKY, State: netlink.NUD_NOARP,
		}
		if err := netlink.NeighSet(fdb); err != nil {
			return fmt.Errorf("bridge entry for %s on %s: %w", fdb.HardwareAddr, veth.Name, err)
		}
		end()
	}
	defer p.trace.Begin("net: lo, eth0 address and route inside")()
	// Only the route family: each family costs a socket made inside the
	// namespace, with a setns there and back.
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in namespace of %d: %w", pid, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if p.mode != NetBridge {
		return nil
	}
	eth, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("find eth0: %w", err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.addr.AsSlice(), Mask: net.CIDRMask(p.subnet.Bits(), 32)}}
	if err := h.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("address eth0: %w", err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("bring eth0 up: %w", err)
	}
	gw := hostAddr(p.subnet).AsSlice()
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("default route via %s: %w", hostAddr(p.subnet), err)
	}
	return nil
}

// release undoes prepareNetwork: the lease, and, when the last NAT user of
// the bridge goes, the NAT rules; then the /etc files. The bridge stays (see
// retire), and the veth goes with the container's namespace. It is safe to
// call on a partly prepared plan.
func (p *netPlan) release() error {
	var errs []error
	if p.bridge != "" {
		errs = append(errs, p.dropLease())
	}
	if err := os.RemoveAll(p.files); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", p.files, err))
	}
	return errors.Join(errs...)
}

func (p *netPlan) dropLease() error {
	ls, st, err := lockBridgeState(p.bridge)
	if err != nil {
		return err
	}
	defer ls.unlock()
	kept := st.Leases[:0]
	for _, l := range st.Leases {
		if l.Owner != p.me {
			kept = append(kept, l)
		}
	}
	st.Leases = kept
	// The veth is not deleted here: it dies with the container's network
	// namespace, which the kernel tears down in the background once ccinit
	// is gone. Deleting it now would wait for that same teardown, 20 to 30
	// ms here, on the way out of every container. Should a new supervisor
	// with the same PID find it still there, attach replaces it.
	reclaimLeases(st, p.bridge)
	return retire(ls, st, p.bridge, false)
}

// reclaimLeases drops the leases of supervisors that are gone, and their
// veths, which outlive them only while the kernel tears the namespace down.
// A veth is deleted only if it hangs off this bridge: its name carries only
// the dead supervisor's PID, which a live supervisor on another bridge may
// have been given since.
func reclaimLeases(st *bridgeState, bridge string) {
	kept := st.Leases[:0]
	brIndex := 0 // looked up at the first dead lease: most starts have none
	for _, l := range st.Leases {
		if l.Owner.alive() {
			kept = append(kept, l)
			continue
		}
		if brIndex == 0 {
			brIndex = -1
			if br, err := netlink.LinkByName(bridge); err == nil {
				brIndex = br.Attrs().Index
			}
		}
		if v, err := netlink.LinkByName(l.Veth); err == nil && v.Attrs().MasterIndex == brIndex {
			_ = deleteLink(l.Veth) // best effort; a later reclaim tries again
		}
	}
	st.Leases = kept
}

// retire turns NAT off when no lease needs it any more (and with it the
// bridge's use of ip_forward). With dropBridge (`ccsuper cleanup`), it also
// removes the bridge when no lease is left; a container leaving never does:
// the bridge is kept, as Docker keeps docker0, because deleting a network
// device waits for the kernel's RCU grace periods (about 50 ms here), which a
// lone container paid on every run, and the next container would create it
// again. The state file goes with the last of lease, NAT and bridge;
// otherwise st is saved. What fails stays recorded, for the next start or
// `ccsuper cleanup`.
func retire(ls *lockedFile, st *bridgeState, bridge string, dropBridge bool) error {
	var errs []error
	if st.NAT && st.natUsers() == 0 {
		if err := natOff(bridge); err != nil {
			errs = append(errs, err)
		} else {
			st.NAT = false
		}
	}
	if dropBridge && len(st.Leases) == 0 && st.Owned {
		if err := deleteLink(bridge); err != nil {
			errs = append(errs, err)
		} else {
			st.Owned = false
		}
	}
	if len(st.Leases) == 0 && !st.NAT && !st.Owned {
		return errors.Join(append(errs, ls.remove())...)
	}
	return errors.Join(append(errs, ls.save(st))...)
}

func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// writeFiles writes the container's /etc/hosts, /etc/hostname and
// /etc/resolv.conf to the supervisor's files directory, for ccinit to bind
// over the rootfs's own: right for this container, and the rootfs is left
// as it was.
func (p *netPlan) writeFiles(hostname string) error {
	if err := os.MkdirAll(p.files, 0o755); err != nil {
		return fmt.Errorf("files directory: %w", err)
	}
	hostResolv, _ := os.ReadFile("/etc/resolv.conf") // none: an empty one
	var forward netip.Addr
	if p.mode == NetPasta {
		forward = pastaDNS
	}
	resolv, via := resolvConfVia(string(hostResolv), p.mode == NetHost, forward)
	p.dnsForward = via
	files := []struct{ name, content string }{
		{"hosts", hostsFile(hostname, p.addr)},
		{"hostname", hostname + "\n"},
		{"resolv.conf", resolv},
	}
	for _, f := range files {
		src := filepath.Join(p.files, f.name)
		if err := os.WriteFile(src, []byte(f.content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", src, err)
		}
		p.binds = append(p.binds, src+":/etc/"+f.name)
	}
	return nil
}

// reclaimFiles removes the files directories of supervisors that are gone.
func reclaimFiles(root string) {
	for _, d := range staleDirs(root) {
		_ = os.RemoveAll(d) // best effort; a later start tries again
	}
}

// macFor derives a container's MAC from its address: 02:cc (locally
// administered) and the four bytes of the address. Addresses are reused, and
// with a random MAC the neighbours' ARP caches would keep sending a reused
// address to the old container's MAC until the entries expired.
func macFor(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0xcc, b[0], b[1], b[2], b[3]}
}

// loopbackUp brings lo up in the network namespace of pid: what attach does
// for a namespace with nothing else in it, with a thread that enters the
// namespace and two ioctls there instead of a netlink handle and a link
// dump (a fraction of the time). The thread is dropped, never unlocked, if
// it cannot come back to ours.
func loopbackUp(pid int) error {
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace of %d: %w", pid, err)
	}
	defer unix.Close(ns)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer unix.Close(home)
		if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter network namespace of %d: %w", pid, err)
			return
		}
		err = initproc.LoopbackUp()
		if berr := unix.Setns(home, unix.CLONE_NEWNET); berr != nil {
			// The thread stays in the container's namespace and ends
			// with this goroutine, still locked.
			done <- fmt.Errorf("return to own network namespace: %w", berr)
			return
		}
		runtime.UnlockOSThread()
		done <- err
	}()
	return <-done
}
