//go:build linux && !amd64

package seccomp

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Options say which syscalls the filter allows beyond the base table.
type Options struct {
	// Caps is the capability set the command runs with.
	Caps uint64
}

// Build fails: the tables are x86_64's syscall numbers.
func Build(Options) ([]unix.SockFilter, error) {
	return nil, errors.New("no default seccomp filter for this architecture yet (use --seccomp=unconfined)")
}

// Known reports false: this architecture has no syscall table here.
func Known(string) bool { return false }

// Compile fails: the tables are x86_64's syscall numbers.
func Compile(Profile) ([]unix.SockFilter, error) {
	return nil, errors.New("seccomp profiles are compiled for x86_64 only")
}
