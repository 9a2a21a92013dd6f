package seccomp

// A Profile is a seccomp filter described the way an OCI config does:
// actions for syscalls by name, with optional conditions on their
// arguments, and an action for everything else. Compile turns it into a
// program for x86_64.
type Profile struct {
	// Default is the action (a SECCOMP_RET_* value with its data) for a
	// syscall no rule matches.
	Default uint32
	Rules   []Rule
}

// Rule gives syscall Name the action Action when every condition holds.
type Rule struct {
	Name   string
	Action uint32
	Conds  []Cond
}

// Op compares a syscall argument.
type Op int

// The comparisons of an OCI config (SCMP_CMP_*).
const (
	OpNE Op = iota
	OpLT
	OpLE
	OpEQ
	OpGE
	OpGT
	OpMaskedEQ
)

// Cond is one test on argument Arg: arg Op Value, or for OpMaskedEQ
// arg&Value == ValueTwo.
type Cond struct {
	Arg             uint
	Op              Op
	Value, ValueTwo uint64
}
