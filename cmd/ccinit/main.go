// Command ccinit is a container's PID 1: it reaps zombies, forwards signals and
// exits with its command's status. ccsuper starts it in new namespaces; it also
// runs on its own in any chroot or container, as tini or catatonit would.
//
//	ccinit [-g] [--grace D] [--] COMMAND [ARG...]
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/ccontainer/ccontainer/initproc"
)

// Standalone in a bare chroot, ccinit re-executes itself in a mount
// namespace of its own from the main thread (initproc.Run), which keeps what
// the parent set on that thread: main must start there.
func init() { runtime.LockOSThread() }

func main() {
	opts, err := initproc.ParseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, initproc.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ccinit: %s\n", oneLine(err))
		os.Exit(initproc.ExitSetup)
	}
	status, err := initproc.Run(opts)
	switch {
	case errors.Is(err, initproc.ErrSupervisorGone):
		// The supervisor has already said why, or is dead: stay quiet.
	case err != nil:
		fmt.Fprintf(os.Stderr, "ccinit: %s\n", oneLine(err))
	}
	os.Exit(status)
}

// oneLine keeps an error on the one line a user is promised, whatever a path
// or name inside it holds.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", `\n`) }
