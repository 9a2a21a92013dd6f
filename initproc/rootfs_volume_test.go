package initproc

import (
	"strings"
	"testing"
)

func TestParseVolume(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		want    Volume
		wantErr string
	}{
		{spec: "/srv:/data", want: Volume{Source: "/srv", Target: "/data"}},
		{spec: "data:/data:ro", want: Volume{Source: "data", Target: "/data", ReadOnly: true}},
		{spec: "/srv:/data:rw", want: Volume{Source: "/srv", Target: "/data"}},
		// Cleaned as text; symlinks are left to the resolution inside.
		{spec: "/srv:/a/../../b//c/", want: Volume{Source: "/srv", Target: "/b/c"}},
		{spec: "/dev/null:/dev/mine", want: Volume{Source: "/dev/null", Target: "/dev/mine"}},
		{spec: "/proc2:/procedure", want: Volume{Source: "/proc2", Target: "/procedure"}},
		{spec: "/srv", wantErr: "HOST:CONTAINER"},
		{spec: ":/data", wantErr: "HOST:CONTAINER"},
		{spec: "/srv:/data:rx", wantErr: "HOST:CONTAINER"},
		{spec: "/a:b:/c", wantErr: "HOST:CONTAINER"},
		{spec: "/srv:/data:ro:x", wantErr: "HOST:CONTAINER"},
		{spec: "/s\x00rv:/data", wantErr: "HOST:CONTAINER"},
		{spec: "/srv:data", wantErr: "not absolute"},
		{spec: "/srv:", wantErr: "not absolute"},
		{spec: "/srv:/", wantErr: "container's /"},
		{spec: "/srv:/x/..", wantErr: "container's /"},
		{spec: "/srv:/proc", wantErr: "in /proc"},
		{spec: "/srv:/proc/sys/kernel", wantErr: "in /proc"},
		{spec: "/srv:/x/../sys/fs", wantErr: "in /sys"},
	} {
		got, err := ParseVolume(tc.spec)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseVolume(%q) error = %v, want one containing %q", tc.spec, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseVolume(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
		if back, err := ParseVolume(got.String()); err != nil || back != got {
			t.Errorf("ParseVolume(%q.String()) = %+v, %v; want %+v", tc.spec, back, err, got)
		}
	}
}
