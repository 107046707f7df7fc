package duckdb

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
)

func mustWrite(t *testing.T, s *Store, b *evidence.Batch) {
	t.Helper()
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func mustStats(t *testing.T, s *Store) evidence.Stats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

func TestRoundTripEveryType(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	want := fullBatch()
	mustWrite(t, s, want)

	sp := want.Spans[0]
	got, err := s.Trace(ctx, sp.TraceID)
	if err != nil {
		t.Fatalf("Trace: %v", err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], sp) {
		t.Errorf("Trace:\n got %+v\nwant %+v", got, sp)
	}
	kevs, err := s.KernelEvents(ctx, evidence.KernelEventFilter{})
	if err != nil {
		t.Fatalf("KernelEvents: %v", err)
	}
	if len(kevs) != 1 || !reflect.DeepEqual(kevs[0], want.KernelEvents[0]) {
		t.Errorf("KernelEvents:\n got %+v\nwant %+v", kevs, want.KernelEvents[0])
	}
	items := map[string]any{
		sp.ID(): &sp,
		evidence.SpanEventEvidenceID(sp.TraceID, sp.SpanID, 0): &sp.Events[0],
		evidence.SpanEventEvidenceID(sp.TraceID, sp.SpanID, 1): &sp.Events[1],
		want.KernelEvents[0].ID():                              &want.KernelEvents[0],
		want.LockEdges[0].ID():                                 &want.LockEdges[0],
		want.Logs[0].ID:                                        &want.Logs[0],
		want.Resources[0].ID:                                   &want.Resources[0],
	}
	for id, w := range items {
		item, err := s.Get(ctx, id)
		if err != nil {
			t.Errorf("Get(%q): %v", id, err)
			continue
		}
		var g any
		for _, p := range []any{item.Span, item.SpanEvent, item.KernelEvent, item.LockEdge, item.Log, item.Resource} {
			if !reflect.ValueOf(p).IsNil() {
				g = p
			}
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("Get(%q):\n got %+v\nwant %+v", id, g, w)
		}
	}
	audit, err := s.Audit(ctx)
	if err != nil || !reflect.DeepEqual(audit, want.Audit) {
		t.Errorf("Audit = %+v, %v; want %+v", audit, err, want.Audit)
	}
	st := mustStats(t, s)
	wantStats := evidence.Stats{SchemaVersion: 5, Resources: 1, Traces: 1, Spans: 1, SpanEvents: 2,
		KernelEvents: 1, LockEdges: 1, Logs: 1, Services: []string{"checkout"},
		MinStartNS: sp.StartNS, MaxEndNS: sp.EndNS,
		EvidenceMinNS: 100, EvidenceMaxNS: sp.EndNS} // the lock edge's first time; the span's end
	if !reflect.DeepEqual(st, wantStats) {
		t.Errorf("Stats:\n got %+v\nwant %+v", st, wantStats)
	}
}

func TestRewriteIsIdempotent(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	b := fullBatch()
	b.Spans = append(b.Spans, makeSpans(0, 100, 1e18)...)
	b.Spans = append(b.Spans, b.Spans[5]) // repeated within the batch
	b.KernelEvents = append(b.KernelEvents, b.KernelEvents[0])
	b.Logs = append(b.Logs, b.Logs[0])
	b.Resources = append(b.Resources, b.Resources[0])
	b.LockEdges = append(b.LockEdges, b.LockEdges[0])
	mustWrite(t, s, b)
	first := mustStats(t, s)
	if first.Spans != 101 || first.SpanEvents != 102 || first.KernelEvents != 1 || first.Logs != 1 || first.Resources != 1 {
		t.Fatalf("after first write: %+v", first)
	}
	mustWrite(t, s, b)
	if again := mustStats(t, s); !reflect.DeepEqual(again, first) {
		t.Errorf("after re-write:\n got %+v\nwant %+v", again, first)
	}
	mustWrite(t, s, &evidence.Batch{Spans: makeSpans(90, 20, 1e18)}) // 90..99 stored, 100..109 new
	second := mustStats(t, s)
	first.Spans, first.SpanEvents, first.Traces = 111, 112, 1+14
	first.MaxEndNS, first.EvidenceMaxNS = second.MaxEndNS, second.EvidenceMaxNS
	if !reflect.DeepEqual(first, second) {
		t.Errorf("after re-writes:\n got %+v\nwant %+v", second, first)
	}
	edge, err := s.Get(ctx, b.LockEdges[0].ID())
	if err != nil {
		t.Fatal(err)
	}
	if edge.LockEdge.Count != 4*3 { // 2 per batch, 3 each, written twice
		t.Errorf("edge count = %d, want 12 (edges accumulate)", edge.LockEdge.Count)
	}
}

func TestWriteIsAtomic(t *testing.T) {
	tests := []struct {
		name string
		run  func(s *Store) error
	}{
		{"context canceled before", func(s *Store) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return s.Write(ctx, fullBatch())
		}},
		{"context canceled after spans were inserted", func(s *Store) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s.afterInsert = func(context.Context) error { cancel(); return nil }
			defer func() { s.afterInsert = nil }()
			return s.Write(ctx, fullBatch())
		}},
		{"failure inside the transaction", func(s *Store) error {
			s.afterInsert = func(context.Context) error { return errors.New("injected") }
			defer func() { s.afterInsert = nil }()
			return s.Write(context.Background(), fullBatch())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTemp(t)
			if err := tt.run(s); err == nil {
				t.Fatal("Write succeeded, want an error")
			}
			want := evidence.Stats{SchemaVersion: 5, Services: nil}
			if st := mustStats(t, s); !reflect.DeepEqual(st, want) {
				t.Errorf("after failed write: %+v", st)
			}
			if a, _ := s.Audit(context.Background()); len(a) != 0 {
				t.Errorf("audit after failed write: %+v", a)
			}
			// The writer connection is usable again: stages were rolled back.
			mustWrite(t, s, fullBatch())
			if st := mustStats(t, s); st.Spans != 1 || st.SpanEvents != 2 || st.KernelEvents != 1 || st.LockEdges != 1 {
				t.Errorf("after retry: %+v", st)
			}
		})
	}
}

