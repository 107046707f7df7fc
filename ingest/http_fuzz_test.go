package ingest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// fuzzHTTP drives the handler with arbitrary bodies (optionally gzipped):
// the answer is 2xx or 4xx, never 5xx or a panic, and a 4xx submits nothing.
func fuzzHTTP(f *testing.F, sig signal, enc bodyEncoding) {
	path, seeds := TracesPath, [][]byte{}
	if sig == signalLogs {
		path = LogsPath
		seeds = append(seeds, logsBody(f, buildLogs("a", "reject-b"), enc), logsBody(f, buildLogs(), enc))
	} else {
		td := buildTraces("f", 3)
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty().SetName("reject")
		seeds = append(seeds, tracesBody(f, td, enc), tracesBody(f, buildTraces("e", 0), enc))
	}
	seeds = append(seeds, nil, []byte("{}"), []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`),
		[]byte{0x0a, 0x02, 0x0a, 0x00}, []byte{0xff})
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}

	w := &recordingWriter{}
	p, err := NewPipeline(DefaultPipelineConfig(), w, nil)
	if err != nil {
		f.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	cfg := DefaultHTTPConfig()
	cfg.MaxRequestBytes, cfg.MaxDecompressedBytes = 1<<20, 4<<20
	h, err := NewHTTPHandler(cfg, stubConverter{}, p, nil)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, gzipped bool) {
		sent := body
		if gzipped {
			sent = gzipBytes(t, body)
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(sent))
		if gzipped {
			req.Header.Set("Content-Encoding", "gzip")
		}
		req.Header.Set("Content-Type", contentType(enc))
		before, writes := p.Stats().AcceptedBatches, w.writeCount()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch c := rec.Code; {
		case c >= 200 && c < 300:
			if rec.Header().Get("Content-Type") != contentType(enc) {
				t.Errorf("2xx content type %q", rec.Header().Get("Content-Type"))
			}
		case c >= 400 && c < 500:
			if p.Stats().AcceptedBatches != before || w.writeCount() != writes {
				t.Errorf("status %d but something was submitted", c)
			}
			if st := decodeStatus(t, enc, rec.Body.Bytes()); st.GetMessage() == "" {
				t.Errorf("status %d without a message", c)
			}
		default:
			t.Errorf("status %d (body %q)", c, rec.Body.Bytes())
		}
	})
}

func FuzzHTTPTracesProto(f *testing.F) { fuzzHTTP(f, signalTraces, encProto) }
func FuzzHTTPTracesJSON(f *testing.F)  { fuzzHTTP(f, signalTraces, encJSON) }
func FuzzHTTPLogsProto(f *testing.F)   { fuzzHTTP(f, signalLogs, encProto) }
func FuzzHTTPLogsJSON(f *testing.F)    { fuzzHTTP(f, signalLogs, encJSON) }
