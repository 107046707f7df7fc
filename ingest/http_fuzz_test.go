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
	// Bodies that fail at a value: the answer must not quote it.
	seeds = append(seeds,
		[]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"Zebulon Winterbottom 4111 1111 1111 1111"}]}]}]}`),
		[]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"8675309 Okonkwo Quillfeather"}]}]}]}`),
		[]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"alice.canary@example.org"}]}]}]}`),
		[]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"Quillfeather 078-05-1120`))
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
			st := decodeStatus(t, enc, rec.Body.Bytes())
			if st.GetMessage() == "" {
				t.Errorf("status %d without a message", c)
			}
			if w := echoed(body, st.GetMessage(), 16); w != "" {
				t.Errorf("status %d message %q quotes the body: %q", c, st.GetMessage(), w)
			}
		default:
			t.Errorf("status %d (body %q)", c, rec.Body.Bytes())
		}
	})
}

// echoed returns the first n-byte run of msg that also occurs in body (a
// payload quoted back to the sender), or "". The OTLP field names a path
// shows are ours, not the sender's: runs that touch one do not count.
// Bodies over 64 KiB are not searched (cost).
func echoed(body []byte, msg string, n int) string {
	if len(body) > 64<<10 {
		return ""
	}
	masked := []byte(msg)
	for name := range otlpJSONFields {
		for off := 0; ; {
			i := bytes.Index(masked[off:], []byte(name))
			if i < 0 {
				break
			}
			for j := off + i; j < off+i+len(name); j++ {
				masked[j] = 0
			}
			off += i + len(name)
		}
	}
	for i := 0; i+n <= len(masked); i++ {
		if w := masked[i : i+n]; bytes.IndexByte(w, 0) < 0 && bytes.Contains(body, w) {
			return string(w)
		}
	}
	return ""
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
