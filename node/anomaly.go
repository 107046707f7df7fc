package node

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/evidence"
)

// AnomalySpanName is the name of the span the node sends into a trace
// whose kernel events crossed a threshold (docs/anomaly-loop.md).
const AnomalySpanName = "kernel.anomaly"

// AttrAnomalyKind is the kernel.anomaly span's kind: the kernel event type
// that crossed its threshold (futex_wait, runqueue_delay, block_io, fsync,
// tcp_retransmit, page_fault_major), or drops or burst.
const AttrAnomalyKind = "debugai.anomaly.kind"

// Anomaly kinds that are not kernel event types.
const (
	AnomalyDrops = "drops" // records were lost while the trace ran
	AnomalyBurst = "burst" // more records than Config.BurstRecords in a second
)

// AnomalyConfig says when the node sends a kernel.anomaly span into the
// trace a kernel event was stamped with. A zero threshold turns that kind
// off.
type AnomalyConfig struct {
	// FutexWait: futex waits (and Go mutex waits) at least this long.
	FutexWait time.Duration
	// RunqueueDelay: run-queue delays at least this long.
	RunqueueDelay time.Duration
	// Block: block I/O latency and fsync waits at least this long.
	Block time.Duration
	// Retransmits: a retransmit record counting at least this many.
	Retransmits int64
	// MajorFaults: a major-fault record standing for at least this many.
	MajorFaults int64
	// Drops and Burst: a second with record drops, or with more records
	// than Config.BurstRecords, sends one span into each trace stamped on
	// an event in that second (at most PerSecond of them).
	Drops, Burst bool
	// PerSecond caps the spans sent in one second (wall clock); 0 sends
	// none. Spans over the cap are counted, not sent.
	PerSecond int
}

// DefaultAnomalyConfig: futex waits and run-queue delays of 10 ms, block
// I/O and fsync waits of 50 ms, any retransmit, any major fault, drops and
// bursts; at most 50 spans a second.
func DefaultAnomalyConfig() AnomalyConfig {
	return AnomalyConfig{
		FutexWait:     10 * time.Millisecond,
		RunqueueDelay: 10 * time.Millisecond,
		Block:         50 * time.Millisecond,
		Retransmits:   1,
		MajorFaults:   1,
		Drops:         true,
		Burst:         true,
		PerSecond:     50,
	}
}

// Validate reports the first problem with c.
func (c *AnomalyConfig) Validate() error {
	switch {
	case c.FutexWait < 0, c.RunqueueDelay < 0, c.Block < 0:
		return fmt.Errorf("anomaly thresholds: futex %v, run-queue %v, block %v: must not be negative (0: off)", c.FutexWait, c.RunqueueDelay, c.Block)
	case c.Retransmits < 0, c.MajorFaults < 0:
		return fmt.Errorf("anomaly thresholds: retransmits %d, major faults %d: must not be negative (0: off)", c.Retransmits, c.MajorFaults)
	case c.PerSecond < 0:
		return fmt.Errorf("anomaly cap %d spans per second: must not be negative (0: no spans)", c.PerSecond)
	}
	return nil
}

// crosses reports whether kev, stamped with a span, crosses its kind's
// threshold.
func (c *AnomalyConfig) crosses(kev *evidence.KernelEvent) bool {
	over := func(v, threshold int64) bool { return threshold > 0 && v >= threshold }
	switch kev.Type {
	case evidence.KernelFutexWait:
		return over(kev.DurationNS, int64(c.FutexWait))
	case evidence.KernelRunqueueDelay:
		return over(kev.DurationNS, int64(c.RunqueueDelay))
	case evidence.KernelBlockIO, evidence.KernelFsync:
		return over(kev.DurationNS, int64(c.Block))
	case evidence.KernelTCPRetransmit:
		return over(kev.Value, c.Retransmits)
	case evidence.KernelPageFaultMaj:
		return over(kev.Value, c.MajorFaults)
	}
	return false
}

// anomalySpan is one kernel.anomaly span waiting for export: a child of
// the span the kernel event was stamped with.
type anomalySpan struct {
	trace      evidence.TraceID
	parent     evidence.SpanID
	id         evidence.SpanID
	kind       string
	startNS    int64
	endNS      int64
	durationNS int64 // the event's wait or latency; 0 for counts
	value      int64 // the event's count (retransmits, faults) or the records dropped or in the burst
}

// stampKey is a stamped span and an anomaly kind: one span each.
type stampKey struct {
	span evidence.SpanID
	kind string
}

// maxSeenStamps bounds the table that keeps a stamped span from getting a
// second kernel.anomaly span of the same kind; past it the oldest half is
// forgotten.
const maxSeenStamps = 1 << 14

// anomalies decides which kernel events become kernel.anomaly spans: one
// per stamped span and kind, at most PerSecond a second.
type anomalies struct {
	cfg  AnomalyConfig
	node string

	mu        sync.Mutex
	second    int64 // the wall-clock second the cap counts
	inSecond  int   // spans sent in it
	seen      map[stampKey]uint64
	seenOrder uint64
	recent    []anomalySpan // distinct stamped spans since the last tick (for drops and bursts)
	inRecent  map[evidence.SpanID]bool
	sent      uint64 // spans admitted
	capped    uint64 // triggers refused by the cap (a span refused twice counts twice)
}

func newAnomalies(cfg AnomalyConfig, node string) *anomalies {
	return &anomalies{cfg: cfg, node: node, seen: map[stampKey]uint64{}, inRecent: map[evidence.SpanID]bool{}}
}

