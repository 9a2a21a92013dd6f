package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
)

// stdio is what ccinit, and so the command without -t, gets as stdin, stdout
// and stderr. A terminal never goes in: with its descriptor a process inside
// could push input into it (TIOCSTI, which runs a command in the caller's
// shell once ccsuper exits), take it over as its controlling terminal, or
// change its settings. Each of stdin, stdout and stderr that is a terminal is
// replaced by a pipe that ccsuper copies to or from it, as Docker's client
// does for -i without -t; pipes, files and sockets pass straight through, as
// between any two programs. With -t the command's terminal is the pty of the
// container's own (tty_linux.go).
type stdio struct {
	files  [3]*os.File     // ccinit's stdin, stdout, stderr
	theirs []*os.File      // ccinit's ends of our pipes: closed once it has them
	out    []chan struct{} // closed when an output relay has copied everything
}

// newStdio makes ccinit's stdio. input says whether the command reads
// ccsuper's stdin (-i without -t); otherwise it gets /dev/null.
func newStdio(input bool) (_ *stdio, err error) {
	s := &stdio{}
	defer func() {
		if err != nil {
			s.started()
		}
	}()
	if !input {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
		s.files[0] = null
		s.theirs = append(s.theirs, null)
	}
	for fd, f := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		if s.files[fd] != nil {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			// A closed descriptor: the command gets /dev/null there.
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name(), err)
			}
			s.files[fd] = null
			s.theirs = append(s.theirs, null)
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			// A directory of the host's leads out of the new root.
			return nil, fmt.Errorf("%s is a directory", f.Name())
		}
		if !initproc.IsTerminal(fd) {
			s.files[fd] = f
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		if fd == 0 {
			s.files[0] = r
			s.theirs = append(s.theirs, r)
			go relayTerminalInput(w)
			continue
		}
		s.files[fd] = w
		s.theirs = append(s.theirs, w)
		done := make(chan struct{})
		s.out = append(s.out, done)
		go func() {
			defer close(done)
			defer r.Close()
			if _, err := io.Copy(f, r); err != nil {
				// The terminal is gone: go on reading, or the
				// container blocks on a full pipe.
				_, _ = io.Copy(io.Discard, r)
			}
		}()
	}
	return s, nil
}

// started closes our copies of ccinit's ends, once it holds its own (or when
// it will never start): an output relay then ends when the container's last
// process is gone.
func (s *stdio) started() {
	for _, f := range s.theirs {
		_ = f.Close()
	}
	s.theirs = nil
}

// finish waits for the output relays to copy what the container wrote last.
// ccinit exits only once every process of the container is gone, so they
// should be at EOF at once; drainTimeout guards against a pipe end handed to
// a process outside.
func (s *stdio) finish() {
	s.started()
	deadline := time.After(drainTimeout)
	for _, done := range s.out {
		select {
		case <-done:
		case <-deadline:
			return
		}
	}
}

// relayTerminalInput copies what is typed at the terminal on stdin into w,
// the command's stdin, and closes w at the terminal's end of file (^D).
//
// A read of our controlling terminal from a background process group would
// stop ccsuper (SIGTTIN), and then the container's output relays and the
// wait for it too: ccsuper ignores SIGTTIN, so such a read fails with EIO,
// and reads only while its group holds the terminal's foreground. In the
// background (`ccsuper ... &` in a job-control shell) it waits for SIGCONT,
// which the shell sends when `fg` brings the job to the foreground.
func relayTerminalInput(w *os.File) {
	defer w.Close()
	signal.Ignore(unix.SIGTTIN)
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, unix.SIGCONT)
	buf := make([]byte, 32<<10)
	for {
		if fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil && fg != unix.Getpgrp() {
			<-cont
			continue
		}
		n, err := unix.Read(0, buf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EIO):
			// Sent to the background since the check above, or the
			// terminal hung up: wait to be continued.
			<-cont
			continue
		case err != nil || n == 0:
			return
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return // the command closed its stdin
		}
	}
}