func TestGet(t *testing.T) {
	s, _ := openTemp(t)
	b := fullBatch()
	mustWrite(t, s, b)
	sp := &b.Spans[0]
	tests := []struct {
		id      string
		line    evidence.Line
		wantErr error
	}{
		{sp.ID(), evidence.LineTrace, nil},
		{evidence.SpanEventEvidenceID(sp.TraceID, sp.SpanID, 1), evidence.LineTrace, nil},
		{b.KernelEvents[0].ID(), evidence.LineKernelFutex, nil},
		{"edge:mu<A>>mu>B", evidence.LineLock, nil},
		{"log:f00d", evidence.LineLog, nil},
		{"res:abc", evidence.LineDeploy, nil},
		{evidence.SpanEvidenceID(sp.TraceID, spanID(9999)), "", evidence.ErrNotFound},
		{evidence.SpanEventEvidenceID(sp.TraceID, sp.SpanID, 7), "", evidence.ErrNotFound},
		{"kev:n1/futex/0/1", "", evidence.ErrNotFound},
		{"edge:a>b", "", evidence.ErrNotFound},
		{"log:nope", "", evidence.ErrNotFound},
		{"res:nope", "", evidence.ErrNotFound},
		{"", "", evidence.ErrBadID},
		{"span:", "", evidence.ErrBadID},
		{"span:xyz/abc", "", evidence.ErrBadID},
		{"span:" + sp.TraceID.String(), "", evidence.ErrBadID},
		{sp.ID() + "/3", "", evidence.ErrBadID},
		{"sev:" + sp.TraceID.String() + "/" + sp.SpanID.String() + "/x", "", evidence.ErrBadID},
		{"kev:n1/5", "", evidence.ErrBadID},
		{"kev:n1/s/-1", "", evidence.ErrBadID},
		{"edge:nocaret", "", evidence.ErrBadID},
		{"finding:abc", "", evidence.ErrNotFound},
		{"cp:nope@2026-01-01T00:00:00Z", "", evidence.ErrNotFound},
		{"finding:", "", evidence.ErrBadID},
		{"zz:abc", "", evidence.ErrBadID},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			item, err := s.Get(context.Background(), tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get(%q) error = %v, want %v", tt.id, err, tt.wantErr)
			}
			if err == nil && (item.ID != tt.id || item.Line != tt.line) {
				t.Errorf("Get(%q) = id %q line %q, want line %q", tt.id, item.ID, item.Line, tt.line)
			}
		})
	}
}

