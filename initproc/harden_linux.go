package initproc

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// defaultCaps is the capability set a container's command keeps: the one
// Docker and the OCI runtimes give by default, less CAP_MKNOD. Everything that
// reaches past the container (CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_RAWIO,
// CAP_SYS_PTRACE, CAP_NET_ADMIN, CAP_SYS_TIME, ...) is dropped. Docker can
// leave CAP_MKNOD because its devices cgroup refuses to open any device node
// not on its list; without that cgroup (still to come here), a container could
// make a node for the host's disk and read it.
var defaultCaps = []int{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FSETID, unix.CAP_FOWNER,
	unix.CAP_NET_RAW, unix.CAP_SETGID, unix.CAP_SETUID, unix.CAP_SETFCAP, unix.CAP_SETPCAP,
	unix.CAP_NET_BIND_SERVICE, unix.CAP_SYS_CHROOT, unix.CAP_KILL, unix.CAP_AUDIT_WRITE,
}

// dropCaps limits the calling thread, and so the processes it forks, to
// keep: the bounding set loses every other capability, and the permitted,
// effective and inheritable sets become keep. A root exec then gets exactly
// keep.
//
// Preconditions: the calling goroutine is locked to its thread, and stays
// locked: capabilities are per thread, and this one must not go back to the
// runtime's pool to run other work with fewer rights.
func dropCaps(keep []int) error {
	kept := map[int]bool{}
	var set [2]uint32
	for _, c := range keep {
		kept[c] = true
		set[c/32] |= 1 << (c % 32)
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if kept[c] {
			continue
		}
		// EINVAL: a capability this kernel does not know.
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		data[i] = unix.CapUserData{Effective: set[i], Permitted: set[i], Inheritable: set[i]}
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
