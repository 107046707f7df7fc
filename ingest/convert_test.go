package ingest

import (
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/privacy"
)

func testConverter(t testing.TB) *PrivacyConverter {
	t.Helper()
	cfg := privacy.DefaultConfig()
	ring, err := privacy.NewKeyRing([]byte("convert-test-secret-0123456789"), cfg.Keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := privacy.NewRedactor(cfg, ring)
	if err != nil {
		t.Fatal(err)
	}
	return NewPrivacyConverter(r)
}

func TestConvertTracesRejectsInvalidSpans(t *testing.T) {
	td := sampleTraces(4)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(1).SetTraceID(pcommon.TraceID{})
	spans.At(2).SetEndTimestamp(1)
	b, rejected, reason := testConverter(t).ConvertTraces(td)
	if len(b.Spans) != 2 || rejected != 2 {
		t.Fatalf("kept %d, rejected %d; want 2 and 2", len(b.Spans), rejected)
	}
	if !strings.Contains(reason, "empty trace id") {
		t.Errorf("reason %q does not name the first problem", reason)
	}
	if len(b.Resources) != 1 || b.Spans[0].ResourceID != b.Resources[0].ID || b.Spans[0].Service != "checkout" {
		t.Errorf("resource link: %+v / %+v", b.Resources, b.Spans[0])
	}
	if len(b.Audit) == 0 {
		t.Error("no audit counts")
	}
}

func TestConvertTracesIsDeterministic(t *testing.T) {
	td := sampleTraces(2)
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("host.name", "h1")
	c := testConverter(t)
	a, _, _ := c.ConvertTraces(td)
	b, _, _ := c.ConvertTraces(td)
	if a.Resources[0].ID != b.Resources[0].ID || a.Spans[1].ID() != b.Spans[1].ID() {
		t.Fatalf("ids differ across conversions: %s/%s", a.Resources[0].ID, b.Resources[0].ID)
	}
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("host.name", "h2")
	d, _, _ := c.ConvertTraces(td)
	if d.Resources[0].ID == a.Resources[0].ID {
		t.Fatal("different resources share an id")
	}
}

func kernelLogs(records ...func(plog.LogRecord)) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(evidence.AttrNodeID, "node-a")
	rl.Resource().Attributes().PutStr("host.name", "vm1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, f := range records {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(1_700_000_000_000_000_000)
		f(lr)
	}
	return ld
}

