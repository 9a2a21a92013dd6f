package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ccontainer/ccontainer/bench/record"
)

// A contender is one way of doing what a comparison measures. run returns
// one value per metric (a timing contender has one, named ""), so one run
// can feed several sections, such as fileio's writes and reads.
type contender struct {
	name, command string
	run           func() (map[string]float64, error)
}

// interleave runs every contender once per round, in a fresh random order
// each round, warmup rounds first and not kept. It returns, per metric, one
// series per contender in the order given. A contender that fails is
// dropped, with a note, and the others go on: its samples would no longer
// pair with theirs round by round.
func (b *bench) interleave(what string, rounds, warmup int, cs []contender) map[string][]record.Series {
	samples := make([]map[string][]float64, len(cs))
	dropped := make([]bool, len(cs))
	for i := range cs {
		samples[i] = map[string][]float64{}
	}
	for r := -warmup; r < rounds; r++ {
		for _, i := range rand.Perm(len(cs)) {
			if dropped[i] {
				continue
			}
			m, err := cs[i].run()
			if err != nil {
				b.note("%s: %s failed in round %d and is left out: %v", what, cs[i].name, r+1, err)
				dropped[i] = true
				continue
			}
			if r < 0 {
				continue
			}
			for k, v := range m {
				samples[i][k] = append(samples[i][k], v)
			}
		}
		if r >= 0 && (r+1)%10 == 0 {
			b.logf("%s: round %d of %d", what, r+1, rounds)
		}
	}
	out := map[string][]record.Series{}
	for i, c := range cs {
		if dropped[i] {
			continue
		}
		for k, v := range samples[i] {
			out[k] = append(out[k], record.Series{Name: c.name, Command: c.command, Samples: v})
		}
	}
	return out
}

// timed is a contender that runs argv and reports its wall time in ms.
func timed(name string, argv []string) contender {
	return contender{name: name, command: strings.Join(argv, " "), run: func() (map[string]float64, error) {
		d, err := timeArgv(argv)
		return map[string]float64{"": ms(d)}, err
	}}
}

// timeArgv runs argv and returns its wall time from just before the fork to
// just after it is reaped. Its stdin and stdout are /dev/null, opened before
// the clock starts; stderr is kept for the error.
func timeArgv(argv []string) (time.Duration, error) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer null.Close()
	errf, err := os.CreateTemp("", "ccbench-stderr-")
	if err != nil {
		return 0, fmt.Errorf("stderr file: %w", err)
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, err
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Stdin: null, Stdout: null, Stderr: errf}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	err = cmd.Wait()
	wall := time.Since(start)
	if err != nil {
		msg, _ := os.ReadFile(errf.Name()) // best effort: only decorates the error
		return 0, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, lastLine(msg))
	}
	return wall, nil
}

// output runs argv and returns its stdout; on failure the error carries the
// last line of stderr.
func output(argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, lastLine([]byte(errb.String())))
	}
	return string(out), nil
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// memory returns the RSS and PSS, in KiB, of process pid.
func memory(pid int) (rss, pss float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("memory of %d: %w", pid, err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			rss = v
		case "Pss:":
			pss = v
		}
	}
	return rss, pss, nil
}

// children returns the PIDs of pid's children. Every thread's list is read:
// a Go program such as ccsuper forks from whichever thread runs the call.
func children(pid int) ([]int, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil || len(tasks) == 0 {
		return nil, fmt.Errorf("children of %d: no such process", pid)
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread has exited since the glob
		}
		for _, f := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(f); err == nil {
				out = append(out, k)
			}
		}
	}
	return out, nil
}

// waitChild waits up to a few seconds for pid to have a child, which it
// returns: the process a launcher forked.
func waitChild(pid int) (int, error) {
	for range 500 {
		if k, err := children(pid); err == nil && len(k) > 0 {
			return k[0], nil
		} else if err != nil {
			return 0, err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("process %d started no child", pid)
}

// held is a container kept running while it is measured; stop ends it.
type held struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *strings.Builder // read only once the process is reaped
}

// startHeld starts argv, whose command must print "up" and then wait for
// its stdin to close. The channel gets nil once it said up, or why not.
func startHeld(argv []string) (*held, <-chan error, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	h := &held{cmd: cmd, stdin: in, stderr: &strings.Builder{}}
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	up := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && line != "up\n" {
			err = fmt.Errorf("said %q instead of up", line)
		}
		up <- err
	}()
	return h, up, nil
}

// hold starts argv as startHeld does and returns once it is up.
func hold(argv []string) (*held, error) {
	h, up, err := startHeld(argv)
	if err != nil {
		return nil, err
	}
	if err := <-up; err != nil {
		_ = h.cmd.Process.Kill() // it failed already; the error below says how
		_ = h.cmd.Wait()
		return nil, fmt.Errorf("%s: did not come up: %w: %s", strings.Join(argv, " "), err, lastLine([]byte(h.stderr.String())))
	}
	return h, nil
}

// stop closes the container's stdin, so its command exits, and waits.
func (h *held) stop() error {
	_ = h.stdin.Close() // the close is the message; an error means it is gone already
	return h.cmd.Wait()
}

// upLine is the command every held container runs: say "up", wait for stdin
// to close.
var upLine = []string{"/bin/sh", "-c", "echo up; read x; exit 0"}
