// Package lockgraph finds lock-order inversions in the lock graph that the
// lock uprobes observe, and turns them into "lock_inversion" findings.
//
// # Graph
//
// [Build] aggregates []evidence.LockEdge (Acquiring taken while Held was
// held) into a directed graph: nodes are locks, edges held → acquiring with
// summed counts, first and last observation time and the distinct
// (held site, acquiring site) pairs, the most observed Config.MaxSites of
// them kept. The result does not depend on input order.
//
// Lock identity. An identity string names the same lock only within a
// scope:
//
//   - Address-based identities ("0x…", "addr:…", "futex:…" or all decimal
//     digits; see [Config.IsAddress]) are scoped per (node, pid) by
//     default: an address means nothing outside its process, and two
//     processes reusing an address (the same binary, the same heap layout)
//     must not make one lock.
//   - Symbolic identities (symbols, call sites) are global by default: a
//     symbol names the same lock, or lock class, in every process of a
//     binary, and lock order is a property of the code, so A→B seen in one
//     process and B→A in another is a real inversion that has not yet
//     deadlocked (the graph is predictive). [ScopeService] narrows this
//     for fleets whose binaries share symbol names.
//
// A scoped lock is named "id@node/pid" (or "id@service"), a global one by
// its identity ([Config.LockName]). Evidence IDs stay those of the store,
// "edge:<held>><acquiring>" of the unscoped identities, so scoped edges of
// two processes may cite the same stored edge.
//
// Self-loops (A→A) are counted but not reported by default. For an
// address they mean the same lock was taken again while held: the thread
// went on, so the lock is re-entrant (or the acquire was a try-lock), never
// an inversion; they are not reported even with Config.ReportSelfLoops.
// For a symbol they mean two instances of one lock class nested (e.g. two
// accounts' mutexes in a transfer), an inversion only if the instances can
// be taken in both orders, which the graph cannot tell; set
// Config.ReportSelfLoops to report them as cycles of length 1.
//
// # Cycles
//
// [Graph.Cycles] enumerates every elementary cycle of up to
// Config.MaxCycleLen locks (default 4): strongly connected components,
// then a bounded depth-first search from each component's locks in name
// order, pruned by distance back to the start, so each cycle is found once,
// starting at its smallest lock name (the canonical rotation). Cycles come
// shortest first, AB-BA before A→B→C→A.
//
// # Impact and findings
//
// Impact is the share of the given total (critical-path or span) time
// spent waiting on the cycle's locks, from [Waits] keyed by lock name.
// Without wait data the impact is unknown ([Impact.Known] false; the
// finding has no "share" attribute), never zero.
//
// [Analyze] returns one finding per cycle: Kind "lock_inversion", Subject
// "A<->B" or "A->B->C->A", citing each edge of the cycle on the lock
// evidence line and the wait events on theirs (kernel.futex unless the
// caller says otherwise). Confidence grows with the observation count of
// the cycle's weakest edge; when the impact is known Score is Confidence
// scaled by LatentWeight+Share, so that inversions that cost waits rank
// above latent ones (see [Findings]).
//
// Limits: edges carry no thread or lock-set information, so a cycle whose
// acquisitions are all made under a common gate lock, or by one thread
// only, is reported although it cannot deadlock. Such cases show up as
// inversions with no wait impact.
//
// The package is pure computation: no store, no I/O.
package lockgraph
