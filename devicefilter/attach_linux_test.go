package devicefilter

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// These tests load and attach real programs and check, from a process in
// the cgroup, what the kernel then lets it do. Where the host also has the
// v1 devices controller (this machine's hybrid layout), the same rules are
// written to a v1 devices cgroup and the kernel's own answers there are the
// reference; everywhere the answers must match the model of the kernel's
// check below (permits).

// probeEnv makes the test binary a probe (see probeMain).
const probeEnv = "DEVICEFILTER_PROBE"

func TestMain(m *testing.M) {
	if os.Getenv(probeEnv) != "" {
		os.Exit(probeMain())
	}
	os.Exit(m.Run())
}

// probe is one question to the kernel: may the process do op (m for mknod,
// r, w or rw for an open) on the device typ major:minor?
type probe struct {
	typ          DevType
	major, minor uint32
	op           string
}

func (p probe) String() string {
	t := "c"
	if p.typ == Block {
		t = "b"
	}
	return fmt.Sprintf("%s %s %d:%d", p.op, t, p.major, p.minor)
}

func (p probe) access() Access {
	switch p.op {
	case "m":
		return Mknod
	case "r":
		return Read
	case "w":
		return Write
	}
	return Read | Write
}

// Majors 3000 and 3001 belong to no driver (the kernel registers none above
// 511): an open the cgroup allows fails with ENXIO, never reaching a
// driver. Char 1:3 and 1:5 are /dev/null and /dev/zero, harmless to open.
const freeMajor, freeMajor2 = 3000, 3001

var probes = func() []probe {
	var ps []probe
	devs := []probe{{typ: Char, major: 1, minor: 3}, {typ: Char, major: 1, minor: 5}, {typ: Char, major: freeMajor, minor: 3},
		{typ: Char, major: freeMajor, minor: 5}, {typ: Char, major: freeMajor2, minor: 3},
		{typ: Block, major: freeMajor, minor: 3}, {typ: Block, major: freeMajor, minor: 5}, {typ: Block, major: freeMajor2, minor: 5}}
	for _, d := range devs {
		for _, op := range []string{"m", "r", "w", "rw"} {
			d.op = op
			ps = append(ps, d)
		}
	}
	return ps
}()

// node is where the probe finds the device of p, made by the test.
func node(dir string, p probe) string {
	return filepath.Join(dir, fmt.Sprintf("%d-%d-%d", p.typ, p.major, p.minor))
}

// probeMain runs in a process the test moves into a cgroup: once told to
// go (a byte on stdin), it tries each probe and prints y (done, or failed
// for another reason than the cgroup) or n (EPERM).
func probeMain() int {
	dir := os.Getenv(probeEnv)
	if _, err := os.Stdin.Read(make([]byte, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "probe: no go:", err)
		return 2
	}
	out := make([]byte, 0, len(probes))
	for i, p := range probes {
		var err error
		if p.op == "m" {
			mode := uint32(unix.S_IFCHR)
			if p.typ == Block {
				mode = unix.S_IFBLK
			}
			path := filepath.Join(dir, "made-"+strconv.Itoa(i))
			if err = unix.Mknod(path, mode|0o600, int(unix.Mkdev(p.major, p.minor))); err == nil {
				_ = os.Remove(path)
			}
		} else {
			flags := map[string]int{"r": unix.O_RDONLY, "w": unix.O_WRONLY, "rw": unix.O_RDWR}[p.op]
			var fd int
			if fd, err = unix.Open(node(dir, p), flags|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err == nil {
				_ = unix.Close(fd)
			}
		}
		if errors.Is(err, unix.EPERM) {
			out = append(out, 'n')
		} else {
			out = append(out, 'y')
		}
	}
	fmt.Println(string(out))
	return 0
}

// ask runs the probe process in the cgroup whose cgroup.procs is procs and
// returns its answers.
func ask(t *testing.T, dir, procs string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), probeEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait() //nolint:errcheck // waited below; this only reaps on a failure
	if err := os.WriteFile(procs, []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("move the probe into its cgroup: %v", err)
	}
	if _, err := stdin.Write([]byte("g")); err != nil {
		t.Fatal(err)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("probe: %v\n%s", err, out.String())
	}
	return strings.TrimSpace(out.String())
}

