package ingest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
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
	seeds = append(seeds, hostileSeeds(f, sig, enc)...)
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

// hostileSeeds are bodies shaped like attacks: values nested just within
// and beyond the depth limit (kvlists and arrays), nesting in unknown
// fields, and huge names and values.
func hostileSeeds(f *testing.F, sig signal, enc bodyEncoding) [][]byte {
	huge := strings.Repeat("x", 256<<10)
	var out [][]byte
	if sig == signalLogs {
		for _, pl := range deepPlaces() {
			if pl.logs != nil {
				out = append(out, logsBody(f, pl.logs(MaxValueDepth/2, false), enc), logsBody(f, pl.logs(MaxValueDepth/3+1, true), enc))
			}
		}
		ld := buildLogs(huge)
		ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutStr(huge, huge)
		return append(out, logsBody(f, ld, enc))
	}
	for _, pl := range deepPlaces() {
		if pl.traces != nil {
			out = append(out, tracesBody(f, pl.traces(MaxValueDepth/2, false), enc), tracesBody(f, pl.traces(MaxValueDepth/3+1, true), enc))
		}
	}
	td := buildTraces("h", 1)
	sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	sp.SetName(huge)
	sp.Status().SetMessage(huge)
	sp.Attributes().PutStr("http.route", huge)
	out = append(out, tracesBody(f, td, enc))
	if enc == encJSON {
		out = append(out, deepJSONTraces(2000, false), deepJSONTraces(MaxValueDepth, true),
			[]byte(`{"resourceSpans":[{"x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}]}`))
	}
	return out
}

func FuzzHTTPTracesProto(f *testing.F) { fuzzHTTP(f, signalTraces, encProto) }
func FuzzHTTPTracesJSON(f *testing.F)  { fuzzHTTP(f, signalTraces, encJSON) }
func FuzzHTTPLogsProto(f *testing.F)   { fuzzHTTP(f, signalLogs, encProto) }
func FuzzHTTPLogsJSON(f *testing.F)    { fuzzHTTP(f, signalLogs, encJSON) }
