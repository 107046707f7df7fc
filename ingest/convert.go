package ingest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/privacy"
)

// PrivacyConverter is the Converter that applies the privacy policy: every
// attribute goes through the Redactor (keep, tokenize, normalize or drop),
// span names are templated, SQL is fingerprinted, messages are redacted, log
// bodies are dropped. Nothing of the OTLP input reaches the batch otherwise.
type PrivacyConverter struct {
	r *privacy.Redactor
}

var _ Converter = (*PrivacyConverter)(nil)

// NewPrivacyConverter returns a Converter applying r.
func NewPrivacyConverter(r *privacy.Redactor) *PrivacyConverter {
	return &PrivacyConverter{r: r}
}

// attrArena hands out attribute slices carved from shared chunks, so that a
// request's spans need a handful of allocations instead of several each.
type attrArena struct{ buf []evidence.Attr }

// take returns an empty slice with room for n attributes.
func (a *attrArena) take(n int) evidence.Attrs {
	if n == 0 {
		return nil
	}
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]evidence.Attr, 0, max(4096, n))
	}
	off := len(a.buf)
	a.buf = a.buf[:off+n]
	return a.buf[off : off : off+n]
}

// rejections collects why items were refused, for OTLP partial success.
type rejections struct {
	n      int64
	reason string
}

func (rj *rejections) add(format string, args ...any) {
	if rj.n == 0 {
		rj.reason = fmt.Sprintf(format, args...)
	}
	rj.n++
}

// ConvertTraces implements Converter.
func (c *PrivacyConverter) ConvertTraces(td ptrace.Traces) (*evidence.Batch, int64, string) {
	counts := c.r.NewCounts()
	b := &evidence.Batch{Spans: make([]evidence.Span, 0, td.SpanCount())}
	var rj rejections
	var arena attrArena
	seen := map[string]bool{}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res, pid := c.resource(counts, rs.Resource().Attributes())
		if !seen[res.ID] {
			seen[res.ID] = true
			b.Resources = append(b.Resources, res)
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				if err := validSpan(sp); err != "" {
					rj.add("span %d of scope %d of resource %d: %s", k, j, i, err)
					continue
				}
				if isAnomalySpan(sp) {
					c.anomalySpan(counts, b, &res, sp)
					continue
				}
				b.Spans = append(b.Spans, c.span(counts, &arena, &res, pid, sp))
			}
		}
	}
	b.Audit = counts.Entries()
	return b, rj.n, rj.reason
}

func validSpan(sp ptrace.Span) string {
	switch {
	case sp.TraceID().IsEmpty():
		return "empty trace id"
	case sp.SpanID().IsEmpty():
		return "empty span id"
	case sp.StartTimestamp() == 0:
		return "missing start time"
	case sp.EndTimestamp() < sp.StartTimestamp():
		return "end time before start time"
	case sp.EndTimestamp() > math.MaxInt64:
		return "end time out of range"
	}
	return ""
}

// resource applies the policy to resource attributes and derives the
// resource's content ID from what was kept.
func (c *PrivacyConverter) resource(counts *privacy.Counts, attrs pcommon.Map) (evidence.Resource, int64) {
	var res evidence.Resource
	var pid int64
	c.rangeAttrs(counts, privacy.SourceResource, attrs, func(k string, v pcommon.Value) {
		if val, ok := c.attribute(counts, privacy.SourceResource, k, v); ok {
			res.Attrs = append(res.Attrs, evidence.Attr{Key: k, Value: val})
		}
	})
	slices.SortFunc(res.Attrs, func(a, b evidence.Attr) int { return strings.Compare(a.Key, b.Key) })
	var deployVersion string
	for _, a := range res.Attrs {
		switch a.Key {
		case "service.name":
			res.Service = a.Value.String()
		case "service.version":
			res.Version = a.Value.String()
		case "deployment.version":
			deployVersion = a.Value.String()
		case "deployment.environment", "deployment.environment.name":
			res.Environment = a.Value.String()
		case "host.name":
			res.Host = a.Value.String()
		case evidence.AttrNodeID:
			res.Node = a.Value.String()
		case evidence.AttrPID:
			if a.Value.Kind == evidence.KindInt {
				pid = a.Value.Int
			}
		}
	}
	if res.Version == "" {
		res.Version = deployVersion
	}
	if res.Node == "" {
		res.Node = res.Host
	}
	res.ID = resourceID(res.Attrs)
	return res, pid
}