// permits is the kernel's check of an operation against a v1 exception
// list (security/device_cgroup.c), the model both real answers must match.
func permits(p Policy, q probe) bool {
	for _, e := range p.Exceptions {
		if e.Type != q.typ || (e.Major != Wildcard && e.Major != q.major) || (e.Minor != Wildcard && e.Minor != q.minor) {
			continue
		}
		if p.DefaultAllow && q.access()&e.Access != 0 {
			return false // any operation in common refuses
		}
		if !p.DefaultAllow && q.access()&^e.Access == 0 {
			return true // one exception must cover them all
		}
	}
	return p.DefaultAllow
}

// mountOf returns the mount point of the first mount of file system type
// fstype whose super options contain opt ("" for any).
func mountOf(fstype, opt string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 3 || after[0] != fstype {
			continue
		}
		if opt == "" || strings.Contains(","+after[2]+",", ","+opt+",") {
			return fields[4]
		}
	}
	return ""
}

var cgroupSeq int

// newCgroup makes a cgroup of the test's own under root, removed at the end
// of the test (its probes have exited by then).
func newCgroup(t *testing.T, root string) string {
	t.Helper()
	cgroupSeq++
	dir := filepath.Join(root, fmt.Sprintf("devicefilter-test-%d-%d", os.Getpid(), cgroupSeq))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make cgroup: %v", err)
	}
	t.Cleanup(func() {
		// A probe that has exited may leave its cgroup a moment later.
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := unix.Rmdir(dir)
			if err == nil || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				if err != nil {
					t.Errorf("remove cgroup %s: %v", dir, err)
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return dir
}

// cgroup2 returns the cgroup2 mount, or skips the test.
func cgroup2(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads eBPF programs and makes cgroups")
	}
	root := mountOf("cgroup2", "")
	if root == "" {
		t.Skip("no cgroup2 hierarchy mounted")
	}
	return root
}

func openDir(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}

// probeNodes makes the device nodes the probes open, in a directory on a
// file system that honours them.
func probeNodes(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Flags&unix.ST_NODEV != 0 {
		t.Skipf("%s is on a nodev file system: device nodes there cannot be opened", dir)
	}
	for _, p := range probes {
		mode := uint32(unix.S_IFCHR)
		if p.typ == Block {
			mode = unix.S_IFBLK
		}
		err := unix.Mknod(node(dir, p), mode|0o666, int(unix.Mkdev(p.major, p.minor)))
		if err != nil && !errors.Is(err, unix.EEXIST) {
			t.Fatal(err)
		}
	}
	return dir
}

// ruleSets are the rules checked: some written for a case each, then
// random ones over the probes' numbers.
func ruleSets() [][]specs.LinuxDeviceCgroup {
	denyAll, allowAll := rule(false, "a", nil, nil, "rwm"), rule(true, "a", nil, nil, "rwm")
	sets := [][]specs.LinuxDeviceCgroup{
		{denyAll},
		{allowAll},
		// What engines send: deny all, the usual devices, the user's.
		{denyAll, rule(true, "c", nil, nil, "m"), rule(true, "b", nil, nil, "m"), rule(true, "c", n(1), n(3), "rwm"),
			rule(true, "c", n(1), n(5), "rwm"), rule(true, "c", n(freeMajor), n(3), "rw")},
		{denyAll, rule(true, "c", n(1), nil, "rw"), rule(false, "c", n(1), n(5), "w")},
		{denyAll, rule(true, "c", n(1), n(3), "r"), rule(true, "c", n(1), n(3), "w")},
		{denyAll, rule(true, "c", n(1), n(3), "r"), rule(true, "c", n(1), nil, "w")},
		{rule(false, "c", n(1), nil, "w"), rule(true, "c", n(1), n(3), "w")},
		{rule(false, "b", nil, nil, "rw"), rule(false, "c", n(freeMajor), n(3), "m")},
		{denyAll, rule(true, "c", n(1), n(3), "rwm"), allowAll, rule(false, "c", n(1), n(3), "r")},
	}
	r := rand.New(rand.NewSource(1))
	majors := []*int64{nil, n(1), n(freeMajor), n(freeMajor2)}
	minors := []*int64{nil, n(3), n(5)}
	for range 40 {
		var set []specs.LinuxDeviceCgroup
		for range 1 + r.Intn(6) {
			typ := []string{"a", "b", "c", "c"}[r.Intn(4)]
			access := ""
			for _, c := range "rwm" {
				if r.Intn(2) == 0 {
					access += string(c)
				}
			}
			set = append(set, rule(r.Intn(2) == 0, typ, majors[r.Intn(len(majors))], minors[r.Intn(len(minors))], access))
		}
		sets = append(sets, set)
	}
	return sets
}

// TestAttachMatchesV1 attaches the program of each rule set to a cgroup and
// compares what a process there may do with the model, and with a v1
// devices cgroup given the same rules where the host has one.
func TestAttachMatchesV1(t *testing.T) {
	root := cgroup2(t)
	v1 := mountOf("cgroup", "devices")
	if v1 == "" {
		t.Log("no v1 devices hierarchy: checked against the model only")
	}
	dir := probeNodes(t)
	for i, rules := range ruleSets() {
		p, err := Emulate(rules)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, len(probes))
		for j, q := range probes {
			want[j] = map[bool]byte{true: 'y', false: 'n'}[permits(p, q)]
		}
		var lines []string
		for _, r := range rules {
			verb := "deny "
			if r.Allow {
				verb = "allow "
			}
			lines = append(lines, verb+V1Rule(r))
		}
		cg := newCgroup(t, root)
		if err := Attach(openDir(t, cg), rules); err != nil {
			t.Fatalf("rules %d %q: %v", i, lines, err)
		}
		got := ask(t, dir, filepath.Join(cg, "cgroup.procs"))
		report := func(what, got string) {
			for j := range probes {
				if j < len(got) && got[j] != want[j] {
					t.Errorf("rules %d %q: %s: %s says %c, the model %c", i, lines, probes[j], what, got[j], want[j])
				}
			}
			if len(got) != len(want) {
				t.Errorf("rules %d: %s answered %q", i, what, got)
			}
		}
		report("the eBPF program", got)
		if v1 == "" {
			continue
		}
		cg1 := newCgroup(t, v1)
		for _, r := range rules {
			file := "devices.deny"
			if r.Allow {
				file = "devices.allow"
			}
			if err := os.WriteFile(filepath.Join(cg1, file), []byte(V1Rule(r)), 0); err != nil {
				t.Fatalf("write %q to %s: %v", V1Rule(r), file, err)
			}
		}
		report("v1", ask(t, dir, filepath.Join(cg1, "cgroup.procs")))
	}
}

