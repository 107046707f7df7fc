package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	"github.com/debugai/debugai/evidence"
)

var encodings = []struct {
	name string
	enc  bodyEncoding
}{{"proto", encProto}, {"json", encJSON}}

func decodeTracesResponse(t *testing.T, enc bodyEncoding, b []byte) ptraceotlp.ExportResponse {
	t.Helper()
	resp := ptraceotlp.NewExportResponse()
	var err error
	if enc == encJSON {
		err = resp.UnmarshalJSON(b)
	} else {
		err = resp.UnmarshalProto(b)
	}
	if err != nil {
		t.Fatalf("decoding response %q: %v", b, err)
	}
	return resp
}

func decodeLogsResponse(t *testing.T, enc bodyEncoding, b []byte) plogotlp.ExportResponse {
	t.Helper()
	resp := plogotlp.NewExportResponse()
	var err error
	if enc == encJSON {
		err = resp.UnmarshalJSON(b)
	} else {
		err = resp.UnmarshalProto(b)
	}
	if err != nil {
		t.Fatalf("decoding response %q: %v", b, err)
	}
	return resp
}

func TestHTTPTracesAccepted(t *testing.T) {
	for _, e := range encodings {
		for _, gz := range []bool{false, true} {
			name := e.name
			if gz {
				name += "+gzip"
			}
			t.Run(name, func(t *testing.T) {
				w := &recordingWriter{}
				s := startTestServer(t, w, nil)
				body := tracesBody(t, buildTraces("t", 5), e.enc)
				cenc := ""
				if gz {
					body, cenc = gzipBytes(t, body), "gzip"
				}
				code, hd, rb := postOTLP(t, nil, "http://"+s.HTTPAddr()+TracesPath, contentType(e.enc)+"; charset=utf-8", cenc, body)
				if code != http.StatusOK {
					t.Fatalf("status %d, body %q", code, rb)
				}
				if got := hd.Get("Content-Type"); got != contentType(e.enc) {
					t.Errorf("response content type %q, want %q", got, contentType(e.enc))
				}
				resp := decodeTracesResponse(t, e.enc, rb)
				if n := resp.PartialSuccess().RejectedSpans(); n != 0 {
					t.Errorf("rejected spans %d, want 0", n)
				}
				if got, want := w.spanNames(), names("t", 5); !slices.Equal(got, want) {
					t.Errorf("written spans %v, want %v", got, want)
				}
				w.mu.Lock()
				for _, sp := range w.spans {
					if sp.TraceID != evidence.TraceID(testTraceID(sp.Name)) || sp.SpanID != evidence.SpanID(testSpanID(sp.Name)) {
						t.Errorf("span %s: ids %s/%s do not match what was sent", sp.Name, sp.TraceID, sp.SpanID)
					}
				}
				w.mu.Unlock()
				if st := s.Stats(); st.HTTP.Accepted != 1 || st.HTTP.AcceptedItems != 5 || st.Pipeline.CommittedItems != 5 {
					t.Errorf("stats %+v", st)
				}
			})
		}
	}
}

func TestHTTPLogsAccepted(t *testing.T) {
	for _, e := range encodings {
		t.Run(e.name, func(t *testing.T) {
			w := &recordingWriter{}
			s := startTestServer(t, w, nil)
			body := logsBody(t, buildLogs("a", "b", "c"), e.enc)
			code, _, rb := postOTLP(t, nil, "http://"+s.HTTPAddr()+LogsPath, contentType(e.enc), "", body)
			if code != http.StatusOK {
				t.Fatalf("status %d, body %q", code, rb)
			}
			if n := decodeLogsResponse(t, e.enc, rb).PartialSuccess().RejectedLogRecords(); n != 0 {
				t.Errorf("rejected %d", n)
			}
			if got := w.logBodies(); !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Errorf("written logs %v", got)
			}
		})
	}
}

