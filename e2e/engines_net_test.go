package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dockerBridgeCIDR is the address of the bridge dockerd makes (docker0) in
// its network namespace, and so the containers' subnet and gateway.
const dockerBridgeCIDR = "10.213.7.1/24"

// TestEngineDockerBridge runs `docker run --runtime NAME` on dockerd's
// default bridge network, once per OCI runtime: libnetwork makes the
// container's network namespace and hands it to the runtime by path, with
// the prestart hook `libnetwork-setkey` that tells dockerd the container's
// PID. The container gets an address on the bridge, reaches a listener the
// test runs on the bridge's host side, and a port published with -p answers
// on the daemon's loopback (through docker-proxy).
//
// dockerd runs in a network namespace of this test's own (inside the
// suite's throwaway one), where its bridge, veths and iptables rules are
// made and die with it; everything else is as TestEngineDocker's.
func TestEngineDockerBridge(t *testing.T) {
	needDocker(t)
	netns := netNSHolder(t)
	parent := engineCgroupParent("dkbr")
	execRoot := engineRunDir(t, "dkbr")
	dir := newEngineDir(t, parent)
	// The daemon's mount namespace as engineMountNS makes it, then its
	// network namespace the holder's.
	ns := fmt.Sprintf(`! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified || exit 125
exec nsenter --net=/proc/%d/ns/net "$@"`, netns)
	sock := startDockerdUnder(t, dir, execRoot, parent, ns, false, map[string]any{
		"bridge":     "",
		"bip":        dockerBridgeCIDR,
		"iptables":   true,
		"ip-forward": true,
		"ip-masq":    true,
	})
	docker := func(args ...string) result {
		t.Helper()
		cmd := command(t, dockerCLI, append([]string{"--host", "unix://" + sock}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(dir, "cli"))
		return run(t, cmd)
	}
	wantExit(t, docker("import", rootfsTarball(t, dir), dockerImage), 0)
	gateway, _, _ := strings.Cut(dockerBridgeCIDR, "/")

	forEachRuntime(t, func(t *testing.T, rt ociRuntime) {
		// The container says hello to a listener on the bridge's
		// address, which the test opened before the container started.
		ln := listenIn(t, netns, gateway+":0")
		port := ln.Addr().(*net.TCPAddr).Port
		heard := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				heard <- err.Error()
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(timeout))
			b, _ := io.ReadAll(c) // what came before an error is what is checked
			heard <- string(b)
		}()
		hello := "hello from " + rt.name
		r := docker("run", "--rm", "--runtime", dockerRuntimeName(rt), dockerImage, "sh", "-c",
			fmt.Sprintf("ip -4 -o addr show eth0 && ip route show default && echo %q | nc %s %d", hello, gateway, port))
		wantExit(t, r, 0)
		if !strings.Contains(r.stdout, "inet 10.213.7.") || !strings.Contains(r.stdout, "default via "+gateway) {
			t.Errorf("the container has no address on the bridge or no route through it:\n%s", r)
		}
		select {
		case got := <-heard:
			if strings.TrimSpace(got) != hello {
				t.Errorf("the listener on the bridge heard %q, want %q", got, hello)
			}
		case <-time.After(timeout):
			t.Errorf("the listener on the bridge heard nothing within %s", timeout)
		}

		// -p, twice: on the daemon's loopback, where docker-proxy
		// listens and forwards to the container's address, and on
		// every address, where a connection to the bridge's address
		// meets dockerd's DNAT rule (nat OUTPUT, then its DOCKER chain)
		// before the proxy.
		name := rt.name + "-published"
		t.Cleanup(func() { _ = docker("rm", "--force", name) })
		served := "served by " + rt.name
		wantExit(t, docker("run", "-d", "--name", name, "--runtime", dockerRuntimeName(rt),
			"-p", "127.0.0.1::8080", "-p", "0.0.0.0::8080", dockerImage, "sh", "-c", fmt.Sprintf("while :; do echo %q | nc -l -p 8080; done", served)), 0)
		// Proof that rt runs it: its own state of the container.
		r = docker("inspect", "--format", "{{.Id}} {{.State.Pid}}", name)
		wantExit(t, r, 0)
		var id string
		var pid int
		if _, err := fmt.Sscan(r.stdout, &id, &pid); err != nil {
			t.Fatalf("docker inspect: %v\n%s", err, r)
		}
		wantRuntimeState(t, rt, filepath.Join(execRoot, "runtime-runc", "moby"), id, pid)
		wantSetkeyHook(t, execRoot, id)
		var loopback, anyPort string
		r = docker("inspect", "--format", `{{range (index .NetworkSettings.Ports "8080/tcp")}}{{.HostIp}}:{{.HostPort}} {{end}}`, name)
		wantExit(t, r, 0)
		for _, a := range strings.Fields(r.stdout) {
			ip, port, _ := strings.Cut(a, ":")
			switch ip {
			case "127.0.0.1":
				loopback = a
			case "0.0.0.0":
				anyPort = port
			}
		}
		if loopback == "" || anyPort == "" {
			t.Fatalf("docker inspect gives the ports %q, want one on 127.0.0.1 and one on 0.0.0.0", r.stdout)
		}
		// Until the server in the container listens, a connection is
		// accepted and closed at once: wait for the answer.
		var last string
		defer func() {
			if t.Failed() {
				t.Logf("the last answer: %q", last)
			}
		}()
		waitFor(t, "the port published on loopback answers", func() bool {
			last = dialIn(t, netns, loopback)
			return strings.TrimSpace(last) == served
		})
		waitFor(t, "the port published on every address answers on the bridge's", func() bool {
			last = dialIn(t, netns, gateway+":"+anyPort)
			return strings.TrimSpace(last) == served
		})
		// The rule, not the proxy, took that connection: its
		// DNAT rule in the DOCKER chain counted packets.
		r = run(t, command(t, "nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", netns), "iptables", "-t", "nat", "-L", "DOCKER", "-n", "-v", "-x"))
		wantExit(t, r, 0)
		counted := false
		for _, line := range strings.Split(r.stdout, "\n") {
			f := strings.Fields(line)
			counted = counted || (len(f) > 2 && f[0] != "0" && f[2] == "DNAT" && strings.Contains(line, "dpt:"+anyPort+" "))
		}
		if !counted {
			t.Errorf("no packet counted by the DNAT rule of port %s:\n%s", anyPort, r.stdout)
		}
		wantExit(t, docker("rm", "--force", name), 0)

		// The containers' veths went with them: only lo and the bridge.
		waitFor(t, "only lo and docker0 left", func() bool {
			r := run(t, command(t, "nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", netns), "ip", "-o", "link", "show"))
			return r.code == 0 && strings.Count(r.stdout, "\n") == 2 && strings.Contains(r.stdout, " docker0:")
		})
	})
}