// TestVerifierLogInError loads a program the verifier refuses (it returns
// without setting R0) and finds the verifier's reason in the error.
func TestVerifierLogInError(t *testing.T) {
	cgroup2(t)
	_, err := loadProgram(Encode([]Insn{Exit()}), "bad")
	if err == nil || !strings.Contains(err.Error(), "R0 !read_ok") {
		t.Fatalf("got %v, want the verifier's log saying R0 was not set", err)
	}
}

// TestAttachReplacesOurs attaches twice to one cgroup holding a program of
// someone else's: ours is replaced, theirs stays, and the rules are the
// latest.
func TestAttachReplacesOurs(t *testing.T) {
	root := cgroup2(t)
	cg := newCgroup(t, root)
	fd := openDir(t, cg)
	theirs, err := loadProgram(Encode(Program(Policy{DefaultAllow: true})), "someone_else")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(theirs)
	if err := attachProgram(fd, theirs); err != nil {
		t.Fatal(err)
	}
	dir := probeNodes(t)
	if err := Attach(fd, []specs.LinuxDeviceCgroup{rule(false, "a", nil, nil, "")}); err != nil {
		t.Fatal(err)
	}
	if got := ask(t, dir, filepath.Join(cg, "cgroup.procs")); strings.Contains(got, "y") {
		t.Fatalf("under deny all the probe could do %q", got)
	}
	if err := Attach(fd, []specs.LinuxDeviceCgroup{rule(true, "a", nil, nil, "")}); err != nil {
		t.Fatal(err)
	}
	if got := ask(t, dir, filepath.Join(cg, "cgroup.procs")); strings.Contains(got, "n") {
		t.Fatalf("after allow all replaced deny all the probe was refused %q", got)
	}
	ids, err := attachedPrograms(fd)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, id := range ids {
		p, err := programByID(id)
		if err != nil {
			t.Fatal(err)
		}
		_, name, err := programInfo(p)
		_ = unix.Close(p)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if strings.Join(names, " ") != "someone_else "+progName {
		t.Errorf("attached: %q, want someone_else's and one of ours", names)
	}
}

// TestProgramFreedWithCgroup: once the cgroup is removed, the kernel frees
// the program attached to it (asynchronously: polled).
func TestProgramFreedWithCgroup(t *testing.T) {
	root := cgroup2(t)
	cg := filepath.Join(root, fmt.Sprintf("devicefilter-test-%d-freed", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	defer unix.Rmdir(cg) //nolint:errcheck // removed below; this is for a failure before
	fd, err := unix.Open(cg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = Attach(fd, []specs.LinuxDeviceCgroup{rule(false, "a", nil, nil, "")})
	ids, qerr := attachedPrograms(fd)
	_ = unix.Close(fd)
	if err != nil || qerr != nil || len(ids) != 1 {
		t.Fatalf("attach: %v; query: %v, %d programs", err, qerr, len(ids))
	}
	if err := unix.Rmdir(cg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := programByID(ids[0])
		if errors.Is(err, unix.ENOENT) {
			return
		}
		if err == nil {
			_ = unix.Close(p)
		}
		if time.Now().After(deadline) {
			t.Fatalf("program %d still there 30 s after its cgroup was removed (%v)", ids[0], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkAttach measures what a container's create pays on v2 for its
// device rules: compile, load and attach the rules Docker sends (13), in
// place of the program attached by the round before.
func BenchmarkAttach(b *testing.B) {
	if os.Geteuid() != 0 || mountOf("cgroup2", "") == "" {
		b.Skip("needs root and a cgroup2 hierarchy")
	}
	cg := filepath.Join(mountOf("cgroup2", ""), fmt.Sprintf("devicefilter-bench-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		b.Fatal(err)
	}
	defer unix.Rmdir(cg) //nolint:errcheck // nothing ran in it
	fd, err := unix.Open(cg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	rules := []specs.LinuxDeviceCgroup{rule(false, "a", nil, nil, "rwm"), rule(true, "c", nil, nil, "m"), rule(true, "b", nil, nil, "m")}
	for _, d := range [][2]int64{{1, 3}, {1, 8}, {1, 7}, {5, 0}, {1, 5}, {1, 9}, {5, 1}, {136, -1}, {5, 2}, {10, 200}} {
		rules = append(rules, rule(true, "c", n(d[0]), n(d[1]), "rwm"))
	}
	for b.Loop() {
		if err := Attach(fd, rules); err != nil {
			b.Fatal(err)
		}
	}
}
