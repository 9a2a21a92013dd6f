package devicefilter

// Offsets in the program's context, struct bpf_cgroup_dev_ctx: access_type
// holds the operations in its upper 16 bits and the device type in its
// lower 16.
const (
	ctxAccessType = 0
	ctxMajor      = 4
	ctxMinor      = 8
)

// Registers the program keeps the request in.
const (
	regType   = R3
	regAccess = R2
	regMajor  = R4
	regMinor  = R5
	regTemp   = R1 // the context pointer is not needed once read
)

// Program compiles p into an eBPF device program: it returns 1 (allow) or
// 0 (refuse) for the device and operations the kernel asks about.
//
//	r2 = ctx.access_type; r3 = r2 & 0xffff; r2 >>= 16; r4 = ctx.major; r5 = ctx.minor
//	for each exception:
//	    if the type, and each number that is not "*", differ: next exception
//	    if the operations do not match (see Policy): next exception
//	    return !p.DefaultAllow
//	return p.DefaultAllow
//
// Every exception of a policy goes against its default, so their order
// does not matter. Numbers are compared as 64-bit values with the
// immediate sign-extended: a number of 2^31 or more in a rule never
// matches, which is right, as no device has one (majors have 12 bits,
// minors 20).
func Program(p Policy) []Insn {
	prog := []Insn{
		LoadCtx32(regAccess, ctxAccessType),
		Mov32(regType, regAccess),
		And32(regType, 0xffff),
		Rsh32(regAccess, 16),
		LoadCtx32(regMajor, ctxMajor),
		LoadCtx32(regMinor, ctxMinor),
	}
	for _, ex := range p.Exceptions {
		prog = append(prog, exceptionBlock(ex, p.DefaultAllow)...)
	}
	return append(prog, MovImm(R0, boolImm(p.DefaultAllow)), Exit())
}

// exceptionBlock returns the instructions for one exception: they end in a
// return when it matches, and otherwise fall through past their end.
func exceptionBlock(ex Exception, defaultAllow bool) []Insn {
	// Each test jumps to the end of the block; its distance is known once
	// the block is complete, so tests are recorded first and fixed after.
	var b []Insn
	var jumps []int
	test := func(in Insn) {
		jumps = append(jumps, len(b))
		b = append(b, in)
	}
	test(JumpNE(regType, int32(ex.Type), 0))
	if ex.Major != Wildcard {
		test(JumpNE(regMajor, int32(ex.Major), 0))
	}
	if ex.Minor != Wildcard {
		test(JumpNE(regMinor, int32(ex.Minor), 0))
	}
	if defaultAllow {
		// A refusal: it matches if the request shares an operation with
		// it. A request for no operation (an access(2)-style check) shares
		// none and is allowed, as on v1.
		b = append(b, Mov32(regTemp, regAccess), And32(regTemp, int32(ex.Access)))
		test(JumpEQ(regTemp, 0, 0))
	} else if rest := allAccess &^ ex.Access; rest != 0 {
		// An allowance: it matches only if it covers every operation
		// asked for.
		test(JumpSet(regAccess, int32(rest), 0))
	}
	b = append(b, MovImm(R0, boolImm(!defaultAllow)), Exit())
	for _, j := range jumps {
		b[j].Off = int16(len(b) - j - 1)
	}
	return b
}

func boolImm(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
