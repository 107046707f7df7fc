#include "textflag.h"

// The markers start with the 5-byte NOP 0f 1f 44 00 00 (NOPL 0(AX)(AX*1)),
// spelled as bytes so the assembler cannot choose another encoding, and
// return. Frame size 0 and NOSPLIT: no prologue, so the NOP is the first
// instruction. See doc.go for the argument layout.

// func SpanEnter(traceHi, traceLo, spanID uint64)
TEXT ·SpanEnter(SB), NOSPLIT|NOFRAME, $0-24
	BYTE $0x0f; BYTE $0x1f; BYTE $0x44; BYTE $0x00; BYTE $0x00
	RET

// func SpanExit(traceHi, traceLo, spanID uint64)
TEXT ·SpanExit(SB), NOSPLIT|NOFRAME, $0-24
	BYTE $0x0f; BYTE $0x1f; BYTE $0x44; BYTE $0x00; BYTE $0x00
	RET
