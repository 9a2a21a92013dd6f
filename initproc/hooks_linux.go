package initproc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The config's createContainer and startContainer hooks run here, in ccinit,
// since both run in the container's namespaces:
//
//   - createContainer: after ccsuper's createRuntime hooks (ccinit runs them
//     once ccsuper says "go", which follows those), so after every mount of
//     the config. ccinit makes the config's mounts inside the new root, after
//     pivot_root, so the hooks run after it too; their path, as the spec
//     asks, resolves in the runtime's mount namespace: ccinit opens each
//     before pivot_root and executes it through /proc/self/fd.
//   - startContainer: once `ccsuper start` opened the exec FIFO, before the
//     command; the path resolves in the container.
//
// Each gets the state on stdin, its stdout and stderr are ccinit's, and a
// timeout kills it. A failure ends ccinit, so create or start fails.

// hookFiles are the createContainer hooks' executables, held before
// pivot_root; -1 where none.
type hookFiles []int

// openHooks opens the createContainer hooks' paths in the runtime's mount
// namespace. The descriptors are inherited (no O_CLOEXEC): a script's
// interpreter reads the hook through /proc/self/fd. closeAll drops them
// before the command starts.
func openHooks(hs []Hook) (hookFiles, error) {
	fds := make(hookFiles, len(hs))
	for i, h := range hs {
		fds[i] = -1
		if h.Start {
			continue
		}
		fd, err := unix.Open(h.Path, unix.O_PATH, 0)
		if err != nil {
			fds.closeAll()
			return nil, fmt.Errorf("createContainer hook %s: %w", h.Path, err)
		}
		fds[i] = fd
	}
	return fds, nil
}

func (fds hookFiles) closeAll() {
	for i, fd := range fds {
		if fd >= 0 {
			_ = unix.Close(fd)
			fds[i] = -1
		}
	}
}

// hostPid is ccinit's pid as the runtime sees it: /proc before pivot_root is
// the runtime's.
func hostPid() (int, error) {
	s, err := os.Readlink("/proc/self")
	if err != nil {
		return 0, fmt.Errorf("hooks: own pid: %w", err)
	}
	return strconv.Atoi(s)
}

// hookState puts pid into the state ccsuper rendered (JSON without a pid).
func hookState(state string, pid int) []byte {
	if !strings.HasPrefix(state, "{") {
		return []byte(state)
	}
	return []byte(`{"pid":` + strconv.Itoa(pid) + "," + state[1:])
}

// runHooks runs the hooks of the given kind in order; the first failure
// ends them.
func runHooks(hs []Hook, fds hookFiles, start bool, state []byte) error {
	for i, h := range hs {
		if h.Start != start {
			continue
		}
		path := h.Path
		if !start {
			path = "/proc/self/fd/" + strconv.Itoa(fds[i])
		}
		if err := runHook(h, path, state); err != nil {
			kind := "createContainer"
			if start {
				kind = "startContainer"
			}
			return fmt.Errorf("%s hook %s: %w", kind, h.Path, err)
		}
	}
	return nil
}

// runHook runs one hook from path with state on its stdin.
func runHook(h Hook, path string, state []byte) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	p, err := os.StartProcess(path, args, &os.ProcAttr{Env: h.Env, Files: []*os.File{r, os.Stderr, os.Stderr}})
	_ = r.Close()
	if err != nil {
		_ = w.Close()
		return WithoutPath(err)
	}
	go func() {
		// A hook that does not read its stdin is no error.
		_, _ = w.Write(state)
		_ = w.Close()
	}()
	timedOut := make(chan struct{})
	if h.Timeout > 0 {
		t := time.AfterFunc(time.Duration(h.Timeout)*time.Second, func() {
			close(timedOut)
			_ = p.Kill()
		})
		defer t.Stop()
	}
	ps, err := p.Wait()
	if err != nil {
		return err
	}
	select {
	case <-timedOut:
		return fmt.Errorf("timed out after %ds", h.Timeout)
	default:
	}
	if !ps.Success() {
		return errors.New(ps.String())
	}
	return nil
}
