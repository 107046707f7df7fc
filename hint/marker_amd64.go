package hint

// SpanEnter is the uprobe target for the start of a span: an assembly
// function that executes a 5-byte NOP and returns. traceHi and traceLo are
// the trace id's two big-endian halves, spanID the span id; under ABI0 they
// sit at 8, 16 and 24 bytes above the stack pointer at the probe. Most code
// calls [Enter] instead.
//
// It takes no pointers, so //go:noescape does not apply, and an assembly
// function's NOSPLIT flag lives in its TEXT line (marker_amd64.s).
func SpanEnter(traceHi, traceLo, spanID uint64)

// SpanExit is the uprobe target for the end of a span; see [SpanEnter].
func SpanExit(traceHi, traceLo, spanID uint64)
