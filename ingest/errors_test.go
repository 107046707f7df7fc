package ingest

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/debugai/debugai/evidence"
)

// errorCanaries are planted in bad bodies; no part of them may appear in
// an error. The short pieces catch fragments cut out of context.
var errorCanaries = []string{"4111 1111 1111 1111", "4111", "alice.canary@example.org", "alice.canary", "example.org", "canarykey"}

func assertNoErrorCanary(t *testing.T, where, s string) {
	t.Helper()
	for _, c := range errorCanaries {
		if strings.Contains(s, c) {
			t.Errorf("%s contains canary %q: %s", where, c, s)
		}
	}
}

const spanPrefix = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",`

// badJSONBodies fail decoding next to, or because of, a sender's value.
var badJSONBodies = []struct {
	name, body, path string
}{
	{"bad int", spanPrefix + `"attributes":[{"key":"a","value":{"stringValue":"x"}},{"key":"b","value":{"intValue":"4111 1111 1111 1111"}}]}]}]}]}`,
		"resourceSpans[0].scopeSpans[0].spans[0].attributes[1].value.intValue"},
	{"bad trace id", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4111 1111 1111 1111 alice.canary@example.org"}]}]}]}`,
		"resourceSpans[0].scopeSpans[0].spans[0].traceId"},
	{"syntax after a value", spanPrefix + `"name":"alice.canary@example.org 4111 1111 1111 1111" x}]}]}]}`,
		"resourceSpans[0].scopeSpans[0].spans[0].name"},
	{"bad enum", spanPrefix + `"kind":"alice.canary@example.org"}]}]}]}`, "resourceSpans[0].scopeSpans[0].spans[0].kind"},
	{"bad base64", spanPrefix + `"attributes":[{"key":"a","value":{"bytesValue":"alice.canary@example.org!!"}}]}]}]}]}`,
		"resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue"},
	{"bad time", spanPrefix + `"startTimeUnixNano":"alice.canary 4111 1111 1111 1111"}]}]}]}`,
		"resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano"},
	{"canary as unknown key", spanPrefix + `"alice.canary@example.org":{"canarykey":"4111 1111 1111 1111"` + `,"x":tru}}]}]}]}`,
		"resourceSpans[0].scopeSpans[0].spans[0].?"},
	{"unterminated string", spanPrefix + `"name":"alice.canary@example.org 4111 1111 1111 1111`, ""},
}

// TestDecodeErrorsNamePathNotValue posts bodies that fail to decode because
// of (or right next to) a sender's value to the server: the 400 names the
// field path and the reason and quotes nothing of the body.
func TestDecodeErrorsNamePathNotValue(t *testing.T) {
	w := &recordingWriter{}
	s := startTestServer(t, w, nil)
	url := "http://" + s.HTTPAddr() + TracesPath
	for _, tc := range badJSONBodies {
		t.Run(tc.name, func(t *testing.T) {
			for _, gz := range []bool{false, true} {
				body, cenc := []byte(tc.body), ""
				if gz {
					body, cenc = gzipBytes(t, body), "gzip"
				}
				code, _, rb := postOTLP(t, nil, url, contentTypeJSON, cenc, body)
				if code != http.StatusBadRequest {
					t.Fatalf("status %d, want 400 (body %q)", code, rb)
				}
				assertNoErrorCanary(t, "response body", string(rb))
				msg := decodeStatus(t, encJSON, rb).GetMessage()
				if tc.path != "" && !strings.Contains(msg, "at "+tc.path+":") {
					t.Errorf("message %q does not name the path %s", msg, tc.path)
				}
			}
		})
	}
	// Protobuf: a canary string followed by a truncated field.
	td := buildTraces("p", 1)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName("alice.canary@example.org 4111 1111 1111 1111")
	pb, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	code, _, rb := postOTLP(t, nil, url, contentTypeProto, "", append(pb, 0x0a, 0x7f, 'x'))
	if code != http.StatusBadRequest {
		t.Fatalf("protobuf: status %d (body %q)", code, rb)
	}
	assertNoErrorCanary(t, "protobuf response body", string(rb))
	// Headers and paths that are not protocol tokens are not echoed.
	code, _, rb = postOTLP(t, nil, url, "text/alice.canary@example.org", "", []byte("x"))
	if code != http.StatusUnsupportedMediaType {
		t.Fatalf("content type: status %d", code)
	}
	assertNoErrorCanary(t, "415 body", string(rb))
	if w.writeCount() != 0 {
		t.Errorf("%d writes for refused bodies", w.writeCount())
	}
}

// TestFileDecodeErrorsNamePathNotValue is the import side: the error names
// the file, line and field path, never the value.
func TestFileDecodeErrorsNamePathNotValue(t *testing.T) {
	for _, tc := range badJSONBodies {
		t.Run(tc.name, func(t *testing.T) {
			err := ReadOTLPFile(strings.NewReader(tc.body+"\n"), "bad.jsonl", FileAuto, func(FileRecord) error { return nil })
			if err == nil || !strings.Contains(err.Error(), "bad.jsonl:1") {
				t.Fatalf("err %v, want one naming bad.jsonl:1", err)
			}
			if !errors.Is(err, ErrMalformedJSON) {
				t.Errorf("err %v is not ErrMalformedJSON", err)
			}
			assertNoErrorCanary(t, "error", err.Error())
			if tc.path != "" && !strings.Contains(err.Error(), "at "+tc.path+":") {
				t.Errorf("error %q does not name the path %s", err, tc.path)
			}
		})
	}
}

// TestConverterPanicNotEchoed: a converter panic's value is logged, not
// answered.
func TestConverterPanicNotEchoed(t *testing.T) {
	h, _ := newTestHandler(t, &recordingWriter{}, DefaultPipelineConfig(), canaryPanicConverter{})
	rec := serveOnce(h, "POST", TracesPath, contentTypeProto, tracesBody(t, buildTraces("x", 1), encProto))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	assertNoErrorCanary(t, "500 body", rec.Body.String())
}

type canaryPanicConverter struct{ panicConverter }

func (canaryPanicConverter) ConvertTraces(ptrace.Traces) (*evidence.Batch, int64, string) {
	panic("alice.canary@example.org")
}
