package ingest

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/privacy"
)

// kernelRecord turns a "kernel.*" log record into a KernelEvent or LockEdge.
// The attribute keys are those of docs/kernel-events.md; each still passes
// through the privacy policy, so an address or string a collector should
// have tokenized never lands raw.
func (c *PrivacyConverter) kernelRecord(counts *privacy.Counts, b *evidence.Batch, res *evidence.Resource, name string, lr plog.LogRecord) string {
	attrs := c.keptAttrs(counts, privacy.SourceKernel, lr.Attributes())
	node := res.Node
	if node == "" {
		node = "unknown"
	}
	if name == evidence.KernelLockEdgeEventName {
		return lockEdge(b, res, node, attrs, logTime(lr))
	}
	typ := evidence.KernelEventType(strings.TrimPrefix(name, evidence.KernelEventNamePrefix))
	if typ == "" {
		return "empty kernel event type"
	}
	ev := evidence.KernelEvent{
		Node:       node,
		Type:       typ,
		ResourceID: res.ID,
		Service:    res.Service,
		TimeNS:     logTime(lr),
		TraceID:    evidence.TraceID(lr.TraceID()),
		SpanID:     evidence.SpanID(lr.SpanID()),
	}
	var haveSeq bool
	for _, a := range attrs {
		switch a.Key {
		case evidence.AttrStream:
			ev.Stream = a.Value.String()
		case evidence.AttrSeq:
			ev.Seq, haveSeq = uint64(intOf(a.Value)), a.Value.Kind == evidence.KindInt
		case evidence.AttrPID:
			ev.PID = intOf(a.Value)
		case evidence.AttrTID:
			ev.TID = intOf(a.Value)
		case evidence.AttrCgroupID:
			ev.CgroupID = uint64(intOf(a.Value))
		case evidence.AttrDurationNS:
			ev.DurationNS = intOf(a.Value)
		case evidence.AttrFutexAddr:
			ev.Addr = uint64(intOf(a.Value))
		case evidence.AttrWakerTID:
			ev.WakerTID = intOf(a.Value)
		case evidence.AttrValue:
			ev.Value = intOf(a.Value)
		case "event.name":
		default:
			ev.Attrs = append(ev.Attrs, a)
		}
	}
	if ev.Stream == "" {
		ev.Stream = string(typ)
	}
	if strings.ContainsAny(ev.Stream, "/ ") || strings.ContainsAny(node, "/ ") {
		return "kernel event stream or node id contains '/' or a space"
	}
	if !haveSeq {
		// A producer without sequence numbers: derive one from the content so
		// that re-ingesting the same record yields the same evidence ID.
		ev.Seq = contentSeq(&ev)
	}
	b.KernelEvents = append(b.KernelEvents, ev)
	return ""
}

// isAnomalySpan reports a kernel.anomaly span (docs/anomaly-loop.md): named
// kernel.anomaly, with kernel.anomaly=true, the child of a span.
func isAnomalySpan(sp ptrace.Span) bool {
	if sp.Name() != evidence.KernelEventNamePrefix+string(evidence.KernelAnomaly) || sp.ParentSpanID().IsEmpty() {
		return false
	}
	v, ok := sp.Attributes().Get(evidence.AttrKernelAnomaly)
	return ok && v.Type() == pcommon.ValueTypeBool && v.Bool()
}

// anomalySpan stores a kernel.anomaly span as what it is: a kernel.anomaly
// trigger (a kernel event of type anomaly, no evidence line) stamped with
// the span it is the child of. Stored as a span it would add a service
// (the node's) to the trace, and its wait to that service's time on the
// critical path.
func (c *PrivacyConverter) anomalySpan(counts *privacy.Counts, b *evidence.Batch, res *evidence.Resource, sp ptrace.Span) {
	node := res.Node
	if node == "" {
		node = "unknown"
	}
	ev := evidence.KernelEvent{
		Node:       node,
		Type:       evidence.KernelAnomaly,
		Stream:     anomalySpanStream,
		ResourceID: res.ID,
		TimeNS:     int64(sp.EndTimestamp()),
		TraceID:    evidence.TraceID(sp.TraceID()),
		SpanID:     evidence.SpanID(sp.ParentSpanID()),
	}
	for _, a := range c.keptAttrs(counts, privacy.SourceKernel, sp.Attributes()) {
		switch a.Key {
		case evidence.AttrDurationNS:
			ev.DurationNS = intOf(a.Value)
		case evidence.AttrValue:
			ev.Value = intOf(a.Value)
		default:
			ev.Attrs = append(ev.Attrs, a)
		}
	}
	ev.Seq = contentSeq(&ev)
	b.KernelEvents = append(b.KernelEvents, ev)
}

// anomalySpanStream is the stream of kernel.anomaly events that arrived as
// spans.
const anomalySpanStream = "anomaly-span"

func lockEdge(b *evidence.Batch, res *evidence.Resource, node string, attrs evidence.Attrs, t int64) string {
	e := evidence.LockEdge{Node: node, ResourceID: res.ID, Service: res.Service, FirstNS: t, LastNS: t, Count: 1}
	for _, a := range attrs {
		switch a.Key {
		case evidence.AttrLockHeld:
			e.Held = a.Value.String()
		case evidence.AttrLockAcquiring:
			e.Acquiring = a.Value.String()
		case evidence.AttrLockHeldSite:
			e.HeldSite = a.Value.String()
		case evidence.AttrLockAcquireSite:
			e.AcquiringSite = a.Value.String()
		case evidence.AttrLockCount:
			if n := intOf(a.Value); n > 0 {
				e.Count = n
			}
		case evidence.AttrPID:
			e.PID = intOf(a.Value)
		}
	}
	if e.Held == "" || e.Acquiring == "" {
		return "lock edge without " + evidence.AttrLockHeld + " and " + evidence.AttrLockAcquiring
	}
	b.LockEdges = append(b.LockEdges, e)
	return ""
}

func contentSeq(ev *evidence.KernelEvent) uint64 {
	h := sha256.New()
	var buf [8]byte
	for _, n := range []int64{ev.TimeNS, ev.DurationNS, ev.PID, ev.TID, int64(ev.CgroupID), int64(ev.Addr), ev.WakerTID, ev.Value} {
		binary.LittleEndian.PutUint64(buf[:], uint64(n))
		h.Write(buf[:])
	}
	h.Write([]byte(ev.Type))
	h.Write(ev.TraceID[:])
	h.Write(ev.SpanID[:])
	for _, a := range ev.Attrs {
		h.Write([]byte(a.Key + "\x00" + a.Value.String() + "\x00"))
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8]) >> 1 // fits a signed column
}
