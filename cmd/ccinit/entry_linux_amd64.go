package main

// entry is ccinit's ELF entry point, in assembly (entry_linux_amd64.s): it
// joins a mount namespace before the Go runtime starts, then runs it.
func entry()

// mapWait waits for the maps of ccinit's user namespace and execs ccinit
// again, when the supervisor asks (mapwait_linux_amd64.s); entry calls it.
func mapWait()

// joinUserNS, in assembly (entry_userns_linux_amd64.s), runs after entry's
// mount namespace: it joins a user namespace, makes the container's new
// namespaces in it, and clones PID 1 of a new PID namespace.
func joinUserNS()
