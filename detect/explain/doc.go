// Package explain is debugai's one ranking model: it measures how much of
// an incident's change, against its baseline, each candidate location
// explains, and scores every finding by the share its location explains.
// docs/ranking.md states the model; this comment is its summary.
//
// The incident's change has two parts. The latency part is the growth of
// the mean critical-path length per request: every trace's critical path
// (package critpath) is cut into exclusive time per operation (a span's own
// time, split into lock, I/O and run-queue waits by its kernel overlay),
// and into transit time (the self time of a span whose children all run in
// other services: the network and queueing between caller and callee).
// A job a request hands off without waiting (a consumer span under a
// producer span, or a span starting after its parent ended) is a unit of
// work of its own, with its own critical path and root operation.
// Compared per root operation (so a different request mix is not a change)
// and weighted by the incident's mix, the per-key deltas add up exactly to
// the change of the mean critical path. Transit deltas go to the end
// whose TCP retransmits grew more, else to the end whose side of the calls
// grew more consistently (the caller's outbound transits against the
// callee's inbound ones; the callee on a tie). The shape part is package shape's: the share of
// incident traces whose call structure changed, less the baseline's own,
// blamed on the deepest operation that changed.
//
// A service explains (M_lat·L + M_shape·S) / (M_lat + M_shape) of the
// change, where L is its share of the positive latency deltas, S its share
// of the blamed shape deviations, M_lat the relative growth of the mean
// critical path (capped at 1) and M_shape the shape change. Evidence
// strength is shown beside it, not multiplied in: a Mann–Whitney test per
// key between the windows' per-trace values (centred per root operation),
// Benjamini–Hochberg across keys, and package shape's q-values. A service
// with no significant positive part explains nothing and what is found
// there is pre-existing. Without a baseline the latency part is each
// operation's share of the incident's critical-path time.
package explain
