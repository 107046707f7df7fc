// Package regression finds latency regressions of endpoints and of
// critical-path components, between versions, between a baseline and a
// current window, and over time.
//
// # Endpoints and samples
//
// An endpoint is "<service> <span name>" of a SERVER span or of a root span
// (no parent, or a parent that is not among the spans given); each such span
// is one sample: its start, duration, version (resource attribute
// service.version) and evidence ID.
//
// # Tests
//
//   - Two-sample Kolmogorov–Smirnov (stattest.KS2Samp, two-sided, scipy's
//     method auto) of each endpoint's durations between consecutive versions
//     (ordered by first appearance) and, when Input.IsBaseline is set,
//     between the baseline spans it marks and the incident
//     spans. Benjamini–Hochberg controls the false discovery rate at
//     Config.Alpha across every test of every endpoint. A rejected test whose
//     median changed by at least Config.MinRelChange is a "latency_ks"
//     finding citing ks:<endpoint>/<a>..<b>.
//   - Change points: each endpoint's durations are cut into fixed windows,
//     as many as give about Config.SpansPerWindow samples each (between
//     Config.MinWindows and Config.MaxWindows; sparse windows are left out),
//     and PELT with the MBIC penalty (changepoint.PELT, z-scored) runs on the
//     per-window p50 and p95 series. The same runs on critical-path component
//     series: per window, the mean per-trace critical-path time of each
//     (service, operation, component) that holds at least
//     Config.MinSeriesShare of all critical-path time. Each change is tested
//     with KS between the raw samples of the segments on either side
//     (a post-selection test: its p-value is optimistic) and
//     Benjamini–Hochberg across all changes; a rejected change whose level
//     moved by Config.MinRelChange is a "latency_changepoint" (endpoint) or
//     "critical_path_changepoint" (component) finding citing
//     cp:<series>@<t>. The change time t is the midpoint between the last
//     sample before the change and the first sample after it.
//   - Trend breaks: a continuous piecewise-linear fit with one breakpoint
//     (chosen by least squares among the windows, at least
//     trendMinSide on each side) against a single line, on each endpoint's
//     p50 series, with the F-test on (2, n−4) degrees of freedom (the
//     breakpoint counted as a parameter; still optimistic, as the breakpoint
//     is searched). Benjamini–Hochberg across endpoints; a rejected break
//     whose slope change moves the series by Config.MinRelChange of its level
//     by the end is a "latency_trend_break" finding.
//
// # Critical-path components
//
// Each trace's critical path (critpath.Tracer) is split into components:
// lock (lock waits from span events — an event whose name contains
// Config.LockWaitStart up to the next containing Config.LockWaitEnd — and
// futex waits from kernel overlays), io (block I/O overlays), runqueue (run
// queue overlays), network (the critical-path time of a CLIENT span that has
// child spans: time outside the callee's span) and self (the rest). Kernel
// overlays (correlate.Overlays) are per-span sums without intervals: they
// are charged to the span's critical-path segments in time order until
// used up, at most the segment's time. Components per (service, operation)
// holding at least Config.ComponentShare of all critical-path time (self
// excepted, which critpath's own findings cover) are
// "critical_path_component" findings; the finding reports the rank
// correlation between a trace's component time and the number of traces
// running concurrently with it (queueing grows with concurrency).
//
// The package is pure computation: no store, no I/O, deterministic output.
package regression
