#include "textflag.h"

// joinUserNS runs from entry (entry_linux_amd64.s), after its mount
// namespace's join if any, still before the Go runtime's first thread:
// setns(2) into a user namespace needs a single-threaded process. When the
// first environment variable, or the second after CCMNTNS's, is CCUSRNS=
// followed by exactly four non-zero bytes
// (supervisor/userns_join_linux.go, userNSVar, writes them):
//
//	byte 8:  a descriptor of the user namespace to join
//	byte 9:  0x80 | (flags >> 17) & 0x7f  } the CLONE_NEW* flags of the
//	byte 10: 0x80 | (flags >> 24) & 0x7f  } namespaces to make after it
//	byte 11: a pipe's write end
//
// it joins the user namespace and becomes its root (uid and gid 0 there),
// then makes the new namespaces, which the joined namespace then owns. A
// new PID namespace takes in only the children of the process that makes
// it, so then it clones once more with CLONE_PARENT: the clone, PID 1 of the
// new namespace and the supervisor's child like this process, goes on to
// be ccinit, and this process writes the clone's PID (4 bytes, the
// supervisor's PID namespace's, which is this one's) on the pipe and exits.
// Without a clone it writes a PID of 0 (this process is ccinit) and goes
// on. Either way the supervisor, which waits on the pipe, reads the
// process's namespaces and maps only once they are the joined ones.
//
// On a failure it writes instead the errno, the failed step ('m' the mount
// namespace's setns before, 'u' setns, 'g' setresgid, 'i' setresuid,
// 'n' unshare, 'f' clone), a zero and 0x80
// (a negative number, never a PID), and exits: it never runs as ccinit in
// namespaces it was not meant to have (after a failed setns, the host's
// user namespace as its root); the supervisor says why
// (initproc.EntryFailure).
//
// The process stays undumpable: its change of IDs made it so, and its
// memory, descriptors, root and working directory are still the host's
// until pivot_root, out of reach of the joined namespace's ptrace
// (CVE-2016-9962's lesson). ccinit names itself with PR_SET_NAME rather
// than through /proc/self/comm, which is then the host root's.
//
// The variable is marked 'c' once joined, for initproc.CheckEntry.
TEXT ·joinUserNS(SB),NOSPLIT|NOFRAME,$0
	MOVQ	0(SP), AX
	LEAQ	16(SP)(AX*8), BX	// &envp[0]
	MOVQ	$0x3d534e5253554343, DX	// "CCUSRNS=", little-endian
	MOVQ	$2, CX			// envp[0], or envp[1] after CCMNTNS
find:
	MOVQ	0(BX), R12
	TESTQ	R12, R12
	JZ	runtime
	CMPQ	DX, 0(R12)
	JEQ	found
	ADDQ	$8, BX
	DECQ	CX
	JNZ	find
	JMP	runtime
found:
	MOVBQZX	12(R12), CX		// four bytes only
	TESTQ	CX, CX
	JNZ	runtime
	MOVBQZX	8(R12), CX		// and each there
	TESTQ	CX, CX
	JZ	runtime
	MOVBQZX	9(R12), CX
	TESTQ	CX, CX
	JZ	runtime
	MOVBQZX	10(R12), CX
	TESTQ	CX, CX
	JZ	runtime
	MOVBQZX	11(R12), R14		// the pipe, kept for the end
	TESTQ	R14, R14
	JZ	runtime
	MOVBQZX	9(R12), R13		// the flags into R13
	ANDQ	$0x7f, R13
	SHLQ	$17, R13
	MOVBQZX	10(R12), CX
	ANDQ	$0x7f, CX
	SHLQ	$24, CX
	ORQ	CX, R13

	// A mount namespace's join that failed (entry_linux_amd64.s marked
	// CCMNTNS 'E') is this join's failure too: reported on the pipe,
	// not left for ccinit's Go code to find after its hello.
	MOVQ	0(SP), AX
	LEAQ	16(SP)(AX*8), DI
	MOVQ	0(DI), DI		// envp[0]
	MOVQ	$0x3d534e544e4d4345, DX	// "ECMNTNS=", little-endian
	CMPQ	DX, 0(DI)
	JNE	user
	MOVBQZX	8(DI), AX
	NEGQ	AX			// as a system call returns it
	MOVQ	$0x6d, R15		// 'm'
	JMP	failed
