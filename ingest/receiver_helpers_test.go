package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/debugai/debugai/evidence"
)

// stubConverter copies span names and ids into evidence.Spans and log bodies
// into LogRecord.EventName. It refuses spans with empty ids and spans and
// logs named "reject...", so tests can provoke partial success.
type stubConverter struct{}

var _ Converter = stubConverter{}

func (stubConverter) ConvertTraces(td ptrace.Traces) (*evidence.Batch, int64, string) {
	b := &evidence.Batch{Spans: make([]evidence.Span, 0, td.SpanCount())}
	var rejected int64
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				if sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() || strings.HasPrefix(sp.Name(), "reject") {
					rejected++
					continue
				}
				b.Spans = append(b.Spans, evidence.Span{
					TraceID:      evidence.TraceID(sp.TraceID()),
					SpanID:       evidence.SpanID(sp.SpanID()),
					ParentSpanID: evidence.SpanID(sp.ParentSpanID()),
					Name:         sp.Name(),
					StartNS:      int64(sp.StartTimestamp()),
					EndNS:        int64(sp.EndTimestamp()),
				})
			}
		}
	}
	reason := ""
	if rejected > 0 {
		reason = fmt.Sprintf("%d spans refused: empty id or rejected name", rejected)
	}
	return b, rejected, reason
}

func (stubConverter) ConvertLogs(ld plog.Logs) (*evidence.Batch, int64, string) {
	b := &evidence.Batch{}
	var rejected int64
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				body := lr.Body().AsString()
				if strings.HasPrefix(body, "reject") {
					rejected++
					continue
				}
				b.Logs = append(b.Logs, evidence.LogRecord{
					ID:           "log:" + body,
					TimeNS:       int64(lr.Timestamp()),
					Severity:     int32(lr.SeverityNumber()),
					SeverityText: lr.SeverityText(),
					EventName:    body,
					TraceID:      evidence.TraceID(lr.TraceID()),
					SpanID:       evidence.SpanID(lr.SpanID()),
				})
			}
		}
	}
	reason := ""
	if rejected > 0 {
		reason = fmt.Sprintf("%d log records refused: rejected body", rejected)
	}
	return b, rejected, reason
}

// recordingWriter is an in-memory evidence.Writer. When gate is set, Write
// waits until the gate is closed; entered receives (without blocking) on
// every Write; err, when set, is returned after recording nothing.
type recordingWriter struct {
	gate    chan struct{}
	entered chan struct{}
	err     error
	onWrite func(b *evidence.Batch) // called inside Write, before recording

	mu      sync.Mutex
	writes  int
	batches []int // Len of each written batch
	spans   []evidence.Span
	logs    []evidence.LogRecord
}

func (w *recordingWriter) Write(ctx context.Context, b *evidence.Batch) error {
	if w.entered != nil {
		select {
		case w.entered <- struct{}{}:
		default:
		}
	}
	if w.gate != nil {
		select {
		case <-w.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if w.onWrite != nil {
		w.onWrite(b)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.writes++
	w.batches = append(w.batches, b.Len())
	w.spans = append(w.spans, b.Spans...)
	w.logs = append(w.logs, b.Logs...)
	return nil
}

func (w *recordingWriter) spanNames() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, len(w.spans))
	for i, s := range w.spans {
		names[i] = s.Name
	}
	slices.Sort(names)
	return names
}

// hasSpans reports whether every named span has been written.
func (w *recordingWriter) hasSpans(names []string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	have := make(map[string]bool, len(w.spans))
	for _, s := range w.spans {
		have[s.Name] = true
	}
	for _, n := range names {
		if !have[n] {
			return false
		}
	}
	return true
}

func (w *recordingWriter) logBodies() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, len(w.logs))
	for i, l := range w.logs {
		names[i] = l.EventName
	}
	slices.Sort(names)
	return names
}

func (w *recordingWriter) writeCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

// buildTraces returns n spans named prefix-0 ... prefix-(n-1) with ids
// derived from the name, so every (prefix, i) has distinct ids.
func buildTraces(prefix string, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc-"+prefix)
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		sp := ss.Spans().AppendEmpty()
		sp.SetName(name)
		sp.SetTraceID(testTraceID(name))
		sp.SetSpanID(testSpanID(name))
		sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i)*1000))
		sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i)*1000 + 500))
		sp.Attributes().PutStr("http.route", "/items/{id}")
	}
	return td
}

func testTraceID(name string) pcommon.TraceID {
	var id pcommon.TraceID
	h := fnv64(name)
	binary.BigEndian.PutUint64(id[:8], h|1)
	binary.BigEndian.PutUint64(id[8:], ^h)
	return id
}

func testSpanID(name string) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], fnv64(name+"/span")|1)
	return id
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// buildLogs returns one log record per body.
func buildLogs(bodies ...string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "svc-logs")
	sl := rl.ScopeLogs().AppendEmpty()
	for _, body := range bodies {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(body)
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000))
	}
	return ld
}

func tracesBody(t testing.TB, td ptrace.Traces, enc bodyEncoding) []byte {
	t.Helper()
	req := ptraceotlp.NewExportRequestFromTraces(td)
	var (
		b   []byte
		err error
	)
	if enc == encJSON {
		b, err = req.MarshalJSON()
	} else {
		b, err = req.MarshalProto()
	}
	if err != nil {
		t.Fatalf("encoding traces: %v", err)
	}
	return b
}

func logsBody(t testing.TB, ld plog.Logs, enc bodyEncoding) []byte {
	t.Helper()
	req := plogotlp.NewExportRequestFromLogs(ld)
	var (
		b   []byte
		err error
	)
	if enc == encJSON {
		b, err = req.MarshalJSON()
	} else {
		b, err = req.MarshalProto()
	}
	if err != nil {
		t.Fatalf("encoding logs: %v", err)
	}
	return b
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func contentType(enc bodyEncoding) string {
	if enc == encJSON {
		return contentTypeJSON
	}
	return contentTypeProto
}

// startTestServer starts a Server on loopback port 0 with stubConverter and
// shuts it down when the test ends.
func startTestServer(t testing.TB, w evidence.Writer, mod func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewServer(cfg, stubConverter{}, w, nil)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// postOTLP sends body to url and returns the status, headers and body.
func postOTLP(t testing.TB, client *http.Client, url, ctype, cenc string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	if cenc != "" {
		req.Header.Set("Content-Encoding", cenc)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp.StatusCode, resp.Header, rb
}

// decodeStatus parses a google.rpc.Status error body.
func decodeStatus(t testing.TB, enc bodyEncoding, b []byte) *spb.Status {
	t.Helper()
	st := &spb.Status{}
	var err error
	if enc == encJSON {
		err = protojson.Unmarshal(b, st)
	} else {
		err = proto.Unmarshal(b, st)
	}
	if err != nil {
		t.Fatalf("decoding status body %q: %v", b, err)
	}
	return st
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	slices.Sort(out)
	return out
}