func resourceID(attrs evidence.Attrs) string {
	h := sha256.New()
	for _, a := range attrs {
		h.Write([]byte(a.Key))
		h.Write([]byte{0, byte(a.Value.Kind)})
		h.Write([]byte(a.Value.String()))
		h.Write([]byte{0})
	}
	return "res:" + hex.EncodeToString(h.Sum(nil)[:8])
}

// rangeAttrs calls fn for the first Limits.AttributesPerItem attributes of m
// and counts the rest, unread, as dropped under privacy.KeyAttributesOverCap.
func (c *PrivacyConverter) rangeAttrs(counts *privacy.Counts, src privacy.Source, m pcommon.Map, fn func(string, pcommon.Value)) {
	limit, n := c.r.Limits().AttributesPerItem, 0
	m.Range(func(k string, v pcommon.Value) bool {
		if n == limit {
			return false
		}
		n++
		fn(k, v)
		return true
	})
	if over := m.Len() - n; over > 0 {
		counts.Add(src, privacy.KeyAttributesOverCap, privacy.ActionDrop, int64(over))
	}
}

// attrRoom is how many attributes of m can be kept.
func (c *PrivacyConverter) attrRoom(m pcommon.Map) int {
	return min(m.Len(), c.r.Limits().AttributesPerItem)
}

// attribute converts one pdata value and applies the policy to it.
func (c *PrivacyConverter) attribute(counts *privacy.Counts, src privacy.Source, key string, v pcommon.Value) (evidence.Value, bool) {
	var in evidence.Value
	switch v.Type() {
	case pcommon.ValueTypeStr:
		in = evidence.StringValue(v.Str())
	case pcommon.ValueTypeInt:
		in = evidence.IntValue(v.Int())
	case pcommon.ValueTypeDouble:
		in = evidence.FloatValue(v.Double())
	case pcommon.ValueTypeBool:
		in = evidence.BoolValue(v.Bool())
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		// Render a composite value only once the policy keeps its key: a
		// dropped key must cost nothing however large or deep its value.
		if c.r.ActionFor(key) == privacy.ActionDrop {
			counts.Add(src, key, privacy.ActionDrop, 1)
			return evidence.Value{}, false
		}
		in = evidence.StringValue(v.AsString())
	default: // bytes and empty values are never stored
		counts.Add(src, key, privacy.ActionDrop, 1)
		return evidence.Value{}, false
	}
	return c.r.Attribute(counts, src, key, in)
}

func (c *PrivacyConverter) span(counts *privacy.Counts, arena *attrArena, res *evidence.Resource, pid int64, sp ptrace.Span) evidence.Span {
	s := evidence.Span{
		TraceID:      evidence.TraceID(sp.TraceID()),
		SpanID:       evidence.SpanID(sp.SpanID()),
		ParentSpanID: evidence.SpanID(sp.ParentSpanID()),
		ResourceID:   res.ID,
		Service:      res.Service,
		Version:      res.Version,
		Host:         res.Host,
		Name:         c.r.SpanName(counts, privacy.SourceSpan, sp.Name()),
		Kind:         evidence.SpanKind(sp.Kind()),
		StatusCode:   evidence.StatusCode(sp.Status().Code()),
		StartNS:      int64(sp.StartTimestamp()),
		EndNS:        int64(sp.EndTimestamp()),
		ProcessPID:   pid,
	}
	if msg := sp.Status().Message(); msg != "" {
		s.StatusMessage = c.r.Message(counts, privacy.SourceSpan, "status.message", msg)
	}
	s.Attrs = arena.take(c.attrRoom(sp.Attributes()))
	c.rangeAttrs(counts, privacy.SourceSpan, sp.Attributes(), func(k string, v pcommon.Value) {
		c.spanAttribute(counts, &s, k, v)
	})
	if len(s.Attrs) == 0 {
		s.Attrs = nil
	}
	events := sp.Events()
	if n := events.Len(); n > 0 {
		s.Events = make([]evidence.SpanEvent, 0, n)
		for i := 0; i < n; i++ {
			s.Events = append(s.Events, c.spanEvent(counts, arena, &s, i, events.At(i)))
		}
	}
	return s
}

