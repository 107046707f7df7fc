//go:build !amd64

package hint

// SpanEnter marks the start of a span. On this architecture it is an empty
// Go function kept out of line; the node collector supports amd64 only.
//
//go:noinline
func SpanEnter(traceHi, traceLo, spanID uint64) {}

// SpanExit marks the end of a span; see [SpanEnter].
//
//go:noinline
func SpanExit(traceHi, traceLo, spanID uint64) {}