// event looks at one encoded kernel event at wall time nowNS. It returns
// the span to send, if any.
func (a *anomalies) event(kev *evidence.KernelEvent, nowNS int64) (anomalySpan, bool) {
	if a.cfg.PerSecond == 0 || kev.SpanID == (evidence.SpanID{}) || kev.TraceID == (evidence.TraceID{}) {
		return anomalySpan{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if (a.cfg.Drops || a.cfg.Burst) && len(a.recent) < a.cfg.PerSecond && !a.inRecent[kev.SpanID] {
		a.inRecent[kev.SpanID] = true
		a.recent = append(a.recent, anomalySpan{trace: kev.TraceID, parent: kev.SpanID, startNS: kev.TimeNS, endNS: kev.TimeNS})
	}
	if !a.cfg.crosses(kev) {
		return anomalySpan{}, false
	}
	sp := anomalySpan{
		trace: kev.TraceID, parent: kev.SpanID, kind: string(kev.Type),
		startNS: kev.TimeNS - kev.DurationNS, endNS: kev.TimeNS,
		durationNS: kev.DurationNS,
	}
	if kev.Type == evidence.KernelTCPRetransmit || kev.Type == evidence.KernelPageFaultMaj {
		sp.value = kev.Value
	}
	sp.id = anomalySpanID(a.node, kev.ID())
	return sp, a.admit(sp, nowNS)
}

// tick is called once a second with the records dropped and written in
// it: it returns the drops and burst spans for the stamped spans seen
// since the last call.
func (a *anomalies) tick(drops, events uint64, burstRecords int, nowNS int64) []anomalySpan {
	a.mu.Lock()
	defer a.mu.Unlock()
	recent := a.recent
	a.recent = nil
	clear(a.inRecent)
	var out []anomalySpan
	for _, trig := range []struct {
		on    bool
		kind  string
		count uint64
	}{{a.cfg.Drops && drops > 0, AnomalyDrops, drops}, {a.cfg.Burst && events > uint64(burstRecords), AnomalyBurst, events}} {
		if !trig.on {
			continue
		}
		for _, r := range recent {
			sp := r
			sp.kind, sp.value, sp.startNS, sp.endNS = trig.kind, int64(trig.count), r.startNS, r.startNS
			sp.id = anomalySpanID(a.node, trig.kind+"/"+r.trace.String()+"/"+r.parent.String())
			if a.admit(sp, nowNS) {
				out = append(out, sp)
			}
		}
	}
	return out
}

// admit applies the one-per-span-and-kind rule and the cap; a.mu is held.
func (a *anomalies) admit(sp anomalySpan, nowNS int64) bool {
	k := stampKey{sp.parent, sp.kind}
	if _, dup := a.seen[k]; dup {
		return false
	}
	if sec := nowNS / 1e9; sec != a.second {
		a.second, a.inSecond = sec, 0
	}
	if a.inSecond >= a.cfg.PerSecond {
		a.capped++
		return false
	}
	a.inSecond++
	a.sent++
	if len(a.seen) >= maxSeenStamps {
		cut := a.seenOrder - maxSeenStamps/2
		for key, order := range a.seen {
			if order < cut {
				delete(a.seen, key)
			}
		}
	}
	a.seenOrder++
	a.seen[k] = a.seenOrder
	return true
}

func (a *anomalies) stats() (sent, capped uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sent, a.capped
}

// anomalySpanID derives the span's id from what it stands for, so that a
// retried export carries the same id.
func anomalySpanID(node, what string) evidence.SpanID {
	sum := sha256.Sum256([]byte("kernel.anomaly\x00" + node + "\x00" + what))
	var id evidence.SpanID
	copy(id[:], sum[:8])
	if binary.BigEndian.Uint64(id[:]) == 0 {
		id[7] = 1
	}
	return id
}

// traces builds one OTLP trace export request body from anomaly spans:
// one resource (the node), one scope. Only kernel.anomaly, the kind, the
// duration and the count are set: no payload, no process or address.
func traces(res map[string]string, recs []record) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	for k, v := range res {
		ra.PutStr(k, v)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scopeName)
	spans := ss.Spans()
	spans.EnsureCapacity(len(recs))
	for i := range recs {
		an := recs[i].span
		if an == nil {
			continue
		}
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID(an.trace))
		sp.SetParentSpanID(pcommon.SpanID(an.parent))
		sp.SetSpanID(pcommon.SpanID(an.id))
		sp.SetName(AnomalySpanName)
		sp.SetKind(ptrace.SpanKindInternal)
		sp.SetStartTimestamp(pcommon.Timestamp(max(an.startNS, 1)))
		sp.SetEndTimestamp(pcommon.Timestamp(max(an.endNS, an.startNS, 1)))
		a := sp.Attributes()
		a.PutBool(evidence.AttrKernelAnomaly, true)
		a.PutStr(AttrAnomalyKind, an.kind)
		if an.durationNS > 0 {
			a.PutInt(evidence.AttrDurationNS, an.durationNS)
		}
		if an.value > 0 {
			a.PutInt(evidence.AttrValue, an.value)
		}
	}
	return td
}

// tracesEndpoint derives the OTLP/HTTP traces URL from the logs URL.
func tracesEndpoint(logs string) (string, bool) {
	base, ok := strings.CutSuffix(logs, "/v1/logs")
	if !ok {
		return "", false
	}
	return base + "/v1/traces", true
}