// spanAttribute routes one span attribute to a typed field or to Attrs.
func (c *PrivacyConverter) spanAttribute(counts *privacy.Counts, s *evidence.Span, k string, v pcommon.Value) {
	if k == "db.statement" || k == "db.query.text" {
		if v.Type() != pcommon.ValueTypeStr {
			counts.Add(privacy.SourceSpan, k, privacy.ActionDrop, 1)
			return
		}
		s.DBStatement, s.DBQueryID = c.r.SQL(counts, privacy.SourceSpan, k, v.Str())
		return
	}
	val, ok := c.attribute(counts, privacy.SourceSpan, k, v)
	if !ok {
		return
	}
	switch k {
	case "http.route":
		s.HTTPRoute = val.String()
	case "http.request.method", "http.method":
		s.HTTPMethod = val.String()
	case "http.response.status_code", "http.status_code":
		if val.Kind == evidence.KindInt {
			s.HTTPStatusCode = val.Int
		} else {
			s.Attrs = append(s.Attrs, evidence.Attr{Key: k, Value: val})
		}
	case "rpc.system", "rpc.system.name":
		s.RPCSystem = val.String()
	case "rpc.service":
		s.RPCService = val.String()
	case "rpc.method":
		s.RPCMethod = val.String()
	case "db.system", "db.system.name":
		s.DBSystem = val.String()
	case "peer.service":
		s.PeerService = val.String()
	case "exception.type":
		s.ExceptionType = val.String()
	case evidence.AttrTID:
		s.ThreadID = intOf(val)
	case evidence.AttrPID:
		s.ProcessPID = intOf(val)
	case "service.version", "deployment.version":
		if s.Version == "" {
			s.Version = val.String()
		}
		s.Attrs = append(s.Attrs, evidence.Attr{Key: k, Value: val})
	default:
		s.Attrs = append(s.Attrs, evidence.Attr{Key: k, Value: val})
	}
}

func (c *PrivacyConverter) spanEvent(counts *privacy.Counts, arena *attrArena, s *evidence.Span, i int, ev ptrace.SpanEvent) evidence.SpanEvent {
	out := evidence.SpanEvent{
		Index:  i,
		TimeNS: int64(ev.Timestamp()),
		Name:   c.r.EventName(counts, ev.Name()),
		Attrs:  arena.take(c.attrRoom(ev.Attributes())),
	}
	c.rangeAttrs(counts, privacy.SourceSpanEvent, ev.Attributes(), func(k string, v pcommon.Value) {
		val, ok := c.attribute(counts, privacy.SourceSpanEvent, k, v)
		if !ok {
			return
		}
		if k == "exception.type" && s.ExceptionType == "" {
			s.ExceptionType = val.String()
		}
		out.Attrs = append(out.Attrs, evidence.Attr{Key: k, Value: val})
	})
	if len(out.Attrs) == 0 {
		out.Attrs = nil
	}
	return out
}

func intOf(v evidence.Value) int64 {
	switch v.Kind {
	case evidence.KindInt:
		return v.Int
	case evidence.KindFloat:
		return int64(v.Float)
	}
	return 0
}

