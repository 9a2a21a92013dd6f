//go:build !ccsuper_testhooks

package supervisor

// testDelaySignals is the e2e suite's hook (testhook_linux.go), absent from
// the binaries people run.
func testDelaySignals() {}
