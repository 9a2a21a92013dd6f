package initproc

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// FormatCPUs renders a CPU set as a kernel-style list, "0-3,8".
func FormatCPUs(set *unix.CPUSet) string {
	var b strings.Builder
	n := len(set) * 64
	for i := 0; i < n; i++ {
		if !set.IsSet(i) {
			continue
		}
		j := i
		for j+1 < n && set.IsSet(j+1) {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(j))
		}
		i = j
	}
	return b.String()
}

// ParseCPUs reads a list written by FormatCPUs (or by the kernel, as in
// /sys/devices/system/cpu/online).
func ParseCPUs(s string) (*unix.CPUSet, error) {
	var set unix.CPUSet
	max := len(set) * 64
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b >= max {
			return nil, fmt.Errorf("CPU list %q: bad element %q", s, part)
		}
		for c := a; c <= b; c++ {
			set.Set(c)
		}
	}
	return &set, nil
}
