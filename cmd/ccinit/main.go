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
	"strings"

	"github.com/ccontainer/ccontainer/initproc"
)

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
// or name inside it holds, and names the kernel needed when a system call
// was missing.
func oneLine(err error) string {
	return strings.ReplaceAll(initproc.KernelTooOld(err).Error(), "\n", `\n`)
}
