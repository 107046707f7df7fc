package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/debugai/debugai/privacy"
)

// deepJSONTraces returns an OTLP/JSON trace export request with one valid
// span whose attribute key (dropped by the default policy) holds a kvlist or
// array value nested levels deep, written without recursion.
func deepJSONTraces(levels int, kvlist bool) []byte {
	open, closing := `{"arrayValue":{"values":[`, `]}}`
	if kvlist {
		open, closing = `{"kvlistValue":{"values":[{"key":"k","value":`, `}]}}`
	}
	var b bytes.Buffer
	b.Grow(levels * (len(open) + len(closing)))
	b.WriteString(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"deep"}}]},` +
		`"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",` +
		`"name":"GET /deep","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000",` +
		`"attributes":[{"key":"unknown.deep.key","value":`)
	for range levels {
		b.WriteString(open)
	}
	b.WriteString(`{"stringValue":"leaf"}`)
	for range levels {
		b.WriteString(closing)
	}
	b.WriteString(`}]}]}]}]}`)
	return b.Bytes()
}

// TestDeepJSONAttributeRefusedByServer sends the body that used to overflow
// the stack (a value nested a million levels deep, gzipped) to the server
// with the privacy converter: it is refused with 400 naming the nesting,
// and the server keeps serving.
func TestDeepJSONAttributeRefusedByServer(t *testing.T) {
	for _, kvlist := range []bool{false, true} {
		t.Run(fmt.Sprint("kvlist=", kvlist), func(t *testing.T) {
			body := gzipBytes(t, deepJSONTraces(1_000_000, kvlist))
			t.Logf("gzipped body: %d bytes", len(body))
			w := &recordingWriter{}
			cfg := DefaultConfig()
			cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
			cfg.MemoryBudgetBytes = 1 << 30 // room to decode the 50 MB body: the nesting, not memory, must refuse it
			s, err := NewServer(cfg, testConverter(t), w, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
			url := "http://" + s.HTTPAddr() + TracesPath
			code, _, rb := postOTLP(t, nil, url, contentTypeJSON, "gzip", body)
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (body %q)", code, rb)
			}
			if msg := decodeStatus(t, encJSON, rb).GetMessage(); !strings.Contains(msg, "nested too deeply") {
				t.Errorf("message %q does not name the nesting", msg)
			}
			// Still serving: a normal request is committed.
			code, _, rb = postOTLP(t, nil, url, contentTypeJSON, "", tracesBody(t, buildTraces("after", 2), encJSON))
			if code != http.StatusOK || w.writeCount() != 1 {
				t.Fatalf("after the deep body: status %d, writes %d (body %q)", code, w.writeCount(), rb)
			}
		})
	}
}

// TestDeepJSONAttributeRefusedByFileReader is the import path: the same
// line in a gzipped OTLP/JSON lines file stops the read with an error naming
// the line.
func TestDeepJSONAttributeRefusedByFileReader(t *testing.T) {
	good := tracesBody(t, buildTraces("ok", 1), encJSON)
	data := gzipBytes(t, bytes.Join([][]byte{good, deepJSONTraces(1_000_000, true), good}, []byte("\n")))
	var n int
	err := ReadOTLPFile(bytes.NewReader(data), "deep.otlp.jsonl.gz", FileAuto, func(FileRecord) error { n++; return nil })
	if !errors.Is(err, ErrTooDeep) || !strings.Contains(err.Error(), "deep.otlp.jsonl.gz:2") {
		t.Fatalf("err %v, want ErrTooDeep naming line 2", err)
	}
	if n != 1 {
		t.Errorf("%d records before the deep line, want 1", n)
	}
}

// nestValue nests v levels deep: kvlists ({"k": ...}) or arrays ([...]).
func nestValue(v pcommon.Value, levels int, kvlist bool) {
	for range levels {
		if kvlist {
			v = v.SetEmptyMap().PutEmpty("k")
		} else {
			v = v.SetEmptySlice().AppendEmpty()
		}
	}
	v.SetStr("leaf")
}

// deepPlace builds a request with a value nested levels deep at one of the
// places OTLP carries attribute values or bodies.
type deepPlace struct {
	name   string
	traces func(levels int, kvlist bool) ptrace.Traces
	logs   func(levels int, kvlist bool) plog.Logs
}

func deepPlaces() []deepPlace {
	span := func() (ptrace.Traces, ptrace.ResourceSpans, ptrace.Span) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(testTraceID("d"))
		sp.SetSpanID(testSpanID("d"))
		sp.SetStartTimestamp(1)
		sp.SetEndTimestamp(2)
		return td, rs, sp
	}
	record := func() (plog.Logs, plog.LogRecord) {
		ld := plog.NewLogs()
		lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(1)
		return ld, lr
	}
	return []deepPlace{
		{name: "resource attribute", traces: func(n int, kv bool) ptrace.Traces {
			td, rs, _ := span()
			nestValue(rs.Resource().Attributes().PutEmpty("deep"), n, kv)
			return td
		}},
		{name: "span attribute", traces: func(n int, kv bool) ptrace.Traces {
			td, _, sp := span()
			nestValue(sp.Attributes().PutEmpty("deep"), n, kv)
			return td
		}},
		{name: "span event attribute", traces: func(n int, kv bool) ptrace.Traces {
			td, _, sp := span()
			nestValue(sp.Events().AppendEmpty().Attributes().PutEmpty("deep"), n, kv)
			return td
		}},
		{name: "span link attribute", traces: func(n int, kv bool) ptrace.Traces {
			td, _, sp := span()
			nestValue(sp.Links().AppendEmpty().Attributes().PutEmpty("deep"), n, kv)
			return td
		}},
		{name: "log attribute", logs: func(n int, kv bool) plog.Logs {
			ld, lr := record()
			nestValue(lr.Attributes().PutEmpty("deep"), n, kv)
			return ld
		}},
		{name: "log body", logs: func(n int, kv bool) plog.Logs {
			ld, lr := record()
			nestValue(lr.Body(), n, kv)
			return ld
		}},
	}
}

// TestJSONDepthLimitEqualsProtobufs encodes the same request in protobuf
// and JSON at every nesting around the protobuf decoder's limit, at every
// place a value can nest: the JSON decoder accepts exactly what the
// protobuf decoder accepts.
func TestJSONDepthLimitEqualsProtobufs(t *testing.T) {
	for _, pl := range deepPlaces() {
		for _, kv := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/kvlist=%v", pl.name, kv), func(t *testing.T) {
				var accepted, refused int
				for n := 1; n <= 60; n++ {
					var pb, js []byte
					var protoErr, jsonErr error
					if pl.traces != nil {
						req := ptraceotlp.NewExportRequestFromTraces(pl.traces(n, kv))
						pb, _ = req.MarshalProto()
						js, _ = req.MarshalJSON()
						protoErr = ptraceotlp.NewExportRequest().UnmarshalProto(pb)
						_, jsonErr = unmarshalTracesJSON(js)
					} else {
						req := plogotlp.NewExportRequestFromLogs(pl.logs(n, kv))
						pb, _ = req.MarshalProto()
						js, _ = req.MarshalJSON()
						protoErr = plogotlp.NewExportRequest().UnmarshalProto(pb)
						_, jsonErr = unmarshalLogsJSON(js)
					}
					if (protoErr == nil) != (jsonErr == nil) {
						t.Fatalf("%d levels: protobuf error %v, JSON error %v", n, protoErr, jsonErr)
					}
					if jsonErr != nil {
						refused++
						if !errors.Is(jsonErr, ErrTooDeep) {
							t.Fatalf("%d levels: JSON error %v, want ErrTooDeep", n, jsonErr)
						}
					} else {
						accepted++
					}
				}
				if accepted == 0 || refused == 0 {
					t.Fatalf("accepted %d, refused %d: the range misses the limit", accepted, refused)
				}
			})
		}
	}
}

// TestCheckJSONDepth covers what the structural scan must not be fooled by.
func TestCheckJSONDepth(t *testing.T) {
	deep := func(prefix, open, closing string, n int) string {
		return prefix + strings.Repeat(open, n) + "1" + strings.Repeat(closing, n)
	}
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"flat", `{"resourceSpans":[]}`, true},
		{"brackets in strings", `{"a":"{{{{[[[[\"{{{{"}`, true},
		{"unknown field nesting within bound", deep(`{"x":`, `[`, `]`, 200) + `}`, true},
		{"unknown field nesting over bound", deep(`{"x":`, `[`, `]`, 300) + `}`, false},
		{"escaped attributes key", `{"attr\u0069butes":[` + deep("", `{"kvlistValue":{"values":[{"key":"k","value":`, `}]}}`, 40) + `]}`, false},
		{"plain attributes key", `{"attributes":[` + deep("", `{"kvlistValue":{"values":[{"key":"k","value":`, `}]}}`, 40) + `]}`, false},
		{"other key", `{"other":[` + deep("", `{"kvlistValue":{"values":[{"key":"k","value":`, `}]}}`, 40) + `]}`, true},
		{"chain does not restart inside a value", `{"attributes":[{"key":"a","value":{"kvlistValue":{"values":[{"key":"b","value":{"attributes":` +
			deep("", `[{"x":`, `}]`, 60) + `}}]}}}]}`, true},
		{"unterminated string", `{"a":"{{{`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkJSONDepth([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("err %v is not ErrTooDeep", err)
			}
		})
	}
}

// TestConvertDropsDeepValueWithoutRendering hands the converter a value
// nested a million levels deep (built in memory, as no decoder would
// accept it) under a key the policy drops: it is counted as dropped and
// never rendered (rendering recursed once per level and overflowed the
// stack).
func TestConvertDropsDeepValueWithoutRendering(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(testTraceID("d"))
	sp.SetSpanID(testSpanID("d"))
	sp.SetStartTimestamp(1)
	sp.SetEndTimestamp(2)
	nestValue(sp.Attributes().PutEmpty("unknown.deep.key"), 1_000_000, false)
	b, rejected, _ := testConverter(t).ConvertTraces(td)
	if rejected != 0 || len(b.Spans) != 1 || len(b.Spans[0].Attrs) != 0 {
		t.Fatalf("rejected %d, spans %+v", rejected, b.Spans)
	}
	var dropped bool
	for _, a := range b.Audit {
		dropped = dropped || a.Key == "unknown.deep.key" && a.Action == string(privacy.ActionDrop) && a.Count == 1
	}
	if !dropped {
		t.Errorf("audit %+v lacks the drop", b.Audit)
	}
}
