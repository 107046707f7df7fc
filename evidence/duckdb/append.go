package duckdb

import (
	"database/sql/driver"
	"encoding/binary"
	"strings"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/debugai/debugai/evidence"
)

// writeBuffers are reused across Write calls (guarded by Store.mu) to keep
// the per-row cost of appending low: the Appender's per-value cost (a cgo
// call per string or NULL, an allocation per boxed value) dominates.
type writeBuffers struct {
	row        []driver.Value
	json       []byte
	spanIndex  map[spanKey]int // first position of each span id in the batch
	keepSpan   []bool          // per span of the batch: new, to be appended
	keptSpans  int
	kevIndex   map[kevKey]int
	keepKernel []bool
	keptKernel int
	strSeen    map[string]struct{}
	edges      map[[2]string]int
	audit      map[[3]string]int
}

type spanKey struct {
	trace evidence.TraceID
	span  uint64
}

type kevKey struct {
	node, stream string
	seq          uint64
}

func spanUint(s evidence.SpanID) uint64 { return binary.BigEndian.Uint64(s[:]) }

// markDuplicates resets the buffers and marks, for spans and kernel events,
// the first occurrence of each id in the batch as kept.
func (w *writeBuffers) markDuplicates(b *evidence.Batch) {
	if w.spanIndex == nil {
		w.spanIndex = make(map[spanKey]int)
		w.kevIndex = make(map[kevKey]int)
		w.strSeen = make(map[string]struct{})
		w.edges = make(map[[2]string]int)
		w.audit = make(map[[3]string]int)
	}
	clear(w.spanIndex)
	clear(w.kevIndex)
	clear(w.strSeen)
	clear(w.edges)
	clear(w.audit)
	w.keepSpan = resetBools(w.keepSpan, len(b.Spans))
	w.keptSpans = 0
	for i := range b.Spans {
		k := spanKey{b.Spans[i].TraceID, spanUint(b.Spans[i].SpanID)}
		if _, dup := w.spanIndex[k]; !dup {
			w.spanIndex[k] = i
			w.keepSpan[i] = true
			w.keptSpans++
		}
	}
	w.keepKernel = resetBools(w.keepKernel, len(b.KernelEvents))
	w.keptKernel = 0
	for i := range b.KernelEvents {
		e := &b.KernelEvents[i]
		k := kevKey{e.Node, e.Stream, e.Seq}
		if _, dup := w.kevIndex[k]; !dup {
			w.kevIndex[k] = i
			w.keepKernel[i] = true
			w.keptKernel++
		}
	}
}

func resetBools(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	b = b[:n]
	clear(b)
	return b
}

