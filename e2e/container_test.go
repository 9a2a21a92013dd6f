package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestPIDNamespace checks that ccinit is PID 1 inside and that the container
// sees its own processes only.
func TestPIDNamespace(t *testing.T) {
	t.Parallel()
	// Prints "proc PID CMDLINE" for every process in /proc (the glob is
	// expanded once, before the loop forks anything), then busybox ps's view.
	const script = `
for d in /proc/[0-9]*; do
	cmd=$(tr '\0\n' '  ' < "$d/cmdline") || continue
	echo "proc ${d#/proc/} $cmd"
done
ps -o pid,comm | while read -r pid comm; do echo "ps $pid $comm"; done
`
	r := runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script)
	wantExit(t, r, 0)

	var procs, ps []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		switch kind, rest, _ := strings.Cut(line, " "); kind {
		case "proc":
			procs = append(procs, rest)
		case "ps":
			ps = append(ps, rest)
		default:
			t.Errorf("unexpected output line %q", line)
		}
	}

	// ccinit's configuration comes over the sync socket: its command line
	// names no host path (TestInitCommandLineHidesHost).
	pid1 := "1 ccinit --sync-fd 3 "
	if !slices.Contains(procs, pid1) {
		t.Errorf("PID 1 inside is not ccinit: got processes\n%s\nwant %q", strings.Join(procs, "\n"), pid1)
	}
	for _, p := range procs {
		_, cmdline, _ := strings.Cut(p, " ")
		if !strings.HasPrefix(cmdline, "ccinit ") && !strings.HasPrefix(cmdline, "/bin/sh -c ") {
			t.Errorf("process %q visible inside the container is neither ccinit nor the command", p)
		}
	}
	if host := len(pids()); len(procs) >= host {
		t.Errorf("container sees %d processes, the host %d: want fewer inside", len(procs), host)
	}

	if len(ps) < 3 || ps[0] != "PID COMMAND" {
		t.Fatalf("got ps output\n%s\nwant a header and processes", strings.Join(ps, "\n"))
	}
	for _, p := range ps[1:] {
		f := strings.Fields(p)
		if len(f) != 2 || !slices.Contains([]string{"ccinit", "sh", "ps"}, f[1]) {
			t.Errorf("ps inside lists %q, want only ccinit, sh and ps", p)
		}
	}
}

func TestHostname(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 64) // the kernel's limit
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default", nil, "ccontainer"},
		{"given", []string{"--hostname", "box"}, "box"},
		{"64 bytes", []string{"--hostname", long}, long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--rootfs", baseRootfs}, tc.args...)
			args = append(args, "--", "/bin/sh", "-c", `hostname; echo "$HOSTNAME"; cat /proc/sys/kernel/hostname`)
			r := runCCSuper(t, args...)
			wantExit(t, r, 0)
			want := strings.Repeat(tc.want+"\n", 3)
			if r.stdout != want {
				t.Errorf("got hostname, $HOSTNAME, kernel hostname\n%s\nwant %q three times", r.stdout, tc.want)
			}
			if got, err := os.Hostname(); err != nil || got != host {
				t.Errorf("host hostname after the run: got %q (%v), want %q", got, err, host)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	const hostPath = "/cctest-host-path/bin"
	env := func() []string {
		return append(os.Environ(),
			"PATH="+hostPath+":"+os.Getenv("PATH"),
			"CCTEST_SECRET=1",
			"CCTEST_PASS=passed",
		)
	}

	t.Run("-e", func(t *testing.T) {
		t.Parallel()
		cmd := ccsuper(t, "--rootfs", baseRootfs, "-e", "FOO=bar", "--", "/bin/sh", "-c", "echo $FOO")
		cmd.Env = env()
		r := run(t, cmd)
		wantExit(t, r, 0)
		if r.stdout != "bar\n" {
			t.Errorf("got stdout %q, want %q", r.stdout, "bar\n")
		}
	})

	t.Run("whole environment", func(t *testing.T) {
		t.Parallel()
		// env run directly, not through a shell that would add its own.
		cmd := ccsuper(t, "--rootfs", baseRootfs, "-e", "FOO=bar", "-e", "CCTEST_PASS", "--", "env")
		cmd.Env = env()
		r := run(t, cmd)
		wantExit(t, r, 0)
		got := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			k, v, _ := strings.Cut(kv, "=")
			got[k] = v
		}
		want := map[string]string{
			"PATH":        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", // the documented default
			"HOME":        "/root",
			"HOSTNAME":    "ccontainer",
			"FOO":         "bar",
			"CCTEST_PASS": "passed", // a bare -e KEY copies the host's value
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("inside %s=%q, want %q", k, got[k], v)
			}
		}
		for k, v := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("inside %s=%q: not set by the container, leaked from the host?", k, v)
			}
			if strings.Contains(v, hostPath) {
				t.Errorf("inside %s=%q contains the host's PATH", k, v)
			}
		}
	})
}

