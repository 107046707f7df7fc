// Package correlate joins eBPF kernel events to OpenTelemetry spans and sums
// the joined events into per-span kernel overlays.
//
// # Join
//
// [Join] assigns each event to at most one span, trying in order:
//
//  1. Stamped (confidence 1): span hooks stamped the event with a trace and
//     span id, and that span is among the spans given. A stamp naming an
//     absent span falls through to the overlap join (Stats.StampUnresolved).
//     Stamps are the only reliable join for Go: a goroutine's span moves
//     between OS threads (72 of 400 spans did at GOMAXPROCS=2), so hooks
//     key span context by goroutine.
//  2. Overlap by thread (confidence 0.9, 0.6 near an edge): the innermost
//     span on the event's (node, pid, tid) whose interval contains the
//     event's anchor. A span's thread is its thread.id and process.pid;
//     its node is its host.name (through Config.HostNodes) when
//     Config.MatchNode is set. This is exact for thread-per-request
//     runtimes, where a thread runs one request at a time.
//  3. Overlap by process (confidence 0.5, 0.3 near an edge; only with
//     Config.PIDFallback): the innermost span containing the anchor among
//     the process's spans that carry no thread.id. Meant for
//     single-threaded runtimes whose SDK records no thread id; spans
//     without thread.id otherwise join no event by overlap
//     (Stats.SpansNoThread).
//
// Definitions, all deterministic:
//
//   - A span covers the closed interval [StartNS, EndNS]: an event exactly
//     at a span's start or end is inside it. A span ending before it starts
//     covers [StartNS, StartNS].
//   - The innermost span at time t is, of the spans on the thread that
//     cover t, the one that starts last; ties go to the shorter span, then
//     to the later one in input order. For properly nested spans this is
//     the deepest descendant. Spans that overlap without nesting (siblings
//     on one thread, which a thread-per-request runtime does not produce)
//     follow the same rule: the later-starting sibling wins while it lasts,
//     then the earlier one again if it is still open. Back-to-back spans
//     touching at one nanosecond give that nanosecond to the later one.
//   - The anchor of an event is one instant of its wait interval
//     [TimeNS-DurationNS, TimeNS], chosen by Config.Anchor; by default the
//     middle. A blocked (or runnable-but-waiting) thread cannot enter or
//     leave a span, so on a thread-per-request runtime every instant of a
//     wait has the same innermost span, and the middle is the instant
//     farthest from the span boundaries on either side. A wait is credited
//     whole to one span; it is never split.
//   - Events without a thread id (tid 0: softirq and irq context, such as
//     RTO-timer TCP retransmits) join only by stamp or, with PIDFallback,
//     by process.
//
// # Clocks and error bound
//
// Spans carry the service's wall clock. The node collector converts
// bpf_ktime_get_ns (CLOCK_MONOTONIC) to wall time as ktime + (REALTIME -
// MONOTONIC) with a bracketed sample, error < 2 µs. Config.NodeOffsetNS
// adds a per-node correction (span clock minus the node's event clock) to
// event times before matching. Config.ClockErrorNS (default 2 µs) is the
// bound on the remaining error: an overlap assignment whose anchor lies
// within ClockErrorNS of a change of innermost span (a span start or end
// on that thread) is flagged NearEdge and gets the lower confidence; one
// farther away is the same for every clock error within the bound.
// Stamped events whose anchor lies outside their span by more than the
// bound are counted in Stats.StampOutside, a check on the offsets.
//
// # Algorithm and cost
//
// Spans are grouped by a packed (node, pid, tid) key in an open-addressing
// table, sorted by start within each group, and swept once with a stack of
// open spans (innermost on top; an ended span leaves when it reaches the
// top) into a step function per thread: sorted breakpoints, each naming
// the innermost span until the next. Events are then looked up in input
// order: a per-thread cursor walks forward when a thread's event times do
// not decrease (the usual order of a collector stream) and binary-searches
// otherwise. Cost: O(S log S) for spans (O(S) when each thread's spans
// arrive sorted by start) plus O(E) for time-ordered events, O(E log S)
// worst case, with no map access and no allocation per event. 5M events
// against 1M spans on ~1000 threads take a few hundred milliseconds on one
// core (BenchmarkJoin5Mx1M).
//
// # Overlays and accuracy
//
// [Overlays] sums each span's own assigned events under the seed's
// attribute keys ([KeyFutexWaitNS], ...) and cites the longest of them.
// [Evaluate] scores the overlap join against hook stamps (precision and
// recall with stamps hidden). The package is pure computation: no store,
// no I/O.
package correlate