// wantSetkeyHook checks that the bundle dockerd 20.10 gave the runtime for
// container id asks for a new network namespace and has the prestart hook
// libnetwork-setkey: the hook, run by the runtime with the container's
// state on its stdin, is how dockerd learns the PID whose namespace it
// moves the veth into. That the container then has its address shows the
// runtime ran the hook as it should.
func wantSetkeyHook(t *testing.T, execRoot, id string) {
	t.Helper()
	configs, _ := filepath.Glob(filepath.Join(execRoot, "containerd", "*", "*", "moby", id, "config.json"))
	if len(configs) != 1 {
		t.Fatalf("the bundle of %s: found %q under %s", id, configs, execRoot)
	}
	b, err := os.ReadFile(configs[0])
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Hooks struct {
			Prestart []struct {
				Args []string `json:"args"`
			} `json:"prestart"`
		} `json:"hooks"`
		Linux struct {
			Namespaces []struct {
				Type string `json:"type"`
				Path string `json:"path"`
			} `json:"namespaces"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatalf("%s: %v", configs[0], err)
	}
	setkey := false
	for _, h := range spec.Hooks.Prestart {
		setkey = setkey || slices.Contains(h.Args, "libnetwork-setkey")
	}
	newNet := false
	for _, ns := range spec.Linux.Namespaces {
		newNet = newNet || (ns.Type == "network" && ns.Path == "")
	}
	if !setkey || !newNet {
		t.Errorf("%s: prestart hook libnetwork-setkey %v, a new network namespace %v; want both", configs[0], setkey, newNet)
	}
}

// netNSHolder starts a process in a network namespace of its own, with lo
// up, which lives until the end of the test, and returns its PID: that
// namespace, /proc/PID/ns/net, goes when the test ends, with all the links
// and iptables rules made in it.
func netNSHolder(t *testing.T) int {
	t.Helper()
	holder := start(t, command(t, "unshare", "--net", "sh", "-c", "ip link set lo up && echo ready && exec sleep 1000000"))
	holder.waitLine(t, "ready")
	return holder.cmd.Process.Pid
}

// inNetNS runs f on a thread of its own in the network namespace of the
// process pid. The thread is never given back to other goroutines: it ends
// with f's goroutine, so no later code runs in that namespace by mistake.
// Sockets f makes stay in that namespace wherever they are used afterwards.
func inNetNS(pid int, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open network namespace: %w", err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("join network namespace: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// listenIn opens a TCP listener on addr in the network namespace of the
// process pid, closed at the end of the test.
func listenIn(t *testing.T, pid int, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := inNetNS(pid, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// dialIn connects to addr from the network namespace of the process pid and
// returns what it reads until the other side closes (or an error, as text).
func dialIn(t *testing.T, pid int, addr string) string {
	t.Helper()
	var c net.Conn
	err := inNetNS(pid, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	if err != nil {
		return string(b) + err.Error()
	}
	return string(b)
}
