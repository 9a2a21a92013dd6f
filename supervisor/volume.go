package supervisor

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ccontainer/ccontainer/initproc"
)

// hostVolumes parses -v specs (see initproc.ParseVolume) and makes each host
// path absolute, relative to the working directory. Every host path must
// exist: what it is, a directory or not, decides what is made inside.
func hostVolumes(specs []string) ([]initproc.Volume, error) {
	var vols []initproc.Volume
	for _, spec := range specs {
		v, err := initproc.ParseVolume(spec)
		if err != nil {
			return nil, err
		}
		if v.Source, err = filepath.Abs(v.Source); err != nil {
			return nil, fmt.Errorf("volume %q: %w", spec, err)
		}
		if _, err := os.Stat(v.Source); err != nil {
			return nil, fmt.Errorf("volume %q: host path %q: %w", spec, v.Source, initproc.WithoutPath(err))
		}
		vols = append(vols, v)
	}
	return vols, nil
}