func TestConvertKernelEventsAndLockEdges(t *testing.T) {
	ld := kernelLogs(
		func(lr plog.LogRecord) {
			lr.SetEventName("kernel.futex_wait")
			lr.SetTraceID(pcommon.TraceID{9, 9})
			lr.SetSpanID(pcommon.SpanID{8, 8})
			a := lr.Attributes()
			a.PutStr(evidence.AttrStream, "futex")
			a.PutInt(evidence.AttrSeq, 11)
			a.PutInt(evidence.AttrPID, 100)
			a.PutInt(evidence.AttrTID, 101)
			a.PutInt(evidence.AttrCgroupID, 5555)
			a.PutInt(evidence.AttrDurationNS, 2_000_000)
			a.PutInt(evidence.AttrFutexAddr, 0x7fff0000)
			a.PutInt(evidence.AttrWakerTID, 102)
			lr.Body().SetStr("payload that must not be stored")
		},
		func(lr plog.LogRecord) { // old-SDK style: event.name attribute, no seq
			lr.Attributes().PutStr("event.name", "kernel.tcp_retransmit")
			lr.Attributes().PutInt(evidence.AttrValue, 3)
		},
		func(lr plog.LogRecord) {
			lr.SetEventName(evidence.KernelLockEdgeEventName)
			a := lr.Attributes()
			a.PutStr(evidence.AttrLockHeld, "main.(*Bank).muA")
			a.PutStr(evidence.AttrLockAcquiring, "main.(*Bank).muB")
			a.PutStr(evidence.AttrLockHeldSite, "main.transfer bank.go:41")
			a.PutStr(evidence.AttrLockAcquireSite, "main.transfer bank.go:43")
			a.PutInt(evidence.AttrLockCount, 4)
		},
		func(lr plog.LogRecord) { lr.SetEventName(evidence.KernelLockEdgeEventName) }, // no locks: rejected
		func(lr plog.LogRecord) { // an application log
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
			lr.Body().SetStr("user bob@example.com failed login")
			lr.Attributes().PutStr("http.route", "/login")
		},
	)
	b, rejected, reason := testConverter(t).ConvertLogs(ld)
	if rejected != 1 || !strings.Contains(reason, "lock edge without") {
		t.Errorf("rejected %d (%q), want 1 lock edge without locks", rejected, reason)
	}
	if len(b.KernelEvents) != 2 || len(b.LockEdges) != 1 || len(b.Logs) != 1 {
		t.Fatalf("got %d kernel events, %d edges, %d logs", len(b.KernelEvents), len(b.LockEdges), len(b.Logs))
	}
	f := b.KernelEvents[0]
	want := evidence.KernelEvent{Node: "node-a", Stream: "futex", Seq: 11, Type: evidence.KernelFutexWait,
		ResourceID: b.Resources[0].ID, TimeNS: 1_700_000_000_000_000_000, DurationNS: 2_000_000, PID: 100, TID: 101,
		CgroupID: 5555, TraceID: evidence.TraceID{9, 9}, SpanID: evidence.SpanID{8, 8}, Addr: 0x7fff0000, WakerTID: 102}
	if f.ID() != "kev:node-a/futex/11" || f.Type.Line() != evidence.LineKernelFutex || f.Attrs != nil {
		t.Errorf("futex event id %s, line %s, attrs %v", f.ID(), f.Type.Line(), f.Attrs)
	}
	f.Attrs = nil
	if !reflect.DeepEqual(f, want) {
		t.Errorf("futex event\n got %+v\nwant %+v", f, want)
	}
	tcp := b.KernelEvents[1]
	if tcp.Type != evidence.KernelTCPRetransmit || tcp.Value != 3 || tcp.Stream != "tcp_retransmit" || tcp.Seq == 0 {
		t.Errorf("tcp event: %+v", tcp)
	}
	again, _, _ := testConverter(t).ConvertLogs(ld)
	if again.KernelEvents[1].ID() != tcp.ID() {
		t.Error("content-derived kernel event id is not stable")
	}
	e := b.LockEdges[0]
	if e.ID() != "edge:main.(*Bank).muA>main.(*Bank).muB" || e.Count != 4 || e.AcquiringSite != "main.transfer bank.go:43" || e.Node != "node-a" {
		t.Errorf("lock edge: %+v", e)
	}
	lg := b.Logs[0]
	if lg.Severity != int32(plog.SeverityNumberWarn) || lg.SeverityText != "WARN" || !strings.HasPrefix(lg.ID, "log:") {
		t.Errorf("log: %+v", lg)
	}
	if v, ok := lg.Attrs.Get("http.route"); !ok || v.Str != "/login" {
		t.Errorf("log attrs: %+v", lg.Attrs)
	}
	var bodyDrops int64
	for _, a := range b.Audit {
		if a.Key == "log.body" && a.Action == string(privacy.ActionDrop) {
			bodyDrops = a.Count
		}
	}
	if bodyDrops != 2 {
		t.Errorf("log.body drops counted %d, want 2", bodyDrops)
	}
}

