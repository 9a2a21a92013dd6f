#include "textflag.h"

// mapWait is the first thing ccinit's entry point does (entry_linux_amd64.s),
// before the Go runtime starts. A rootless container with a /etc/subuid
// range is cloned into a user namespace whose maps newuidmap and newgidmap
// write only once ccinit exists: exec'd before them, ccinit has no
// capability in its namespace, and must be exec'd again once they are
// written (initproc.AwaitMapping says why). Waiting here, instead of in Go,
// starts one Go runtime on that path instead of two.
//
// The supervisor asks for it with the environment variable CCMAPFD= followed
// by two bytes, anywhere in the environment (supervisor/process_linux.go):
// the descriptor of the sync socket, and a slot. mapWait then reads one
// message there, which must be exactly "mapped" (the socket is SEQPACKET:
// the configuration that follows it stays queued, unread), reads the
// parent-death signal the supervisor set, which the kernel clears on an exec
// that raises capabilities, and execs /proc/self/exe with the same arguments
// and environment, the variable marked: its first byte 'c', the slot 0x40
// plus the signal (initproc.AwaitMapping arms it again). It returns only on
// failure, the variable marked for initproc.AwaitMapping to say why in one
// line: 'E' and the errno in place of the descriptor, 'G' when the socket
// read EOF (the supervisor is gone), 'M' when another message came. Without
// the variable it returns at once.
//
// Called from entry, which has no frame: 8(SP) is argc, then argv's
// pointers and a NULL, then envp's, as the kernel left them.
TEXT ·mapWait(SB),NOSPLIT|NOFRAME,$0
	MOVQ	8(SP), AX
	LEAQ	16(SP), R14		// argv
	LEAQ	8(R14)(AX*8), R13	// envp
	MOVQ	R13, BX
	MOVQ	$0x3d444650414d4343, DX	// "CCMAPFD=", little-endian
find:
	MOVQ	0(BX), R12
	TESTQ	R12, R12
	JZ	none
	// Eight bytes of a shorter string stay in the strings' area at the
	// top of the stack, which ends with a NULL pointer.
	CMPQ	DX, 0(R12)
	JEQ	found
	ADDQ	$8, BX
	JMP	find
found:
	MOVBQZX	8(R12), CX		// the descriptor is there
	TESTQ	CX, CX
	JZ	none
	MOVBQZX	9(R12), CX		// the slot is there
	TESTQ	CX, CX
	JZ	none
	MOVBQZX	10(R12), CX		// and nothing after it
	TESTQ	CX, CX
	JNZ	none
	SUBQ	$16, SP			// the message; then /proc/self/exe
recv:
	MOVBQZX	8(R12), DI		// the sync socket
	MOVQ	SP, SI
	MOVQ	$16, DX
	MOVQ	$0x20, R10		// MSG_TRUNC: the message's whole length
	XORQ	R8, R8
	XORQ	R9, R9
	MOVQ	$45, AX			// recvfrom
	SYSCALL
	CMPQ	AX, $-4			// EINTR
	JEQ	recv
	TESTQ	AX, AX
	JS	failed
	JZ	gone
	CMPQ	AX, $6
	JNE	wrong
	CMPL	0(SP), $0x7070616d	// "mapp"
	JNE	wrong
	CMPW	4(SP), $0x6465		// "ed"
	JNE	wrong
	MOVQ	$2, DI			// PR_GET_PDEATHSIG
	MOVQ	SP, SI
	MOVQ	$157, AX		// prctl
	SYSCALL
	TESTQ	AX, AX
	JS	failed
	MOVBQZX	0(SP), CX
	ADDQ	$0x40, CX
	MOVB	CX, 9(R12)
	MOVB	$0x63, 0(R12)		// 'c': mapped, exec'd again
	MOVQ	$0x65732f636f72702f, AX	// "/proc/se"
	MOVQ	AX, 0(SP)
	MOVQ	$0x00006578652f666c, AX	// "lf/exe", NUL
	MOVQ	AX, 8(SP)
	MOVQ	SP, DI
	MOVQ	R14, SI
	MOVQ	R13, DX
	MOVQ	$59, AX			// execve
	SYSCALL
failed:
	NEGQ	AX
	MOVB	$0x45, 0(R12)		// 'E'
	MOVB	AX, 8(R12)		// errno
	JMP	back
gone:
	MOVB	$0x47, 0(R12)		// 'G'
	JMP	back
wrong:
	MOVB	$0x4d, 0(R12)		// 'M'
back:
	ADDQ	$16, SP
none:
	RET