func TestHTTPPartialSuccess(t *testing.T) {
	for _, e := range encodings {
		t.Run(e.name+"/traces", func(t *testing.T) {
			w := &recordingWriter{}
			s := startTestServer(t, w, nil)
			td := buildTraces("ok", 3)
			ss := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			ss.AppendEmpty().SetName("reject-1") // no ids, and a rejected name
			bad := ss.AppendEmpty()
			buildTraces("x", 1).ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).CopyTo(bad)
			bad.SetName("reject-2")
			code, _, rb := postOTLP(t, nil, "http://"+s.HTTPAddr()+TracesPath, contentType(e.enc), "", tracesBody(t, td, e.enc))
			if code != http.StatusOK {
				t.Fatalf("status %d, body %q", code, rb)
			}
			ps := decodeTracesResponse(t, e.enc, rb).PartialSuccess()
			if ps.RejectedSpans() != 2 || !strings.Contains(ps.ErrorMessage(), "2 spans refused") {
				t.Errorf("partial success rejected=%d message=%q, want 2 and the converter's reason", ps.RejectedSpans(), ps.ErrorMessage())
			}
			if got := w.spanNames(); !slices.Equal(got, names("ok", 3)) {
				t.Errorf("written %v", got)
			}
			if st := s.Stats().HTTP; st.RejectedItems != 2 {
				t.Errorf("RejectedItems %d, want 2", st.RejectedItems)
			}
		})
		t.Run(e.name+"/logs", func(t *testing.T) {
			w := &recordingWriter{}
			s := startTestServer(t, w, nil)
			code, _, rb := postOTLP(t, nil, "http://"+s.HTTPAddr()+LogsPath, contentType(e.enc), "",
				logsBody(t, buildLogs("keep", "reject-me"), e.enc))
			if code != http.StatusOK {
				t.Fatalf("status %d, body %q", code, rb)
			}
			ps := decodeLogsResponse(t, e.enc, rb).PartialSuccess()
			if ps.RejectedLogRecords() != 1 || !strings.Contains(ps.ErrorMessage(), "refused") {
				t.Errorf("partial success rejected=%d message=%q", ps.RejectedLogRecords(), ps.ErrorMessage())
			}
			if got := w.logBodies(); !slices.Equal(got, []string{"keep"}) {
				t.Errorf("written %v", got)
			}
		})
	}
}

