// Command ccinit is a container's PID 1: it reaps zombies, forwards signals and
// exits with its command's status. ccsuper starts it in new namespaces; it also
// runs on its own in any chroot or container, as tini or catatonit would.
//
//	ccinit [-g] [--grace D] [--] COMMAND [ARG...]
//
// Started by ccsuper it is `ccinit --sync-fd 3`: the rest of its configuration
// comes over the sync channel, out of the container's sight.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ccontainer/ccontainer/initproc"
)

func main() {
	opts, err := initproc.ParseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, initproc.ErrHelp) {
		os.Exit(0)
	}
	if err == nil && opts.SyncFD > 0 {
		opts, err = initproc.ReceiveConfig(opts.SyncFD)
	}
	if err != nil {
		fail(err)
		os.Exit(initproc.ExitSetup)
	}
	status, err := initproc.Run(opts)
	if err != nil {
		fail(err)
	}
	os.Exit(status)
}

// fail says why ccinit stops, on one line, whatever a path or name inside the
// error holds; not when the supervisor went away: it has already said why,
// or is dead.
func fail(err error) {
	if !errors.Is(err, initproc.ErrSupervisorGone) {
		fmt.Fprintf(os.Stderr, "ccinit: %s\n", strings.ReplaceAll(err.Error(), "\n", `\n`))
	}
}
