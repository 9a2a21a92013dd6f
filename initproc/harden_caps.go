package initproc

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// CapSet is a set of capabilities, bit N for capability N.
type CapSet uint64

// capNames are the capabilities by number, without the CAP_ prefix.
var capNames = [...]string{
	unix.CAP_CHOWN: "CHOWN", unix.CAP_DAC_OVERRIDE: "DAC_OVERRIDE", unix.CAP_DAC_READ_SEARCH: "DAC_READ_SEARCH",
	unix.CAP_FOWNER: "FOWNER", unix.CAP_FSETID: "FSETID", unix.CAP_KILL: "KILL", unix.CAP_SETGID: "SETGID",
	unix.CAP_SETUID: "SETUID", unix.CAP_SETPCAP: "SETPCAP", unix.CAP_LINUX_IMMUTABLE: "LINUX_IMMUTABLE",
	unix.CAP_NET_BIND_SERVICE: "NET_BIND_SERVICE", unix.CAP_NET_BROADCAST: "NET_BROADCAST",
	unix.CAP_NET_ADMIN: "NET_ADMIN", unix.CAP_NET_RAW: "NET_RAW", unix.CAP_IPC_LOCK: "IPC_LOCK",
	unix.CAP_IPC_OWNER: "IPC_OWNER", unix.CAP_SYS_MODULE: "SYS_MODULE", unix.CAP_SYS_RAWIO: "SYS_RAWIO",
	unix.CAP_SYS_CHROOT: "SYS_CHROOT", unix.CAP_SYS_PTRACE: "SYS_PTRACE", unix.CAP_SYS_PACCT: "SYS_PACCT",
	unix.CAP_SYS_ADMIN: "SYS_ADMIN", unix.CAP_SYS_BOOT: "SYS_BOOT", unix.CAP_SYS_NICE: "SYS_NICE",
	unix.CAP_SYS_RESOURCE: "SYS_RESOURCE", unix.CAP_SYS_TIME: "SYS_TIME", unix.CAP_SYS_TTY_CONFIG: "SYS_TTY_CONFIG",
	unix.CAP_MKNOD: "MKNOD", unix.CAP_LEASE: "LEASE", unix.CAP_AUDIT_WRITE: "AUDIT_WRITE",
	unix.CAP_AUDIT_CONTROL: "AUDIT_CONTROL", unix.CAP_SETFCAP: "SETFCAP", unix.CAP_MAC_OVERRIDE: "MAC_OVERRIDE",
	unix.CAP_MAC_ADMIN: "MAC_ADMIN", unix.CAP_SYSLOG: "SYSLOG", unix.CAP_WAKE_ALARM: "WAKE_ALARM",
	unix.CAP_BLOCK_SUSPEND: "BLOCK_SUSPEND", unix.CAP_AUDIT_READ: "AUDIT_READ", unix.CAP_PERFMON: "PERFMON",
	unix.CAP_BPF: "BPF", unix.CAP_CHECKPOINT_RESTORE: "CHECKPOINT_RESTORE",
}

// AllCaps is every capability this program knows by name.
const AllCaps = CapSet(1)<<len(capNames) - 1

// DefaultCaps is the capability set a container's command keeps: the one
// Docker and the OCI runtimes give by default, less CAP_MKNOD. Everything that
// reaches past the container (CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_RAWIO,
// CAP_SYS_PTRACE, CAP_NET_ADMIN, CAP_SYS_TIME, ...) is dropped. Docker can
// leave CAP_MKNOD because its devices cgroup refuses to open any device node
// not on its list; without that cgroup (still to come here), a container could
// make a node for the host's disk and read it. --cap-add MKNOD gives it back.
const DefaultCaps = CapSet(1<<unix.CAP_CHOWN | 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_FSETID | 1<<unix.CAP_FOWNER |
	1<<unix.CAP_NET_RAW | 1<<unix.CAP_SETGID | 1<<unix.CAP_SETUID | 1<<unix.CAP_SETFCAP | 1<<unix.CAP_SETPCAP |
	1<<unix.CAP_NET_BIND_SERVICE | 1<<unix.CAP_SYS_CHROOT | 1<<unix.CAP_KILL | 1<<unix.CAP_AUDIT_WRITE)

// ParseCap reads a capability name as Docker does: with or without CAP_, in
// any case. ALL is not a capability; callers handle it.
func ParseCap(name string) (int, error) {
	n := strings.TrimPrefix(strings.ToUpper(name), "CAP_")
	if i := slices.Index(capNames[:], n); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}

// TweakCaps applies --cap-add and --cap-drop to DefaultCaps with Docker's
// rules, so that the same flags mean the same set: add ALL gives every
// capability but those dropped; otherwise drop ALL gives only those added;
// otherwise the drops come off the default set and then the adds go on, so a
// capability both added and dropped is kept.
func TweakCaps(add, drop []string) (CapSet, error) {
	parse := func(flag string, names []string) (set CapSet, all bool, err error) {
		for _, n := range names {
			if strings.EqualFold(n, "ALL") {
				all = true
				continue
			}
			c, err := ParseCap(n)
			if err != nil {
				return 0, false, fmt.Errorf("%s: %w", flag, err)
			}
			set |= 1 << c
		}
		return set, all, nil
	}
	a, addAll, err := parse("--cap-add", add)
	if err != nil {
		return 0, err
	}
	d, dropAll, err := parse("--cap-drop", drop)
	if err != nil {
		return 0, err
	}
	switch {
	case addAll:
		return AllCaps &^ d, nil
	case dropAll:
		return a, nil
	}
	return DefaultCaps&^d | a, nil
}

// String renders s as ParseCapSet reads it back: a hex mask.
func (s CapSet) String() string { return "0x" + strconv.FormatUint(uint64(s), 16) }

// ParseCapSet reads a hex mask written by CapSet.String.
func ParseCapSet(v string) (CapSet, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
	if err != nil || CapSet(n)&^AllCaps != 0 {
		return 0, fmt.Errorf("capability set %q: want a hex mask of at most %d bits", v, bits.Len64(uint64(AllCaps)))
	}
	return CapSet(n), nil
}
