package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Return values of the filter (seccomp(2)).
const (
	retAllow  = unix.SECCOMP_RET_ALLOW
	retKill   = unix.SECCOMP_RET_KILL_PROCESS
	retEPERM  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	// retTest is never returned: it marks a syscall whose arguments decide,
	// while the plan is made.
	retTest = unix.SECCOMP_RET_TRACE
)

// auditArchX86_64 is AUDIT_ARCH_X86_64, what seccomp_data.arch holds for a
// 64-bit syscall. A 32-bit call (int $0x80) shows AUDIT_ARCH_I386 and its own
// numbers, which a table of x86_64 numbers would misread: refuse them all.
const auditArchX86_64 = unix.AUDIT_ARCH_X86_64

// x32Bit marks a syscall made through the x32 ABI: same arch value, numbers
// with this bit set.
const x32Bit = 0x40000000

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// lastKnown is the highest syscall number the tables were reviewed against
// (futex_requeue, Linux 6.7). A number above it is a syscall newer than this
// filter: it gets ENOSYS, not EPERM, so that a C library probing for it falls
// back to an older call as it would on an older kernel, instead of failing.
// It must not be set past what the tables were checked against: glibc 2.39
// turns fchmodat(AT_SYMLINK_NOFOLLOW) into fchmodat2 (452) with a fallback on
// ENOSYS only, so an EPERM for a syscall nobody reviewed breaks `chmod -h`.
const lastKnown = unix.SYS_FUTEX_REQUEUE

// check is what a leaf does with the syscall it was reached for.
type check struct {
	ret uint32 // the action when there is no argument test, else the refusal
	// An argument test on the low 32 bits of argument arg (the kernel reads
	// all three arguments tested here as 32-bit values): allow when the value
	// is one of in, when it has none of the bits of noneOf, or when it is not
	// notEq.
	test   bool
	arg    int
	in     []uint32
	noneOf uint32
	notEq  *uint32
}

// span is the syscall numbers from lo up to the next span's lo.
type span struct {
	lo uint32
	c  check
}

// Options say which syscalls the filter allows beyond the base table.
type Options struct {
	// Caps is the capability set the command runs with, a bit per
	// capability: each unlocks the syscalls Docker's profile gives it.
	Caps uint64
}

// Build returns the filter for a command holding o.Caps.
func Build(o Options) ([]unix.SockFilter, error) {
	return compile(plan(o))
}

// plan decides the action for every syscall number, as spans covering all
// of 0..2^32-1 in order.
func plan(o Options) []span {
	var ret [lastKnown + 1]uint32 // the action of each known syscall
	for i := range ret {
		ret[i] = retEPERM
	}
	for _, nr := range base {
		ret[nr] = retAllow
	}
	for _, bc := range byCap {
		c, nrs := bc.cap, bc.nrs
		if o.Caps&(1<<c) == 0 {
			continue
		}
		for _, nr := range nrs {
			ret[nr] = retAllow
		}
	}
	// Syscalls whose arguments decide, marked in ret by retTest.
	var tests [3]struct {
		nr uint32
		c  check
	}
	vsock := uint32(afVsock)
	tests[0].nr, tests[0].c = unix.SYS_PERSONALITY, check{ret: retEPERM, test: true, arg: 0, in: personalities}
	tests[1].nr, tests[1].c = unix.SYS_SOCKET, check{ret: retEPERM, test: true, arg: 0, notEq: &vsock}
	tests[2].nr = unix.SYS_CLONE // allowed as it is with CAP_SYS_ADMIN
	if o.Caps&(1<<unix.CAP_SYS_ADMIN) == 0 {
		// clone3 passes its flags in memory, out of a filter's reach:
		// ENOSYS makes the C library fall back to clone, checked here.
		ret[unix.SYS_CLONE3] = retENOSYS
		tests[2].c = check{ret: retEPERM, test: true, arg: 0, noneOf: namespaceFlags}
	}
	for _, t := range tests {
		if t.c.test {
			ret[t.nr] = retTest
		}
	}

	spans := make([]span, 0, 80)
	add := func(lo uint32, c check) {
		// Neighbours with the same plain action make one range.
		if n := len(spans); n > 0 && !c.test && !spans[n-1].c.test && spans[n-1].c.ret == c.ret {
			return
		}
		spans = append(spans, span{lo, c})
	}
	for nr, r := range ret {
		if r != retTest {
			add(uint32(nr), check{ret: r})
			continue
		}
		for _, t := range tests {
			if t.nr == uint32(nr) {
				add(t.nr, t.c)
			}
		}
	}
	add(lastKnown+1, check{ret: retENOSYS})
	add(x32Bit, check{ret: retKill})
	add(x32Bit<<1, check{ret: retENOSYS}) // -1 and other junk: as the kernel says
	return spans
}

