package hint

// Signature is the first six bytes of each marker on amd64: the 5-byte NOP
// 0f 1f 44 00 00 and RET.
const Signature = "\x0f\x1f\x44\x00\x00\xc3"

// Path is the import path of this package, the prefix of the marker symbols.
const Path = "github.com/debugai/debugai/hint"

// Marker symbol names, as they appear in .gopclntab and (without the ABI
// suffix) in .symtab. See the package documentation.
const (
	EnterSymbol = Path + ".SpanEnter"
	ExitSymbol  = Path + ".SpanExit"
)

// abi0Suffix is what the linker appends to an assembly function's name in
// .symtab when a Go-ABI wrapper of the same name exists.
const abi0Suffix = ".abi0"

// SymbolNames returns the names under which a collector should look the
// markers up in a binary's .symtab, in order of preference: the ABI0 names
// ("...SpanEnter.abi0", "...SpanExit.abi0"), then the plain names. When an
// ABI0 name is present, the plain name (if any) is a Go-ABI wrapper, not
// the marker. Check [Signature] at the address either way.
func SymbolNames() []string {
	return []string{
		EnterSymbol + abi0Suffix, ExitSymbol + abi0Suffix,
		EnterSymbol, ExitSymbol,
	}
}

// Enter marks the start of a span on the calling goroutine. traceID and
// spanID are the W3C (OpenTelemetry) ids.
func Enter(traceID [16]byte, spanID [8]byte) {
	SpanEnter(be64(traceID[0:8]), be64(traceID[8:16]), be64(spanID[:]))
}

// Exit marks the end of the span spanID of trace traceID.
func Exit(traceID [16]byte, spanID [8]byte) {
	SpanExit(be64(traceID[0:8]), be64(traceID[8:16]), be64(spanID[:]))
}

// be64 decodes big-endian b[0:8] (encoding/binary without the import).
func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[7]) | uint64(b[6])<<8 | uint64(b[5])<<16 | uint64(b[4])<<24 |
		uint64(b[3])<<32 | uint64(b[2])<<40 | uint64(b[1])<<48 | uint64(b[0])<<56
}
