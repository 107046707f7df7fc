/*
 * debugai_hint.h: span markers for debugai's node collector, for C and C++
 * services. The C counterpart of the Go package github.com/debugai/debugai/hint.
 *
 * Call debugai_span_enter when a span starts and debugai_span_exit when it
 * ends, on the thread that runs the span. The calls do nothing; the node
 * collector puts uprobes on them and stamps kernel events with the active
 * trace and span. Without a collector a call costs a call and a return.
 *
 * Single-header library: include it anywhere for the declarations, and in
 * exactly one C or C++ file define the functions with
 *
 *     #define DEBUGAI_HINT_IMPLEMENTATION
 *     #include "debugai_hint.h"
 *
 * Contract with the collector (x86-64, ELF):
 *   - symbols debugai_span_enter and debugai_span_exit, global functions
 *     (in .dynsym too when built into a shared library);
 *   - each starts with the 5-byte NOP 0f 1f 44 00 00 followed by ret (c3);
 *     a uprobe on a 5-byte NOP costs a few microseconds, on anything else
 *     (a ret, push %rbp, the five 1-byte NOPs that gcc emits for
 *     patchable_function_entry(5), an endbr64 from -fcf-protection) it takes
 *     a trap costing 30-90 microseconds. That is why the markers are defined
 *     in top-level assembly rather than as C functions;
 *   - arguments in the SysV registers: trace_hi in RDI, trace_lo in RSI,
 *     span_id in RDX. trace_hi and trace_lo are the trace id's bytes 0..7
 *     and 8..15 read big-endian, span_id the span id's 8 bytes big-endian,
 *     so printing them as %016llx%016llx gives the W3C trace id.
 *   - context is keyed by thread id: thread-per-request code only. For
 *     event loops and coroutines, call enter/exit around each slice of work.
 *   - the collector finds the markers by name: keep the symbol table of
 *     executables (do not strip them), or link with -rdynamic, or build the
 *     implementation into a shared library, whose .dynsym survives strip.
 *   - the markers have no endbr64: call them directly (as the declarations
 *     here do), not through function pointers, in processes that enforce
 *     indirect-branch tracking.
 *
 * On other architectures or object formats the functions are ordinary
 * non-inlined empty functions.
 */
#ifndef DEBUGAI_HINT_H
#define DEBUGAI_HINT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the start of span span_id of trace (trace_hi, trace_lo). */
void debugai_span_enter(uint64_t trace_hi, uint64_t trace_lo, uint64_t span_id);

/* Marks the end of span span_id of trace (trace_hi, trace_lo). */
void debugai_span_exit(uint64_t trace_hi, uint64_t trace_lo, uint64_t span_id);

/* debugai_hint_be64 reads 8 bytes big-endian (for ids held as byte arrays). */
static inline uint64_t debugai_hint_be64(const uint8_t *p)
{
	return ((uint64_t)p[0] << 56) | ((uint64_t)p[1] << 48) | ((uint64_t)p[2] << 40) |
	       ((uint64_t)p[3] << 32) | ((uint64_t)p[4] << 24) | ((uint64_t)p[5] << 16) |
	       ((uint64_t)p[6] << 8) | (uint64_t)p[7];
}

/* debugai_hint_enter calls debugai_span_enter with ids as byte arrays
 * (16-byte trace id, 8-byte span id, as OpenTelemetry holds them). */
static inline void debugai_hint_enter(const uint8_t trace_id[16], const uint8_t span_id[8])
{
	debugai_span_enter(debugai_hint_be64(trace_id), debugai_hint_be64(trace_id + 8),
			   debugai_hint_be64(span_id));
}

/* debugai_hint_exit is debugai_hint_enter's counterpart for span ends. */
static inline void debugai_hint_exit(const uint8_t trace_id[16], const uint8_t span_id[8])
{
	debugai_span_exit(debugai_hint_be64(trace_id), debugai_hint_be64(trace_id + 8),
			  debugai_hint_be64(span_id));
}

#ifdef __cplusplus
}
#endif

#endif /* DEBUGAI_HINT_H */

#if defined(DEBUGAI_HINT_IMPLEMENTATION) && !defined(DEBUGAI_HINT_IMPLEMENTED)
#define DEBUGAI_HINT_IMPLEMENTED

#if defined(__x86_64__) && defined(__ELF__)
/* Top-level assembly: the compiler adds nothing (no endbr64, no frame
 * setup) and cannot inline or drop the functions. The NOP is spelled as
 * bytes so the assembler cannot pick another encoding. */
__asm__(".pushsection .text.debugai_hint,\"ax\",@progbits\n"
	"\t.p2align 4\n"
	"\t.globl debugai_span_enter\n"
	"\t.type debugai_span_enter, @function\n"
	"debugai_span_enter:\n"
	"\t.byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"
	"\tret\n"
	"\t.size debugai_span_enter, . - debugai_span_enter\n"
	"\t.p2align 4\n"
	"\t.globl debugai_span_exit\n"
	"\t.type debugai_span_exit, @function\n"
	"debugai_span_exit:\n"
	"\t.byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"
	"\tret\n"
	"\t.size debugai_span_exit, . - debugai_span_exit\n"
	"\t.popsection\n");
#else
#ifdef __cplusplus
extern "C" {
#endif
__attribute__((noinline, used)) void debugai_span_enter(uint64_t trace_hi, uint64_t trace_lo, uint64_t span_id)
{
	__asm__ __volatile__("" : : "r"(trace_hi), "r"(trace_lo), "r"(span_id) : "memory");
}
__attribute__((noinline, used)) void debugai_span_exit(uint64_t trace_hi, uint64_t trace_lo, uint64_t span_id)
{
	__asm__ __volatile__("" : : "r"(trace_hi), "r"(trace_lo), "r"(span_id) : "memory");
}
#ifdef __cplusplus
}
#endif
#endif

#endif /* DEBUGAI_HINT_IMPLEMENTATION */
