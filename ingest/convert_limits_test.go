package ingest

import (
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/privacy"
)

// hugeSpan returns one span whose free-text fields are each 1 MiB long.
func hugeSpan(mib string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc"+mib)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{2})
	sp.SetStartTimestamp(10)
	sp.SetEndTimestamp(20)
	sp.SetName("GET " + mib)
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Status().SetMessage("failed " + mib)
	sp.Attributes().PutStr("http.route", "/r/"+mib)
	sp.Attributes().PutStr("db.statement", "SELECT a FROM t WHERE b = 1 AND c IN ("+strings.Repeat("x, ", 1<<18)+"y)")
	ev := sp.Events().AppendEmpty()
	ev.SetName("ev" + mib)
	ev.Attributes().PutStr("exception.message", "boom "+mib)
	return td
}

// TestConvertCapsLengths: a sender's 1 MiB name, status message, route,
// service name, event name and statement are stored capped, and each cut is
// counted as truncate under its key.
func TestConvertCapsLengths(t *testing.T) {
	mib := strings.Repeat("abcdefgh ", (1<<20)/9)
	c := testConverter(t)
	lim := c.r.Limits()
	b, rejected, _ := c.ConvertTraces(hugeSpan(mib))
	if rejected != 0 || len(b.Spans) != 1 {
		t.Fatalf("rejected %d, %d spans", rejected, len(b.Spans))
	}
	s := b.Spans[0]
	for _, f := range []struct {
		name, v string
		limit   int
	}{
		{"span name", s.Name, lim.NameLength},
		{"status message", s.StatusMessage, lim.MessageLength},
		{"route", s.HTTPRoute, lim.ValueLength},
		{"service", s.Service, lim.ValueLength},
		{"resource service", b.Resources[0].Service, lim.ValueLength},
		{"event name", s.Events[0].Name, lim.NameLength},
		{"statement", s.DBStatement, lim.StatementLength},
	} {
		if len(f.v) > f.limit || len(f.v) < f.limit/2 || !strings.HasSuffix(f.v, "…") {
			t.Errorf("%s: %d bytes (%.20q…), want at most %d ending in an ellipsis", f.name, len(f.v), f.v, f.limit)
		}
	}
	for _, a := range s.Events[0].Attrs {
		if len(a.Value.String()) > lim.MessageLength {
			t.Errorf("event attribute %s: %d bytes", a.Key, len(a.Value.String()))
		}
	}
	counts := map[string]int64{}
	for _, a := range b.Audit {
		if a.Action == string(privacy.ActionTruncate) {
			counts[a.Source+"/"+a.Key] += a.Count
		}
	}
	for _, want := range []string{"span/span.name", "span/status.message", "span/http.route", "resource/service.name",
		"span_event/event.name", "span_event/exception.message", "span/db.statement"} {
		if counts[want] != 1 {
			t.Errorf("truncate count of %s = %d, want 1 (all: %v)", want, counts[want], counts)
		}
	}
}

// TestConvertCapsAttributesAndAuditRows: 100,000 attributes on one span, an
// event and a log record are not read past the per-item cap, and the audit
// of the request names a bounded set of keys, none past the cap.
func TestConvertCapsAttributesAndAuditRows(t *testing.T) {
	const n = 100_000
	c := testConverter(t)
	lim := c.r.Limits()
	td := sampleTraces(1)
	sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	ev := sp.Events().AppendEmpty()
	ev.SetName("e")
	if err := sp.Attributes().FromRaw(manyKeys("sender.key", n)); err != nil {
		t.Fatal(err)
	}
	if err := ev.Attributes().FromRaw(manyKeys("event.key", n)); err != nil {
		t.Fatal(err)
	}
	b, _, _ := c.ConvertTraces(td)
	checkAudit(t, b.Audit, lim, n)

	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(5)
	if err := lr.Attributes().FromRaw(manyKeys("log.key", n)); err != nil {
		t.Fatal(err)
	}
	lb, _, _ := c.ConvertLogs(ld)
	checkAudit(t, lb.Audit, lim, n)
}

func checkAudit(t *testing.T, audit []evidence.AuditCount, lim privacy.Limits, n int) {
	t.Helper()
	if len(audit) > lim.AuditKeys*2 {
		t.Errorf("%d audit rows for one request, want at most %d keys", len(audit), lim.AuditKeys)
	}
	var over, dropped int64
	named := 0
	for _, a := range audit {
		if a.Key == privacy.KeyAttributesOverCap {
			over += a.Count
		}
		if a.Action == string(privacy.ActionDrop) {
			dropped += a.Count
		}
		if strings.Contains(a.Key, ".key") {
			named++
		}
	}
	if named > 2*lim.AttributesPerItem {
		t.Errorf("the audit names %d of the sender's keys, want at most %d per item", named, lim.AttributesPerItem)
	}
	if over < int64(n-lim.AttributesPerItem) || dropped < int64(n) {
		t.Errorf("%d counted over the cap, %d dropped; want >= %d and >= %d", over, dropped, n-lim.AttributesPerItem, n)
	}
}

// manyKeys returns n distinct keys prefix000000... with string values.
func manyKeys(prefix string, n int) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m[fmt.Sprintf("%s%06d", prefix, i)] = "v"
	}
	return m
}