user:
	MOVBQZX	8(R12), DI
	MOVQ	$0x10000000, SI		// CLONE_NEWUSER
	MOVQ	$308, AX		// setns
	SYSCALL
	MOVQ	$0x75, R15		// 'u'
	TESTQ	AX, AX
	JS	failed
	MOVBQZX	8(R12), DI
	MOVQ	$3, AX			// close(descriptor)
	SYSCALL

	// Root of the joined namespace: the host's root, which this process
	// still is, has no ID there.
	XORQ	DI, DI
	XORQ	SI, SI
	XORQ	DX, DX
	MOVQ	$119, AX		// setresgid(0, 0, 0)
	SYSCALL
	MOVQ	$0x67, R15		// 'g'
	TESTQ	AX, AX
	JS	failed
	XORQ	DI, DI
	XORQ	SI, SI
	XORQ	DX, DX
	MOVQ	$117, AX		// setresuid(0, 0, 0)
	SYSCALL
	MOVQ	$0x69, R15		// 'i'
	TESTQ	AX, AX
	JS	failed

	TESTQ	R13, R13
	JZ	joined
	MOVQ	R13, DI
	MOVQ	$272, AX		// unshare(flags)
	SYSCALL
	MOVQ	$0x6e, R15		// 'n'
	TESTQ	AX, AX
	JS	failed

	BTQ	$29, R13		// CLONE_NEWPID
	JCC	joined
	MOVB	$0x63, 0(R12)		// 'c', for the clone to see
	MOVQ	$0x8000, DI		// CLONE_PARENT; the exit signal is ours
	XORQ	SI, SI			// the same stack, copied
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	MOVQ	$56, AX			// clone
	SYSCALL
	MOVQ	$0x66, R15		// 'f'
	TESTQ	AX, AX
	JS	failed
	JNZ	parent
	MOVQ	R14, DI			// the clone: PID 1, ccinit
	MOVQ	$3, AX			// close(pipe)
	SYSCALL
	JMP	runtime
parent:
	SUBQ	$8, SP
	MOVL	AX, 0(SP)		// the clone's PID
	XORQ	R13, R13		// the exit status
	JMP	tell

joined:
	// This process is ccinit: a PID of 0 says so, now that it is in
	// the joined namespace.
	MOVB	$0x63, 0(R12)		// 'c'
	SUBQ	$8, SP
	MOVL	$0, 0(SP)
	MOVQ	R14, DI
	MOVQ	SP, SI
	MOVQ	$4, DX
	MOVQ	$1, AX			// write(pipe, &0, 4)
	SYSCALL
	ADDQ	$8, SP
	MOVQ	R14, DI
	MOVQ	$3, AX			// close(pipe)
	SYSCALL
	JMP	runtime

failed:
	NEGQ	AX
	SUBQ	$8, SP
	MOVB	AX, 0(SP)		// errno
	MOVB	R15, 1(SP)		// step
	MOVB	$0, 2(SP)
	MOVB	$0x80, 3(SP)		// negative: never a PID
	MOVQ	$125, R13		// the exit status
tell:
	MOVQ	R14, DI
	MOVQ	SP, SI
	MOVQ	$4, DX
	MOVQ	$1, AX			// write(pipe, SP, 4)
	SYSCALL
	MOVQ	R13, DI
	CMPQ	AX, $4
	JEQ	exit
	MOVQ	$1, DI
exit:
	MOVQ	$231, AX		// exit_group
	SYSCALL

runtime:
	JMP	_rt0_amd64_linux(SB)