func TestConvertSpanTypedFields(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "orders")
	ra.PutStr("deployment.version", "v7")
	ra.PutInt("process.pid", 77)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{2})
	sp.SetStartTimestamp(10)
	sp.SetEndTimestamp(20)
	sp.SetName("GET /orders/123")
	sp.SetKind(ptrace.SpanKindServer)
	a := sp.Attributes()
	a.PutStr("http.request.method", "GET")
	a.PutInt("http.response.status_code", 503)
	a.PutStr("rpc.system", "grpc")
	a.PutStr("rpc.service", "Orders")
	a.PutStr("rpc.method", "Get")
	a.PutStr("db.system", "postgresql")
	a.PutStr("db.statement", "select * from t where id = 42")
	a.PutStr("peer.service", "inventory")
	a.PutInt("thread.id", 9)
	a.PutEmptyBytes("blob").FromRaw([]byte{1, 2, 3})
	a.PutEmptySlice("http.route").AppendEmpty().SetStr("/x")
	ev := sp.Events().AppendEmpty()
	ev.SetName("exception")
	ev.Attributes().PutStr("exception.type", "io.EOF")
	b, _, _ := testConverter(t).ConvertTraces(td)
	s := b.Spans[0]
	if s.Name != "GET /orders/{id}" || s.HTTPMethod != "GET" || s.HTTPStatusCode != 503 || s.RPCSystem != "grpc" ||
		s.RPCService != "Orders" || s.RPCMethod != "Get" || s.DBSystem != "postgresql" || s.DBQueryID == "" ||
		strings.Contains(s.DBStatement, "42") || s.PeerService != "inventory" || s.ThreadID != 9 || s.ProcessPID != 77 ||
		s.Version != "v7" || s.ExceptionType != "io.EOF" || s.Kind != evidence.KindServer {
		t.Errorf("typed fields: %+v", s)
	}
	if _, ok := s.Attrs.Get("blob"); ok {
		t.Error("bytes attribute kept")
	}
}

// TestConvertAnomalySpan: a kernel.anomaly span (docs/anomaly-loop.md)
// becomes a kernel.anomaly event stamped with its parent span, not a span
// of the trace; spans that only look like one stay spans.
func TestConvertAnomalySpan(t *testing.T) {
	trace := pcommon.TraceID{0xde, 0xb0, 1}
	parent := pcommon.SpanID{0x5a, 1}
	for _, tc := range []struct {
		name   string
		set    func(sp ptrace.Span)
		events int
	}{
		{"anomaly span", func(ptrace.Span) {}, 1},
		{"flag not a boolean", func(sp ptrace.Span) { sp.Attributes().PutStr(evidence.AttrKernelAnomaly, "true") }, 0},
		{"flag false", func(sp ptrace.Span) { sp.Attributes().PutBool(evidence.AttrKernelAnomaly, false) }, 0},
		{"no parent", func(sp ptrace.Span) { sp.SetParentSpanID(pcommon.SpanID{}) }, 0},
		{"other name", func(sp ptrace.Span) { sp.SetName("kernel.anomalous") }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr(evidence.AttrNodeID, "node-a")
			rs.Resource().Attributes().PutStr("service.name", "some-sender")
			sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp.SetTraceID(trace)
			sp.SetParentSpanID(parent)
			sp.SetSpanID(pcommon.SpanID{0xaa, 1})
			sp.SetName("kernel.anomaly")
			sp.SetStartTimestamp(1_800_000_000_000_000_000)
			sp.SetEndTimestamp(1_800_000_000_012_000_000)
			a := sp.Attributes()
			a.PutBool(evidence.AttrKernelAnomaly, true)
			a.PutStr("debugai.anomaly.kind", "futex_wait")
			a.PutInt(evidence.AttrDurationNS, 12_000_000)
			tc.set(sp)
			b, rejected, _ := testConverter(t).ConvertTraces(td)
			if rejected != 0 || len(b.KernelEvents) != tc.events || len(b.Spans) != 1-tc.events {
				t.Fatalf("%d kernel events, %d spans, %d rejected; want %d, %d, 0", len(b.KernelEvents), len(b.Spans), rejected, tc.events, 1-tc.events)
			}
			if tc.events == 0 {
				return
			}
			ev := b.KernelEvents[0]
			kind, _ := ev.Attrs.Get("debugai.anomaly.kind")
			if ev.Type != evidence.KernelAnomaly || ev.Node != "node-a" || ev.Service != "" ||
				ev.TraceID != evidence.TraceID(trace) || ev.SpanID != evidence.SpanID(parent) ||
				ev.TimeNS != 1_800_000_000_012_000_000 || ev.DurationNS != 12_000_000 || kind != evidence.StringValue("futex_wait") {
				t.Errorf("kernel.anomaly event %+v", ev)
			}
			again, _, _ := testConverter(t).ConvertTraces(td)
			if again.KernelEvents[0].ID() != ev.ID() {
				t.Errorf("evidence ID %s, then %s: want it stable", ev.ID(), again.KernelEvents[0].ID())
			}
		})
	}
}
