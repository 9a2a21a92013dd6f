// Command sigorder measures how an init passes on two signals sent to it
// back to back: `sigorder INIT N` (INIT "none" signals the shell directly)
// starts INIT -- busybox sh, whose traps print a running count of each
// signal, then N times sends the init SIGCONT and SIGRTMAX and waits for the
// shell to print the SIGRTMAX. It reports how often the SIGRTMAX came first
// (an episode lasts until the SIGCONTs catch up) and how many SIGCONTs the
// shell saw in all. Not a test: docs/ccinit.md quotes its figures.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sigorder INIT|none N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sigorder:", err)
		os.Exit(2)
	}
	// A busy loop, so that the shell runs each trap as its signal comes.
	const probe = `c=0; m=0; trap 'c=$((c+1)); echo c $c' CONT; trap 'm=$((m+1)); echo m $m' 64; echo ready; while :; do :; done`
	cmd := exec.Command(os.Args[1], "--", "/bin/busybox", "sh", "-c", probe)
	if os.Args[1] == "none" {
		cmd = exec.Command("/bin/busybox", "sh", "-c", probe)
	}
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sigorder:", err)
		os.Exit(1)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(out)
	sc.Scan() // ready
	seenC, first, episodes, behind := 0, 0, 0, false
	for i := 1; i <= n; i++ {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
		_ = syscall.Kill(cmd.Process.Pid, syscall.Signal(64))
		for sc.Scan() {
			var kind string
			var count int
			if _, err := fmt.Sscan(sc.Text(), &kind, &count); err != nil {
				continue
			}
			if kind == "c" {
				seenC = count
				continue
			}
			if seenC < count {
				first++
				if !behind {
					episodes++
				}
			}
			behind = seenC < count
			break
		}
	}
	fmt.Printf("%s: %d pairs, SIGRTMAX first %d times in %d episodes, SIGCONTs seen %d\n", os.Args[1], n, first, episodes, seenC)
}
