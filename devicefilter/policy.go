package devicefilter

import (
	"fmt"
	"math"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Access is a set of device operations, numbered as the kernel numbers
// them both in v1's exception list and in the eBPF program's context
// (BPF_DEVCG_ACC_MKNOD, _READ, _WRITE).
type Access uint8

const (
	Mknod Access = 1
	Read  Access = 2
	Write Access = 4

	allAccess = Mknod | Read | Write
)

// DevType is a device node's type, numbered as the kernel numbers it
// (BPF_DEVCG_DEV_BLOCK, _CHAR; v1's DEV_BLOCK, DEV_CHAR).
type DevType uint8

const (
	Block DevType = 1
	Char  DevType = 2
)

// Wildcard as a major or minor number matches every number: v1's "*",
// which the kernel keeps as ~0 (so a rule naming 4294967295 means "*" too).
const Wildcard = math.MaxUint32

// Exception is one entry of v1's exception list: devices of Type with
// Major:Minor, for the operations in Access.
type Exception struct {
	Type         DevType
	Major, Minor uint32
	Access       Access
}

// Policy is what a v1 device cgroup holds after its rules were written: a
// default for every device, and the exceptions to it. With DefaultAllow an
// operation is refused if it shares an operation with an exception that
// names its device; without, it is allowed only if one exception names its
// device and all its operations. This is how the kernel reads its list
// (match_exception_partial and match_exception in security/device_cgroup.c).
type Policy struct {
	DefaultAllow bool
	Exceptions   []Exception
}

// Emulate replays rules in order as the v1 kernel takes them, one write
// each to devices.allow (Allow) or devices.deny, into a new cgroup that
// allows everything (a child of a v1 root; on v2 the parents' own programs
// still apply, as a v1 parent's rules bind its children):
//
//   - a rule for every device (type "a" or none) sets the default and
//     clears the exceptions; v1 reads no number or access on it;
//   - a rule that goes the default's way removes its operations from the
//     exception for exactly the same type and numbers, if there is one;
//   - a rule against the default adds its operations to the exception for
//     the same type and numbers, or adds that exception.
//
// So the last rule does not simply win: "deny c 1:* w" then "allow c 1:3 w"
// under an allow-all default leaves 1:3 unwritable, as on v1.
func Emulate(rules []specs.LinuxDeviceCgroup) (Policy, error) {
	p := Policy{DefaultAllow: true}
	for i, r := range rules {
		ex, all, err := exception(r)
		if err != nil {
			return Policy{}, fmt.Errorf("device rule %d: %w", i, err)
		}
		switch {
		case all:
			p = Policy{DefaultAllow: r.Allow}
		case r.Allow == p.DefaultAllow:
			p.remove(ex)
		default:
			p.add(ex)
		}
	}
	return p, nil
}

// exception reads r as v1 would: as the rule for every device (all), or as
// an exception.
func exception(r specs.LinuxDeviceCgroup) (ex Exception, all bool, err error) {
	switch r.Type {
	case "", "a":
		return Exception{}, true, nil
	case "b":
		ex.Type = Block
	case "c":
		ex.Type = Char
	default:
		return Exception{}, false, fmt.Errorf("type %q is not a, b or c", r.Type)
	}
	if ex.Major, err = number(r.Major); err != nil {
		return Exception{}, false, fmt.Errorf("major: %w", err)
	}
	if ex.Minor, err = number(r.Minor); err != nil {
		return Exception{}, false, fmt.Errorf("minor: %w", err)
	}
	if r.Access == "" {
		ex.Access = allAccess // as V1Rule writes it
	}
	for _, c := range r.Access {
		switch c {
		case 'r':
			ex.Access |= Read
		case 'w':
			ex.Access |= Write
		case 'm':
			ex.Access |= Mknod
		default:
			return Exception{}, false, fmt.Errorf("access %q is not made of r, w and m", r.Access)
		}
	}
	return ex, false, nil
}

// number reads a major or minor number: none or a negative one is every
// number.
func number(n *int64) (uint32, error) {
	switch {
	case n == nil || *n < 0:
		return Wildcard, nil
	case *n > math.MaxUint32:
		return 0, fmt.Errorf("%d is above the kernel's %d", *n, uint32(math.MaxUint32))
	}
	return uint32(*n), nil
}

// add merges ex into the exception for the same device numbers, or
// appends it (dev_exception_add).
func (p *Policy) add(ex Exception) {
	for i, e := range p.Exceptions {
		if e.Type == ex.Type && e.Major == ex.Major && e.Minor == ex.Minor {
			p.Exceptions[i].Access |= ex.Access
			return
		}
	}
	p.Exceptions = append(p.Exceptions, ex)
}

// remove takes ex's operations from the exception for exactly the same
// device numbers, dropping it once it has none (dev_exception_rm). A wider
// or narrower exception is left alone, as v1 leaves it.
func (p *Policy) remove(ex Exception) {
	for i, e := range p.Exceptions {
		if e.Type == ex.Type && e.Major == ex.Major && e.Minor == ex.Minor {
			p.Exceptions[i].Access &^= ex.Access
			if p.Exceptions[i].Access == 0 {
				p.Exceptions = append(p.Exceptions[:i], p.Exceptions[i+1:]...)
			}
			return
		}
	}
}

// V1Rule renders r as v1's devices.allow and devices.deny take it. No
// access is every access, as runc writes it (the kernel would read an
// exception for no operation).
func V1Rule(r specs.LinuxDeviceCgroup) string {
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	if r.Type == "" || r.Type == "a" {
		return "a *:* " + access // the kernel reads the "a" alone
	}
	num := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	return fmt.Sprintf("%s %s:%s %s", r.Type, num(r.Major), num(r.Minor), access)
}
