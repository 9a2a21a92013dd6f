// Command scale starts N networked containers at once and reports how long
// it takes until every one of them runs its command, what each costs in host
// memory (ccsuper and ccinit, RSS and PSS) while they run, and how long it
// takes until all have exited and been torn down. A benchmark, not a test:
// it asserts nothing. Run it inside scripts/throwaway-host.sh, so the bridge
// and veths it makes never touch the machine's real network.
//
//	go run ./bench/scale -rootfs DIR -ccsuper PATH [-n 50] [-net bridge]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	rootfs := flag.String("rootfs", "", "rootfs `DIR` (required)")
	ccsuper := flag.String("ccsuper", "", "`PATH` of ccsuper (required)")
	n := flag.Int("n", 50, "containers started at once")
	netMode := flag.String("net", "bridge", "--net `MODE` for every container")
	flag.Parse()
	if *rootfs == "" || *ccsuper == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: scale -rootfs DIR -ccsuper PATH [-n N] [-net MODE]")
		os.Exit(2)
	}
	if err := run(*rootfs, *ccsuper, *n, *netMode); err != nil {
		fmt.Fprintf(os.Stderr, "scale: %v\n", err)
		os.Exit(1)
	}
}

type container struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	up    chan error
}

func run(rootfs, ccsuper string, n int, netMode string) error {
	rootfs, err := filepath.Abs(rootfs)
	if err != nil {
		return err
	}
	cs := make([]*container, n)
	start := time.Now()
	for i := range cs {
		// Each container says "up" from its command, after its network is
		// configured, then waits for its stdin to close.
		cmd := exec.Command(ccsuper, "--rootfs", rootfs, "--net", netMode, "--", "/bin/sh", "-c", "echo up; read x; exit 0")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start container %d: %w", i, err)
		}
		c := &container{cmd: cmd, stdin: stdin, up: make(chan error, 1)}
		go func() {
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err == nil && line != "up\n" {
				err = fmt.Errorf("said %q instead of up", line)
			}
			c.up <- err
		}()
		cs[i] = c
	}
	for i, c := range cs {
		if err := <-c.up; err != nil {
			return fmt.Errorf("container %d: %w", i, err)
		}
	}
	allUp := time.Since(start)

	var rss, pss []int
	for _, c := range cs {
		r, p, err := treeMemory(c.cmd.Process.Pid)
		if err != nil {
			return err
		}
		rss, pss = append(rss, r), append(pss, p)
	}

	stop := time.Now()
	for _, c := range cs {
		c.stdin.Close()
	}
	for i, c := range cs {
		if err := c.cmd.Wait(); err != nil {
			return fmt.Errorf("container %d: %w", i, err)
		}
	}
	allDown := time.Since(stop)

	fmt.Printf("date:     %s\nkernel:   %s\ncontainers: %d at once, --net %s\n\n", time.Now().Format(time.RFC3339),
		strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")), n, netMode)
	fmt.Printf("all %d running their command: %.1f ms after the first start (%.2f ms per container)\n",
		n, ms(allUp), ms(allUp)/float64(n))
	fmt.Printf("all %d exited and torn down:  %.1f ms after their stdin closed\n\n", n, ms(allDown))
	fmt.Printf("host memory per running container (ccsuper + ccinit), KiB: RSS median %d (min %d, max %d), PSS median %d (min %d, max %d)\n",
		median(rss), slices.Min(rss), slices.Max(rss), median(pss), slices.Min(pss), slices.Max(pss))
	return nil
}

// treeMemory returns the RSS and PSS, in KiB, of ccsuper pid and its ccinit
// child, from /proc/PID/smaps_rollup. The command inside is not counted: it is
// the user's, and would be there without a container too.
func treeMemory(pid int) (rss, pss int, err error) {
	pids := []int{pid}
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, 0, fmt.Errorf("children of %d: %w", pid, err)
	}
	for _, f := range strings.Fields(string(kids)) {
		k, err := strconv.Atoi(f)
		if err == nil {
			pids = append(pids, k)
		}
	}
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			return 0, 0, fmt.Errorf("memory of %d: %w", p, err)
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.Atoi(f[1])
			switch f[0] {
			case "Rss:":
				rss += v
			case "Pss:":
				pss += v
			}
		}
	}
	return rss, pss, nil
}

func median(s []int) int {
	s = slices.Sorted(slices.Values(s))
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func readFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "unknown"
	}
	return string(b)
}
