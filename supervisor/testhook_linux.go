//go:build ccsuper_testhooks

package supervisor

import (
	"os"
	"time"
)

// signalDelayVar names a duration by which ccsuper puts off catching the
// signals it forwards. It is for e2e/signal_test.go alone: it stands for a
// loaded machine, on which that registration (a round trip to a thread of the
// Go runtime's per signal) may not be done when the container is ready to
// start, and lets the test prove that the command is not started before it is.
// Only the e2e suite's build has it (-tags ccsuper_testhooks); the binaries
// the Makefile builds do not (testhook_off_linux.go).
const signalDelayVar = "CCSUPER_TEST_SIGNAL_DELAY"

// testDelaySignals sleeps for the duration in signalDelayVar, if any.
func testDelaySignals() {
	d, err := time.ParseDuration(os.Getenv(signalDelayVar))
	if err == nil && d > 0 && d <= time.Minute {
		time.Sleep(d)
	}
}
