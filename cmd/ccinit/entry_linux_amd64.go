package main

// entry is ccinit's ELF entry point, in assembly (entry_linux_amd64.s): it
// joins a mount namespace before the Go runtime starts, then runs it.
func entry()