// ConvertLogs implements Converter. Records whose event name starts with
// "kernel." are node-collector observations (docs/kernel-events.md); the rest
// are application logs, of which only severity, ids and kept attributes stay.
func (c *PrivacyConverter) ConvertLogs(ld plog.Logs) (*evidence.Batch, int64, string) {
	counts := c.r.NewCounts()
	b := &evidence.Batch{}
	var rj rejections
	seen := map[string]bool{}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res, _ := c.resource(counts, rl.Resource().Attributes())
		if !seen[res.ID] {
			seen[res.ID] = true
			b.Resources = append(b.Resources, res)
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if err := c.logRecord(counts, b, &res, lrs.At(k)); err != "" {
					rj.add("log record %d of scope %d of resource %d: %s", k, j, i, err)
				}
			}
		}
	}
	b.Audit = counts.Entries()
	return b, rj.n, rj.reason
}

func eventName(lr plog.LogRecord) string {
	if n := lr.EventName(); n != "" {
		return n
	}
	if v, ok := lr.Attributes().Get("event.name"); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

func logTime(lr plog.LogRecord) int64 {
	if ts := lr.Timestamp(); ts != 0 {
		return int64(ts)
	}
	return int64(lr.ObservedTimestamp())
}

func (c *PrivacyConverter) logRecord(counts *privacy.Counts, b *evidence.Batch, res *evidence.Resource, lr plog.LogRecord) string {
	if logTime(lr) <= 0 {
		return "missing timestamp"
	}
	name := eventName(lr)
	if lr.Body().Type() != pcommon.ValueTypeEmpty {
		counts.Add(privacy.SourceLog, "log.body", privacy.ActionDrop, 1)
	}
	if strings.HasPrefix(name, evidence.KernelEventNamePrefix) {
		return c.kernelRecord(counts, b, res, name, lr)
	}
	rec := evidence.LogRecord{
		ResourceID:   res.ID,
		Service:      res.Service,
		TimeNS:       logTime(lr),
		Severity:     int32(lr.SeverityNumber()),
		SeverityText: lr.SeverityText(),
		EventName:    c.r.Name(counts, privacy.SourceLog, privacy.KeyEventName, name),
		TraceID:      evidence.TraceID(lr.TraceID()),
		SpanID:       evidence.SpanID(lr.SpanID()),
	}
	if len(rec.SeverityText) > 16 { // severity text is a level word, nothing longer
		rec.SeverityText = ""
	}
	rec.Attrs = c.keptAttrs(counts, privacy.SourceLog, lr.Attributes())
	rec.ID = logID(&rec, int64(lr.ObservedTimestamp()))
	b.Logs = append(b.Logs, rec)
	return ""
}

func (c *PrivacyConverter) keptAttrs(counts *privacy.Counts, src privacy.Source, m pcommon.Map) evidence.Attrs {
	var out evidence.Attrs
	c.rangeAttrs(counts, src, m, func(k string, v pcommon.Value) {
		if val, ok := c.attribute(counts, src, k, v); ok {
			out = append(out, evidence.Attr{Key: k, Value: val})
		}
	})
	return out
}

func logID(r *evidence.LogRecord, observed int64) string {
	h := sha256.New()
	var buf [8]byte
	for _, n := range []int64{r.TimeNS, observed, int64(r.Severity)} {
		binary.LittleEndian.PutUint64(buf[:], uint64(n))
		h.Write(buf[:])
	}
	h.Write([]byte(r.ResourceID))
	h.Write(r.TraceID[:])
	h.Write(r.SpanID[:])
	h.Write([]byte(r.EventName))
	for _, a := range r.Attrs {
		h.Write([]byte(a.Key + "\x00" + a.Value.String() + "\x00"))
	}
	return "log:" + hex.EncodeToString(h.Sum(nil)[:12])
}
