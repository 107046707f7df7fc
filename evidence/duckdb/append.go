package duckdb

import (
	"database/sql/driver"
	"encoding/binary"
	"strings"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/debugai/debugai/evidence"
)

// writeBuffers are reused across the Write calls of one writer to keep the
// per-row cost of appending low: the Appender's per-value cost (a cgo call
// per string or NULL, an allocation per boxed value) dominates.
type writeBuffers struct {
	row        []driver.Value
	json       []byte
	extra      []byte
	spanIndex  map[spanKey]int // first position of each span id in the batch
	keepSpan   []bool          // per span of the batch: new, to be appended
	keptSpans  int
	kevIndex   map[kevKey]int
	keepKernel []bool
	keptKernel int
	logIndex   map[string]int
	keepLog    []bool
	resIDs     map[string]int // resources of the batch not known to be stored -> index
	newRes     []int          // their indexes, in batch order: to insert
	// resCols holds the stored columns of the resources the batch's spans
	// may inherit from: cached, found stored, or inserted by this batch.
	resCols    map[string]resourceCols
	unresolved map[string]struct{} // span resource ids neither cached nor in the batch
	lookupIDs  []string
	edges      map[[2]string]int
	audit      map[[3]string]int
}

// resourceCols are the resource columns the spans view falls back to.
type resourceCols struct{ service, version, host string }

type spanKey struct {
	trace evidence.TraceID
	span  uint64
}

type kevKey struct {
	node, stream string
	seq          uint64
}

func spanUint(s evidence.SpanID) uint64 { return binary.BigEndian.Uint64(s[:]) }

// markDuplicates resets the buffers and marks, for spans, kernel events,
// logs and resources, the first occurrence of each id in the batch as kept.
func (w *writeBuffers) markDuplicates(b *evidence.Batch) {
	if w.spanIndex == nil {
		w.spanIndex = make(map[spanKey]int)
		w.kevIndex = make(map[kevKey]int)
		w.logIndex = make(map[string]int)
		w.resIDs = make(map[string]int)
		w.resCols = make(map[string]resourceCols)
		w.unresolved = make(map[string]struct{})
		w.edges = make(map[[2]string]int)
		w.audit = make(map[[3]string]int)
	}
	clear(w.spanIndex)
	clear(w.kevIndex)
	clear(w.logIndex)
	clear(w.resIDs)
	clear(w.resCols)
	clear(w.unresolved)
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
	w.keepLog = resetBools(w.keepLog, len(b.Logs))
	for i := range b.Logs {
		if _, dup := w.logIndex[b.Logs[i].ID]; !dup {
			w.logIndex[b.Logs[i].ID] = i
			w.keepLog[i] = true
		}
	}
	// Resource ids are keyed as stored (invalid UTF-8 repaired).
	w.newRes = w.newRes[:0]
	for i := range b.Resources {
		id := valid(b.Resources[i].ID)
		if _, dup := w.resIDs[id]; !dup {
			w.resIDs[id] = i
			w.newRes = append(w.newRes, i)
		}
	}
}

// resolveNew keeps, of the resources to insert, those the lookup did not
// find stored, and makes their columns the ones spans inherit.
func (w *writeBuffers) resolveNew(b *evidence.Batch) error {
	kept := w.newRes[:0]
	for _, i := range w.newRes {
		r := &b.Resources[i]
		id := valid(r.ID)
		if _, ok := w.resIDs[id]; !ok {
			continue // found stored
		}
		kept = append(kept, i)
		w.resCols[id] = resourceCols{valid(r.Service), valid(r.Version), valid(r.Host)}
	}
	w.newRes = kept
	return nil
}

// overlaps reports whether w and o share a span, kernel-event, log or new
// resource key.
func (w *writeBuffers) overlaps(o *writeBuffers) bool {
	return mapsOverlap(w.spanIndex, o.spanIndex) || mapsOverlap(w.kevIndex, o.kevIndex) ||
		mapsOverlap(w.logIndex, o.logIndex) || mapsOverlap(w.resIDs, o.resIDs)
}

func mapsOverlap[K comparable, V any](a, b map[K]V) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(a) == 0 {
		return false
	}
	for k := range a {
		if _, ok := b[k]; ok {
			return true
		}
	}
	return false
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
	for _, i := range w.newRes {
		r := &rs[i]
		row[0], row[1], row[2], row[3] = valid(r.ID), str(r.Service), str(r.Version), str(r.Environment)
		row[4], row[5], row[6] = str(r.Host), str(r.Node), w.attrs(r.Attrs)
		if err := a.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}

// appendSpans appends the kept spans to span_rows (see schema/002).
func (w *writeBuffers) appendSpans(a *duckdb.Appender, spans []evidence.Span) error {
	row := w.rowOf(16)
	for i := range spans {
		if !w.keepSpan[i] {
			continue
		}
		sp := &spans[i]
		// A *UUID pointing into the span is not boxed (no allocation).
		row[0], row[1], row[2] = (*duckdb.UUID)(&sp.TraceID), spanUint(sp.SpanID), spanVal(sp.ParentSpanID)
		row[3], row[4], row[5], row[6] = str(sp.ResourceID), str(sp.Name), int8(sp.Kind), int8(sp.StatusCode)
		row[7], row[8], row[9], row[10] = sp.StartNS, sp.EndNS, num(sp.ThreadID), num(sp.ProcessPID)
		row[11], row[12], row[13] = str(sp.HTTPRoute), str(sp.HTTPMethod), num(sp.HTTPStatusCode)
		row[14], row[15] = w.spanExtra(sp), w.attrs(sp.Attrs)
		if err := a.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}

// spanExtra encodes span_rows.extra: the span's service, version and host
// where the spans view could not take them from the stored resource, and
// the rarely set typed fields; nil (NULL) when there is nothing to say.
func (w *writeBuffers) spanExtra(sp *evidence.Span) driver.Value {
	buf := w.extra[:0]
	member := func(key, v string) {
		if len(buf) == 0 {
			buf = append(buf, '{')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, key...)
		buf = append(buf, '"', ':')
		buf = appendJSONString(buf, v)
	}
	// A span without a resource id joins no resource: NULL is inherited.
	// A resource that is not stored may be stored later, so a span that
	// refers to one says all three itself ("" for none).
	rc, known := w.resCols[valid(sp.ResourceID)]
	known = known || sp.ResourceID == ""
	for _, f := range [3]struct {
		key       string
		v, stored string
	}{{"service", sp.Service, rc.service}, {"version", sp.Version, rc.version}, {"host", sp.Host, rc.host}} {
		if !known || valid(f.v) != f.stored {
			member(f.key, f.v)
		}
	}
	for _, f := range [9]struct{ key, v string }{
		{"status_message", sp.StatusMessage}, {"rpc_system", sp.RPCSystem}, {"rpc_service", sp.RPCService},
		{"rpc_method", sp.RPCMethod}, {"db_system", sp.DBSystem}, {"db_statement", sp.DBStatement},
		{"db_query_id", sp.DBQueryID}, {"peer_service", sp.PeerService}, {"exception_type", sp.ExceptionType},
	} {
		if f.v != "" {
			member(f.key, f.v)
		}
	}
	w.extra = buf
	if len(buf) == 0 {
		return nil
	}
	w.extra = append(buf, '}')
	return w.extra
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
		if !w.keepLog[i] {
			continue
		}
		l := &logs[i]
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
