package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// Rootless containers (issue 15), run by real unprivileged users that the
// tests make with useradd and remove with userdel, and run as with setpriv
// (or the same setresuid, setresgid and setgroups done by Go's exec): nothing
// is faked, the kernel sees an ordinary user.

// testUser is an unprivileged user made for one test.
type testUser struct {
	name     string
	uid, gid int
	// subStart is the first of the user's IDs in /etc/subuid and
	// /etc/subgid, -1 when it has none.
	subStart int
}

// userSeq and accountsMu make names unique in this run and keep useradd and
// userdel from racing each other for the lock on /etc/passwd.
var (
	userSeq    atomic.Int32
	accountsMu sync.Mutex
)

// accountCmd runs useradd or userdel. Another process of the machine (a
// suite running in another checkout) may hold the lock on /etc/passwd for a
// moment: the command is tried again then, a bounded number of times.
func accountCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	accountsMu.Lock()
	defer accountsMu.Unlock()
	var out []byte
	var err error
	for i := 0; i < 50; i++ {
		if out, err = command(t, name, args...).CombinedOutput(); err == nil {
			return
		}
		if !strings.Contains(string(out), "lock") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s %q: %v\n%s", name, args, err, out)
}

// newTestUser makes a user with no home and no login shell; withRange gives
// it 65536 subordinate IDs (useradd's default), else none. It is removed,
// with its entries in /etc/subuid and /etc/subgid and its state directory,
// when the test ends.
func newTestUser(t *testing.T, withRange bool) testUser {
	t.Helper()
	if _, err := exec.LookPath("useradd"); err != nil && !withRange {
		// The guest of make test-vm has busybox, not shadow's tools: a
		// UID that no account has is as ordinary a user to the kernel
		// (a rootless ccsuper needs a name only to find its ranges).
		uid := 40000 + int(userSeq.Add(1)) + os.Getpid()%10000*10
		if _, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			t.Fatalf("UID %d has an account", uid)
		}
		t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(os.TempDir(), fmt.Sprintf("ccontainer-%d", uid))) })
		return testUser{uid: uid, gid: uid, subStart: -1}
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("setpriv (util-linux) is not installed") // the scripts of some tests run it
	}
	name := fmt.Sprintf("ccrl%d-%d", os.Getpid()%100000, userSeq.Add(1))
	args := []string{"--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group"}
	if !withRange {
		args = append(args, "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0")
	}
	accountCmd(t, "useradd", append(args, name)...)
	u := testUser{name: name, subStart: -1}
	t.Cleanup(func() {
		accountCmd(t, "userdel", name)
		if u.uid > 0 {
			_ = os.RemoveAll(filepath.Join(os.TempDir(), fmt.Sprintf("ccontainer-%d", u.uid)))
		}
	})
	pw, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	u.uid, _ = strconv.Atoi(pw.Uid)
	u.gid, _ = strconv.Atoi(pw.Gid)
	b, err := os.ReadFile("/etc/subuid")
	if err != nil && withRange {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) == 3 && f[0] == name {
			u.subStart, _ = strconv.Atoi(f[1])
		}
	}
	if withRange && u.subStart < 0 {
		t.Fatalf("useradd gave %s no range in /etc/subuid", name)
	}
	return u
}

// cmd returns a command that runs name as the user, with a plain
// environment and no supplementary group (an empty Groups is setgroups with
// none, as setpriv --clear-groups).
func (u testUser) cmd(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	c := command(t, name, args...)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{}}}
	c.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	c.Dir = "/"
	return c
}

// reachable opens the directories from dir up to the temporary directory
// for others to walk through (not to list): the user must reach files of
// the test's own.
func reachable(t *testing.T, dir string) {
	t.Helper()
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
}

// othersReach reports whether every directory from dir up to / lets others
// walk through it.
func othersReach(dir string) bool {
	for p := dir; ; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == "/" {
			return true
		}
	}
}

