// Package critpath computes the critical path of each trace and aggregates
// it across traces into a critical-path share per (service, operation).
//
// # Critical path
//
// The critical path of a trace is the chain of work that its root span's
// end waited for. [Tracer.Path] follows the algorithm of the Jaeger UI
// (packages/jaeger-ui/src/components/TracePage/CriticalPath): start at the
// root with a cursor at its end; repeatedly take the child that finishes
// last at or before the cursor ("last finishing child"), attribute the gap
// between that child's end and the cursor to the parent's own time, descend
// into the child, and when the child is done move the cursor to the child's
// start. When no child remains, the span's own time runs from its start to
// the cursor. Children that end after the cursor (concurrent work that did
// not block, async work that the parent did not wait for) are skipped.
// The result is a list of [Segment]s, each a stretch of one span's own
// time, that partitions the root's interval exactly: segment durations sum
// to the root's duration.
//
// Deviations from and additions to the Jaeger UI, all deterministic:
//
//   - A child is taken when it ends at or before the cursor (Jaeger: strictly
//     before), so back-to-back sequential children that touch at the same
//     nanosecond are both on the path. Each child is considered once, which
//     also keeps zero-length children from looping.
//   - Children are clipped to their parent's (already clipped) interval:
//     clock skew between services, a child starting before its parent or
//     outliving it. A child entirely outside its parent clips to a zero-length
//     interval and contributes nothing (Jaeger drops it; the result is the
//     same).
//   - A span whose parent is not stored, or that names itself as parent, is
//     the root of its own subtree. The trace's root is the parentless span
//     with the longest duration (ties: earliest start, then lowest span id);
//     other parentless subtrees are not on the path and are counted in
//     [Path.Roots].
//   - Of spans repeating a span id, the first in input order is kept.
//   - A span ending before it starts is treated as zero-length at its start.
//
// # Aggregation and findings
//
// An [Aggregator] accumulates paths: the share of an operation is its total
// critical-path time over the total critical-path time (sum of root
// durations) of all traces, with per-trace percentiles and bounded
// exemplars. Operations whose share reaches [Config.DominantShare] become
// "critical_path_dominant" findings citing exemplar spans on the trace
// evidence line.
//
// The package is pure computation over []evidence.Span: no store, no I/O.
package critpath
