// Command ccinit is a container's PID 1: it reaps zombies, forwards signals and
// exits with its command's status. ccsuper starts it in new namespaces; it also
// runs on its own in any chroot or container, as tini or catatonit would.
//
//	ccinit [-g] [--grace D] [--] COMMAND [ARG...]
//
// Started by ccsuper it is `ccinit --sync-fd 3`: the rest of its configuration
// comes over the sync channel, out of the container's sight. Installed or
// invoked as tini or docker-init, it takes tini's command line instead (see
// tini.go).
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
	if initproc.IsTiniName(os.Args[0]) {
		os.Exit(tiniMain())
	}
	opts, err := initproc.ParseArgs(os.Args[1:], os.Stdout)
	if errors.Is(err, initproc.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ccinit: %s (see ccinit -h)\n", oneLine(err))
		os.Exit(initproc.ExitSetup)
	}
	if opts.SyncFD > 0 {
		if initproc.ReportNoEntry() {
			os.Exit(initproc.ExitSetup) // ccsuper, waiting for the join, says why
		}
		if err := initproc.AwaitMapping(opts.SyncFD); err != nil {
			fail(err)
			os.Exit(initproc.ExitSetup)
		}
		if opts, err = initproc.ReceiveConfig(opts.SyncFD); err != nil {
			fail(err)
			os.Exit(initproc.ExitSetup)
		}
		// After the hello: ccsuper then hears ccinit's status, and the
		// why on the ready pipe of an OCI create, or in ccinit's line.
		if err := initproc.CheckEntry(); err != nil {
			fail(initproc.TellSupervisor(opts, err))
			os.Exit(initproc.ExitSetup)
		}
	}
	status, err := initproc.Run(opts)
	if err != nil {
		fail(err)
	}
	os.Exit(status)
}

// fail says why ccinit stops, on one line, whatever a path or name inside the
// error holds; not when the supervisor went away (it has already said why,
// or is dead), nor when it was told and says it itself (an OCI create).
func fail(err error) {
	if !errors.Is(err, initproc.ErrSupervisorGone) && !initproc.Told(err) {
		fmt.Fprintf(os.Stderr, "ccinit: %s\n", oneLine(err))
	}
}

// oneLine keeps an error on the one line a user is promised, whatever a path
// or name inside it holds, and names the kernel needed when a system call
// was missing.
func oneLine(err error) string {
	return strings.ReplaceAll(initproc.KernelTooOld(err).Error(), "\n", `\n`)
}