// ownedDir returns a new directory of u's.
func (u testUser) ownedDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "own")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	reachable(t, filepath.Dir(dir))
	if err := os.Chown(dir, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rootfs returns a copy of root (a real one: the base rootfs's hard links
// must keep their owner) owned by u, as `make rootfs` run by the user makes.
func (u testUser) rootfs(t *testing.T, root string) string {
	t.Helper()
	dst := filepath.Join(u.ownedDir(t), "rootfs")
	if err := copyTree(root, dst, copyFile); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(dst, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.uid, u.gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// binaries returns copies of ccsuper and ccinit that the user may run:
// root's, in a directory others may walk through. The guest of make test-vm
// keeps them on another file system than the temporary directory, where no
// hard link can be made, but in a directory others may walk through
// already: there they are used as they are.
func rootlessBinaries(t *testing.T) (super, init string) {
	t.Helper()
	if os.Getenv(prebuiltEnv) != "" && othersReach(filepath.Dir(ccsuperBin)) {
		return ccsuperBin, ccinitBin
	}
	super, init = privateBinaries(t)
	reachable(t, filepath.Dir(super))
	return super, init
}

// statusField returns a field of /proc/PID/status.
func statusField(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return ""
}

// commandOf returns the host PID of the command of the container that the
// ccsuper process super runs: ccinit's only child.
func commandOf(t *testing.T, super int) int {
	t.Helper()
	var init []int
	for _, k := range children(t, super) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", k)); strings.TrimSpace(string(comm)) == "ccinit" {
			init = append(init, k)
		}
	}
	if len(init) != 1 {
		t.Fatalf("ccsuper %d has %d ccinit children", super, len(init))
	}
	kids := children(t, init[0])
	if len(kids) != 1 {
		t.Fatalf("ccinit %d has %d children, want the command alone", init[0], len(kids))
	}
	return kids[0]
}

// TestRootlessIdentity: a container run by an ordinary user, with a range
// of subordinate IDs and without. Inside, the command is root with the
// default capabilities; seen from the host's /proc it is the user (and its
// files' IDs the user's range), in a user namespace the user owns, with no
// capability in the host's: a device node cannot be made, whatever
// CAP_MKNOD says inside.
func TestRootlessIdentity(t *testing.T) {
	t.Parallel()
	super, _ := rootlessBinaries(t)
	for _, withRange := range []bool{true, false} {
		t.Run(fmt.Sprintf("range=%v", withRange), func(t *testing.T) {
			t.Parallel()
			u := newTestUser(t, withRange)
			root := u.rootfs(t, baseRootfs)
			vol := u.ownedDir(t)
			script := `id -u; id -g; cat /proc/self/uid_map
touch /data/root-made; mkdir /data/dir
chown 1000:1000 /data/dir 2>/dev/null && echo chown-ok
mknod /tmp/null c 1 3 2>/dev/null && echo mknod-ok
echo ready; read x; exit 0`
			c := u.cmd(t, super, "--rootfs", root, "--net", "none", "-t=false", "-v", vol+":/data", "--", "/bin/sh", "-c", script)
			stdin, err := c.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			p := start(t, c)
			p.waitLine(t, "ready")
			cmdPID := commandOf(t, c.Process.Pid)
			// The host's view, while the command runs.
			if got, want := statusField(t, cmdPID, "Uid"), strings.Repeat(strconv.Itoa(u.uid)+" ", 4); got != strings.TrimSpace(want) {
				t.Errorf("the command's Uid seen from the host is %q, want the user's %d", got, u.uid)
			}
			ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmdPID))
			if err != nil {
				t.Fatal(err)
			}
			owner, err := unix.IoctlGetUint32(int(ns.Fd()), unix.NS_GET_OWNER_UID)
			ns.Close()
			if err != nil || int(owner) != u.uid {
				t.Errorf("the command's user namespace is owned by %d (%v), want the user %d", owner, err, u.uid)
			}
			hostNS, _ := os.Readlink("/proc/self/ns/user")
			if cmdNS, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", cmdPID)); cmdNS == hostNS {
				t.Errorf("the command is in the host's user namespace %s", hostNS)
			}
			stdin.Close()
			r := p.wait(t)
			wantExit(t, r, 0)
			lines := strings.Split(r.stdout, "\n")
			if len(lines) < 3 || lines[0] != "0" || lines[1] != "0" {
				t.Fatalf("want uid and gid 0 inside:\n%s", r)
			}
			wantMap := fmt.Sprintf("0 %d 1", u.uid)
			if withRange {
				wantMap += fmt.Sprintf("\n1 %d 65536", u.subStart)
			}
			if got := strings.Join(strings.Fields(strings.Join(lines[2:2+strings.Count(wantMap, "\n")+1], "\n")), " "); got != strings.Join(strings.Fields(wantMap), " ") {
				t.Errorf("uid_map inside is %q, want %q\n%s", got, wantMap, r)
			}
			if strings.Contains(r.stdout, "mknod-ok") {
				t.Errorf("a device node was made: the container has a capability on the host\n%s", r)
			}
			// The volume's files are the user's on the host; with a range,
			// the container's 1000 is the range's 1000th.
			for name, want := range map[string]int{"root-made": u.uid, "dir": u.uid} {
				if name == "dir" && withRange {
					want = u.subStart + 999
				}
				var st unix.Stat_t
				if err := unix.Stat(filepath.Join(vol, name), &st); err != nil {
					t.Fatal(err)
				}
				if int(st.Uid) != want {
					t.Errorf("%s on the host is owned by %d, want %d\n%s", name, st.Uid, want, r)
				}
			}
			if withRange != strings.Contains(r.stdout, "chown-ok") {
				t.Errorf("chown to 1000 inside: want it to work only with a range\n%s", r)
			}
		})
	}
}

