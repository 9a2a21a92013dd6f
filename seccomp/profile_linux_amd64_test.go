package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestCompileProfile runs compiled profiles on calls the way the kernel
// would (exec, in filter_linux_amd64_test.go), 64-bit argument edges
// included.
func TestCompileProfile(t *testing.T) {
	const eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	const enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	big := uint64(1) << 33
	rule := func(name string, op Op, v, v2 uint64) Profile {
		return Profile{Default: eperm, Rules: []Rule{{Name: name, Action: retAllow, Conds: []Cond{{Arg: 1, Op: op, Value: v, ValueTwo: v2}}}}}
	}
	x86 := func(nr uint32, arg1 uint64) call {
		return call{arch: auditArchX86_64, nr: nr, args: [6]uint64{0, arg1}}
	}
	tests := []struct {
		name string
		p    Profile
		c    call
		want uint32
	}{
		{"allowed by name", Profile{Default: eperm, Rules: []Rule{{Name: "read", Action: retAllow}}}, x86(unix.SYS_READ, 0), retAllow},
		{"default", Profile{Default: eperm, Rules: []Rule{{Name: "read", Action: retAllow}}}, x86(unix.SYS_WRITE, 0), eperm},
		{"32-bit name skipped", Profile{Default: eperm, Rules: []Rule{{Name: "chown32", Action: retAllow}, {Name: "write", Action: enosys}}}, x86(unix.SYS_WRITE, 0), enosys},
		{"first rule wins", Profile{Default: eperm, Rules: []Rule{{Name: "write", Action: enosys}, {Name: "write", Action: retAllow}}}, x86(unix.SYS_WRITE, 0), enosys},
		{"eq holds", rule("write", OpEQ, big+5, 0), x86(unix.SYS_WRITE, big+5), retAllow},
		{"eq: high half differs", rule("write", OpEQ, big+5, 0), x86(unix.SYS_WRITE, 5), eperm},
		{"ne holds on the high half", rule("write", OpNE, big+5, 0), x86(unix.SYS_WRITE, 5), retAllow},
		{"ne fails", rule("write", OpNE, big+5, 0), x86(unix.SYS_WRITE, big+5), eperm},
		{"gt by high half", rule("write", OpGT, 7, 0), x86(unix.SYS_WRITE, big), retAllow},
		{"gt by low half", rule("write", OpGT, 7, 0), x86(unix.SYS_WRITE, 8), retAllow},
		{"gt equal", rule("write", OpGT, 7, 0), x86(unix.SYS_WRITE, 7), eperm},
		{"ge equal", rule("write", OpGE, 7, 0), x86(unix.SYS_WRITE, 7), retAllow},
		{"ge below", rule("write", OpGE, big, 0), x86(unix.SYS_WRITE, 1<<32-1), eperm},
		{"lt below", rule("write", OpLT, big, 0), x86(unix.SYS_WRITE, 1<<32-1), retAllow},
		{"lt equal", rule("write", OpLT, 7, 0), x86(unix.SYS_WRITE, 7), eperm},
		{"lt above by high half", rule("write", OpLT, 7, 0), x86(unix.SYS_WRITE, big), eperm},
		{"le equal", rule("write", OpLE, 7, 0), x86(unix.SYS_WRITE, 7), retAllow},
		{"le above", rule("write", OpLE, 7, 0), x86(unix.SYS_WRITE, 8), eperm},
		{"masked eq holds", rule("clone", OpMaskedEQ, unix.CLONE_NEWUSER, 0), x86(unix.SYS_CLONE, unix.CLONE_VM), retAllow},
		{"masked eq fails", rule("clone", OpMaskedEQ, unix.CLONE_NEWUSER, 0), x86(unix.SYS_CLONE, unix.CLONE_NEWUSER|unix.CLONE_VM), eperm},
		{"condition fails, next rule by number", Profile{Default: eperm, Rules: []Rule{
			{Name: "write", Action: retAllow, Conds: []Cond{{Arg: 1, Op: OpEQ, Value: 1}}},
			{Name: "read", Action: enosys},
		}}, x86(unix.SYS_READ, 0), enosys},
		{"i386", Profile{Default: retAllow}, call{arch: unix.AUDIT_ARCH_I386, nr: 3}, retKill},
		{"x32", Profile{Default: retAllow}, x86(x32Bit|unix.SYS_READ, 0), retKill},
	}
	for _, tt := range tests {
		prog, err := Compile(tt.p)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := exec(prog, tt.c)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: got %#x, want %#x", tt.name, got, tt.want)
		}
	}
	if _, err := Compile(Profile{Rules: []Rule{{Name: "read", Conds: []Cond{{Arg: 6}}}}}); err == nil {
		t.Error("argument 6 compiled")
	}
}
