package supervisor

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// proxyMaskHelper is the helper process of TestExecProxyStartsBlocked,
// started by startExecProxy as the proxy would be: it sends, on its control
// socket, the signals every one of its threads blocks once the Go runtime
// has started (those that wait, pending, for whoever asks), and exits. A
// thread being made blocks all for a moment: the intersection ignores it.
func proxyMaskHelper() {
	every := ^uint64(0)
	tasks, _ := os.ReadDir("/proc/self/task") // none read: none blocked, the test fails
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "SigBlk:"); ok {
				m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err == nil {
					every &= m
				}
			}
		}
	}
	if len(tasks) == 0 {
		every = 0
	}
	_ = unix.Sendmsg(proxyCtlFD, []byte(strconv.FormatUint(every, 16)), nil, nil, unix.MSG_NOSIGNAL)
	os.Exit(0)
}

// TestMain runs TestOCIRootless's helper, or proxyMaskHelper when this
// test binary is started as the proxy (its control socket on proxyCtlFD),
// the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("CCSUPER_TEST_OCIROOTLESS") == "1" {
		// TestOCIRootless's helper, in the namespace it was started in.
		fmt.Println(OCIRootless())
		os.Exit(0)
	}
	if typ, err := unix.GetsockoptInt(proxyCtlFD, unix.SOL_SOCKET, unix.SO_TYPE); err == nil && typ == unix.SOCK_SEQPACKET &&
		slices.Contains(os.Args, "-ccsuper.proxy-mask-helper") {
		proxyMaskHelper()
	}
	os.Exit(m.Run())
}

// TestExecProxyStartsBlocked starts a Go program the way the detached exec's
// proxy is started and checks what the Go runtime left blocked in it: every
// signal but those of runtimeUnblocked (and SIGCHLD and SIGURG, which the
// proxy drops), so that ExecProxy may say "ready" after asking only for
// those. A Go release that unblocks another signal at start fails here.
func TestExecProxyStartsBlocked(t *testing.T) {
	p, err := startExecProxy([]string{os.Args[0], "-test.run=^$", "-ccsuper.proxy-mask-helper"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.abandon()
	buf := make([]byte, 64)
	n, _, err := unix.Recvfrom(p.ctl, buf, 0)
	if err != nil || n == 0 {
		t.Fatalf("no mask from the helper: %v", err)
	}
	blocked, err := strconv.ParseUint(string(buf[:n]), 16, 64)
	if err != nil {
		t.Fatalf("mask %q: %v", buf[:n], err)
	}
	for sig := unix.Signal(1); sig <= 64; sig++ {
		if sig == unix.SIGKILL || sig == unix.SIGSTOP || sig == unix.SIGCHLD || sig == unix.SIGURG {
			continue // never blocked, or dropped by the proxy
		}
		isBlocked := blocked&(1<<(uint(sig)-1)) != 0
		listed := slices.Contains(runtimeUnblocked, os.Signal(sig))
		switch {
		case !isBlocked && !listed:
			t.Errorf("the Go runtime unblocks %v (%d) at start: runtimeUnblocked must have it", sig, sig)
		case isBlocked && listed:
			t.Errorf("%v (%d) of runtimeUnblocked stays blocked: the list is out of date", sig, sig)
		}
	}
	var mask unix.Sigset_t
	mask.Val[0] = blocked
	if !sigBlocked(&mask, unix.SIGUSR1) || !sigBlocked(&mask, unix.SIGUSR2) {
		t.Errorf("SIGUSR1 and SIGUSR2 are not blocked in the proxy (mask %x)", blocked)
	}
}
