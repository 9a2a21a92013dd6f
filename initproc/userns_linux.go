package initproc

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// SyncMapped is what ccsuper sends on the sync channel to a ccinit started
// in a user namespace whose maps newuidmap and newgidmap write (rootless,
// with subordinate ranges): the maps are written, exec yourself again.
const SyncMapped = "mapped"

// AwaitMapping is the first step of a ccinit started by a supervisor. It
// returns at once, doing nothing, unless ccinit was exec'd in a user
// namespace that had no maps yet, which it tells by its effective set
// lacking CAP_SYS_ADMIN (the uid or the map itself would not do: ccsuper
// writes the maps while ccinit starts, so either may already show them).
// Then it waits for SyncMapped on the sync channel fd and execs ccinit again,
// with the same arguments: a program exec'd before its namespace had maps
// has no capability in it (execve grants them only to the namespace's root,
// and there was none), and the new exec, as root of the namespace, has all
// of them. It returns only on failure.
//
// Go's own clone writes a map between clone and exec, which keeps the
// capabilities, but only a map its caller may write itself; the ranges of
// /etc/subuid take the set-user-ID newuidmap, which can only run once the
// child exists.
//
// It also arms the parent-death signal again after the second exec: the
// kernel clears it when an exec raises the capabilities, as that exec does,
// and a ccinit that outlived a SIGKILLed ccsuper would run on unsupervised.
// Only if the supervisor had set one, which the first ccinit reads and
// passes on in its environment (rearmVar, or the entry point's mark on
// MapWaitVar): an OCI container, which must
// outlive `ccsuper create`, has none, and must not get one here. Had ccsuper
// died before the re-arm, the sync channel reads EOF where ccinit waits next.
// With maps written before the exec (by ccsuper as root, or Go's clone of a
// one-line rootless map) no exec raised anything: the signal is as ccsuper
// set it.
//
// On amd64 ccinit's entry point does the wait and the exec before any Go
// runtime starts, when the supervisor asks in its environment (MapWaitVar,
// cmd/ccinit/mapwait_linux_amd64.s): AwaitMapping then only arms the signal
// again, or says in one line why the entry point could not wait. The wait
// here is for a ccinit without that entry point.
func AwaitMapping(fd int) error {
	mapped, sig, err := mapWaitMark()
	if err != nil {
		return err
	}
	if v := os.Getenv(rearmVar); v != "" && !mapped {
		_ = os.Unsetenv(rearmVar)
		if sig, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("%s=%q: %w", rearmVar, v, err)
		}
		mapped = true
	}
	if mapped {
		if sig == 0 {
			return nil
		}
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(sig), 0, 0, 0); err != nil {
			return fmt.Errorf("parent-death signal: %w", err)
		}
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil || data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0 {
		return nil // a failure leaves the mounts to fail, saying why
	}
	msg, err := recvMsg(fd)
	if err != nil {
		return err
	}
	if string(msg) != SyncMapped {
		return fmt.Errorf("sync channel: want %q, got %q", SyncMapped, msg)
	}
	env := os.Environ()
	sig, err = parentDeathSignal()
	if err != nil {
		return err
	}
	if sig != 0 {
		env = append(env, rearmVar+"="+strconv.Itoa(sig))
	}
	if err := unix.Exec("/proc/self/exe", os.Args, env); err != nil {
		return fmt.Errorf("exec ccinit again once mapped: %w", err)
	}
	return nil
}

// rearmVar carries the parent-death signal the supervisor set across
// AwaitMapping's exec, which clears it. ccinit's own environment only: the
// command's is built afresh (CleanEnv), and the variable is unset at once.
const rearmVar = "CCINIT_PDEATHSIG"

// LoopbackUp brings up lo in the calling thread's network namespace. In a
// user namespace the supervisor, which is no root of it, cannot (see
// supervisor.hostSetup), and a pasta or none container wants its loopback;
// ccsuper's OCI create calls it on a thread it moved into the container's
// namespace.
func LoopbackUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: up: %w", err)
	}
	return nil
}

// SyncHostFDs heads the message that carries the supervisor's mounts of
// the rootfs, binds and volumes (Options.HostFDs) as SCM_RIGHTS.
const SyncHostFDs = "host-fds"

// MaxHostFDs is how many descriptors one message may carry (the kernel's
// SCM_MAX_FD).
const MaxHostFDs = 253

// recvHostFDs receives the message of the supervisor's mounts on the sync
// channel fd.
func recvHostFDs(fd int) ([]int, error) {
	buf := make([]byte, len(SyncHostFDs))
	oob := make([]byte, unix.CmsgSpace(MaxHostFDs*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, fmt.Errorf("sync channel: receive mounts: %w", err)
		case n == 0:
			return nil, ErrSupervisorGone
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("sync channel: receive mounts: %w", err)
		}
		var fds []int
		for _, m := range msgs {
			got, err := unix.ParseUnixRights(&m)
			if err == nil {
				fds = append(fds, got...)
			}
		}
		if string(buf[:n]) != SyncHostFDs {
			for _, f := range fds {
				_ = unix.Close(f)
			}
			return nil, fmt.Errorf("sync channel: want %q, got %q", SyncHostFDs, buf[:n])
		}
		return fds, nil
	}
}

// emptyLayer removes what the container wrote in the upper directory of its
// overlay layer (the directory layer), once every process of it is gone. In
// a user namespace with a range, those files belong to the range's IDs on
// the host, which the user running ccsuper may not remove; ccinit, root of
// the namespace, may. ccsuper removes the rest. Best effort: what is left,
// ccsuper's removal reports.
func emptyLayer(layer int) {
	defer unix.Close(layer)
	// Through the container's own /proc: the layer is outside its root.
	_ = os.RemoveAll(fmt.Sprintf("/proc/self/fd/%d/upper", layer))
}
