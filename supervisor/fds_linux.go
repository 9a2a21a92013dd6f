package supervisor

// The descriptors a child of ccsuper starts with, in one place.
//
// ccinit:
//
//	0 1 2   stdio: the caller's own, or pipes ccsuper relays (stdio_linux.go)
//	3       its end of the sync socket (syncFD): the only fixed number, as it
//	        is on ccinit's command line (`ccinit --sync-fd 3`)
//	4 ...   the extra files, numbered in the order childFDs.add was called:
//	          ccsuper --rootfs:  [console socket (-t)] [trace pipe (--trace)]
//	          OCI create:        exec FIFO, ready pipe, exec socket,
//	                             [console socket (--console-socket)]
//	                             [a mount namespace to join, named in
//	                             CCMNTNS (spawnSpec.mountNS)]
//	                             [a user namespace to join, and the pipe
//	                             on which the entry point reports the
//	                             join, named in CCUSRNS (spawnSpec.userNS)]
//	last+1  the read-only clone of ccinit's file being exec'd (initToExec),
//	        close-on-exec: gone once ccinit runs
//
// ccinit learns every number but syncFD from its configuration (the Options
// fields ConsoleSocket, TraceFD, OCI.ExecFIFO, OCI.ReadyFD, OCI.ExecSock) or,
// for its entry point, from its environment (the descriptors of CCMNTNS and
// CCUSRNS, and of CCMAPFD, which names syncFD), so the order above is a
// convention of this file alone.
//
// The detached exec proxy (ExecProxy), started before the process:
//
//	0 1 2   /dev/null
//	3       its control socket (proxyCtlFD): it says "ready" there once
//	        it catches signals (only then is its PID written to the pid
//	        file), and gets there the connection to ccinit's exec socket
//	        and the process's pidfd (SCM_RIGHTS), or EOF (execProxy)
const (
	syncFD     = 3
	proxyCtlFD = 3
)

// childFDs collects the extra files a child of ccsuper is started with,
// after stdio and the sync socket.
type childFDs struct{ files []uintptr }

// add queues f as the child's next descriptor and returns the number the
// child sees it as.
func (c *childFDs) add(f uintptr) int {
	c.files = append(c.files, f)
	return syncFD + len(c.files)
}
