package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/evidence"
)

const benchSpans = 1000

// benchTraces is one export request of benchSpans spans with the attributes
// an instrumented HTTP server typically sets.
func benchTraces() ptrace.Traces {
	td := buildTraces("bench", benchSpans)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		a := spans.At(i).Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("server.address", "checkout.internal")
		a.PutStr("url.path", fmt.Sprintf("/items/%d", i))
		a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")
	}
	return td
}

// BenchmarkHTTPServerTracesProto measures the whole server over loopback:
// HTTP, decoding, the stub converter and group commit into a no-op writer.
// The load generator shares the machine's CPUs.
func BenchmarkHTTPServerTracesProto(b *testing.B) {
	var written atomic.Int64
	w := evidence.WriterFunc(func(_ context.Context, bt *evidence.Batch) error {
		written.Add(int64(len(bt.Spans)))
		return nil
	})
	s := startTestServer(b, w, nil)
	body := tracesBody(b, benchTraces(), encProto)
	url := "http://" + s.HTTPAddr() + TracesPath
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(url, contentTypeProto, bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(written.Load())/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(s.Stats().Pipeline.Writes), "writes")
}

// BenchmarkHTTPHandlerTracesProto measures the handler without the network.
func BenchmarkHTTPHandlerTracesProto(b *testing.B) {
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprint("gzip=", gz), func(b *testing.B) {
			p, err := NewPipeline(DefaultPipelineConfig(), evidence.WriterFunc(func(context.Context, *evidence.Batch) error { return nil }), nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = p.Shutdown(context.Background()) }()
			h, err := NewHTTPHandler(DefaultHTTPConfig(), stubConverter{}, p, nil)
			if err != nil {
				b.Fatal(err)
			}
			body := tracesBody(b, benchTraces(), encProto)
			if gz {
				body = gzipBytes(b, body)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, TracesPath, bytes.NewReader(body))
					req.Header.Set("Content-Type", contentTypeProto)
					if gz {
						req.Header.Set("Content-Encoding", "gzip")
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("status %d", rec.Code)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*benchSpans)/b.Elapsed().Seconds(), "spans/s")
		})
	}
}
