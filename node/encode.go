package node

import (
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/debugai/debugai/bpf"
	"github.com/debugai/debugai/bpf/symbolize"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/privacy"
)

// Attribute keys the node adds beyond docs/kernel-events.md's common ones.
const (
	AttrTCPLocalAddr  = "debugai.tcp.local_addr"  // string: privacy token of the local address
	AttrTCPRemoteAddr = "debugai.tcp.remote_addr" // string: privacy token of the remote address
	AttrLockFlavor    = "debugai.lock.flavor"     // string: pthread_mutex, go_mutex, ...
	AttrAnomalyReason = "debugai.anomaly.reason"  // string: drops, burst
	AttrAnomalyCount  = "debugai.anomaly.count"   // int: records dropped, or records in the burst second
)

// scopeName is the instrumentation scope of everything the node sends.
const scopeName = "github.com/debugai/debugai/cmd/debugai-node"

// record is one record waiting for export.
type record struct {
	kev  *evidence.KernelEvent // a kernel event, or
	edge *evidence.LockEdge    // a lock-order edge, or
	anom *anomaly              // a kernel.anomaly trigger, or
	span *anomalySpan          // a kernel.anomaly span (the traces exporter)
	tsNS int64
}

type anomaly struct {
	reason string
	count  int64
	pid    int64
}

// encoder turns collector events into records: wall time, stream and
// sequence (the evidence ID), privacy tokens, symbolized lock edges.
type encoder struct {
	node   string
	suffix string // per-run stream suffix: IDs stay unique across restarts
	seq    map[evidence.KernelEventType]uint64
	ring   *privacy.KeyRing
	sym    *symbolize.Symbolizer
	clock  bpf.Clock
	// sitePairs and collapsedEdges: see collapsed.
	sitePairs      map[siteKey][2]uint64
	collapsedEdges uint64
}

func newEncoder(node string, ring *privacy.KeyRing, sym *symbolize.Symbolizer, clock bpf.Clock, start time.Time) *encoder {
	return &encoder{
		node:      node,
		suffix:    strconv.FormatInt(start.UnixNano(), 36),
		seq:       map[evidence.KernelEventType]uint64{},
		ring:      ring,
		sym:       sym,
		clock:     clock,
		sitePairs: map[siteKey][2]uint64{},
	}
}

// kernelEventer is what every kernel-event type of bpf implements.
type kernelEventer interface {
	KernelEvent(bpf.Clock) evidence.KernelEvent
}

// encode converts one collector event; ok is false for events that are
// not exported.
func (e *encoder) encode(ev bpf.Event) (record, bool) {
	switch v := ev.(type) {
	case bpf.LockEdge:
		if e.collapsed(v) {
			return record{}, false
		}
		edge := e.lockEdge(v)
		return record{edge: &edge, tsNS: edge.LastNS}, true
	case bpf.TCPRetransmit:
		kev := v.KernelEvent(e.clock)
		if v.LocalAddr.IsValid() {
			kev.Attrs = append(kev.Attrs, evidence.Attr{Key: AttrTCPLocalAddr, Value: evidence.StringValue(e.ring.Token(v.LocalAddr.String()))})
		}
		if v.RemoteAddr.IsValid() {
			kev.Attrs = append(kev.Attrs, evidence.Attr{Key: AttrTCPRemoteAddr, Value: evidence.StringValue(e.ring.Token(v.RemoteAddr.String()))})
		}
		return e.kernel(kev), true
	case bpf.FutexWait:
		kev := v.KernelEvent(e.clock)
		if kev.Addr != 0 {
			if name, err := e.sym.Data(v.PID, kev.Addr); err == nil {
				kev.Attrs = append(kev.Attrs, evidence.Attr{Key: evidence.AttrLockName, Value: evidence.StringValue(name)})
			}
		}
		return e.kernel(kev), true
	case kernelEventer:
		return e.kernel(v.KernelEvent(e.clock)), true
	}
	return record{}, false
}

func (e *encoder) kernel(kev evidence.KernelEvent) record {
	kev.Node = e.node
	kev.Stream = string(kev.Type) + "-" + e.suffix
	kev.Seq = e.seq[kev.Type]
	e.seq[kev.Type]++
	return record{kev: &kev, tsNS: kev.TimeNS}
}

// siteKey is a lock-order edge's code: the process and the two call sites.
type siteKey struct {
	pid                     uint32
	heldSite, acquiringSite uint64
}

// maxSitePairs bounds the collapse table; past it edges pass unfiltered.
const maxSitePairs = 1 << 16

// collapsed reports whether an edge repeats the call-site pair of an
// earlier edge between other lock addresses: locks allocated per request
// or per connection (context cancellation, connection state) would
// otherwise make every request a new edge. Lock order is a property of
// the code: the first address pair seen at a site pair stands for the
// others, and its later count updates still pass. Long-lived locks keep
// their addresses, so their cycles are unaffected.
func (e *encoder) collapsed(v bpf.LockEdge) bool {
	k := siteKey{v.PID, v.HeldSite, v.AcquiringSite}
	first, ok := e.sitePairs[k]
	switch {
	case !ok && len(e.sitePairs) < maxSitePairs:
		e.sitePairs[k] = [2]uint64{v.Held, v.Acquiring}
		return false
	case !ok:
		return false
	case first == [2]uint64{v.Held, v.Acquiring}:
		return false
	}
	e.collapsedEdges++
	return true
}