// TestRootlessGroups: a rootless user's supplementary group stays the
// container's, and still opens the host's files of that group in a volume:
// unmapped (the overflow ID, 65534, inside) under the single mapping, whose
// namespace denies setgroups; mapped, through the gid map ccsuper asks
// newgidmap for, where /etc/subgid gives the user that group's ID (as an
// administrator grants it, usermod --add-subgids G-G).
func TestRootlessGroups(t *testing.T) {
	t.Parallel()
	super, _ := rootlessBinaries(t)
	for _, withRange := range []bool{true, false} {
		t.Run(fmt.Sprintf("range=%v", withRange), func(t *testing.T) {
			t.Parallel()
			u := newTestUser(t, withRange)
			// Any ID will do: the kernel knows no group names.
			group := 43000 + u.uid%1000
			if withRange {
				accountCmd(t, "usermod", "--add-subgids", fmt.Sprintf("%d-%d", group, group), u.name)
			}
			root := u.rootfs(t, baseRootfs)
			vol := filepath.Join(t.TempDir(), "shared")
			reachable(t, filepath.Dir(vol))
			if err := os.Mkdir(vol, 0o770); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(vol, "file"), []byte("for the group\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{vol, filepath.Join(vol, "file")} {
				if err := os.Chown(f, 0, group); err != nil {
					t.Fatal(err)
				}
			}
			c := u.cmd(t, super, "--rootfs", root, "--net", "none", "-t=false", "-v", vol+":/data", "--",
				"/bin/sh", "-c", "id -G; stat -c %g /data/file; cat /data/file; cat /proc/self/gid_map")
			c.SysProcAttr.Credential.Groups = []uint32{uint32(group)}
			r := run(t, c)
			wantExit(t, r, 0)
			inside := "65534" // the overflow ID: unmapped
			if withRange {
				// The map's line whose outside ID is the group's.
				inside = ""
				for _, l := range strings.Split(r.stdout, "\n") {
					if f := strings.Fields(l); len(f) == 3 && f[1] == strconv.Itoa(group) && f[2] == "1" {
						inside = f[0]
					}
				}
			}
			want := fmt.Sprintf("0 %s\n%s\nfor the group\n", inside, inside)
			if inside == "" || !strings.HasPrefix(r.stdout, want) {
				t.Errorf("got\n%s\nwant the group (%d on the host) as %q inside, first:\n%s", r.stdout, group, inside, want)
			}
			if !withRange {
				return // --user 1000 is unmapped
			}
			// Another user inside keeps it too, under the same ID, also
			// after a useradd of anyone with a range: shadow-utils then
			// rewrites /etc/subgid sorted, which puts the group's line
			// (usermod appended it) ahead of the user's range.
			newTestUser(t, true)
			c = u.cmd(t, super, "--rootfs", root, "--net", "none", "-t=false", "-v", vol+":/data", "--user", "1000:1000", "--",
				"/bin/sh", "-c", "id -G; cat /data/file")
			c.SysProcAttr.Credential.Groups = []uint32{uint32(group)}
			r = run(t, c)
			wantExit(t, r, 0)
			if want := "1000 " + inside + "\nfor the group\n"; r.stdout != want {
				t.Errorf("--user 1000:1000: got %q, want %q", r.stdout, want)
			}
		})
	}
}

