// Command gofloor is the least a Go PID 1 can do, for the benchmarks to hold
// ccinit against: it forks and execs its arguments, waits for them and exits
// with their status. With -signals it first asks os/signal for the 61 signals
// ccinit catches, one at a time as ccinit does, so that the difference
// between the two runs is what the Go runtime charges for them.
//
//	gofloor [-signals] COMMAND [ARG...]
//
// It reaps nothing else and forwards nothing: it is a yardstick, not an init.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "-signals" {
		args = args[1:]
		sigs := make(chan os.Signal, 128)
		for n := syscall.Signal(1); n <= 64; n++ {
			// What ccinit leaves out: the two that cannot be caught,
			// and SIGURG, the runtime's preemption.
			if n == syscall.SIGKILL || n == syscall.SIGSTOP || n == syscall.SIGURG {
				continue
			}
			signal.Notify(sigs, n)
		}
	}
	if len(args) == 0 {
		os.Stderr.WriteString("usage: gofloor [-signals] COMMAND [ARG...]\n")
		os.Exit(125)
	}
	pid, err := syscall.ForkExec(args[0], args, &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		os.Stderr.WriteString("gofloor: " + err.Error() + "\n")
		os.Exit(127)
	}
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	if ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(ws.ExitStatus())
}
