// Package shape finds changes in the structure of traces between a
// baseline and an incident: calls that went missing or multiplied, traces
// that end early, and error rates, on spans that may carry nothing but
// names, ids and times.
//
// # Model
//
// The unit of analysis is the parent span, never the child span (children
// of one parent are not independent). For every parent operation P (service
// and span name) and child operation C, N(P, C) is the number of C children
// one P span has. Each (P, C) edge seen in either window is tested between
// the baseline's P spans and the incident's: Fisher's exact test on the
// share of P spans with at least one C child (a call missing or new), and
// the Mann–Whitney U test on N itself (fewer or more calls); the edge's
// p-value is the smaller of the two, doubled (Bonferroni within the edge).
// Where spans carry a status, each operation's error rate is tested the
// same way (Fisher). Benjamini–Hochberg controls the false discovery rate
// over every test, and a test counts only when q < Config.Alpha and its
// effect is at least Config.MinShareChange (presence or error share, or the
// share of parents whose count is not the baseline's most common one, in
// points: a fan-out that skips one of four shards for a third of its
// requests) or Config.MinCountChange (relative change of the mean count).
//
// # Deviations and localisation
//
// A span deviates on a significant edge when its own count is on the
// changed side of the baseline's most common count (below it for a
// decrease, above for an increase), or when it is in error on an
// operation whose error rate rose. In each incident trace the deviating
// spans deepest in the call tree are blamed: a caller that merely lost a
// subtree sits above the span whose own children changed.
//
// A caller often deviates because of what one of its callees answered (a
// "not found" with an OK status, a slow or odd reply), with nothing in the
// callee's own shape that changed enough between the windows to be found
// on its own. So the deviating incident spans of an operation are compared
// with its conforming incident spans (the same window, so that a change
// common to the whole incident cancels out; the baseline's spans when
// nearly all deviate): for each callee operation reached from both groups,
// its spans under the deviating callers against those under the conforming
// ones — durations (Mann–Whitney), error share and, per child operation,
// the share of spans making that call (Fisher, with the edge tests'
// minimum effect), Bonferroni within the callee and across the callees.
// The callee that differs most significantly is where the deviation is
// conditioned; the comparison is repeated below it, and the deepest callee
// so found is blamed, with the test that told it apart. When no callee
// differs, the deviation is the caller's own. A span in error is its own
// fault, except a call into another service (a client or producer span):
// its error status reports what the callee answered (an HTTP 5xx, a gRPC
// status), so its deviation is conditioned on the callee like any other.
//
// Failing that, a blamed span whose lost calls are the ones after its last
// completed child passes the blame down to that child's callee when the
// callee's own behaviour changed between the windows (its duration
// distribution, its error rate, or it never answered) and the lost calls
// come after that child in the baseline's order (their mean start within
// the parent): the caller stopped because the call failed. Extra calls
// pass the blame down to the callee only when they answer failures
// (retries); extra calls after successful answers are the caller's own.
//
// A retry storm leaves its callee blamed for its own errors (the deepest
// deviating spans of a retried trace are the callee's failures). A blamed
// operation with more errors that a significant more_calls test reaches
// (its callers call it more times per request) is marked Retried, and that
// test is cited with it: the errors are the callee's, the multiplication
// its callers'.
//
// The incident's shape change is the share of incident traces with a
// deviation less the share of baseline traces that deviate by the same
// rule (the baseline's own irregularity), and counts only when Fisher's
// test of the two shares is below Alpha; each blamed operation explains the
// share of the deviating incident traces blamed on it.
//
// # Limits
//
// Faults that leave the call structure and status unchanged (a wrong
// result) are invisible here. Broken traces (spans dropped by an exporter
// under load) look like missing calls: the orphan share of both windows is
// reported so that a reader can tell. A request mix that differs between
// the windows changes parent counts but not, by itself, the per-parent
// child counts that are tested.
package shape
