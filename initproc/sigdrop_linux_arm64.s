#include "textflag.h"

// See reap_sigaction_linux.go.

TEXT ·sigDrop(SB),NOSPLIT|NOFRAME,$0-0
	RET

TEXT ·sigDropPC(SB),NOSPLIT,$0-8
	MOVD	$·sigDrop(SB), R0
	MOVD	R0, ret+0(FP)
	RET
