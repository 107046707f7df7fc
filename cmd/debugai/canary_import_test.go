package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

// captureOTLP records the protobuf bodies real SDK exporters send.
type captureOTLP struct {
	mu           sync.Mutex
	traces, logs [][]byte
}

func (c *captureOTLP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	if strings.HasSuffix(r.URL.Path, "/v1/logs") {
		c.logs = append(c.logs, b)
	} else {
		c.traces = append(c.traces, b)
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
}

func writeLengthPrefixed(t *testing.T, path string, msgs [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range msgs {
		buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(m))))
		buf.Write(m)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImportCanariesLeaveNoTrace imports the canary corpus (as the SDK
// exporters encode it, in the Collector file exporter's protobuf layout)
// and searches every stored value, the raw file and the audit output.
func TestImportCanariesLeaveNoTrace(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	capture := &captureOTLP{}
	srv := httptest.NewServer(capture)
	defer srv.Close()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	sc := emitCanaryTraces(t, exp, "import")
	emitCanaryLogs(t, srv.URL, sc)
	if len(capture.traces) == 0 || len(capture.logs) == 0 {
		t.Fatalf("captured %d trace and %d log requests", len(capture.traces), len(capture.logs))
	}
	for _, b := range append(capture.traces, capture.logs...) {
		if !bytes.Contains(b, []byte("alice.canary@example.org")) && !bytes.Contains(b, []byte("8675309")) {
			t.Fatal("a captured request lacks the canaries: the test would prove nothing")
		}
	}
	dir := t.TempDir()
	tracesFile, logsFile := filepath.Join(dir, "traces.binpb"), filepath.Join(dir, "kernel-logs.binpb")
	writeLengthPrefixed(t, tracesFile, capture.traces)
	writeLengthPrefixed(t, logsFile, capture.logs)

	store := filepath.Join(dir, "ev.duckdb")
	out, errOut, err := runCLI(t, "import", "--store", store, tracesFile, logsFile)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "spans:         2") || !strings.Contains(out, "kernel events: 1") || !strings.Contains(out, "logs:          1") {
		t.Fatalf("import summary:\n%s", out)
	}
	auditOut, _, err := runCLI(t, "audit", "--store", store)
	if err != nil {
		t.Fatal(err)
	}
	assertNoCanary(t, "audit output", []byte(auditOut+out))

	st, err := duckdb.Open(context.Background(), store, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	checkCanarySpans(t, st, sc, "import")
	checkTokenFollowsIdentifier(t, st, sc)
	var dump bytes.Buffer
	if err := st.DumpText(context.Background(), &dump); err != nil {
		t.Fatal(err)
	}
	assertNoCanary(t, "table dump", dump.Bytes())
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{store, store + ".wal"} {
		if b, err := os.ReadFile(f); err == nil {
			assertNoCanary(t, "raw bytes of "+filepath.Base(f), b)
		}
	}
}

// checkTokenFollowsIdentifier shows how a user follows one identifier
// without it being stored: `debugai token VALUE` prints the tokens it has,
// and the stored attribute equals the current one.
func checkTokenFollowsIdentifier(t *testing.T, st *duckdb.Store, sc trace.SpanContext) {
	t.Helper()
	out, errOut, err := runCLI(t, "token", "user-8675309")
	if err != nil {
		t.Fatalf("token: %v\n%s", err, errOut)
	}
	tokens := strings.Fields(out)
	if len(tokens) == 0 || !strings.HasPrefix(tokens[0], "tok:") || strings.Contains(out, "8675309") {
		t.Fatalf("token output %q", out)
	}
	spans, err := st.Trace(context.Background(), evidence.TraceID(sc.TraceID()))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range spans {
		if v, ok := s.Attrs.Get("user.id"); ok {
			found = true
			if v.Str != tokens[0] {
				t.Errorf("stored user.id %q, but `debugai token` says %q", v.Str, tokens[0])
			}
		}
	}
	if !found {
		t.Error("no span carries user.id")
	}
}
