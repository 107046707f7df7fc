package ingest

import (
	"unsafe"

	"github.com/debugai/debugai/evidence"
)

// Fixed sizes of the batch element types; unsafe is used only for Sizeof.
const (
	sizeResource    = int64(unsafe.Sizeof(evidence.Resource{}))
	sizeSpan        = int64(unsafe.Sizeof(evidence.Span{}))
	sizeSpanEvent   = int64(unsafe.Sizeof(evidence.SpanEvent{}))
	sizeKernelEvent = int64(unsafe.Sizeof(evidence.KernelEvent{}))
	sizeLockEdge    = int64(unsafe.Sizeof(evidence.LockEdge{}))
	sizeLogRecord   = int64(unsafe.Sizeof(evidence.LogRecord{}))
	sizeAuditCount  = int64(unsafe.Sizeof(evidence.AuditCount{}))
	sizeAttr        = int64(unsafe.Sizeof(evidence.Attr{}))
)

// estimateBytes approximates the memory a batch holds: element sizes plus
// string bytes. Strings shared between items are counted each time, so the
// estimate errs high, which is the safe side for a memory bound.
func estimateBytes(b *evidence.Batch) int64 {
	n := int64(len(b.Resources))*sizeResource + int64(len(b.Spans))*sizeSpan +
		int64(len(b.KernelEvents))*sizeKernelEvent + int64(len(b.LockEdges))*sizeLockEdge +
		int64(len(b.Logs))*sizeLogRecord + int64(len(b.Audit))*sizeAuditCount
	for i := range b.Resources {
		r := &b.Resources[i]
		n += int64(len(r.ID)+len(r.Service)+len(r.Version)+len(r.Environment)+len(r.Host)+len(r.Node)) +
			attrsBytes(r.Attrs)
	}
	for i := range b.Spans {
		s := &b.Spans[i]
		n += int64(len(s.ResourceID)+len(s.Service)+len(s.Version)+len(s.Host)+len(s.Name)+
			len(s.StatusMessage)+len(s.HTTPRoute)+len(s.HTTPMethod)+len(s.RPCSystem)+
			len(s.RPCService)+len(s.RPCMethod)+len(s.DBSystem)+len(s.DBStatement)+
			len(s.DBQueryID)+len(s.PeerService)+len(s.ExceptionType)) + attrsBytes(s.Attrs)
		n += int64(len(s.Events)) * sizeSpanEvent
		for j := range s.Events {
			n += int64(len(s.Events[j].Name)) + attrsBytes(s.Events[j].Attrs)
		}
	}
	for i := range b.KernelEvents {
		e := &b.KernelEvents[i]
		n += int64(len(e.Node)+len(e.Stream)+len(e.Type)+len(e.ResourceID)+len(e.Service)) + attrsBytes(e.Attrs)
	}
	for i := range b.LockEdges {
		e := &b.LockEdges[i]
		n += int64(len(e.Node) + len(e.ResourceID) + len(e.Service) + len(e.Held) + len(e.Acquiring) +
			len(e.HeldSite) + len(e.AcquiringSite))
	}
	for i := range b.Logs {
		l := &b.Logs[i]
		n += int64(len(l.ID)+len(l.ResourceID)+len(l.Service)+len(l.SeverityText)+len(l.EventName)) +
			attrsBytes(l.Attrs)
	}
	for i := range b.Audit {
		a := &b.Audit[i]
		n += int64(len(a.Source) + len(a.Key) + len(a.Action))
	}
	return n
}

func attrsBytes(as evidence.Attrs) int64 {
	n := int64(len(as)) * sizeAttr
	for i := range as {
		n += int64(len(as[i].Key) + len(as[i].Value.Str))
	}
	return n
}