func (w *writeBuffers) appendSpanKeys(a *duckdb.Appender, spans []evidence.Span) error {
	row := w.rowOf(1)
	for i := range spans {
		if !w.keepSpan[i] {
			continue
		}
		row[0] = spanUint(spans[i].SpanID)
		if err := a.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}

func (w *writeBuffers) appendKernelKeys(a *duckdb.Appender, evs []evidence.KernelEvent) error {
	row := w.rowOf(3)
	for i := range evs {
		if !w.keepKernel[i] {
			continue
		}
		row[0], row[1], row[2] = valid(evs[i].Node), valid(evs[i].Stream), evs[i].Seq
		if err := a.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}

// scanStoredSpan un-keeps the batch's span that a stored row matches.
func (w *writeBuffers) scanStoredSpan(r scanner) error {
	var t traceScan
	var sid uint64
	if err := r.Scan(&t, &sid); err != nil {
		return err
	}
	if i, ok := w.spanIndex[spanKey{t.id, sid}]; ok && w.keepSpan[i] {
		w.keepSpan[i] = false
		w.keptSpans--
	}
	return nil
}

func (w *writeBuffers) scanStoredKernelEvent(r scanner) error {
	var k kevKey
	if err := r.Scan(&k.node, &k.stream, &k.seq); err != nil {
		return err
	}
	if i, ok := w.kevIndex[k]; ok && w.keepKernel[i] {
		w.keepKernel[i] = false
		w.keptKernel--
	}
	return nil
}

func (w *writeBuffers) countKeptEvents(spans []evidence.Span) int {
	n := 0
	for i := range spans {
		if w.keepSpan[i] {
			n += len(spans[i].Events)
		}
	}
	return n
}

// rowOf returns the reusable row slice with n columns.
func (w *writeBuffers) rowOf(n int) []driver.Value {
	if cap(w.row) < n {
		w.row = make([]driver.Value, n)
	}
	return w.row[:n]
}

// attrs encodes attributes as JSON; nil (NULL) when there are none. The
// Appender copies the bytes, so the buffer is reused.
func (w *writeBuffers) attrs(a evidence.Attrs) driver.Value {
	if len(a) == 0 {
		return nil
	}
	w.json = appendAttrsJSON(w.json[:0], a)
	return w.json
}

// str maps "" to NULL and repairs invalid UTF-8, which DuckDB would
// otherwise store as NULL without an error.
func str(s string) driver.Value {
	if s == "" {
		return nil
	}
	return valid(s)
}

// valid replaces invalid UTF-8 sequences with U+FFFD.
func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// num maps 0 to NULL, for optional integers where 0 means absent.
func num(i int64) driver.Value {
	if i == 0 {
		return nil
	}
	return i
}

// traceVal and spanVal map the zero id to NULL.
func traceVal(t evidence.TraceID) driver.Value {
	if t.IsZero() {
		return nil
	}
	return duckdb.UUID(t)
}

func spanVal(s evidence.SpanID) driver.Value {
	if s.IsZero() {
		return nil
	}
	return spanUint(s)
}

func (w *writeBuffers) appendResources(a *duckdb.Appender, rs []evidence.Resource) error {
	row := w.rowOf(7)
	for i := range rs {
		r := &rs[i]
		if _, dup := w.strSeen[r.ID]; dup {
			continue
		}
		w.strSeen[r.ID] = struct{}{}
		row[0], row[1], row[2], row[3] = valid(r.ID), str(r.Service), str(r.Version), str(r.Environment)
		row[4], row[5], row[6] = str(r.Host), str(r.Node), w.attrs(r.Attrs)
		if err := a.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}

func (w *writeBuffers) appendSpans(a *duckdb.Appender, spans []evidence.Span) error {
	row := w.rowOf(28)
	for i := range spans {
		if !w.keepSpan[i] {
			continue
		}
		sp := &spans[i]
		row[0], row[1], row[2] = duckdb.UUID(sp.TraceID), spanUint(sp.SpanID), spanVal(sp.ParentSpanID)
		row[3], row[4], row[5], row[6], row[7] = str(sp.ResourceID), str(sp.Service), str(sp.Version), str(sp.Host), str(sp.Name)
		row[8], row[9], row[10] = int8(sp.Kind), int8(sp.StatusCode), str(sp.StatusMessage)
		row[11], row[12], row[13] = sp.StartNS, sp.EndNS, sp.EndNS-sp.StartNS
		row[14], row[15] = num(sp.ThreadID), num(sp.ProcessPID)
		row[16], row[17], row[18] = str(sp.HTTPRoute), str(sp.HTTPMethod), num(sp.HTTPStatusCode)
		row[19], row[20], row[21] = str(sp.RPCSystem), str(sp.RPCService), str(sp.RPCMethod)
		row[22], row[23], row[24] = str(sp.DBSystem), str(sp.DBStatement), str(sp.DBQueryID)
		row[25], row[26], row[27] = str(sp.PeerService), str(sp.ExceptionType), w.attrs(sp.Attrs)
		if err := a.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}

// appendSpanEvents appends the events of the spans appendSpans appended.
func (w *writeBuffers) appendSpanEvents(a *duckdb.Appender, spans []evidence.Span) error {
	row := w.rowOf(6)
	for i := range spans {
		sp := &spans[i]
		if len(sp.Events) == 0 || !w.keepSpan[i] {
			continue
		}
		tid, sid := duckdb.UUID(sp.TraceID), spanUint(sp.SpanID)
		for j := range sp.Events {
			ev := &sp.Events[j]
			row[0], row[1], row[2], row[3] = tid, sid, int32(ev.Index), ev.TimeNS
			row[4], row[5] = str(ev.Name), w.attrs(ev.Attrs)
			if err := a.AppendRow(row...); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writeBuffers) appendKernelEvents(a *duckdb.Appender, evs []evidence.KernelEvent) error {
	row := w.rowOf(17)
	for i := range evs {
		if !w.keepKernel[i] {
			continue
		}
		e := &evs[i]
		row[0], row[1], row[2], row[3] = valid(e.Node), valid(e.Stream), e.Seq, valid(string(e.Type))
		row[4], row[5], row[6], row[7] = str(e.ResourceID), str(e.Service), e.TimeNS, e.DurationNS
		row[8], row[9], row[10] = num(e.PID), num(e.TID), unum(e.CgroupID)
		row[11], row[12], row[13] = traceVal(e.TraceID), spanVal(e.SpanID), unum(e.Addr)
		row[14], row[15], row[16] = num(e.WakerTID), num(e.Value), w.attrs(e.Attrs)
		if err := a.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}

func unum(u uint64) driver.Value {
	if u == 0 {
		return nil
	}
	return u
}

// appendLockEdges merges repeated edges of the batch before staging them:
// the upsert may touch each row once per statement.
func (w *writeBuffers) appendLockEdges(a *duckdb.Appender, edges []evidence.LockEdge) error {
	merged := make([]evidence.LockEdge, 0, len(edges))
	for i := range edges {
		e := edges[i]
		k := [2]string{e.Held, e.Acquiring}
		j, ok := w.edges[k]
		if !ok {
			w.edges[k] = len(merged)
			merged = append(merged, e)
			continue
		}
		mergeEdge(&merged[j], &e)
	}
	row := w.rowOf(11)
	for i := range merged {
		e := &merged[i]
		row[0], row[1], row[2], row[3] = valid(e.Held), valid(e.Acquiring), str(e.Node), str(e.ResourceID)
		row[4], row[5], row[6], row[7] = str(e.Service), num(e.PID), str(e.HeldSite), str(e.AcquiringSite)
		row[8], row[9], row[10] = e.Count, e.FirstNS, e.LastNS
		if err := a.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}

func mergeEdge(dst, src *evidence.LockEdge) {
	dst.Count += src.Count
	dst.FirstNS = min(dst.FirstNS, src.FirstNS)
	dst.LastNS = max(dst.LastNS, src.LastNS)
	for _, f := range [][2]*string{{&dst.Node, &src.Node}, {&dst.ResourceID, &src.ResourceID},
		{&dst.Service, &src.Service}, {&dst.HeldSite, &src.HeldSite}, {&dst.AcquiringSite, &src.AcquiringSite}} {
		if *f[0] == "" {
			*f[0] = *f[1]
		}
	}
	if dst.PID == 0 {
		dst.PID = src.PID
	}
}

func (w *writeBuffers) appendLogs(a *duckdb.Appender, logs []evidence.LogRecord) error {
	row := w.rowOf(10)
	for i := range logs {
		l := &logs[i]
		if _, dup := w.strSeen[l.ID]; dup {
			continue
		}
		w.strSeen[l.ID] = struct{}{}
		row[0], row[1], row[2], row[3] = valid(l.ID), str(l.ResourceID), str(l.Service), l.TimeNS
		row[4], row[5], row[6] = l.Severity, str(l.SeverityText), str(l.EventName)
		row[7], row[8], row[9] = traceVal(l.TraceID), spanVal(l.SpanID), w.attrs(l.Attrs)
		if err := a.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}

func (w *writeBuffers) appendAudit(a *duckdb.Appender, counts []evidence.AuditCount) error {
	merged := make([]evidence.AuditCount, 0, len(counts))
	for _, c := range counts {
		k := [3]string{c.Source, c.Key, c.Action}
		if j, ok := w.audit[k]; ok {
			merged[j].Count += c.Count
			continue
		}
		w.audit[k] = len(merged)
		merged = append(merged, c)
	}
	row := w.rowOf(4)
	for _, c := range merged {
		row[0], row[1], row[2], row[3] = valid(c.Source), valid(c.Key), valid(c.Action), c.Count
		if err := a.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}