// compile turns spans into a program: the architecture check, then a
// balanced tree of comparisons on the syscall number.
func compile(spans []span) ([]unix.SockFilter, error) {
	const head = 4
	n := head + treeLen(spans)
	// The kernel's limit (BPF_MAXINSNS); far above what the tables need.
	if n > 4096 {
		return nil, fmt.Errorf("seccomp filter of %d instructions is over the kernel's 4096", n)
	}
	prog := make([]unix.SockFilter, 0, n)
	prog = append(prog,
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch),
		jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, auditArchX86_64, 1, 0),
		stmt(unix.BPF_RET|unix.BPF_K, retKill),
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr))
	return tree(prog, spans), nil
}

// tree appends to p the code that, with the syscall number in the
// accumulator, ends in the action of the span holding it.
//
// A conditional jump reaches at most 255 instructions ahead, so when the
// lower half is longer than that the comparison jumps over an unconditional
// jump (32-bit offset) instead of over the lower half.
func tree(p []unix.SockFilter, spans []span) []unix.SockFilter {
	if len(spans) == 1 {
		return leaf(p, spans[0].c)
	}
	mid := len(spans) / 2
	lower := treeLen(spans[:mid])
	if lower <= 255 {
		p = append(p, jump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, spans[mid].lo, uint8(lower), 0))
	} else {
		p = append(p,
			jump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, spans[mid].lo, 0, 1),
			stmt(unix.BPF_JMP|unix.BPF_JA, uint32(lower)))
	}
	p = tree(p, spans[:mid])
	return tree(p, spans[mid:])
}

// treeLen is the number of instructions tree emits for spans.
func treeLen(spans []span) int {
	if len(spans) == 1 {
		return leafLen(spans[0].c)
	}
	mid := len(spans) / 2
	lower := treeLen(spans[:mid])
	n := 1
	if lower > 255 {
		n = 2
	}
	return n + lower + treeLen(spans[mid:])
}

// leaf appends the code for one span's action to p.
func leaf(p []unix.SockFilter, c check) []unix.SockFilter {
	if !c.test {
		return append(p, stmt(unix.BPF_RET|unix.BPF_K, c.ret))
	}
	// Little-endian: the low half of argument i comes first.
	p = append(p, stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, uint32(offArgs+8*c.arg)))
	switch {
	case c.in != nil:
		// Each match jumps over the matches left and the refusal.
		for i, v := range c.in {
			p = append(p, jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, v, uint8(len(c.in)-i), 0))
		}
	case c.notEq != nil:
		p = append(p, jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, *c.notEq, 0, 1))
	default:
		p = append(p, jump(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, c.noneOf, 0, 1))
	}
	return append(p,
		stmt(unix.BPF_RET|unix.BPF_K, c.ret),
		stmt(unix.BPF_RET|unix.BPF_K, retAllow))
}

// leafLen is the number of instructions leaf emits for c.
func leafLen(c check) int {
	switch {
	case !c.test:
		return 1
	case c.in != nil:
		return 3 + len(c.in)
	}
	return 4
}

func stmt(code uint16, k uint32) unix.SockFilter {
	return unix.SockFilter{Code: code, K: k}
}

func jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}
