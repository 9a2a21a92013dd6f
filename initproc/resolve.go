package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Exit codes shared with ccsuper, the same as Docker's and the shells'.
const (
	ExitSetup         = 125 // ccsuper or ccinit itself failed before the command ran
	ExitNotExecutable = 126 // the command exists but cannot be executed
	ExitNotFound      = 127 // the command does not exist
)

// ExecError is a failure to start the command. Code is ExitNotFound or
// ExitNotExecutable.
type ExecError struct {
	Name string
	Code int
	Err  error
}

func (e *ExecError) Error() string {
	if e.Code == ExitNotFound {
		// Worded as runc and Go's os/exec word it: engines read the
		// words (Docker turns "executable file not found" and "no such
		// file or directory" into status 127, anything else into 125).
		if !strings.Contains(e.Name, "/") {
			return fmt.Sprintf("%q: executable file not found in $PATH", e.Name)
		}
		return fmt.Sprintf("%q: no such file or directory", e.Name)
	}
	return fmt.Sprintf("%q: cannot execute: %v", e.Name, e.Err)
}

func (e *ExecError) Unwrap() error { return e.Err }

// Resolve returns the absolute path of the program name, looked up in path (a
// PATH value) when name has no slash, as a shell would. It runs after
// pivot_root, so it can only see the container's files: the host's PATH and
// the host's programs are out of reach. A relative name with a slash is taken
// relative to dir.
func Resolve(name, path, dir string) (string, error) {
	if name == "" {
		return "", &ExecError{Name: name, Code: ExitNotFound, Err: unix.ENOENT}
	}
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := checkExecutable(p); err != nil {
			return "", execError(name, err)
		}
		return p, nil
	}
	var firstErr error
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "." // an empty PATH entry means the working directory, as in sh
		}
		p := filepath.Join(d, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		// Like sh, remember a non-executable match but keep looking for a
		// runnable one further on.
		if firstErr == nil && !errors.Is(err, fs.ErrNotExist) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", execError(name, firstErr)
	}
	return "", &ExecError{Name: name, Code: ExitNotFound, Err: unix.ENOENT}
}

func checkExecutable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return unix.ENOENT
		}
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.EISDIR
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return err
	}
	return nil
}

func execError(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &ExecError{Name: name, Code: ExitNotFound, Err: err}
	}
	return &ExecError{Name: name, Code: ExitNotExecutable, Err: err}
}
