package bpf

import (
	"encoding/hex"
	"testing"
)

// TestStackCheckEnd decodes the stack-split prologues the Go toolchain
// emits (bytes taken from a Go 1.26 amd64 build) and code without one.
func TestStackCheckEnd(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		want       int
	}{
		// CMPQ SP, 0x10(R14); JBE; PUSHQ BP
		{"small frame", "493b6610" + "7632" + "55", 6},
		// LEAQ -0x10(SP), R12; CMPQ R12, 0x10(R14); JBE rel32; PUSHQ BP
		{"larger frame", "4c8d6424f0" + "4d3b6610" + "0f86b7030000" + "55", 15},
		// MOVQ SP, R12; SUBQ $0x1fa8, R12; JB; CMPQ R12, 0x10(R14); JBE; PUSHQ BP
		{"huge frame", "4989e4" + "4981eca81f0000" + "0f82b9000000" + "4d3b6610" + "0f86af000000" + "55", 26},
		// NOSPLIT leaf: MOVL BX, CX; LOCK XADDL BX, 0(AX); ...
		{"leaf", "89d9" + "f00fc118" + "8d0419" + "c3", 0},
		// a compare with the guard not followed by JBE is not the check
		{"compare without branch", "493b6610" + "90", 0},
		// another base register holds something else than g
		{"other base", "483b6110" + "7632", 0},
		// writes AX before the compare: the arguments would be gone
		{"clobbers an argument", "4889e0" + "493b6610" + "7632", 0},
		{"truncated", "493b66", 0},
		{"empty", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := hex.DecodeString(tc.code)
			if err != nil {
				t.Fatal(err)
			}
			if got := stackCheckEnd(code); got != tc.want {
				t.Errorf("stackCheckEnd(%s) = %d, want %d", tc.code, got, tc.want)
			}
		})
	}
}
