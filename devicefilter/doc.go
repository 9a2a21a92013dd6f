// Package devicefilter enforces an OCI config's device rules
// (linux.resources.devices) on cgroup v2, which has no devices.allow file:
// there the kernel asks an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE,
// attached to the cgroup, whether a process may mknod, read or write a
// device node.
//
// The rules mean what they mean on v1, where each is written in turn to
// devices.allow or devices.deny: Emulate replays them on the v1 kernel's own
// model (a default, allow or deny, and a list of exceptions to it), and
// Program compiles the result into eBPF instructions, encoded by a small
// builder of its own (insn.go; the seccomp package's builder is classic BPF,
// another instruction set). Attach loads the program, with the verifier's log
// in the error if it is refused, and attaches it to a cgroup directory in
// place of the one attached there before, if any. The kernel detaches and
// frees it when the cgroup is removed.
package devicefilter
