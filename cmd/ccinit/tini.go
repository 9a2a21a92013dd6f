package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ccontainer/ccontainer/initproc"
)

// tiniMain is ccinit's main under tini's names (initproc.TiniNames): tini's
// command line, messages and exit codes (1 for a bad command line or a
// failure of its own, as tini).
func tiniMain() int {
	name := filepath.Base(os.Args[0])
	opts, err := initproc.ParseTiniArgs(os.Args[1:], os.LookupEnv)
	switch {
	case errors.Is(err, initproc.ErrTiniHelp):
		fmt.Print(initproc.TiniUsage(name))
		return 0
	case errors.Is(err, initproc.ErrTiniLicense):
		fmt.Print(initproc.TiniLicense)
		return 0
	case errors.Is(err, initproc.ErrTiniVersion):
		fmt.Printf("tini version %s - ccinit\n", initproc.TiniVersion)
		return 0
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %s (see %s -h)\n", name, oneLine(err), name)
		return 1
	}
	status, err := initproc.RunTini(opts, os.Stdout, os.Stderr)
	if err != nil {
		// tini's format for its fatal errors, which log filters know.
		fmt.Fprintf(os.Stderr, "[FATAL tini (%d)] %s\n", os.Getpid(), oneLine(err))
	}
	return status
}