// TestRootlessProcExe is the outside review's /proc/self/exe attack run in
// a rootless container: the command reaches ccinit's file through
// /proc/PID/exe and tries to change it. The user cannot change root's
// ccinit, and a ccinit of the user's own is run from a sealed copy, so
// neither changes.
func TestRootlessProcExe(t *testing.T) {
	t.Parallel()
	probeRoot, _ := probeRootfs(t)
	super, rootInit := rootlessBinaries(t)
	u := newTestUser(t, true)
	root := u.rootfs(t, probeRoot)
	for name, text := range procExeAttack {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
	}
	userInit := filepath.Join(u.ownedDir(t), "ccinit")
	// A copy of its own (it must be the user's, so no hard link), written
	// by cp: a descriptor this test held open for writing could be in a
	// child forked meanwhile by a parallel test, and exec would meet
	// ETXTBSY (see linkBinary).
	if out, err := exec.Command("cp", rootInit, userInit).CombinedOutput(); err != nil {
		t.Fatalf("cp %s: %v: %s", rootInit, err, out)
	}
	if err := os.Chown(userInit, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	for _, init := range []string{rootInit, userInit} {
		before := stateOf(t, init)
		r := run(t, u.cmd(t, super, "--init", init, "--rootfs", root, "--net", "none", "-t=false", "--", "/attack"))
		after := stateOf(t, init)
		if !strings.Contains(r.stdout, "exe: ") {
			t.Fatalf("the attack did not run:\n%s", r)
		}
		t.Logf("%s:\n%s", init, r.stdout)
		if after != before {
			t.Errorf("%s changed:\nbefore %+v\nafter  %+v\n%s", init, before, after, r)
		}
		if b, err := os.ReadFile(init); err != nil || !strings.HasPrefix(string(b), "\x7fELF") || strings.HasSuffix(string(b), "x\n") {
			t.Errorf("%s was written to (%v)\n%s", init, err, r)
		}
	}
}

// pastaHost is the start of a script run in a network namespace of the
// test's own (unshare --net): its loopback up, and a veth with an address
// and a default route through 10.250.0.1, which nothing answers: pasta
// copies the host's interface, addresses and routes into the container's
// namespace and wants one, and maps the gateway's address to the host's
// loopback.
const pastaHost = `ip link set lo up
ip link add pt0 type veth peer name pt1
ip addr add 10.250.0.2/24 dev pt0
ip link set pt0 up; ip link set pt1 up
ip route add default via 10.250.0.1 dev pt0
`

// TestRootlessPasta: the default network of a rootless container is pasta.
// In a network namespace the test makes (a veth with a default route, so
// that pasta has a host interface to copy), the container connects out to a
// server on the host's loopback through the gateway's address, which pasta
// maps there, and a port published with -p reaches a server inside.
// Every client has a timeout: busybox's nc, through pasta, does not always
// see the server's end of the connection and waits on (seen with the
// client inside and outside alike), which is not what is tested here.
func TestRootlessPasta(t *testing.T) {
	t.Parallel()
	needPasta(t)
	super, _ := rootlessBinaries(t)
	u := newTestUser(t, true)
	root := u.rootfs(t, baseRootfs)
	script := pastaHost + `busybox nc -l -p 7777 -e echo hello-from-host &
server=$!
timeout 40 setpriv --reuid "$USER_ID" --regid "$USER_ID" --clear-groups -- "$SUPER" --rootfs "$ROOT" -t=false -p 127.0.0.1:18080:80 -- \
	/bin/sh -c 'timeout 5 nc 10.250.0.1 7777 </dev/null; nc -l -p 80 -e echo hello-from-container' > "$OUT" 2>&1 &
super=$!
i=0
until [ "$(timeout 2 busybox nc 127.0.0.1 18080 </dev/null 2>/dev/null)" = hello-from-container ]; do
	i=$((i+1)); [ $i -lt 300 ] || { echo "no answer on the published port"; kill $super; break; }
	sleep 0.1
done
wait $super; echo "ccsuper: $?"
kill $server 2>/dev/null || true
cat "$OUT"
`
	out := filepath.Join(t.TempDir(), "out")
	r := runPastaHost(t, u, script, []string{"SUPER=" + super, "ROOT=" + root, "OUT=" + out}, "ccsuper: 0", "hello-from-host")
	if strings.Contains(r.stdout, "no answer") {
		t.Errorf("the published port did not reach the container\n%s", r)
	}
}

// needPasta fails the test when pasta is not installed.
func needPasta(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("pasta"); err != nil {
		t.Fatal("pasta (package passt) is not installed")
	}
}

// runPastaHost runs script (which starts with pastaHost) as root in a
// network and mount namespace of its own, with env and USER_ID, the user's
// uid, and checks that it exits 0, that its output holds every want, and
// that none of the user's processes (pasta) is left.
func runPastaHost(t *testing.T, u testUser, script string, env []string, want ...string) result {
	t.Helper()
	c := command(t, "unshare", "--net", "--mount", "sh", "-c", script)
	c.Env = append(append(os.Environ(), "USER_ID="+strconv.Itoa(u.uid)), env...)
	r := run(t, c)
	wantExit(t, r, 0)
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("want %q in the output\n%s", w, r)
		}
	}
	if left := processesOfUser(u.uid); len(left) > 0 {
		t.Errorf("processes of the user left running (pasta?): %v", left)
	}
	return r
}

