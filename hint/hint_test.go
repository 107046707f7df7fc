package hint

import (
	"fmt"
	"strings"
	"testing"
)

func TestBE64(t *testing.T) {
	got := be64([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef})
	if got != 0x0123456789abcdef {
		t.Fatalf("be64 = %#x, want 0x0123456789abcdef", got)
	}
}

// TestSplitMatchesHex checks the documented rule: the hex of traceHi and
// traceLo, concatenated, is the W3C trace id.
func TestSplitMatchesHex(t *testing.T) {
	tid := [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	sid := [8]byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	hi, lo, span := be64(tid[:8]), be64(tid[8:]), be64(sid[:])
	if got, want := fmt.Sprintf("%016x%016x", hi, lo), "4bf92f3577b34da6a3ce929d0e0e4736"; got != want {
		t.Errorf("trace id = %s, want %s", got, want)
	}
	if got, want := fmt.Sprintf("%016x", span), "00f067aa0ba902b7"; got != want {
		t.Errorf("span id = %s, want %s", got, want)
	}
}

func TestMarkersCallable(t *testing.T) {
	SpanEnter(1, 2, 3)
	SpanExit(1, 2, 3)
	Enter([16]byte{1}, [8]byte{2})
	Exit([16]byte{1}, [8]byte{2})
}

func TestSymbolNames(t *testing.T) {
	names := SymbolNames()
	want := []string{
		"github.com/debugai/debugai/hint.SpanEnter.abi0",
		"github.com/debugai/debugai/hint.SpanExit.abi0",
		"github.com/debugai/debugai/hint.SpanEnter",
		"github.com/debugai/debugai/hint.SpanExit",
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("SymbolNames() = %q, want %q", names, want)
	}
}
