package loadgentest

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func body(t *testing.T, spans int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID([16]byte{1})
		s.SetSpanID([8]byte{byte(i + 1)})
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSink(t *testing.T) {
	plain := body(t, 3)
	tests := []struct {
		name        string
		contentType string
		encoding    string
		body        []byte
		wantStatus  int
		want        Counts
	}{
		{"protobuf", "application/x-protobuf", "", plain, 200, Counts{Requests: 1, Accepted: 1, Spans: 3}},
		{"gzip", "application/x-protobuf", "gzip", gz(t, plain), 200, Counts{Requests: 1, Accepted: 1, Spans: 3}},
		{"json", "application/json", "", []byte("{}"), 400, Counts{Requests: 1, Bad: 1}},
		{"garbage", "application/x-protobuf", "", []byte{0x0a, 0xff}, 400, Counts{Requests: 1, Bad: 1}},
		{"zstd", "application/x-protobuf", "zstd", plain, 400, Counts{Requests: 1, Bad: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &Sink{}
			req := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			rec := httptest.NewRecorder()
			sink.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus || sink.Counts() != tt.want {
				t.Errorf("status %d, counts %+v; want %d, %+v", rec.Code, sink.Counts(), tt.wantStatus, tt.want)
			}
		})
	}
}

func TestSinkThrottleAndDuplicates(t *testing.T) {
	sink := &Sink{TrackIDs: true, Throttle: func(n int64) Throttle {
		if n == 1 {
			return Throttle{Status: http.StatusTooManyRequests, RetryAfter: "3"}
		}
		return Throttle{}
	}}
	b := body(t, 2)
	var codes []int
	var retryAfter string
	for range 3 {
		req := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/x-protobuf")
		rec := httptest.NewRecorder()
		sink.ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
		if rec.Code == http.StatusTooManyRequests {
			retryAfter = rec.Header().Get("Retry-After")
		}
	}
	want := Counts{Requests: 3, Accepted: 2, Spans: 4, Throttled: 1, Duplicates: 2}
	if got := sink.Counts(); got != want || retryAfter != "3" || codes[0] != 429 || codes[2] != 200 {
		t.Errorf("counts %+v, codes %v, Retry-After %q; want %+v, [429 200 200], \"3\"", got, codes, retryAfter, want)
	}
}