func TestSysfs(t *testing.T) {
	t.Parallel()
	const script = `
grep '^sysfs /sys ' /proc/mounts
[ -e /sys/class/net/lo ] && echo lo-exists
echo net: $(ls /sys/class/net)
echo 1500 > /sys/class/net/lo/mtu && echo write-ok
exit 0
`
	r := runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script)
	wantExit(t, r, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "sysfs /sys sysfs ro,") {
		t.Errorf("got /proc/mounts line %q for /sys, want a read-only sysfs", lines[0])
	}
	for _, want := range []string{"lo-exists", "net: eth0 lo"} { // the container's network namespace, not the host's
		if !slices.Contains(lines, want) {
			t.Errorf("got\n%s\nwant a line %q", r.stdout, want)
		}
	}
	if slices.Contains(lines, "write-ok") || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("writing /sys/class/net/lo/mtu: got\n%s\nwant it refused with 'Read-only file system'", r)
	}
}

func TestDev(t *testing.T) {
	t.Parallel()
	const script = `
for n in null zero full random urandom tty; do
	if [ -c /dev/$n ]; then echo "$n $(stat -c %t:%T /dev/$n)"; else echo "$n: not a character device"; fi
done
[ -e /dev/ptmx ] && echo ptmx-exists
echo pts: $(ls /dev/pts)
awk '$2 == "/dev/pts" || $2 == "/dev/shm" { print "mount", $2, $3 }' /proc/mounts
echo x > /dev/null && echo null-writable
echo zero: $(head -c 8 /dev/zero | wc -c)
`
	r := runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script)
	wantExit(t, r, 0)
	want := strings.Join([]string{
		"null 1:3", "zero 1:5", "full 1:7", "random 1:8", "urandom 1:9", "tty 5:0",
		"ptmx-exists",
		"pts: ptmx", // a new devpts instance: none of the host's ptys
		"mount /dev/pts devpts",
		"mount /dev/shm tmpfs",
		"null-writable",
		"zero: 8",
	}, "\n") + "\n"
	if r.stdout != want {
		t.Errorf("got\n%s\nwant\n%s", r.stdout, want)
	}
}

func TestWorkdir(t *testing.T) {
	t.Parallel()
	root := newRootfs(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--workdir", "/tmp/x"}, "/tmp/x"}, // created inside the rootfs
		{nil, "/"},
	} {
		args := append([]string{"--rootfs", root}, tc.args...)
		r := runCCSuper(t, append(args, "--", "pwd")...)
		wantExit(t, r, 0)
		if r.stdout != tc.want+"\n" {
			t.Errorf("ccsuper %v -- pwd: got %q, want %q", tc.args, r.stdout, tc.want+"\n")
		}
	}
	if st, err := os.Stat(filepath.Join(root, "tmp/x")); err != nil || !st.IsDir() {
		t.Errorf("workdir not created in the rootfs: %v", err)
	}
}

// TestDefaultCommand runs ccsuper without a command: /bin/sh reads its
// commands from ccsuper's stdin.
func TestDefaultCommand(t *testing.T) {
	t.Parallel()
	cmd := ccsuper(t, "--rootfs", baseRootfs)
	cmd.Stdin = strings.NewReader("echo from-stdin\nexit 4\n")
	r := run(t, cmd)
	wantExit(t, r, 4)
	if r.stdout != "from-stdin\n" {
		t.Errorf("got stdout %q, want %q", r.stdout, "from-stdin\n")
	}
}

func TestRelativeRootfs(t *testing.T) {
	t.Parallel()
	cmd := ccsuper(t, "--rootfs", filepath.Base(baseRootfs), "--", "/bin/sh", "-c", "echo ok")
	cmd.Dir = filepath.Dir(baseRootfs)
	r := run(t, cmd)
	wantExit(t, r, 0)
	if r.stdout != "ok\n" {
		t.Errorf("got stdout %q, want %q", r.stdout, "ok\n")
	}
}

// TestCPUAffinity checks that the command runs on the CPUs ccsuper was
// allowed, whatever ccsuper and ccinit do with their own affinity meanwhile.
func TestCPUAffinity(t *testing.T) {
	t.Parallel()
	const script = `grep '^Cpus_allowed_list:' /proc/self/status`
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var ours string
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Cpus_allowed_list:") {
			ours = line
		}
	}
	if ours == "" {
		t.Fatal("no Cpus_allowed_list in /proc/self/status")
	}

	t.Run("inherited", func(t *testing.T) {
		t.Parallel()
		r := runCCSuper(t, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script)
		wantExit(t, r, 0)
		if r.stdout != ours+"\n" {
			t.Errorf("inside: got %q, want ccsuper's own %q", r.stdout, ours)
		}
	})

	t.Run("restricted", func(t *testing.T) {
		t.Parallel()
		taskset, err := exec.LookPath("taskset")
		if err != nil {
			t.Skipf("needs taskset from util-linux: %v", err)
		}
		if runtime.NumCPU() < 2 {
			t.Skip("needs two CPUs to restrict ccsuper to one")
		}
		last := strconv.Itoa(runtime.NumCPU() - 1) // not the CPU ccsuper happens to start on, most likely
		r := run(t, command(t, taskset, "-c", last, ccsuperBin, "--rootfs", baseRootfs, "--", "/bin/sh", "-c", script))
		wantExit(t, r, 0)
		if want := "Cpus_allowed_list:\t" + last + "\n"; r.stdout != want {
			t.Errorf("inside: got %q, want %q", r.stdout, want)
		}
	})
}