// TestRootlessPastaDNS: a host whose only name server is on its loopback
// (systemd-resolved's 127.0.0.53) still gives a pasta container one: its
// resolv.conf names 169.254.1.1, which pasta forwards to the host's
// resolver (--dns-forward). The host here is a network and mount namespace
// the test makes, its resolv.conf bound over the real one there, and its
// resolver this test binary answering on that namespace's 127.0.0.53.
func TestRootlessPastaDNS(t *testing.T) {
	t.Parallel()
	needPasta(t)
	super, _ := rootlessBinaries(t)
	u := newTestUser(t, false)
	root := u.rootfs(t, baseRootfs)
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("search ccontainer.test\nnameserver 127.0.0.53\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := pastaHost + `mount --bind "$RESOLV" /etc/resolv.conf
env ` + dnsEnv + `=127.0.0.53:53 "$TESTBIN" > "$DIR/dns" &
server=$!
i=0
until grep -q ready "$DIR/dns"; do i=$((i+1)); [ $i -lt 300 ] || { echo "no resolver"; break; }; sleep 0.1; done
timeout 40 setpriv --reuid "$USER_ID" --regid "$USER_ID" --clear-groups -- "$SUPER" --rootfs "$ROOT" -t=false -- \
	/bin/sh -c 'cat /etc/resolv.conf; nslookup probe.ccontainer.test'
echo "ccsuper: $?"
kill $server
`
	r := runPastaHost(t, u, script, []string{"SUPER=" + super, "ROOT=" + root, "RESOLV=" + resolv, "DIR=" + dir, "TESTBIN=" + os.Args[0]},
		"nameserver 169.254.1.1\n", "ccsuper: 0", "Address: "+dnsAnswer.String())
	if strings.Contains(r.stdout, "127.0.0.53") {
		t.Errorf("the container's resolv.conf names the host's loopback\n%s", r)
	}
}

// TestRootlessRefused: what needs root says so, in one line with 125 (limits
// without a delegated cgroup: TestRootlessCgroup).
func TestRootlessRefused(t *testing.T) {
	t.Parallel()
	super, _ := rootlessBinaries(t)
	u := newTestUser(t, false)
	root := u.rootfs(t, baseRootfs)
	for _, flags := range [][]string{
		{"--net", "bridge"}, {"--net", "host"}, {"--userns=auto"},
		{"--net", "none", "-p", "8080:80"},
	} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			args := append([]string{"--rootfs", root, "-t=false"}, flags...)
			r := run(t, u.cmd(t, super, append(args, "--", "/bin/true")...))
			wantOneLineError(t, r, 125)
		})
	}
}

// TestUserNSAuto: root's containers with --userns=auto get ranges of their
// own, disjoint while they run, released after; the rootfs, root's files on
// the host, shows root's files inside through its idmapped mount, and what
// the container's root writes there is root's on the host, while the
// command is an unprivileged ID of the range seen from the host.
func TestUserNSAuto(t *testing.T) {
	t.Parallel()
	root := newRootfs(t)
	type running struct {
		p     *proc
		stdin interface{ Close() error }
		pid   int
	}
	var cs []running
	for i := 0; i < 2; i++ {
		c := ccsuper(t, "--rootfs", root, "--userns=auto", "--net", "none", "-t=false", "--", "/bin/sh", "-c",
			fmt.Sprintf(`cat /proc/self/uid_map; stat -c '%%u:%%g' /bin/busybox /etc/hosts; touch /made-%d; echo ready; read x; exit 0`, i))
		stdin, err := c.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := start(t, c)
		p.waitLine(t, "ready")
		cs = append(cs, running{p, stdin, c.Process.Pid})
	}
	var starts []int
	for i, c := range cs {
		uid, _ := strconv.Atoi(strings.Fields(statusField(t, commandOf(t, c.pid), "Uid"))[0])
		starts = append(starts, uid)
		if uid < 65536 {
			t.Errorf("container %d's command is uid %d on the host, want one of its range", i, uid)
		}
	}
	if d := starts[0] - starts[1]; d > -65536 && d < 65536 {
		t.Errorf("the ranges from %d and %d overlap", starts[0], starts[1])
	}
	for i, c := range cs {
		c.stdin.Close()
		r := c.p.wait(t)
		wantExit(t, r, 0)
		lines := strings.Split(r.stdout, "\n")
		if f := strings.Fields(lines[0]); len(f) != 3 || f[0] != "0" || f[1] != strconv.Itoa(starts[i]) || f[2] != "65536" {
			t.Errorf("container %d's uid_map is %q, want 0 %d 65536", i, lines[0], starts[i])
		}
		if lines[1] != "0:0" || lines[2] != "0:0" {
			t.Errorf("container %d sees /bin/busybox and /etc/hosts as %q, %q, want 0:0\n%s", i, lines[1], lines[2], r)
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(root, fmt.Sprintf("made-%d", i)), &st); err != nil || st.Uid != 0 {
			t.Errorf("the file container %d made is owned by %d on the host (%v), want 0", i, st.Uid, err)
		}
	}
	if b, err := os.ReadFile("/run/ccontainer/net/userns.json"); err == nil && strings.Contains(string(b), `"start"`) {
		// Other tests' containers may hold ranges; not these.
		for _, s := range starts {
			if strings.Contains(string(b), fmt.Sprintf(`"start": %d`, s)) {
				t.Errorf("the range from %d was not released:\n%s", s, b)
			}
		}
	}
}

// TestUserNSAutoOverlay: --userns=auto with --overlay. The overlay's layers
// are seen through the container's idmap: the rootfs's root-owned files are
// root's inside, what the container writes or deletes goes to the layer,
// root's on the host (and 1000's for a file chowned to 1000), the rootfs is
// untouched, and the command is an ID of the range on the host. The layer
// is kept with --keep, removed without; no mount is left on the host.
func TestUserNSAutoOverlay(t *testing.T) {
	t.Parallel()
	mounts := holdHostMounts(t)
	root := newRootfs(t)
	before := snapshot(t, root)
	const script = `stat -c '%u:%g' /bin/busybox; echo new > /new; stat -c '%u:%g' /new
rm /bin/ls; test ! -e /bin/ls && echo removed; mkdir /d && chown 1000:1000 /d
echo ready; read x; cat /proc/self/uid_map`
	c := ccsuper(t, "--rootfs", root, "--userns=auto", "--overlay", "--keep", "--net", "none", "-t=false", "--", "/bin/sh", "-c", script)
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, c)
	p.waitLine(t, "ready")
	uid, _ := strconv.Atoi(strings.Fields(statusField(t, commandOf(t, c.Process.Pid), "Uid"))[0])
	stdin.Close()
	r := p.wait(t)
	wantExit(t, r, 0)
	layer := keptLayer(t, r.stderr)
	if want := fmt.Sprintf("0:0\n0:0\nremoved\nready\n0 %d 65536\n", uid); uid < 65536 || strings.Join(strings.Fields(r.stdout), " ") != strings.Join(strings.Fields(want), " ") {
		t.Errorf("got stdout %q with the command uid %d on the host, want %q", r.stdout, uid, want)
	}
	for _, f := range []struct {
		path     string
		uid      uint32
		fileType uint32
	}{{"upper/new", 0, unix.S_IFREG}, {"upper/d", 1000, unix.S_IFDIR}, {"upper/bin/ls", 0, unix.S_IFCHR}} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(layer, f.path), &st); err != nil || st.Uid != f.uid || st.Gid != f.uid || st.Mode&unix.S_IFMT != f.fileType {
			t.Errorf("%s in the kept layer: uid %d gid %d mode %o (%v), want %d:%d and type %o", f.path, st.Uid, st.Gid, st.Mode, err, f.uid, f.uid, f.fileType)
		}
	}
	if after := snapshot(t, root); !slices.Equal(before, after) {
		t.Errorf("the rootfs changed")
	}
	c = ccsuper(t, "--rootfs", root, "--userns=auto", "--overlay", "--net", "none", "-t=false", "--", "/bin/sh", "-c", "echo x > /x; mkdir -p /a/b; chown -R 7:7 /a")
	wantExit(t, run(t, c), 0)
	wantNoLayer(t, c.Process.Pid, "without --keep")
	wantMountTable(t, mounts, "after containers with --userns=auto --overlay")
}

// processesOfUser lists the processes whose real uid is uid.
func processesOfUser(uid int) []string {
	var out []string
	for _, pid := range pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" && f[1] == strconv.Itoa(uid) {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				out = append(out, fmt.Sprintf("%d %s", pid, strings.TrimSpace(string(comm))))
			}
		}
	}
	return out
}

// TestRootlessRootOptions: --overlay, --read-only, exit statuses, signals
// and the terminal as root's. The overlay's layer, where the container made files
// of its range's IDs and a directory no one may enter, is gone after the
// run, and the rootfs is untouched.
func TestRootlessRootOptions(t *testing.T) {
	t.Parallel()
	super, _ := rootlessBinaries(t)
	u := newTestUser(t, true)
	root := u.rootfs(t, baseRootfs)
	for _, tc := range []struct {
		name   string
		flags  []string
		script string
		code   int
	}{
		{"overlay", []string{"--overlay"}, "touch /made; mkdir -p /a/b; chown -R 1000:1000 /a; chmod 000 /a/b /a", 0},
		{"read-only", []string{"--read-only"}, "touch /made", 1},
		{"signal", nil, "kill -TERM $$", 143},
		{"status", nil, "exit 7", 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--rootfs", root, "--net", "none", "-t=false"}, tc.flags...)
			r := run(t, u.cmd(t, super, append(args, "--", "/bin/sh", "-c", tc.script)...))
			wantExit(t, r, tc.code)
			if _, err := os.Lstat(filepath.Join(root, "made")); err == nil {
				t.Errorf("the container wrote to the rootfs\n%s", r)
			}
		})
	}
	r := run(t, u.cmd(t, super, "--rootfs", root, "--net", "none", "-t=false", "--", "/bin/true"))
	wantExit(t, r, 0)
	layers := filepath.Join(os.TempDir(), fmt.Sprintf("ccontainer-%d", u.uid), "overlay")
	if left, _ := os.ReadDir(layers); len(left) > 0 {
		t.Errorf("overlay layers left in %s: %v", layers, left)
	}
	r = run(t, u.cmd(t, super, "--rootfs", root, "--net", "none", "-t=false", "--", "nonexistent"))
	wantOneLineError(t, r, 127)

	// -t: a pty of the container's own, in a devpts the user namespace
	// mounted, as /dev/console and the command's terminal.
	p := newProc(u.cmd(t, super, "--rootfs", root, "--net", "none", "-t", "--", "/bin/sh", "-c", termScript+"exit 3"))
	startOnTerminal(t, p)
	r = p.wait(t)
	wantExit(t, r, 3)
	for _, want := range []string{"console-ok", "stdin-tty"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("-t: want %q\n%s", want, r)
		}
	}
}

// TestRootlessSupervisorKilled: a rootless ccsuper killed with SIGKILL takes
// its container and its pasta with it (both have its death as their
// parent-death signal): nothing of the user's is left running.
func TestRootlessSupervisorKilled(t *testing.T) {
	t.Parallel()
	super, _ := rootlessBinaries(t)
	u := newTestUser(t, true)
	root := u.rootfs(t, baseRootfs)
	script := pastaHost + `setpriv --reuid "$USER_ID" --regid "$USER_ID" --clear-groups -- "$SUPER" --rootfs "$ROOT" -t=false -- /bin/sleep 60 &
super=$!
i=0
until pgrep -u "$USER_ID" -x sleep >/dev/null && pgrep -u "$USER_ID" passt >/dev/null; do
	i=$((i+1)); [ $i -lt 300 ] || { echo "the container or pasta never ran"; break; }
	sleep 0.1
done
kill -KILL $super
wait $super; echo "ccsuper: $?"
i=0
while pgrep -u "$USER_ID" >/dev/null; do
	i=$((i+1)); [ $i -lt 300 ] || { echo "left: $(pgrep -a -u "$USER_ID")"; for p in $(pgrep -u "$USER_ID"); do kill -KILL $p; done; break; }
	sleep 0.1
done
`
	c := command(t, "unshare", "--net", "sh", "-c", script)
	c.Env = append(os.Environ(), "USER_ID="+strconv.Itoa(u.uid), "SUPER="+super, "ROOT="+root)
	r := run(t, c)
	wantExit(t, r, 0)
	if strings.TrimSpace(r.stdout) != "ccsuper: 137" {
		t.Errorf("want ccsuper killed and nothing of the user's left\n%s", r)
	}
}

// TestRootlessRangeOneRuntime: with a /etc/subuid range, ccinit is exec'd
// before newuidmap has written its maps, and waits for them to exec itself
// again as its namespace's root. It waits in its entry point, before any Go
// runtime starts (cmd/ccinit/mapwait_linux_amd64.s): caught in that wait,
// it is one thread, blocked reading the sync socket, where a Go runtime
// would have started threads of its own. The test holds newuidmap back to
// look: in a mount namespace of its own, /usr/bin/newuidmap is a script
// that hands over ccinit's PID and waits for the test before it runs the
// real one.
func TestRootlessRangeOneRuntime(t *testing.T) {
	t.Parallel()
	needEntryPoint(t)
	super, _ := rootlessBinaries(t)
	u := newTestUser(t, true)
	root := u.rootfs(t, baseRootfs)
	dir := t.TempDir()
	reachable(t, dir)
	pidFifo, goFifo := filepath.Join(dir, "pid"), filepath.Join(dir, "go")
	for _, f := range []string{pidFifo, goFifo} {
		if err := unix.Mkfifo(f, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, 0o666); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	wrap := filepath.Join(dir, "newuidmap")
	if err := os.WriteFile(wrap, []byte(fmt.Sprintf("#!/bin/sh\necho \"$1\" > %s\nread x < %s\nexec %s/real \"$@\"\n", pidFifo, goFifo, dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "real"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `mount --bind /usr/bin/newuidmap "$DIR/real" && mount --bind "$DIR/newuidmap" /usr/bin/newuidmap &&
exec setpriv --reuid "$USER_ID" --regid "$USER_ID" --clear-groups -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$SUPER" --rootfs "$ROOT" --net none -t=false -- /bin/echo ran`
	c := command(t, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	c.Env = append(os.Environ(), "USER_ID="+strconv.Itoa(u.uid), "SUPER="+super, "ROOT="+root, "DIR="+dir)
	p := start(t, c)
	// Whatever happens, the script is let go: it holds no one then.
	t.Cleanup(func() {
		if f, err := os.OpenFile(goFifo, os.O_RDWR, 0); err == nil {
			_, _ = f.WriteString("go\n")
			_ = f.Close()
		}
	})
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(pidFifo) // until the script has written it
		got <- strings.TrimSpace(string(b))
	}()
	var pid int
	select {
	case s := <-got:
		pid, _ = strconv.Atoi(s)
	case <-time.After(timeout):
		t.Fatalf("newuidmap never ran\n%s", p.wait(t))
	}
	if pid <= 0 {
		t.Fatalf("newuidmap was given no PID\n%s", p.wait(t))
	}
	// ccinit blocks reading the sync socket once started, either way: in
	// recvfrom from the entry point, recvmsg from Go.
	call, err := waitOnSync(pid)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.wait(t))
	}
	if n := statusField(t, pid, "Threads"); n != "1" || call != "45" {
		t.Errorf("ccinit waits for its maps with %s threads (in system call %s): want 1, in the entry point's recvfrom (45), before any Go runtime", n, call)
	}
	f, err := os.OpenFile(goFifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("go\n")
	f.Close()
	r := p.wait(t)
	wantExit(t, r, 0)
	if strings.TrimSpace(r.stdout) != "ran" {
		t.Errorf("want the command to run once the maps are written\n%s", r)
	}
}

