package initproc

import (
	"errors"
	"fmt"
	"io/fs"
)

// WithoutPath drops the path an *fs.PathError carries, keeping the
// operation and the cause, for callers that quote the path themselves: a raw
// path may hold a newline and split the one-line error a user is promised.
// ccsuper and ccinit both use it.
func WithoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
