package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEnginePodmanRootless runs rootless podman (an ordinary user made by
// the test, with a /etc/subuid range) with ccsuper as its runtime, and crun
// as the control: `podman --runtime PATH`, which passes the runtime no
// --root and runs it as root of podman's own user namespace. run --rm with
// an exit status and -e; run -it under script(1)'s terminal; kube play of
// a two-container pod; run -d, exec, stop (SIGTERM to a trap), rm, with
// the runtime's own `state`, read from its default root, saying it runs the
// container; --network none; --userns=keep-id (the user's uid inside, a
// volume's file the user's on the host).
//
// Everything podman does happens in one mount namespace of the test's own
// (a holder process), where the hybrid host's empty cgroup v2 hierarchy is
// unmounted (crun refuses a hybrid host otherwise) and / is shared, as
// rootless podman expects. The user's runtime directory is /run/user/UID on
// the suite's own /run: short, since conmon waits 20 s when its socket paths
// under it pass a socket address's length (docs/rootless.md). Its storage
// is vfs in a directory of the test's. The pause process podman leaves
// is killed, and the user removed, at the end.
func TestEnginePodmanRootless(t *testing.T) {
	podmanBin, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (scripts/engine-deps.sh installs it)")
	}
	for _, p := range []string{"newuidmap", "newgidmap", "setpriv", "useradd"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (uidmap, util-linux, passwd)", p)
		}
	}
	u := newTestUser(t, true)
	noRunState(t)
	// After the user's removal is registered, so that it runs first:
	// rootless podman leaves its pause process (catatonit) behind, and
	// userdel refuses a user with a process.
	t.Cleanup(func() {
		killUserProcesses(t, u.uid)
		// podman's lock segment for the user, in the machine's /dev/shm
		// (/dev/shm/libpod_rootless_lock_UID): the user's, so ours.
		lock := fmt.Sprintf("/dev/shm/libpod_rootless_lock_%d", u.uid)
		var st unix.Stat_t
		if unix.Stat(lock, &st) == nil && int(st.Uid) == u.uid {
			_ = os.Remove(lock) // gone meanwhile is fine
		}
	})
	home := u.ownedDir(t)
	xdg := u.runtimeDir(t)
	super, _ := rootlessBinaries(t)
	conf := filepath.Join(home, "containers.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil { // no machine-wide defaults
		t.Fatal(err)
	}
	tarball := rootfsTarball(t, t.TempDir())
	reachable(t, filepath.Dir(tarball))
	if err := os.Chmod(tarball, 0o644); err != nil {
		t.Fatal(err)
	}

	const setup = `! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified || exit 125
mount --make-rshared / && echo ready && exec sleep 1000000`
	holder := start(t, command(t, "unshare", "--mount", "--propagation", "private", "sh", "-c", setup))
	holder.waitLine(t, "ready")
	mntNS := fmt.Sprintf("--mount=/proc/%d/ns/mnt", holder.cmd.Process.Pid)
	// as runs argv as the user in the holder's mount namespace, with a
	// login's environment.
	as := func(argv ...string) *exec.Cmd {
		args := append([]string{mntNS, "--", "setpriv", "--reuid", strconv.Itoa(u.uid), "--regid", strconv.Itoa(u.gid),
			"--clear-groups", "--", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home,
			"XDG_RUNTIME_DIR=" + xdg, "CONTAINERS_CONF=" + conf}, argv...)
		return command(t, "nsenter", args...)
	}
	podmanArgs := []string{podmanBin, "--root", filepath.Join(home, "storage"), "--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs", "--events-backend", "none"}
	podman := func(rt string, args ...string) result {
		t.Helper()
		argv := append([]string{}, podmanArgs...)
		if rt != "" {
			argv = append(argv, "--runtime", rt)
		}
		return run(t, as(append(argv, args...)...))
	}
	t.Cleanup(func() { _ = podman("", "rm", "--all", "--force", "--time", "0") })
	wantExit(t, podman("", "import", tarball, podmanImage), 0)

	for _, rt := range []struct{ name, path string }{{"ccsuper", super}, {"crun", "crun"}} {
		t.Run(rt.name, func(t *testing.T) {
			if _, err := exec.LookPath(rt.path); err != nil {
				t.Skipf("%s is not installed", rt.path)
			}
			pm := func(args ...string) result { t.Helper(); return podman(rt.path, args...) }

			t.Run("run --rm", func(t *testing.T) {
				wantExit(t, pm("run", "--rm", podmanImage, "sh", "-c", "exit 3"), 3)
				wantOutput(t, pm("run", "--rm", "-e", "FOO=bar-"+rt.name, podmanImage, "sh", "-c", "echo $FOO"), "bar-"+rt.name+"\n")
				// Root of podman's namespace is the user on the host.
				r := pm("run", "--rm", podmanImage, "sh", "-c", "id -u; cat /proc/self/uid_map")
				wantExit(t, r, 0)
				if f := strings.Fields(r.stdout); len(f) < 4 || f[0] != "0" || f[1] != "0" || f[2] != strconv.Itoa(u.uid) {
					t.Errorf("want uid 0 inside, mapped to %d: %q", u.uid, r.stdout)
				}
			})

			t.Run("network none", func(t *testing.T) {
				onlyLoopback(t, pm("run", "--rm", "--network", "none", podmanImage, "cat", "/proc/net/dev"))
				r := pm("run", "--rm", "--network", "none", podmanImage, "ip", "link", "show", "lo")
				if wantExit(t, r, 0); !strings.Contains(r.stdout, ",UP") {
					t.Errorf("lo is not up:\n%s", r)
				}
			})

			t.Run("run -d exec stop rm", func(t *testing.T) {
				name := "rl-" + rt.name
				r := pm("run", "-d", "--name", name, podmanImage, "sh", "-c",
					`trap "echo got-TERM; exit 0" TERM; echo ready; while :; do sleep 0.1; done`)
				wantExit(t, r, 0)
				id := strings.TrimSpace(r.stdout)
				waitFor(t, name+" logs ready", func() bool { return strings.Contains(pm("logs", name).stdout, "ready\n") })
				wantExit(t, pm("exec", name, "sh", "-c", "exit 4"), 4)
				wantOutput(t, pm("exec", "-e", "X=y", name, "sh", "-c", "echo $X"), "y\n")
				if rt.name == "ccsuper" {
					// ccsuper's own state, from its default root
					// ($XDG_RUNTIME_DIR/ccsuper: podman passes no
					// --root), in podman's user namespace.
					r := pm("inspect", "--format", "{{.State.Pid}}", name)
					wantExit(t, r, 0)
					pid, _ := strconv.Atoi(strings.TrimSpace(r.stdout))
					st := run(t, as(append(append([]string{}, podmanArgs...), "unshare", super, "state", id)...))
					wantExit(t, st, 0)
					var state struct {
						Status string `json:"status"`
						Pid    int    `json:"pid"`
					}
					if err := json.Unmarshal([]byte(st.stdout), &state); err != nil || state.Status != "running" || state.Pid != pid || pid == 0 {
						t.Errorf("ccsuper state (err %v) says %+v, want running as PID %d", err, state, pid)
					}
					if _, err := os.Stat(filepath.Join(xdg, "ccsuper", id, "state.json")); err != nil {
						t.Errorf("no state under $XDG_RUNTIME_DIR/ccsuper: %v", err)
					}
					// The processes of its PID namespace (no cgroup).
					r = pm("top", name, "pid", "args")
					if wantExit(t, r, 0); !strings.Contains(r.stdout, "trap") {
						t.Errorf("podman top does not list the command:\n%s", r)
					}
				}
				wantExit(t, pm("stop", "--time", "30", name), 0)
				wantOutput(t, pm("inspect", "--format", "{{.State.ExitCode}}", name), "0\n")
				if r := pm("logs", name); !strings.Contains(r.stdout, "got-TERM") {
					t.Errorf("the trap did not run:\n%s", r)
				}
				wantExit(t, pm("rm", name), 0)
				if rt.name == "ccsuper" {
					if _, err := os.Stat(filepath.Join(xdg, "ccsuper", id)); !os.IsNotExist(err) {
						t.Errorf("state of %s left after rm: %v", id, err)
					}
				}
			})

			t.Run("run -it", func(t *testing.T) {
				// A terminal of script(1)'s: the container's own pty,
				// its status passed through.
				argv := append(append([]string{}, podmanArgs...), "--runtime", rt.path,
					"run", "-it", "--rm", podmanImage, "sh", "-c", "'tty; exit 6'")
				r := run(t, as("script", "-qec", strings.Join(argv, " "), "/dev/null"))
				if wantExit(t, r, 6); !strings.Contains(r.stdout, "/dev/pts/0") {
					t.Errorf("want the container's /dev/pts/0 as its terminal:\n%s", r)
				}
			})

			t.Run("kube play", func(t *testing.T) {
				pod := "duo-" + rt.name
				yaml := duoPod(pod)
				file := filepath.Join(home, pod+".yaml")
				if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = pm("pod", "rm", "--force", "--time", "0", pod) })
				wantExit(t, pm("kube", "play", file), 0)
				wantExit(t, pm("wait", pod+"-client", pod+"-server"), 0)
				wantOutput(t, pm("logs", pod+"-client"), "hello-from-server\n")
				wantExit(t, pm("pod", "rm", pod), 0)
			})

			t.Run("userns keep-id", func(t *testing.T) {
				vol := u.ownedDir(t)
				r := pm("run", "--rm", "--userns=keep-id", "-v", vol+":/vol", podmanImage, "sh", "-c",
					"id -u; echo hi > /vol/f")
				wantOutput(t, r, strconv.Itoa(u.uid)+"\n")
				var st unix.Stat_t
				if err := unix.Stat(filepath.Join(vol, "f"), &st); err != nil {
					t.Fatal(err)
				}
				if int(st.Uid) != u.uid || int(st.Gid) != u.gid {
					t.Errorf("the file is %d:%d on the host, want the user's %d:%d", st.Uid, st.Gid, u.uid, u.gid)
				}
			})
		})
	}
	// Nothing of a rootful runtime's: no state under the host's /run.
}

// killUserProcesses kills every process of uid and waits until none is
// left (rootless podman's pause process outlives its commands).
func killUserProcesses(t *testing.T, uid int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pids := userProcesses(uid)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes of uid %d left: %v", uid, pids)
			return
		}
		for _, p := range pids {
			_ = unix.Kill(p, unix.SIGKILL) // gone meanwhile is fine
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// userProcesses lists the live processes whose real uid is uid.
func userProcesses(uid int) []int {
	ents, _ := os.ReadDir("/proc") // /proc is always there
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name(), &st) == nil && int(st.Uid) == uid && procState(pid) != "Z" {
			out = append(out, pid)
		}
	}
	return out
}