// TestEntryMapWait drives ccinit's entry point's wait for the maps
// (cmd/ccinit/mapwait_linux_amd64.s) over a sync socket of the test's own,
// as root: caught waiting, ccinit is one thread in recvfrom; after
// "mapped" it execs itself (its environment then holds the entry point's
// mark) and its Go code waits on the socket for its configuration, without
// having read "mapped" as one (as a ccinit that never exec'd would, root
// needing no maps); the next message is then its configuration (the socket
// keeps message boundaries); another message is refused in one line, EOF
// ends it without a word, all 125.
func TestEntryMapWait(t *testing.T) {
	t.Parallel()
	needEntryPoint(t)
	for _, tt := range []struct {
		name  string
		send  []string // nil: close the socket
		wantE string   // in stderr; "" for nothing
	}{
		{"mapped", []string{"mapped", "not-a-config"}, "malformed configuration"}, // checked in between
		{"other", []string{"mapped?"}, `want "mapped", got another message`},
		{"eof", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ours, theirs := syncPair(t)
			c := command(t, ccinitBin, "--sync-fd", "3")
			c.ExtraFiles = []*os.File{theirs}
			c.Env = []string{initproc.MapWaitEnv(3)}
			var stderr strings.Builder
			c.Stderr = &stderr
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			theirs.Close()
			pid := c.Process.Pid
			call, err := waitOnSync(pid)
			if err != nil {
				_ = c.Process.Kill()
				_ = c.Wait()
				t.Fatal(err)
			}
			if n := statusField(t, pid, "Threads"); n != "1" || call != "45" {
				t.Errorf("ccinit waits with %s threads in system call %s, want 1 in recvfrom (45): no Go runtime yet", n, call)
			}
			for i, m := range tt.send {
				if _, err := ours.Write([]byte(m)); err != nil {
					t.Fatal(err)
				}
				if i == 0 && m == initproc.SyncMapped {
					if err := waitExecd(pid); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.send == nil {
				ours.Close()
			}
			err = c.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 125 {
				t.Fatalf("ccinit: %v, want exit status 125; stderr:\n%s", err, stderr.String())
			}
			got := strings.TrimSpace(stderr.String())
			switch {
			case tt.wantE == "" && got != "":
				t.Errorf("want nothing on stderr, got:\n%s", got)
			case tt.wantE != "" && (!strings.Contains(got, tt.wantE) || strings.Count(got, "\n") > 0):
				t.Errorf("want one line saying %q, got:\n%s", tt.wantE, got)
			}
		})
	}
}

// TestEntryMapWaitShort: CCMAPFD with an empty value is left to ccinit's Go
// code, which refuses it in one line: the entry point does not take the
// next string's bytes for its descriptor and slot (it would have called
// recvfrom on descriptor 0, the NUL).
func TestEntryMapWaitShort(t *testing.T) {
	t.Parallel()
	needEntryPoint(t)
	_, theirs := syncPair(t)
	c := command(t, ccinitBin, "--sync-fd", "3")
	c.ExtraFiles = []*os.File{theirs}
	c.Env = []string{initproc.MapWaitVar + "=", "@"} // byte 9 the next string's
	r := run(t, c)
	wantOneLineError(t, r, 125)
	if want := initproc.MapWaitVar + " is malformed"; !strings.Contains(r.stderr, want) {
		t.Errorf("got %q, want %q", r.stderr, want)
	}
}

// syncPair makes a sync socket pair as ccsuper's (SEQPACKET), closed when
// the test ends: ours, and theirs for ccinit.
func syncPair(t *testing.T) (ours, theirs *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs = os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "sync-child")
	t.Cleanup(func() { ours.Close(); theirs.Close() })
	return ours, theirs
}