func TestSpansFilterAndPaging(t *testing.T) {
	s, _ := openTemp(t)
	spans := makeSpans(0, 40, 1e18)
	spans[3].StatusCode = evidence.StatusError
	spans[3].Version = "v2"
	mustWrite(t, s, &evidence.Batch{Spans: spans})
	errStatus := evidence.StatusError
	tests := []struct {
		name   string
		filter evidence.SpanFilter
		want   []int // indexes into spans, in start order
	}{
		{"all", evidence.SpanFilter{}, seq(0, 40)},
		{"limit", evidence.SpanFilter{Limit: 3}, seq(0, 3)},
		{"page", evidence.SpanFilter{Limit: 3, Offset: 6}, seq(6, 9)},
		{"service", evidence.SpanFilter{Service: "cart"}, []int{1, 6, 11, 16, 21, 26, 31, 36}},
		{"name", evidence.SpanFilter{Name: "GET /healthz", Limit: 2}, []int{3, 7}},
		{"version", evidence.SpanFilter{Version: "v2"}, []int{3}},
		{"status", evidence.SpanFilter{Status: &errStatus}, []int{3}},
		{"trace", evidence.SpanFilter{TraceID: spans[9].TraceID}, seq(8, 16)},
		{"window", evidence.SpanFilter{SinceNS: spans[10].StartNS, UntilNS: spans[13].StartNS}, seq(10, 13)},
		{"min duration", evidence.SpanFilter{MinDurationNS: 250_000 + 38_000}, []int{38, 39}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Spans(context.Background(), tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int
			for _, sp := range got {
				for i := range spans {
					if spans[i].SpanID == sp.SpanID {
						ids = append(ids, i)
					}
				}
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("got spans %v, want %v", ids, tt.want)
			}
		})
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestKernelEventsFilter(t *testing.T) {
	s, _ := openTemp(t)
	var evs []evidence.KernelEvent
	types := []evidence.KernelEventType{evidence.KernelFutexWait, evidence.KernelOffCPU, evidence.KernelTCPRetransmit}
	for i := range 30 {
		evs = append(evs, evidence.KernelEvent{Node: []string{"n1", "n2"}[i%2], Stream: "s", Seq: uint64(i),
			Type: types[i%3], TimeNS: int64(1000 + 10*i), PID: int64(100 + i%3), TID: int64(i % 5)})
	}
	evs[7].TraceID = traceID(1)
	mustWrite(t, s, &evidence.Batch{KernelEvents: evs})
	tests := []struct {
		name   string
		filter evidence.KernelEventFilter
		want   []uint64
	}{
		{"page", evidence.KernelEventFilter{Limit: 2, Offset: 4}, []uint64{4, 5}},
		{"node", evidence.KernelEventFilter{Node: "n2", Limit: 3}, []uint64{1, 3, 5}},
		{"pid tid", evidence.KernelEventFilter{PID: 101, TID: 1}, []uint64{1, 16}},
		{"types", evidence.KernelEventFilter{Types: []evidence.KernelEventType{evidence.KernelOffCPU, evidence.KernelTCPRetransmit}, Limit: 4}, []uint64{1, 2, 4, 5}},
		{"trace", evidence.KernelEventFilter{TraceID: traceID(1)}, []uint64{7}},
		{"window", evidence.KernelEventFilter{SinceNS: 1100, UntilNS: 1130}, []uint64{10, 11, 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.KernelEvents(context.Background(), tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			if !reflect.DeepEqual(seqs, tt.want) {
				t.Errorf("got %v, want %v", seqs, tt.want)
			}
		})
	}
}

func TestAuditAccumulates(t *testing.T) {
	s, _ := openTemp(t)
	mustWrite(t, s, &evidence.Batch{Audit: []evidence.AuditCount{
		{Source: "span", Key: "user.id", Action: "tokenize", Count: 2},
		{Source: "log", Key: "email", Action: "redact", Count: 1},
		{Source: "span", Key: "user.id", Action: "tokenize", Count: 3},
	}})
	mustWrite(t, s, &evidence.Batch{Audit: []evidence.AuditCount{
		{Source: "span", Key: "user.id", Action: "tokenize", Count: 10},
		{Source: "span", Key: "http.url", Action: "drop", Count: 4},
	}})
	got, err := s.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []evidence.AuditCount{
		{Source: "log", Key: "email", Action: "redact", Count: 1},
		{Source: "span", Key: "http.url", Action: "drop", Count: 4},
		{Source: "span", Key: "user.id", Action: "tokenize", Count: 15},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Audit:\n got %+v\nwant %+v", got, want)
	}
}

// startChild runs this test binary again as a process that opens path
// (and writes fullBatch when write is set) and holds it until stdin closes.
// TestWriteSurvivesSIGKILL kills a child right after its Write returned:
// the committed batch must be in the file's WAL.
// TestOpenLockedByOtherProcess runs this test binary again as a child that
// holds the file open read-write.
func TestDumpTextHasEveryValue(t *testing.T) {
	s, _ := openTemp(t)
	b := fullBatch()
	const canary = "CANARY-7f3a9c"
	b.Spans[0].Attrs = append(b.Spans[0].Attrs, evidence.Attr{Key: "k", Value: evidence.StringValue(canary + "-attr")})
	b.Spans[0].DBStatement = canary + "-stmt"
	b.Logs[0].EventName = canary + "-log"
	b.KernelEvents[0].Stream = canary + "-stream"
	mustWrite(t, s, b)
	var buf bytes.Buffer
	if err := s.DumpText(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{canary + "-attr", canary + "-stmt", canary + "-log", canary + "-stream",
		"## spans\t", "## schema_version\t", "## audit\t", b.Spans[0].TraceID.String()[:8], "18446744073709551614"} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q", want)
		}
	}
}

func TestAttrsJSONRoundTrip(t *testing.T) {
	tests := []evidence.Attrs{
		nil,
		{{Key: "i", Value: evidence.IntValue(math.MinInt64)}, {Key: "i2", Value: evidence.IntValue(0)}},
		{{Key: "f", Value: evidence.FloatValue(2)}, {Key: "f2", Value: evidence.FloatValue(-0.5)},
			{Key: "f3", Value: evidence.FloatValue(1e21)}, {Key: "f4", Value: evidence.FloatValue(math.Inf(1))},
			{Key: "f5", Value: evidence.FloatValue(5e-324)}},
		{{Key: "b", Value: evidence.BoolValue(false)}, {Key: "s", Value: evidence.StringValue("")}},
		{{Key: "z", Value: evidence.StringValue("1")}, {Key: "a", Value: evidence.StringValue("true")}},
		{{Key: "uni\u2028\"k", Value: evidence.StringValue("\x00\x1f\u00e9\U0001F600")}},
	}
	for _, attrs := range tests {
		enc := appendAttrsJSON(nil, attrs)
		got, err := decodeAttrs(string(enc))
		if err != nil {
			t.Fatalf("decode %s: %v", enc, err)
		}
		if !reflect.DeepEqual(got, attrs) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", enc, got, attrs)
		}
	}
	nan, err := decodeAttrs(string(appendAttrsJSON(nil, evidence.Attrs{{Key: "n", Value: evidence.FloatValue(math.NaN())}})))
	if err != nil || len(nan) != 1 || nan[0].Value.Kind != evidence.KindFloat || !math.IsNaN(nan[0].Value.Float) {
		t.Errorf("NaN round trip: %+v %v", nan, err)
	}
	bad, _ := decodeAttrs(string(appendAttrsJSON(nil, evidence.Attrs{{Key: "s", Value: evidence.StringValue("a\xffb")}})))
	if bad[0].Value.Str != "a\uFFFDb" {
		t.Errorf("invalid UTF-8: %q", bad[0].Value.Str)
	}
}

func TestConcurrentWritesAndReads(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	errc := make(chan error, 8)
	for g := range 4 {
		go func() {
			errc <- s.Write(ctx, &evidence.Batch{Spans: makeSpans(g*500, 1000, 1e18)})
		}()
		go func() {
			_, err := s.Spans(ctx, evidence.SpanFilter{Limit: 10})
			errc <- err
		}()
	}
	deadline := time.After(60 * time.Second)
	for range 8 {
		select {
		case err := <-errc:
			if err != nil {
				t.Error(err)
			}
		case <-deadline:
			t.Fatal("timeout")
		}
	}
	if st := mustStats(t, s); st.Spans != 2500 {
		t.Errorf("spans = %d, want 2500", st.Spans)
	}
}

func TestInvalidUTF8IsRepairedNotDropped(t *testing.T) {
	s, _ := openTemp(t)
	b := fullBatch()
	b.Spans[0].Name = "bad\xffname"
	b.KernelEvents[0].Service = "svc\xfe"
	mustWrite(t, s, b)
	got, err := s.Trace(context.Background(), b.Spans[0].TraceID)
	if err != nil || len(got) != 1 || got[0].Name != "bad\uFFFDname" {
		t.Errorf("span name = %+v, %v", got, err)
	}
	kevs, err := s.KernelEvents(context.Background(), evidence.KernelEventFilter{})
	if err != nil || len(kevs) != 1 || kevs[0].Service != "svc\uFFFD" {
		t.Errorf("kernel event service = %+v, %v", kevs, err)
	}
}
