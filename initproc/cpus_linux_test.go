package initproc

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		cpus []int
		want string
	}{
		{[]int{0}, "0"},
		{[]int{0, 1}, "0-1"},
		{[]int{0, 1, 2, 3, 8}, "0-3,8"},
		{[]int{1, 3, 5}, "1,3,5"},
		{[]int{1023}, "1023"},
	} {
		var set unix.CPUSet
		for _, c := range tc.cpus {
			set.Set(c)
		}
		got := FormatCPUs(&set)
		if got != tc.want {
			t.Errorf("FormatCPUs(%v) = %q, want %q", tc.cpus, got, tc.want)
		}
		back, err := ParseCPUs(got)
		if err != nil || *back != set {
			t.Errorf("ParseCPUs(%q) = %v, %v; want the set %v back", got, back, err, tc.cpus)
		}
	}
	for _, bad := range []string{"", "x", "3-1", "-1", "0-", "1024", "0,,1"} {
		if _, err := ParseCPUs(bad); err == nil {
			t.Errorf("ParseCPUs(%q) succeeded, want an error", bad)
		}
	}
}
