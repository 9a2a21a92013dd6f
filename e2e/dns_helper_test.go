package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
)

// dnsEnv makes this test binary a tiny DNS server instead (ADDR:PORT): it
// answers every A query with dnsAnswer and every other query with no
// record, writes "ready" on stdout once it listens, and runs until killed.
// It stands in for a host's resolver on its loopback (systemd-resolved's
// 127.0.0.53) in a network namespace a test made: no query leaves it.
const dnsEnv = "CCONTAINER_E2E_DNS"

// dnsAnswer is the address the fake resolver gives every name.
var dnsAnswer = netip.MustParseAddr("10.99.0.7")

func init() {
	addr := os.Getenv(dnsEnv)
	if addr == "" {
		return
	}
	if err := serveDNS(addr); err != nil {
		fmt.Fprintf(os.Stderr, "e2e dns helper: %v\n", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func serveDNS(addr string) error {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return err
		}
		if reply := dnsReply(buf[:n]); reply != nil {
			_, _ = conn.WriteTo(reply, from) // a lost reply is the client's to retry
		}
	}
}

// dnsReply answers a query of one question: dnsAnswer for type A, no
// record for any other; nil for what is no such query.
func dnsReply(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	end := 12
	for end < len(q) && q[end] != 0 { // the name's labels
		end += int(q[end]) + 1
	}
	end += 5 // the root label, type, class
	if end > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[end-4 : end-2])
	r := append([]byte(nil), q[:end]...)
	r[2], r[3] = 0x81, 0x80                 // a response, recursion desired and available, no error
	binary.BigEndian.PutUint16(r[6:8], 0)   // answers
	binary.BigEndian.PutUint16(r[8:10], 0)  // authority
	binary.BigEndian.PutUint16(r[10:12], 0) // additional
	if qtype != 1 {
		return r
	}
	binary.BigEndian.PutUint16(r[6:8], 1)
	a := dnsAnswer.As4()
	// The name as a pointer to the question's, type A, class IN, TTL 60, 4 bytes.
	r = append(r, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
	return append(r, a[:]...)
}