// TestHTTPRefusals covers every 4xx path: the status, the google.rpc.Status
// body naming the problem, and that nothing reached the writer.
func TestHTTPRefusals(t *testing.T) {
	w := &recordingWriter{}
	s := startTestServer(t, w, func(c *Config) {
		c.HTTP.MaxRequestBytes = 4 << 10
		c.HTTP.MaxDecompressedBytes = 64 << 10
	})
	base := "http://" + s.HTTPAddr()
	big := tracesBody(t, buildTraces("big", 200), encProto) // > 4 KiB
	if len(big) <= 4<<10 {
		t.Fatalf("test body too small: %d", len(big))
	}
	bomb := gzipBytes(t, bytes.Repeat([]byte{0}, 1<<20)) // 1 MiB of zeros, ~1 KiB compressed
	if len(bomb) > 4<<10 {
		t.Fatalf("bomb compressed to %d bytes", len(bomb))
	}
	cases := []struct {
		name, method, path, ctype, cenc string
		body                            []byte
		chunked                         bool
		wantCode                        int
		wantMsg                         string
	}{
		{"malformed proto", "POST", TracesPath, contentTypeProto, "", []byte{0xff, 0xff, 0xff}, false, 400, "decoding protobuf traces export request"},
		{"malformed json", "POST", TracesPath, contentTypeJSON, "", []byte(`{"resourceSpans": [{`), false, 400, "decoding JSON traces export request"},
		{"malformed logs proto", "POST", LogsPath, contentTypeProto, "", []byte{0x0a, 0x05, 0x01}, false, 400, "decoding protobuf logs export request"},
		{"malformed logs json", "POST", LogsPath, contentTypeJSON, "", []byte(`[]`), false, 400, "decoding JSON logs export request"},
		{"bad gzip", "POST", TracesPath, contentTypeProto, "gzip", []byte("not gzip"), false, 400, "decompressing gzip request body"},
		{"truncated gzip", "POST", TracesPath, contentTypeProto, "gzip", gzipBytes(t, big)[:100], false, 400, "decompressing gzip request body"},
		{"over limit", "POST", TracesPath, contentTypeProto, "", big, false, 413, "exceeds the limit of 4096 bytes"},
		{"over limit chunked", "POST", TracesPath, contentTypeProto, "", big, true, 413, "exceeds the limit of 4096 bytes"},
		{"gzip bomb", "POST", TracesPath, contentTypeProto, "gzip", bomb, false, 413, "decompressed request body exceeds the limit of 65536 bytes"},
		{"unsupported type", "POST", TracesPath, "text/plain", "", []byte("hi"), false, 415, `unsupported content type "text/plain"`},
		{"unsupported encoding", "POST", TracesPath, contentTypeProto, "br", []byte("hi"), false, 415, `unsupported content encoding "br"`},
		{"wrong method", "GET", TracesPath, contentTypeJSON, "", nil, false, 405, "method GET not allowed"},
		{"wrong method logs", "PUT", LogsPath, contentTypeProto, "", nil, false, 405, "method PUT not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(body) // hides the length: chunked transfer
			}
			req, err := http.NewRequest(c.method, base+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.ctype)
			if c.cenc != "" {
				req.Header.Set("Content-Encoding", c.cenc)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.wantCode {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, c.wantCode, rb)
			}
			enc, ok := mediaType(c.ctype)
			if !ok {
				enc = encJSON
			}
			if got := resp.Header.Get("Content-Type"); got != contentType(enc) {
				t.Errorf("content type %q, want %q", got, contentType(enc))
			}
			st := decodeStatus(t, enc, rb)
			if !strings.Contains(st.GetMessage(), c.wantMsg) {
				t.Errorf("message %q, want it to contain %q", st.GetMessage(), c.wantMsg)
			}
			if c.wantCode == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow %q, want POST", resp.Header.Get("Allow"))
			}
			if resp.Header.Get("Retry-After") != "" {
				t.Errorf("a %d must not carry Retry-After", c.wantCode)
			}
		})
	}
	if n := w.writeCount(); n != 0 {
		t.Errorf("writer called %d times for refused requests", n)
	}
	st := s.Stats()
	if st.Pipeline.AcceptedBatches != 0 {
		t.Errorf("pipeline accepted %d batches", st.Pipeline.AcceptedBatches)
	}
	if st.HTTP.Malformed != 6 || st.HTTP.TooLarge != 3 || st.HTTP.Unsupported != 4 {
		t.Errorf("counters %+v", st.HTTP)
	}
}

