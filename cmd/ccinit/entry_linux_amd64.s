#include "textflag.h"

// entry is ccinit's ELF entry point (the Makefile links it with -E
// main.entry), run before the Go runtime starts its first thread: the one
// moment a Go program is single-threaded, which setns(2) into a mount
// namespace requires. When the first environment variable is CCMNTNS=
// followed by one byte, the number of a descriptor of a mount namespace
// (supervisor/process_linux.go sets it), it enters that namespace, closes
// the descriptor, and marks the variable for initproc.CheckEntry: its first
// byte becomes 'c' once entered, or 'E' with the errno in place of the
// descriptor's byte. Then, and in every other case, it goes on to
// joinUserNS (entry_userns_linux_amd64.s), which goes on to the Go
// runtime's own entry. Before it all, mapWait may wait for a user
// namespace's maps and exec ccinit again (mapwait_linux_amd64.s).
//
// All of it only when argv[1] is "--sync-fd", as the supervisor starts
// ccinit: a ccinit run on its own (tini mode, or PID 1 of an image whose
// environment happens to hold these names) leaves its environment and its
// descriptors alone, and passes the variables on unchanged.
//
// At the kernel's entry: 0(SP) is argc, then argv's pointers and a NULL,
// then envp's.
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	0(SP), AX
	CMPQ	AX, $2
	JLT	plain
	MOVQ	16(SP), R12		// argv[1]: ten bytes read at most, in
	MOVQ	$0x662d636e79732d2d, DX	// the strings' area; "--sync-f"
	CMPQ	DX, 0(R12)
	JNE	plain
	CMPW	8(R12), $0x0064		// "d", NUL
	JNE	plain
	CALL	·mapWait(SB)		// rootless with a range: see mapwait_linux_amd64.s
	MOVQ	0(SP), AX
	LEAQ	16(SP)(AX*8), BX	// &envp[0]
	MOVQ	0(BX), R12		// envp[0]
	TESTQ	R12, R12
	JZ	runtime
	MOVQ	$0x3d534e544e4d4343, DX	// "CCMNTNS=", little-endian
	CMPQ	DX, 0(R12)
	JNE	runtime
	MOVBQZX	9(R12), CX		// one byte only
	TESTQ	CX, CX
	JNZ	runtime
	MOVBQZX	8(R12), DI		// the descriptor
	TESTQ	DI, DI			// and one byte at least
	JZ	runtime
	MOVQ	$0x00020000, SI		// CLONE_NEWNS
	MOVQ	$308, AX		// setns
	SYSCALL
	TESTQ	AX, AX
	JS	failed
	MOVB	$0x63, 0(R12)		// 'c': entered
	MOVQ	$3, AX			// close(descriptor)
	SYSCALL
	JMP	runtime
failed:
	NEGQ	AX
	MOVB	$0x45, 0(R12)		// 'E'
	MOVB	AX, 8(R12)		// errno
runtime:
	JMP	·joinUserNS(SB)
plain:
	JMP	_rt0_amd64_linux(SB)
