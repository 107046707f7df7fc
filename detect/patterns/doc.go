// Package patterns detects contention and tail-latency patterns in spans
// and kernel events and reports each as an [evidence.Finding] whose Kind
// names the hypothesis pattern: lock_convoy, starvation, retransmit_tail,
// io_latency, page_fault_storm, network_gap, service_network_delay,
// service_stall, n_plus_one and pool_saturation. [Analyze] runs the
// detectors that Config.Kinds selects over an [Input] (spans, kernel
// events, lock-order edges and optional baseline spans).
//
// Shared definitions:
//
//   - An endpoint is a (service, span name). With at least
//     Config.MinEndpointSpans spans, a span is slow when its duration
//     exceeds the endpoint's Config.SlowQuantile quantile (p95 by default,
//     interpolated as numpy's default) and fast otherwise; spans of smaller
//     endpoints are not labelled.
//   - Kernel events reach spans through correlate.Join (stamped, else the
//     innermost span on the event's thread); only a span's own events count,
//     not its children's. retransmit_tail also credits a span with the
//     unstamped retransmits of its process (span process.pid and host, the
//     node mapped as Config.Join says) that the join placed on no span and
//     that lie inside the span: RTO retransmits run in softirq context
//     without a thread.
//   - Tests are one-sided; p-values across endpoints (or processes, or
//     edges) are adjusted with Benjamini–Hochberg at Config.Alpha and a
//     finding needs a rejected hypothesis.
//   - Each finding cites at most Config.MaxRefs items per role (waits,
//     holder events, spans, ...), strongest first, on their evidence lines.
//
// # lock_convoy
//
// Futex waits of at least ConvoyConfig.MinWaitNS are grouped by lock
// (node, pid, futex address; Go lock waits exported as futex_wait records
// with the lock's address group the same way); a lock needs MinWaits of
// them summing to MinTotalWaitNS. The waker of a futex wait
// is the thread that released the lock; a waker accounting for at least
// DominantShare of the lock's long-wait time, with at least two other
// threads waiting, is the dominant holder. Its hold windows are the
// intervals of the waits it ended. The holder's own block_io, offcpu and
// futex waits on other addresses, clipped to the hold windows, give the
// share of its hold time it was blocked itself; at least
// MinHolderBlockedShare of it, or a TCP retransmit of the holder inside a
// hold window, makes a finding. A Go mutex's holder that waits on a
// downstream call parks its goroutine in the netpoller and blocks no
// thread; its convoy qualifies instead when at least MinCallReleaseShare
// of the waits end within CallSlackNS after a client span of the same
// process ends (the lock released as each call returns), and at least
// twice as often as random timing would give (client spans per second ×
// CallSlackNS); those client spans are cited on the trace line. Subject "0x<addr>@<node>/<pid>"; refs: the
// longest waits (kernel.futex), the holder's blocking events (kernel.block,
// kernel.tcp, kernel.sched, kernel.futex), lock-order edges naming the
// address ("0x…", "addr:0x…", "futex:0x…"; lock line) and the spans of the
// longest waits (trace). Score: seconds waited behind the holder.
// Confidence: holder share × (1 + blocked share)/2, a retransmit counting
// as fully blocked.
//
// # starvation
//
// runqueue_delay events are grouped by (node, cgroup id; pid when the
// cgroup is 0). A group is starved when it has at least MinEvents delays
// whose p90 reaches MinP90DelayNS (microsecond delays are ordinary
// scheduling) and the spans that the join credits with its delays (at
// least MinSpans) spend at least MinShare of their time runnable but
// waiting. Subject "<service> cgroup <id>@<node>". Score: the run-queue
// share; Confidence: sat(share, MinShare)·sat(spans, MinSpans) with
// sat(x, h) = x/(x+h).
//
// Cgroup CPU throttling reaches the store as cpu_throttle records (the
// node reads each target's cgroup cpu.stat: periods and time throttled per
// interval, for the whole process, no thread). A process with at least
// MinThrottleRecords of them and MinThrottledNS throttled in all is starved
// when its slow spans overlap its throttled intervals more often than its
// fast ones (one-sided Fisher, BH across processes) and at least
// MinThrottledSlowSpans slow spans do: run-queue delays of a woken Go
// thread cannot be stamped with a span, so this is how a quota shows on
// Go services. Subject: the "service/name" of most of those slow spans.
// Score: the share of slow spans throttled minus the share of fast ones;
// Confidence: (1 − adjusted p)·sat(slow spans throttled,
// MinThrottledSlowSpans).
//
// # retransmit_tail
//
// Per endpoint, the 2×2 table slow/fast × with/without a TCP retransmit is
// tested with Fisher's exact test (attribution.FisherGreater). A finding
// needs at least MinSlowWithRetransmit slow spans with retransmits, a BH
// rejection and a smoothed rate ratio (k+1)/(n+2) of slow over fast spans
// of at least MinRateRatio. Subject: the endpoint. Score: the rate ratio;
// Confidence: slow spans' retransmit rate × (1 − adjusted p).
//
// # io_latency
//
// Per endpoint, each labelled span's I/O time — the union of its block_io
// and fsync waits (fsync, fdatasync, sync_file_range: the write-back a
// caller waits for, attributable where block requests issued by kernel
// threads are not), capped at its duration — is compared between slow and
// fast spans with a one-sided KS test. A finding needs MinSlowWithIO slow spans with I/O, block I/O at
// least MinShare of slow spans' time, and the slow-minus-fast mean I/O at
// least MinExplained of the slow-minus-fast mean duration: I/O explains the
// tail, not merely every request. Flushes ("debugai.block.op" = "flush",
// what fsync issues) are summed separately (attr flush_ns), and so are
// fsync waits (attr fsync_ns). Score: share ×
// explained; Confidence: share × (1 − adjusted p).
//
// # page_fault_storm
//
// Major faults are counted per process in windows of FaultConfig.WindowNS.
// A storm window holds at least MinFaults faults and BurstFactor times the
// process's median per window (windows without faults between the
// process's first and last fault or span count as zero: a process that
// starts faulting at the incident is compared with its quiet baseline). The process's labelled spans overlapping
// a storm window (or owning a fault inside one) are tested slow against
// fast with Fisher's exact test; at least MinSlowSpans slow overlapping
// spans and a BH rejection make a finding. Subject "<service> pid
// <pid>@<node>". Score: the smoothed rate ratio; Confidence: slow overlap
// rate × (1 − adjusted p).
//
// # network_gap
//
// A client span with a server-span child is one RPC call (with
// GapConfig.CrossServiceRPC, a parent and child of different services
// whose kinds are unspecified count too). Its gap is client duration minus
// server duration: time the caller waited that the callee did not spend in
// its own span, i.e. the network (and the stacks) between them, split into
// a request lag (server start − client start) and a response lag. Calls are
// grouped per edge (caller service and span name, callee service and span
// name). With a baseline edge of at least MinCalls calls, a finding needs a
// KS rejection of "gaps did not grow", a median increase of at least
// MinIncreaseNS that exceeds the callee's own median increase, and a median
// gap share of the client span of at least MinShare; without one, a
// median gap of MinGapNS and the share. The gap is blamed on the network
// path to the callee: Subject is the callee's "service/name", the caller
// named in the summary. Spans alone cannot tell the callee's side of the
// path from the caller's; callee edges from several callers with findings
// point at the callee. Score: the median gap increase in seconds (the
// median gap without a baseline); Confidence: median share × (1 −
// adjusted p). The baseline is Input.Baseline, or the calls whose server
// span Input.IsBaseline marks.
//
// # service_network_delay and service_stall
//
// One detector names the single service that the grown gaps share; it
// needs a baseline. Calls are pooled per service pair (caller service,
// callee service, over all their span names): a pair's gaps grew when it
// has at least GapConfig.MinPairCalls calls and a baseline call, its
// median gap rose by at least MinIncreaseNS and by more than the callee's
// own median duration, and its median gap share is at least MinShare. No
// per-pair test is made, so that a few calls on each of several paths
// still count. The hotspot is the service in the most such pairs; on ties,
// the one that is the callee in more of them (a lone slow path is blamed
// on its callee, as network_gap does), then the larger summed increase.
// When the hotspot is the caller in more pairs than the callee, its
// outgoing calls are pooled and the finding is service_stall: the caller
// itself stalls while its calls are in flight (CPU starvation or
// contention, GC, its own network stack), as a CPU-starved service's
// client spans outlast the callees' server spans on every path out of it.
// Otherwise its incoming calls are pooled and the finding is
// service_network_delay. Either needs a one-sided KS rejection at
// Config.Alpha of "the pooled gaps did not grow" (one test on the chosen
// service, whose choice used the same calls: a screen, not a calibrated
// test) and a pooled median increase of at least MinIncreaseNS. Subject:
// "service/name" with the span name of most of its gapped calls (the
// server name, or the client name for a stall). Score: the pooled median
// increase in seconds; Confidence: (1 − p) × the share of the gapped
// pairs that involve the service.
//
// # n_plus_one
//
// For each parent span, its children of one endpoint (at least
// NPlusOneConfig.MinCalls) are sequential when at least MinSequential of
// consecutive pairs by start do not overlap. Pairs (parent endpoint, child
// endpoint) with at least MinParents such parents whose calls take at
// least MinShare of the parents' time are reported, subject "parent ->
// child". Score: that share; Confidence: the fraction of eligible parents
// showing the pattern × the mean sequential share.
//
// # pool_saturation
//
// Calls of one operation in one process (span endpoint plus the service of
// its first cross-service child, so an HTTP client's calls to different
// services are different pools; scoped by host and pid) are swept for
// their concurrency: the plateau is the most in flight at once. A fan-out
// batch is the calls of one parent with at least two in flight at once; a
// call of a batch that starts at least PoolConfig.MinWaitNS after the
// batch's first call is queued, and is handed a slot when it starts within
// HandoffNS after another call ended at the plateau. A finding needs a
// plateau of at least MinPoolSize, a batch larger than the plateau (demand
// above it), MinQueued queued calls and MinHandoffShare of them handed
// slots. Subject: the operation. Score: the waits' share of the batches'
// time; Confidence: handoff share × sat(queued, MinQueued).
//
// The package is pure computation: no store, no I/O.
package patterns
