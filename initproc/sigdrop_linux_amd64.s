#include "textflag.h"

// See reap_sigaction_linux.go.

TEXT ·sigDrop(SB),NOSPLIT|NOFRAME,$0-0
	RET

TEXT ·sigDropPC(SB),NOSPLIT,$0-8
	MOVQ	$·sigDrop(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