// waitExecd waits until the process pid, sent "mapped" in its entry point's
// wait, has exec'd itself with the entry point's mark in its environment and
// waits again on the sync socket, from its Go runtime (more than one
// thread): not gone, having read "mapped" as its configuration. Its
// command name is then "exe", from /proc/self/exe (ccinit names itself only
// once it has its configuration).
func waitExecd(pid int) error {
	mark := "c" + initproc.MapWaitVar[1:] + "=\x03"
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			return fmt.Errorf("ccinit %d, sent %q: %w", pid, initproc.SyncMapped, err)
		}
		sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		f := strings.Fields(string(sc))
		waiting := len(f) > 1 && (f[0] == "45" || f[0] == "47") && f[1] == "0x3"
		if strings.HasPrefix(string(env), mark) && waiting && string(comm) == "exe\n" && !strings.Contains(string(st), "\nThreads:\t1\n") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ccinit %d never exec'd itself and waited for its configuration: environment %q, named %q, in %q", pid, env, comm, sc)
		}
	}
}

// waitOnSync waits until the process pid blocks reading its sync socket,
// descriptor 3, and returns the system call's number: 45 (recvfrom) or 47
// (recvmsg).
func waitOnSync(pid int) (string, error) {
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
		if err != nil {
			return "", fmt.Errorf("ccinit %d: %w", pid, err)
		}
		if f := strings.Fields(string(b)); len(f) > 1 && (f[0] == "45" || f[0] == "47") && f[1] == "0x3" {
			return f[0], nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("ccinit %d never waited on the sync socket: in %q", pid, b)
		}
	}
}

// needEntryPoint skips a test of ccinit's entry point where there is none:
// it is written for amd64 (elsewhere ccinit waits for its maps in Go).
func needEntryPoint(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("ccinit's entry point is written for amd64")
	}
}
