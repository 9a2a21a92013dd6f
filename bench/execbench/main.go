// Command execbench times `RUNTIME exec --detach --pid-file F --process P
// ID` of /bin/true as the engines' shims run it (conmon, containerd's runc
// shim): a subreaper forks the runtime, waits for it, reads the pid file and
// waits for that PID to end. That is the runtime's whole share of an
// engine's exec, without the engine's own time around it. Each runtime runs
// its own container (`ccsuper spec`'s config, `sleep` on the rootfs, created
// and started once); the runtimes are interleaved round by round in a
// shuffled order, and it prints each one's median of the two times (runtime
// returned, process reaped) and the median round-by-round ratio of the
// second to the first runtime given.
//
//	execbench -rootfs ROOTFS [-n 200] NAME=RUNTIME...
//
// scripts/bench-exec.sh runs it in a throwaway mount namespace (crun needs
// the hybrid host's cgroup2 mount detached) with crun, runc, ccsuper and,
// with BEFORE=, another ccsuper.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// contender is one runtime with the container it execs in.
type contender struct {
	name, path, root, id string
	returned, reaped     []float64
}

func main() {
	rootfs := flag.String("rootfs", "rootfs", "the container's rootfs")
	rounds := flag.Int("n", 200, "rounds")
	flag.Parse()
	if err := run(*rootfs, *rounds, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "execbench: %v\n", err)
		os.Exit(1)
	}
}

func run(rootfs string, rounds int, runtimes []string) error {
	if len(runtimes) == 0 {
		return errors.New("want NAME=RUNTIME...")
	}
	// The exec'd processes outlive the runtimes that started them: as a
	// subreaper we can wait for them, as conmon and the shims do.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("subreaper: %w", err)
	}
	work, err := os.MkdirTemp("", "execbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	var cs []*contender
	defer func() {
		for _, c := range cs {
			_ = exec.Command(c.path, "--root", c.root, "delete", "--force", c.id).Run() // best effort: a throwaway /run
		}
	}()
	for i, arg := range runtimes {
		name, path, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME=RUNTIME", arg)
		}
		// The ID names the container's cgroup too: unique to this run.
		c := &contender{name: name, path: path, root: filepath.Join("/run/execbench", name), id: fmt.Sprintf("execbench-%d-%d", os.Getpid(), i)}
		if err := c.start(rootfs, filepath.Join(work, name)); err != nil {
			return err
		}
		cs = append(cs, c)
	}
	proc := filepath.Join(work, "process.json")
	b, _ := json.Marshal(map[string]any{ // strings and numbers: cannot fail
		"args": []string{"/bin/true"}, "cwd": "/", "user": map[string]int{"uid": 0, "gid": 0},
		"env": []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
	})
	if err := os.WriteFile(proc, b, 0o644); err != nil {
		return err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	order := slices.Clone(cs)
	for r := -5; r < rounds; r++ { // 5 rounds of warm-up
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, c := range order {
			ret, reap, err := c.exec(proc, filepath.Join(work, c.name+".pid"), null)
			if err != nil {
				return err
			}
			if r >= 0 {
				c.returned, c.reaped = append(c.returned, ret), append(c.reaped, reap)
			}
		}
	}
	var ld [3]float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		_, _ = fmt.Sscan(string(b), &ld[0], &ld[1], &ld[2])
	}
	fmt.Printf("%s, %d rounds, load average %.2f %.2f %.2f; exec -d of /bin/true, as a shim runs it\n",
		time.Now().UTC().Format(time.RFC3339), rounds, ld[0], ld[1], ld[2])
	fmt.Printf("%-16s %14s %14s %22s\n", "", "returned (ms)", "reaped (ms)", "round ratio to "+cs[0].name)
	for _, c := range cs {
		ratios := make([]float64, len(c.reaped))
		for i := range ratios {
			ratios[i] = c.reaped[i] / cs[0].reaped[i]
		}
		fmt.Printf("%-16s %14.2f %14.2f %21.2fx\n", c.name, median(c.returned), median(c.reaped), median(ratios))
	}
	return nil
}

// start creates and starts c's container, running sleep on rootfs, with a
// bundle in dir.
func (c *contender) start(rootfs, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	spec := map[string]any{
		"ociVersion": "1.0.2", // crun 1.8 refuses newer
		"root":       map[string]any{"path": rootfs, "readonly": true},
		"process": map[string]any{
			"args": []string{"sleep", "100000"}, "cwd": "/", "user": map[string]int{"uid": 0, "gid": 0},
			"env": []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		},
		"mounts": []map[string]any{
			{"destination": "/proc", "type": "proc", "source": "proc"},
			{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "mode=755"}},
		},
		"linux": map[string]any{"namespaces": []map[string]string{
			{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"},
		}},
	}
	b, _ := json.Marshal(spec) // maps of strings and numbers: cannot fail
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		return err
	}
	// The container's stdio is a file, not a pipe: its sleep holds it for
	// as long as it runs.
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return err
	}
	defer log.Close()
	for _, args := range [][]string{{"create", "--bundle", dir, c.id}, {"start", c.id}} {
		cmd := exec.Command(c.path, append([]string{"--root", c.root}, args...)...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			out, _ := os.ReadFile(log.Name())
			return fmt.Errorf("%s %s: %v: %s", c.name, args[0], err, out)
		}
	}
	return nil
}

// exec runs one exec -d of process.json in c's container and returns the
// milliseconds until the runtime returned and until the process it named
// in the pid file was reaped.
func (c *contender) exec(process, pidFile string, null *os.File) (float64, float64, error) {
	_ = os.Remove(pidFile) // left by the round before
	argv := []string{c.path, "--root", c.root, "exec", "--pid-file", pidFile, "--process", process, "--detach", c.id}
	n := null.Fd()
	t0 := time.Now()
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, Files: []uintptr{n, n, n}})
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", c.name, err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		return 0, 0, fmt.Errorf("%s exec: %v, status %v", c.name, err, ws)
	}
	t1 := time.Now()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", c.name, err)
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: pid file %q", c.name, b)
	}
	if _, err := unix.Wait4(p, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		return 0, 0, fmt.Errorf("%s: the process: %v, status %v", c.name, err, ws)
	}
	t2 := time.Now()
	return ms(t1.Sub(t0)), ms(t2.Sub(t0)), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
