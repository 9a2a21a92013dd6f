package initproc

import (
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/seccomp"
)

// hardening is what the thread that forks the command takes on before the
// fork, so that the command inherits it: everything here is per thread, and
// ccinit's other threads (reaping, signals) keep root's full rights.
type hardening struct {
	caps     *CapSet // the command's capabilities; nil: leave them as they are
	bounding *CapSet // its bounding set when not caps (an OCI config's)
	// An OCI config's inheritable and ambient sets. With them set the
	// capabilities are kept across a change of user (PR_SET_KEEPCAPS), as
	// the config gives a user other than root its capabilities that way.
	inheritable, ambient CapSet
	keepCaps             bool
	cred                 *Cred // who the command runs as; nil: as ccinit
	noNewPrivs           bool
	filter               []unix.SockFilter // seccomp filter; nil: none
	// Standalone, the mount namespace ccinit made for itself, which the
	// thread joins first (standalone_linux.go); nil: ccinit's is the
	// thread's already. Not a change of the command's rights: active
	// leaves it out.
	mounts *privateNS
}

// active reports whether h changes anything.
func (h hardening) active() bool {
	return h.caps != nil || h.bounding != nil || h.cred != nil || h.noNewPrivs || h.filter != nil || h.ambient != 0
}

// planHardening turns o into what the command's thread will take on: the
// user looked up in the container's files, the seccomp filter built for the
// capabilities the command will have.
//
// Preconditions: after pivot_root (with --rootfs), so that names are looked up
// in the container's /etc.
func planHardening(o Options) (hardening, error) {
	h := hardening{noNewPrivs: o.NoNewPrivs}
	if o.Caps != "" {
		caps, err := ParseCapSet(o.Caps)
		if err != nil {
			return h, err
		}
		// Nothing can raise a capability ccinit does not hold (this host's
		// root may lack some): --cap-add ALL means all there are.
		held, err := heldCaps()
		if err != nil {
			return h, err
		}
		caps &= held
		h.caps = &caps
	}
	if o.OCI.Bounding != "" {
		b, err := ParseCapSet(o.OCI.Bounding)
		if err != nil {
			return h, err
		}
		h.bounding = &b
		h.keepCaps = true
		if o.OCI.Inheritable != "" {
			if h.inheritable, err = ParseCapSet(o.OCI.Inheritable); err != nil {
				return h, err
			}
		}
		if o.OCI.Ambient != "" {
			if h.ambient, err = ParseCapSet(o.OCI.Ambient); err != nil {
				return h, err
			}
		}
		// As for Caps: what ccinit does not hold cannot be passed on (the
		// kernel refuses an inheritable capability outside the permitted
		// set, and an ambient one outside both).
		if h.caps != nil {
			h.inheritable &= *h.caps
			h.ambient &= *h.caps
		}
	}
	if o.User != "" {
		c, err := LookupUser(o.User)
		if err != nil {
			return h, err
		}
		if o.OCI.Enabled {
			// An OCI config's groups are exactly its additionalGids.
			c.Groups = o.OCI.Groups
		} else {
			for _, g := range o.AddGroups {
				if !slices.Contains(c.Groups, g) {
					c.Groups = append(c.Groups, g)
				}
			}
		}
		h.cred = &c
	}
	if o.OCI.Seccomp != "" {
		f, err := decodeFilter(o.OCI.Seccomp)
		if err != nil {
			return h, err
		}
		h.filter = f
	}
	if o.Seccomp {
		caps, err := filterCaps(h)
		if err != nil {
			return h, err
		}
		if h.filter, err = seccomp.Build(seccomp.Options{Caps: uint64(caps)}); err != nil {
			return h, err
		}
	}
	return h, nil
}

// filterCaps returns the capabilities the command will run with, which decide
// the syscalls the filter lets through (CAP_SYS_ADMIN unlocks mount, ...).
// As in Docker, that is the bounding set even for a user other than root,
// who could reach it through a setuid program when no_new_privs is off. With
// no set given, it is the one ccinit has.
func filterCaps(h hardening) (CapSet, error) {
	if h.caps != nil {
		return *h.caps, nil
	}
	return heldCaps()
}

