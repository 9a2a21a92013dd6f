package devicefilter

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// progName names the programs Attach attaches, so that it replaces its own
// and leaves the others (systemd's, an engine's on a parent) alone.
const progName = "ccontainer_dev"

// Attach enforces rules, read as v1 reads them (Emulate), on the processes
// of the cgroup v2 directory open at cgroupFD and of its descendants. A
// program Attach attached there before is detached once the new one is in:
// meanwhile the kernel runs both and allows only what both allow, so no
// access slips through the change.
//
// The cgroup holds the program: the caller may close cgroupFD, and the
// kernel frees the program when the cgroup is removed.
func Attach(cgroupFD int, rules []specs.LinuxDeviceCgroup) error {
	p, err := Emulate(rules)
	if err != nil {
		return err
	}
	old, err := attachedPrograms(cgroupFD)
	if err != nil {
		return fmt.Errorf("query the cgroup's device programs: %w", err)
	}
	prog, err := loadProgram(Encode(Program(p)), progName)
	if err != nil {
		return err
	}
	defer unix.Close(prog)
	if err := attachProgram(cgroupFD, prog); err != nil {
		return fmt.Errorf("attach device program: %w", err)
	}
	var errs []error
	for _, id := range old {
		errs = append(errs, detachOurs(cgroupFD, id))
	}
	return errors.Join(errs...)
}

// detachOurs detaches the program with ID id from the cgroup if Attach
// attached it. One detached or freed meanwhile is fine.
func detachOurs(cgroupFD int, id uint32) error {
	prog, err := programByID(id)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open device program %d: %w", id, err)
	}
	defer unix.Close(prog)
	_, name, err := programInfo(prog)
	if err != nil {
		return fmt.Errorf("read device program %d: %w", id, err)
	}
	if name != progName {
		return nil
	}
	if err := detachProgram(cgroupFD, prog); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("detach the former device program %d: %w", id, err)
	}
	return nil
}
