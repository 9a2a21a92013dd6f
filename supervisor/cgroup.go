package supervisor

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limits are the resource limits of a container, applied through its cgroup
// before the command starts. A zero field means no limit.
type Limits struct {
	// Memory is the most memory, in bytes, the container may use; swap is
	// not allowed on top of it.
	Memory int64
	// CPUQuota is a number of CPUs' worth of time per period, as docker's
	// --cpus: 0.5 is half of one CPU, 2 is two whole CPUs. (It is not the
	// CPU list ccinit is given for affinity, initproc.Options.CPUs.)
	CPUQuota float64
	// Pids is the most tasks, threads included, the container may hold.
	Pids int64
}

// MinMemory is the smallest memory limit accepted, docker's: below it ccinit
// and a shell do not even start.
const MinMemory = 6 << 20

// MinPids is the smallest --pids-limit accepted. The limit counts threads,
// and ccinit, a Go program, runs about ten of its own: below this it could
// not create them, and the Go runtime aborts (with a stack dump) instead of
// failing one fork.
const MinPids = 16

// cpuPeriod is the CFS period, in microseconds, the quota is a share of: the
// kernel's default, 100 ms.
const cpuPeriod = 100000

// minCPUQuota is the kernel's smallest CFS quota, 1 ms, as a number of CPUs
// of cpuPeriod.
const minCPUQuota = 0.01

// maxCPUQuota is far above any machine's CPU count and keeps the quota in
// microseconds well within an int64.
const maxCPUQuota = 1 << 20

// check says what is wrong with l, naming the flag.
func (l Limits) check() error {
	if l.Memory != 0 && l.Memory < MinMemory {
		return fmt.Errorf("--memory %d: the minimum is %s", l.Memory, formatBytes(MinMemory))
	}
	if l.CPUQuota != 0 && !(l.CPUQuota >= minCPUQuota && l.CPUQuota <= maxCPUQuota) {
		return fmt.Errorf("--cpus %g: must be between %g and %d", l.CPUQuota, minCPUQuota, maxCPUQuota)
	}
	if l.Pids != 0 && l.Pids < MinPids {
		return fmt.Errorf("--pids-limit %d: the minimum is %d (tasks count threads, and ccinit's own are about ten)", l.Pids, MinPids)
	}
	return nil
}

// quotaMicros is the CFS quota in microseconds of cpuPeriod.
func (l Limits) quotaMicros() int64 { return int64(math.Round(l.CPUQuota * cpuPeriod)) }

// ParseBytes parses a memory size the way docker does: a number of bytes,
// or of KiB, MiB, GiB or TiB with a suffix k, m, g or t, in either case and
// optionally followed by "b" or "ib" ("64m", "64MB", "1.5GiB").
func ParseBytes(s string) (int64, error) {
	bad := fmt.Errorf("%q is not a size (a number, optionally with k, m, g or t)", s)
	num := strings.ToLower(s)
	shift := 0
	for i, u := range []string{"k", "m", "g", "t"} {
		if rest, ok := cutAnySuffix(num, u+"ib", u+"b", u); ok {
			num, shift = rest, 10*(i+1)
			break
		}
	}
	if shift == 0 {
		num = strings.TrimSuffix(num, "b")
	}
	if !isDecimal(num) {
		return 0, bad
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad
	}
	b := v * float64(int64(1)<<shift)
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(b), nil
}

// cutAnySuffix removes the first of suffixes that s ends with.
func cutAnySuffix(s string, suffixes ...string) (string, bool) {
	for _, x := range suffixes {
		if rest, ok := strings.CutSuffix(s, x); ok {
			return rest, true
		}
	}
	return s, false
}

// isDecimal reports whether s is digits with at most one decimal point
// between them: no sign, exponent, hex or spaces, which ParseFloat accepts.
func isDecimal(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	if whole+frac == "" || dot && frac == "" {
		return false
	}
	return strings.Trim(whole+frac, "0123456789") == ""
}

// ParseCPUs parses docker's --cpus: a positive decimal number of CPUs.
func ParseCPUs(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !isDecimal(s) {
		return 0, fmt.Errorf("%q is not a number of CPUs", s)
	}
	if v == 0 {
		return 0, errors.New("0 CPUs: leave --cpus out for no limit")
	}
	return v, nil
}

// formatBytes writes a size in the largest binary unit that keeps it at or
// above 1, with at most one decimal: "64 MiB", "1.5 GiB".
func formatBytes(b uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(b), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + " " + units[i]
}

// Usage is a container's use of resources over its life, from the kernel's
// own accounting in its cgroup. A field the kernel does not keep here is
// zero, and its Has flag false.
type Usage struct {
	MemoryPeak    uint64 // bytes
	HasMemoryPeak bool
	CPUUser       time.Duration
	CPUSystem     time.Duration
	HasCPU        bool
	PidsPeak      uint64 // tasks, threads included
	HasPidsPeak   bool
	// OOMKills counts the container's processes the kernel's out-of-memory
	// killer killed.
	OOMKills uint64
}

// String is the usage in one line, for people.
func (u Usage) String() string {
	var parts []string
	if u.HasMemoryPeak {
		parts = append(parts, "memory peak "+formatBytes(u.MemoryPeak))
	}
	if u.HasCPU {
		parts = append(parts, fmt.Sprintf("cpu %.3fs (user %.3fs, system %.3fs)",
			(u.CPUUser+u.CPUSystem).Seconds(), u.CPUUser.Seconds(), u.CPUSystem.Seconds()))
	}
	if u.HasPidsPeak {
		parts = append(parts, fmt.Sprintf("tasks peak %d", u.PidsPeak))
	}
	if u.OOMKills > 0 {
		parts = append(parts, fmt.Sprintf("out-of-memory kills %d", u.OOMKills))
	}
	if len(parts) == 0 {
		return "no accounting available"
	}
	return strings.Join(parts, ", ")
}
