package hint_test

import "github.com/debugai/debugai/hint"

// A request handler marks its span so the node collector can attribute the
// kernel events it records (futex waits, run-queue delays) to the span.
func Example() {
	traceID := [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID := [8]byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}

	hint.Enter(traceID, spanID)
	defer hint.Exit(traceID, spanID)
	// ... handle the request ...
	// Output:
}
