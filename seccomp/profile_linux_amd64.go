package seccomp

import (
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// Known reports whether name is a syscall of x86_64. An OCI profile names
// syscalls of every architecture (chown32, _llseek, ...); those this one
// lacks have no number to filter and are skipped, as libseccomp does.
func Known(name string) bool {
	_, ok := syscallNumber(name)
	return ok
}

// syscallNumber looks name up in syscallNames (sorted).
func syscallNumber(name string) (uint32, bool) {
	i := sort.Search(len(syscallNames), func(i int) bool { return syscallNames[i].name >= name })
	if i < len(syscallNames) && syscallNames[i].name == name {
		return syscallNames[i].nr, true
	}
	return 0, false
}

// Compile turns p into a program. The program kills a caller of any other
// architecture, and of the x32 ABI, whose numbers would be misread; then
// tries the rules in order, the first whose syscall and conditions match
// deciding; then returns p.Default.
//
// The rules are tested one after the other: a config's profile is a list,
// and keeping its order keeps its meaning where rules overlap. Conditions
// are 64-bit: each compares both halves of the argument.
func Compile(p Profile) ([]unix.SockFilter, error) {
	prog := []unix.SockFilter{
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch),
		jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, auditArchX86_64, 1, 0),
		stmt(unix.BPF_RET|unix.BPF_K, retKill),
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr),
		jump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, x32Bit, 0, 1),
		stmt(unix.BPF_RET|unix.BPF_K, retKill),
	}
	for _, r := range p.Rules {
		nr, ok := syscallNumber(r.Name)
		if !ok {
			continue
		}
		block, err := ruleBlock(nr, r)
		if err != nil {
			return nil, fmt.Errorf("seccomp rule for %s: %w", r.Name, err)
		}
		prog = append(prog, block...)
	}
	prog = append(prog, stmt(unix.BPF_RET|unix.BPF_K, p.Default))
	if len(prog) > 4096 {
		return nil, fmt.Errorf("seccomp filter of %d instructions is over the kernel's 4096", len(prog))
	}
	return prog, nil
}

// fail marks a jump to the end of a rule's block: the rule does not match.
const fail = 0xff

// ruleBlock is the code of one rule: it starts and ends with the syscall
// number in the accumulator, and either returns the rule's action or falls
// through to the next rule.
func ruleBlock(nr uint32, r Rule) ([]unix.SockFilter, error) {
	b := []unix.SockFilter{jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, nr, 0, fail)}
	for _, c := range r.Conds {
		if c.Arg > 5 {
			return nil, fmt.Errorf("argument %d: syscalls have 6", c.Arg)
		}
		code, err := condCode(c)
		if err != nil {
			return nil, err
		}
		b = append(b, code...)
	}
	b = append(b, stmt(unix.BPF_RET|unix.BPF_K, r.Action))
	if len(r.Conds) > 0 {
		// The conditions loaded arguments: the next rule wants the number.
		b = append(b, stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr))
	}
	// Every fail goes to the instruction after the action, which reloads
	// the number when conditions ran.
	end := len(b) - 1
	if len(r.Conds) == 0 {
		end = len(b)
	}
	for i := range b {
		if b[i].Code&0x07 != unix.BPF_JMP || b[i].Code == unix.BPF_JMP|unix.BPF_JA {
			continue
		}
		for _, off := range []*uint8{&b[i].Jt, &b[i].Jf} {
			if *off == fail {
				d := end - (i + 1)
				if d > 254 {
					return nil, errors.New("too many conditions")
				}
				*off = uint8(d)
			}
		}
	}
	return b, nil
}

// condCode is the code of one condition: it falls through when the
// condition holds and jumps to fail when it does not.
func condCode(c Cond) ([]unix.SockFilter, error) {
	lo := stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, uint32(offArgs+8*c.Arg))
	hi := stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, uint32(offArgs+8*c.Arg+4))
	vlo, vhi := uint32(c.Value), uint32(c.Value>>32)
	j := func(op uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return jump(unix.BPF_JMP|op|unix.BPF_K, k, jt, jf)
	}
	switch c.Op {
	case OpEQ:
		return []unix.SockFilter{hi, j(unix.BPF_JEQ, vhi, 0, fail), lo, j(unix.BPF_JEQ, vlo, 0, fail)}, nil
	case OpNE:
		// Holds when either half differs.
		return []unix.SockFilter{hi, j(unix.BPF_JEQ, vhi, 0, 2), lo, j(unix.BPF_JEQ, vlo, fail, 0)}, nil
	case OpMaskedEQ:
		mlo, mhi := uint32(c.Value), uint32(c.Value>>32)
		wlo, whi := uint32(c.ValueTwo), uint32(c.ValueTwo>>32)
		and := func(k uint32) unix.SockFilter { return stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, k) }
		return []unix.SockFilter{hi, and(mhi), j(unix.BPF_JEQ, whi, 0, fail), lo, and(mlo), j(unix.BPF_JEQ, wlo, 0, fail)}, nil
	case OpGT, OpGE:
		// A higher high half holds; an equal one leaves it to the low.
		last := j(unix.BPF_JGT, vlo, 0, fail)
		if c.Op == OpGE {
			last = j(unix.BPF_JGE, vlo, 0, fail)
		}
		return []unix.SockFilter{hi, j(unix.BPF_JGT, vhi, 3, 0), j(unix.BPF_JEQ, vhi, 0, fail), lo, last}, nil
	case OpLT, OpLE:
		last := j(unix.BPF_JGE, vlo, fail, 0)
		if c.Op == OpLE {
			last = j(unix.BPF_JGT, vlo, fail, 0)
		}
		return []unix.SockFilter{hi, j(unix.BPF_JGE, vhi, 0, 3), j(unix.BPF_JEQ, vhi, 0, fail), lo, last}, nil
	}
	return nil, fmt.Errorf("unknown comparison %d", c.Op)
}