// newTestHandler builds a handler over a started pipeline, outside a Server.
func newTestHandler(t *testing.T, w evidence.Writer, pc PipelineConfig, conv Converter) (*HTTPHandler, *Pipeline) {
	t.Helper()
	p, err := NewPipeline(pc, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("pipeline shutdown: %v", err)
		}
	})
	h, err := NewHTTPHandler(DefaultHTTPConfig(), conv, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func serveOnce(h http.Handler, method, path, ctype string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHTTPBackpressure(t *testing.T) {
	for _, e := range encodings {
		t.Run(e.name, func(t *testing.T) {
			w := &recordingWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
			s := startTestServer(t, w, func(c *Config) { c.Pipeline.MaxQueueItems = 4; c.Pipeline.RetryAfter = 2500 * time.Millisecond })
			url := "http://" + s.HTTPAddr() + TracesPath
			first := make(chan int, 1)
			go func() {
				code, _, _ := postOTLP(t, nil, url, contentType(e.enc), "", tracesBody(t, buildTraces("first", 3), e.enc))
				first <- code
			}()
			<-w.entered // the first batch is in Write and holds 3 of 4 queue items

			code, hd, rb := postOTLP(t, nil, url, contentType(e.enc), "", tracesBody(t, buildTraces("second", 2), e.enc))
			if code != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429 (body %q)", code, rb)
			}
			if got := hd.Get("Retry-After"); got != "3" {
				t.Errorf("Retry-After %q, want 3 (2.5 s rounded up)", got)
			}
			st := decodeStatus(t, e.enc, rb)
			if codes.Code(st.GetCode()) != codes.ResourceExhausted || !strings.Contains(st.GetMessage(), "queue full") {
				t.Errorf("status %v %q", codes.Code(st.GetCode()), st.GetMessage())
			}
			var ri errdetails.RetryInfo
			if len(st.GetDetails()) != 1 || st.GetDetails()[0].UnmarshalTo(&ri) != nil || ri.GetRetryDelay().AsDuration() != 2500*time.Millisecond {
				t.Errorf("details %v, want one RetryInfo of 2.5s", st.GetDetails())
			}
			select {
			case c := <-first:
				t.Fatalf("first request answered %d before its batch was committed", c)
			default:
			}
			close(w.gate)
			if c := <-first; c != http.StatusOK {
				t.Errorf("first request: %d, want 200 once committed", c)
			}
			if got := w.spanNames(); !slices.Equal(got, names("first", 3)) {
				t.Errorf("written %v: the refused batch must not be written", got)
			}
			if st := s.Stats(); st.HTTP.Refused != 1 || st.Pipeline.BackpressureItems != 2 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestHTTPServerErrors(t *testing.T) {
	body := tracesBody(t, buildTraces("e", 3), encProto)
	t.Run("shutting down", func(t *testing.T) {
		w := &recordingWriter{}
		h, p := newTestHandler(t, w, DefaultPipelineConfig(), stubConverter{})
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		rec := serveOnce(h, "POST", TracesPath, contentTypeProto, body)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
			t.Errorf("status %d Retry-After %q, want 503 and 1", rec.Code, rec.Header().Get("Retry-After"))
		}
		if st := decodeStatus(t, encProto, rec.Body.Bytes()); codes.Code(st.GetCode()) != codes.Unavailable {
			t.Errorf("code %v", codes.Code(st.GetCode()))
		}
	})
	t.Run("write fails", func(t *testing.T) {
		w := &recordingWriter{err: errors.New("disk full")}
		h, _ := newTestHandler(t, w, DefaultPipelineConfig(), stubConverter{})
		rec := serveOnce(h, "POST", TracesPath, contentTypeJSON, tracesBody(t, buildTraces("e", 3), encJSON))
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("status %d Retry-After %q, want retryable 503", rec.Code, rec.Header().Get("Retry-After"))
		}
		if st := decodeStatus(t, encJSON, rec.Body.Bytes()); !strings.Contains(st.GetMessage(), "disk full") {
			t.Errorf("message %q", st.GetMessage())
		}
	})
	t.Run("batch larger than queue", func(t *testing.T) {
		pc := DefaultPipelineConfig()
		pc.MaxQueueItems = 2
		w := &recordingWriter{}
		h, _ := newTestHandler(t, w, pc, stubConverter{})
		rec := serveOnce(h, "POST", TracesPath, contentTypeProto, body)
		if rec.Code != http.StatusRequestEntityTooLarge || rec.Header().Get("Retry-After") != "" {
			t.Errorf("status %d Retry-After %q, want 413 without retry", rec.Code, rec.Header().Get("Retry-After"))
		}
		if w.writeCount() != 0 {
			t.Error("written")
		}
	})
	t.Run("converter panics", func(t *testing.T) {
		w := &recordingWriter{}
		h, _ := newTestHandler(t, w, DefaultPipelineConfig(), panicConverter{})
		rec := serveOnce(h, "POST", TracesPath, contentTypeProto, body)
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", rec.Code)
		}
		if h.Stats().Internal != 1 || w.writeCount() != 0 {
			t.Errorf("stats %+v, writes %d", h.Stats(), w.writeCount())
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		h, _ := newTestHandler(t, &recordingWriter{}, DefaultPipelineConfig(), stubConverter{})
		rec := serveOnce(h, "POST", "/v1/metrics", contentTypeProto, body)
		if rec.Code != http.StatusNotFound {
			t.Errorf("status %d, want 404", rec.Code)
		}
	})
	t.Run("empty request", func(t *testing.T) {
		w := &recordingWriter{}
		h, _ := newTestHandler(t, w, DefaultPipelineConfig(), stubConverter{})
		rec := serveOnce(h, "POST", LogsPath, contentTypeProto, nil)
		if rec.Code != http.StatusOK || w.writeCount() != 0 {
			t.Errorf("status %d writes %d, want 200 and nothing written", rec.Code, w.writeCount())
		}
	})
}

type panicConverter struct{}

func (panicConverter) ConvertTraces(ptrace.Traces) (*evidence.Batch, int64, string) {
	panic("converter bug")
}

func (panicConverter) ConvertLogs(plog.Logs) (*evidence.Batch, int64, string) {
	panic("converter bug")
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no listeners", func(c *Config) { c.HTTPAddr, c.GRPCAddr = "", "" }, "enable at least one"},
		{"bad addr", func(c *Config) { c.HTTPAddr = "localhost" }, `http address "localhost"`},
		{"queue items", func(c *Config) { c.Pipeline.MaxQueueItems = 0 }, "max queue items 0: must be positive"},
		{"queue bytes", func(c *Config) { c.Pipeline.MaxQueueBytes = -1 }, "max queue bytes -1"},
		{"commit items", func(c *Config) { c.Pipeline.MaxCommitItems = 0 }, "max commit items 0"},
		{"retry", func(c *Config) { c.Pipeline.RetryAfter = time.Millisecond }, "retry after 1ms: must be at least 1s"},
		{"body", func(c *Config) { c.HTTP.MaxRequestBytes = 0 }, "max request bytes 0"},
		{"decompressed", func(c *Config) { c.HTTP.MaxDecompressedBytes = 1 }, "max decompressed bytes 1"},
		{"decodes", func(c *Config) { c.HTTP.MaxConcurrentDecodes = 0 }, "max concurrent decodes 0"},
		{"reads", func(c *Config) { c.HTTP.MaxConcurrentReads = 0 }, "max concurrent reads 0"},
		{"body timeout", func(c *Config) { c.HTTP.BodyReadTimeout = 0 }, "body read timeout 0s"},
		{"grpc msg", func(c *Config) { c.GRPC.MaxRecvMsgBytes = 0 }, "max receive message bytes 0"},
		{"grpc streams", func(c *Config) { c.GRPC.MaxConcurrentStreams = 0 }, "max concurrent streams"},
		{"timeouts", func(c *Config) { c.ReadTimeout = -1 }, "timeouts must not be negative"},
		{"budget", func(c *Config) { c.MemoryBudgetBytes = 5 * c.HTTP.MaxRequestBytes }, "memory budget"},
		{"budget wait", func(c *Config) { c.BudgetWait = -1 }, "budget wait"},
		{"auth", func(c *Config) { c.HTTPAddr = "0.0.0.0:4318" }, "requires a bearer token"},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
		if _, nerr := NewServer(cfg, stubConverter{}, &recordingWriter{}, nil); nerr == nil {
			t.Errorf("%s: NewServer accepted an invalid config", c.name)
		}
	}
}