// heldCaps returns the calling thread's permitted capabilities.
func heldCaps() (CapSet, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("read capabilities: %w", err)
	}
	return (CapSet(data[1].Permitted)<<32 | CapSet(data[0].Permitted)) & AllCaps, nil
}

// apply limits the calling thread, and so what it forks, to h, after
// moving it into ccinit's own mount namespace when h.mounts says so.
//
// The order matters. The bounding set is cut while the thread still has
// CAP_SETPCAP. The user changes before the capabilities are set, so that
// dropping CAP_SETUID does not prevent --user; a user other than root then
// ends with no effective or permitted capabilities, as in Docker. The seccomp
// filter comes last, so it need not allow ccinit's own setup, except without
// no_new_privs: then the kernel wants CAP_SYS_ADMIN to install it, and it goes
// first, while the thread still has it.
//
// Preconditions: the calling goroutine is locked to its thread and never
// unlocks it: the thread must die with the goroutine, not go back to the
// runtime's pool to run other work with fewer rights.
func (h hardening) apply() error {
	if h.mounts != nil {
		if err := h.mounts.join(); err != nil {
			return err
		}
	}
	if !h.active() {
		return nil
	}
	// This thread ends with fewer rights than ccinit's others. A process may
	// ptrace a thread whose capabilities are a subset of its own, and all of
	// ccinit's threads share one memory: no ptrace of ccinit at all (nor
	// /proc/1/mem, environ, ...).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("make ccinit non-dumpable: %w", err)
	}
	if h.filter != nil && !h.noNewPrivs {
		if err := seccomp.Install(h.filter); err != nil {
			return err
		}
	}
	if b := h.bounding; b != nil || h.caps != nil {
		if b == nil {
			b = h.caps
		}
		if err := dropBounding(*b); err != nil {
			return err
		}
	}
	if h.keepCaps {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("keep capabilities across the change of user: %w", err)
		}
	}
	if h.cred != nil {
		if err := setCred(*h.cred); err != nil {
			return err
		}
	}
	if h.caps != nil {
		set := *h.caps
		if h.cred != nil && h.cred.UID != 0 && !h.keepCaps {
			set = 0
		}
		if err := setCaps(set, h.inheritable); err != nil {
			return err
		}
	}
	for c := 0; c < 64; c++ {
		if h.ambient&(1<<c) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raise ambient capability %d: %w", c, err)
		}
	}
	if h.keepCaps {
		_ = unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0) // cleared by execve anyway
	}
	if h.noNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
		if h.filter != nil {
			return seccomp.Install(h.filter)
		}
	}
	return nil
}

// dropBounding removes every capability but keep from the bounding set, so
// that nothing the command executes can gain one. It goes on past the last
// capability x/sys knows until the kernel says EINVAL, so that one added by a
// newer kernel is dropped too.
func dropBounding(keep CapSet) error {
	for c := 0; c < 64; c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) && c > unix.CAP_LAST_CAP {
			return nil // past the kernel's last capability
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	return nil
}

// setCaps makes set the thread's effective and permitted capabilities, so a
// root exec gets exactly set, and inh its inheritable set. ccsuper's own
// runs give an empty inheritable set, as runc does since CVE-2022-24769:
// with it, a program with inheritable file capabilities run by another user
// would gain them; only an OCI config that asks for one gets one.
func setCaps(set, inh CapSet) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		half := uint32(set >> (32 * i))
		data[i] = unix.CapUserData{Effective: half, Permitted: half, Inheritable: uint32(inh >> (32 * i))}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	return nil
}

// maskProc hides or freezes the parts of /proc and /sys that reach the host
// rather than the container: kernel memory, keys and timers are covered with
// /dev/null, and /proc/sys and friends, which write host-wide kernel
// settings, are made read-only. A path this kernel does not have is skipped.
//
// Preconditions: after pivot_root, with the container's /proc, /sys and /dev
// mounted.
func maskProc() error {
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/latency_stats", "/proc/sched_debug"} {
		if err := unix.Mount("/dev/null", p, "", unix.MS_BIND, ""); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	for _, p := range []string{"/proc/acpi", "/proc/scsi", "/sys/firmware"} {
		if err := unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0"); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	for _, p := range []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"} {
		if err := readOnly(p); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	return nil
}

// readOnly binds p on itself and remounts that bind read-only.
func readOnly(p string) error {
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}