// lockEdge names the locks (data symbol, else the address) and sites
// (function file:line, else the address) while the process is alive.
func (e *encoder) lockEdge(v bpf.LockEdge) evidence.LockEdge {
	t := e.clock.UnixNano(v.TimeNS)
	return evidence.LockEdge{
		Node:          e.node,
		PID:           int64(v.PID),
		Held:          e.lockName(v.PID, v.Held),
		Acquiring:     e.lockName(v.PID, v.Acquiring),
		HeldSite:      e.site(v.PID, v.HeldSite),
		AcquiringSite: e.site(v.PID, v.AcquiringSite),
		Count:         int64(v.Count),
		FirstNS:       t,
		LastNS:        t,
	}
}

func (e *encoder) lockName(pid uint32, addr uint64) string {
	if name, err := e.sym.Data(pid, addr); err == nil {
		return name
	}
	return "0x" + strconv.FormatUint(addr, 16)
}

func (e *encoder) site(pid uint32, pc uint64) string {
	if s, err := e.sym.Code(pid, pc); err == nil {
		return s.String()
	}
	return "0x" + strconv.FormatUint(pc, 16)
}

// logs builds one OTLP export request body from records: one resource
// (the node), one scope.
func logs(res map[string]string, recs []record) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	for k, v := range res {
		ra.PutStr(k, v)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scopeName)
	lrs := sl.LogRecords()
	lrs.EnsureCapacity(len(recs))
	for i := range recs {
		lr := lrs.AppendEmpty()
		switch r := recs[i]; {
		case r.kev != nil:
			putKernelEvent(lr, r.kev)
		case r.edge != nil:
			putLockEdge(lr, r.edge)
		case r.anom != nil:
			putAnomaly(lr, r.anom, r.tsNS)
		}
	}
	return ld
}

func putKernelEvent(lr plog.LogRecord, k *evidence.KernelEvent) {
	lr.SetEventName(evidence.KernelEventNamePrefix + string(k.Type))
	lr.SetTimestamp(pcommon.Timestamp(k.TimeNS))
	lr.SetObservedTimestamp(pcommon.Timestamp(k.TimeNS))
	if k.SpanID != (evidence.SpanID{}) {
		lr.SetTraceID(pcommon.TraceID(k.TraceID))
		lr.SetSpanID(pcommon.SpanID(k.SpanID))
	}
	a := lr.Attributes()
	a.EnsureCapacity(10 + len(k.Attrs))
	a.PutStr(evidence.AttrStream, k.Stream)
	a.PutInt(evidence.AttrSeq, int64(k.Seq))
	a.PutInt(evidence.AttrPID, k.PID)
	if k.TID != 0 {
		a.PutInt(evidence.AttrTID, k.TID)
	}
	a.PutInt(evidence.AttrCgroupID, int64(k.CgroupID))
	if k.DurationNS != 0 {
		a.PutInt(evidence.AttrDurationNS, k.DurationNS)
	}
	if k.Addr != 0 {
		a.PutInt(evidence.AttrFutexAddr, int64(k.Addr))
	}
	if k.WakerTID != 0 {
		a.PutInt(evidence.AttrWakerTID, k.WakerTID)
	}
	if k.Value != 0 {
		a.PutInt(evidence.AttrValue, k.Value)
	}
	for _, at := range k.Attrs {
		putValue(a, at.Key, at.Value)
	}
}

func putValue(a pcommon.Map, key string, v evidence.Value) {
	switch v.Kind {
	case evidence.KindInt:
		a.PutInt(key, v.Int)
	case evidence.KindFloat:
		a.PutDouble(key, v.Float)
	case evidence.KindBool:
		a.PutBool(key, v.Bool)
	default:
		a.PutStr(key, v.Str)
	}
}

func putLockEdge(lr plog.LogRecord, e *evidence.LockEdge) {
	lr.SetEventName(evidence.KernelLockEdgeEventName)
	lr.SetTimestamp(pcommon.Timestamp(e.LastNS))
	lr.SetObservedTimestamp(pcommon.Timestamp(e.LastNS))
	a := lr.Attributes()
	a.PutStr(evidence.AttrLockHeld, e.Held)
	a.PutStr(evidence.AttrLockAcquiring, e.Acquiring)
	a.PutStr(evidence.AttrLockHeldSite, e.HeldSite)
	a.PutStr(evidence.AttrLockAcquireSite, e.AcquiringSite)
	a.PutInt(evidence.AttrLockCount, e.Count)
	a.PutInt(evidence.AttrPID, e.PID)
}

func putAnomaly(lr plog.LogRecord, an *anomaly, ts int64) {
	lr.SetEventName(evidence.KernelEventNamePrefix + string(evidence.KernelAnomaly))
	lr.SetTimestamp(pcommon.Timestamp(ts))
	lr.SetObservedTimestamp(pcommon.Timestamp(ts))
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	a := lr.Attributes()
	a.PutBool(evidence.AttrKernelAnomaly, true)
	a.PutStr(AttrAnomalyReason, an.reason)
	a.PutInt(AttrAnomalyCount, an.count)
	if an.pid != 0 {
		a.PutInt(evidence.AttrPID, an.pid)
	}
}
