// Package hint marks span boundaries for debugai's node collector.
//
// A service calls [Enter] when a span starts and [Exit] when it ends (or
// installs [github.com/debugai/debugai/hint/otelhint] in its OpenTelemetry
// SDK, which does both). The calls do nothing: they exist so that the node
// collector can put uprobes on the marker functions [SpanEnter] and
// [SpanExit] and stamp the kernel events it records (futex waits, run-queue
// delays, retransmits, ...) with the trace and span that was active. Without
// a collector attached, an Enter+Exit pair costs about 5 ns (1.6 ns per
// marker call); with a uprobe on each marker about 1 µs (measured on the
// project's 2-vCPU VM, kernel 6.18; BenchmarkPairUprobe).
//
// # Contract with the collector
//
// On amd64 the markers are ABI0 assembly functions whose first instruction
// is the 5-byte NOP 0f 1f 44 00 00, followed by RET (c3). The kernel runs
// a uprobe on a 5-byte NOP without a trap; on any other first instruction,
// such as the RET that an empty Go function compiles to, every hit traps.
// Measured per enter+exit pair: about 1 µs on the NOP, 19 µs on a RET here
// (40–90 µs in earlier measurements). That is why the markers are written in
// assembly.
//
// At the probe (the first byte of the marker) the registers and stack are:
//
//	0(SP)   return address into the caller
//	8(SP)   traceHi: trace id bytes 0..7, big-endian
//	16(SP)  traceLo: trace id bytes 8..15, big-endian
//	24(SP)  spanID:  span id bytes 0..7, big-endian
//	R14     the current goroutine (g); key span context by it
//
// so the 32-hex-digit trace id is fmt.Sprintf("%016x%016x", traceHi,
// traceLo) and the span id is fmt.Sprintf("%016x", spanID). The arguments
// are on the stack, not in registers, because ABI0 (the assembly calling
// convention) passes them there whatever the Go version.
//
// Spans nest on a goroutine: the collector keeps a stack of span contexts
// per goroutine, pushes on SpanEnter and pops on SpanExit. A span may end on
// another goroutine than the one that started it; SpanExit carries the
// span id, so the collector removes the span by id wherever it is.
//
// # Finding the markers
//
// [SymbolNames] lists the names to look up. In the ELF symbol table (.symtab)
// the Go 1.26 linker names the marker "<pkg>.SpanEnter.abi0": the suffix
// marks an assembly function whose package also declares a Go-ABI wrapper,
// which the compiler does for every exported assembly function. When a
// program takes a marker's address as a func value the wrapper is linked in
// under the plain name "<pkg>.SpanEnter"; it calls the marker and does not
// start with the NOP. So a collector looks up the .abi0 name first and the
// plain name only when that is missing. Binaries linked with -s (and the
// binaries that go test builds) have no .symtab; the function table that the
// Go runtime itself needs (.gopclntab, readable with debug/gosym) survives
// stripping and names the marker "<pkg>.SpanEnter" (the wrapper, when
// present, appears under the same name). Whatever the source of the address,
// the collector must check that the bytes there are [Signature] before it
// attaches: the wrapper does not start with the NOP, and a probe elsewhere
// would be costly or wrong. Package
// [github.com/debugai/debugai/hint/hintelf] does all of this and returns the
// file offsets to attach at.
//
// C and C++ services use hint/c/debugai_hint.h: the same layout, symbols
// debugai_span_enter and debugai_span_exit, arguments in RDI, RSI, RDX.
//
// On other architectures the markers are empty Go functions that are never
// inlined; the package builds everywhere but the collector only supports
// amd64.
package hint
