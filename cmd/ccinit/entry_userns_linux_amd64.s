#include "textflag.h"

// joinUserNS runs from entry (entry_linux_amd64.s), after its mount
// namespace's join if any, still before the Go runtime's first thread:
// setns(2) into a user namespace needs a single-threaded process. When the
// first environment variable, or the second after CCMNTNS's, is CCUSRNS=
// followed by exactly four bytes
// (supervisor/process_linux.go, userNSVar, writes them):
//
//	byte 8:  a descriptor of the user namespace to join
//	byte 9:  0x80 | (flags >> 17) & 0x7f  } the CLONE_NEW* flags of the
//	byte 10: 0x80 | (flags >> 24) & 0x7f  } namespaces to make after it
//	byte 11: a pipe's write end, when flags hold CLONE_NEWPID
//
// it joins the user namespace and becomes its root (uid and gid 0 there),
// then makes the new namespaces, which the joined namespace then owns. A
// new PID namespace takes in only the children of the process that makes
// it, so then it clones once more with CLONE_PARENT: the clone, PID 1 of the
// new namespace and the supervisor's child like this process, goes on to
// be ccinit, and this process writes the clone's PID (4 bytes, the
// supervisor's PID namespace's, which is this one's) on the pipe and exits.
//
// The variable is marked for initproc.CheckEntry: first byte 'c' once done,
// or 'E' with the errno as byte 8 and the failed step as byte 9 ('u'
// setns, 'g' setresgid, 'i' setresuid, 'd' prctl, 'n' unshare, 'f' clone); after a
// failure this process goes on to be ccinit itself, which says why, and
// writes a PID of 0 on the pipe first.
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
	MOVBQZX	11(R12), R14		// the pipe, kept for the end
	MOVBQZX	9(R12), R13		// the flags into R13
	ANDQ	$0x7f, R13
	SHLQ	$17, R13
	MOVBQZX	10(R12), CX
	ANDQ	$0x7f, CX
	SHLQ	$24, CX
	ORQ	CX, R13

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
	// The change of IDs made this process undumpable, its /proc files
	// the host root's, out of its own reach (ccinit names itself in
	// /proc/self/comm): as it would be had the IDs changed before exec.
	MOVQ	$4, DI			// PR_SET_DUMPABLE
	MOVQ	$1, SI
	MOVQ	$157, AX		// prctl
	SYSCALL
	MOVQ	$0x64, R15		// 'd'
	TESTQ	AX, AX
	JS	failed

	TESTQ	R13, R13
	JZ	done
	MOVQ	R13, DI
	MOVQ	$272, AX		// unshare(flags)
	SYSCALL
	MOVQ	$0x6e, R15		// 'n'
	TESTQ	AX, AX
	JS	failed

	BTQ	$29, R13		// CLONE_NEWPID
	JCC	done
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
	MOVL	AX, 8(R12)		// the clone's PID, into our copy
	MOVQ	R14, DI
	LEAQ	8(R12), SI
	MOVQ	$4, DX
	MOVQ	$1, AX			// write(pipe, &pid, 4)
	SYSCALL
	XORQ	DI, DI
	CMPQ	AX, $4
	JEQ	exit
	MOVQ	$1, DI
exit:
	MOVQ	$231, AX		// exit_group
	SYSCALL

failed:
	NEGQ	AX
	MOVB	$0x45, 0(R12)		// 'E'
	MOVB	AX, 8(R12)		// errno
	MOVB	R15, 9(R12)		// step
	BTQ	$29, R13
	JCC	runtime
	// No clone: this process is ccinit, which the supervisor learns from
	// a PID of 0. argv's NULL is the four zero bytes.
	MOVQ	0(SP), AX
	LEAQ	8(SP)(AX*8), SI
	MOVQ	R14, DI
	MOVQ	$4, DX
	MOVQ	$1, AX			// write(pipe, 0, 4)
	SYSCALL
	MOVQ	R14, DI
	MOVQ	$3, AX			// close(pipe)
	SYSCALL
	JMP	runtime
done:
	MOVB	$0x63, 0(R12)		// 'c'
runtime:
	JMP	_rt0_amd64_linux(SB)
