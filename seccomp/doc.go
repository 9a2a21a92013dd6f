// Package seccomp builds and installs ccontainer's default seccomp filter: the
// syscalls of Docker's default profile for x86_64, compiled into a classic BPF
// program by a small builder of its own, so that ccinit stays a static, pure-Go
// binary.
//
// The program checks the architecture first (anything but x86_64, and x32
// calls, kill the process), then finds the syscall number in a binary tree of
// number ranges, so a call costs about log2(ranges) comparisons instead of one
// per allowed syscall. Each range ends in an action: allow, EPERM, ENOSYS, or
// a short argument check for clone, personality and socket.
//
// The tables are x86_64's; on other architectures Build returns an error, and
// containers there need --seccomp=unconfined until tables for them are
// written.
package seccomp
