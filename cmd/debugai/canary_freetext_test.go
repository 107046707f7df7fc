package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/debugai/debugai/evidence/duckdb"
)

// nameCanaries are people's names and e-mail keys planted in every free-text
// field of the corpus below.
var nameCanaries = []string{"Winterbottom", "Okonkwo", "Zebulon", "zeb.canary@example.net", "Quillfeather"}

// emitNameCanaries sends spans and logs with names in status and exception
// messages, event names, the log EventName and body, an e-mail used as a
// key, services' own debugai.* attributes and link attributes.
func emitNameCanaries(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url+"/v1/traces"), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(canaryResource()))
	tr := tp.Tracer("canary")
	_, other := tr.Start(ctx, "other")
	other.End()
	_, sp := tr.Start(ctx, "POST /refunds", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithLinks(trace.Link{SpanContext: other.SpanContext(), Attributes: []attribute.KeyValue{
			attribute.String("exception.message", "linked for Zebulon Winterbottom")}}),
		trace.WithAttributes(
			attribute.String("zeb.canary@example.net", "x"),
			attribute.String("debugai.note", "held by Okonkwo"),
			attribute.String("debugai.stream", "Quillfeather Okonkwo"),
			attribute.String("debugai.lock.name", "Winterbottom's lock"),
			attribute.String("exception.message", "no account for Zebulon Okonkwo"),
		))
	sp.AddEvent("refund approved by Zebulon Winterbottom", trace.WithAttributes(
		attribute.String("exception.message", "manager Quillfeather declined")))
	sp.RecordError(errors.New("denied Zebulon Winterbottom ssn 078-05-1120"))
	sp.SetStatus(codes.Error, "denied Okonkwo Quillfeather")
	sp.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("exporting spans: %v", err)
	}

	lexp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(url+"/v1/logs"), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(lexp)), sdklog.WithResource(canaryResource()))
	var r otellog.Record
	r.SetTimestamp(time.Now())
	r.SetSeverity(otellog.SeverityError)
	r.SetEventName("refund for Zebulon Winterbottom")
	r.SetBody(attribute.StringValue("Okonkwo Quillfeather asked for a refund"))
	r.AddAttributes(
		attribute.String("exception.message", "card of Zebulon Okonkwo expired"),
		attribute.String("zeb.canary@example.net", "x"),
		attribute.String("debugai.note", "Winterbottom"),
	)
	lp.Logger("canary").Emit(ctx, r)
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("exporting logs: %v", err)
	}
}

func assertNoNameCanary(t *testing.T, where string, b []byte) {
	t.Helper()
	for _, c := range nameCanaries {
		if i := bytes.Index(b, []byte(c)); i >= 0 {
			lo, hi := max(0, i-60), min(len(b), i+len(c)+60)
			t.Errorf("canary %q found in %s: ...%q...", c, where, b[lo:hi])
		}
	}
}

// TestImportNameCanariesLeaveNoTrace imports the name corpus and searches
// every stored value, the file and WAL bytes, the import and audit output.
func TestImportNameCanariesLeaveNoTrace(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	capture := &captureOTLP{}
	srv := httptest.NewServer(capture)
	defer srv.Close()
	emitNameCanaries(t, srv.URL)
	all := bytes.Join(append(capture.traces, capture.logs...), nil)
	for _, c := range nameCanaries {
		if !bytes.Contains(all, []byte(c)) {
			t.Fatalf("the captured requests lack %q: the test would prove nothing", c)
		}
	}
	dir := t.TempDir()
	tracesFile, logsFile := filepath.Join(dir, "traces.binpb"), filepath.Join(dir, "logs.binpb")
	writeLengthPrefixed(t, tracesFile, capture.traces)
	writeLengthPrefixed(t, logsFile, capture.logs)
	store := filepath.Join(dir, "ev.duckdb")
	out, errOut, err := runCLI(t, "import", "--store", store, tracesFile, logsFile)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, errOut)
	}
	assertNoNameCanary(t, "import output", []byte(out+errOut))
	auditOut, errOut, err := runCLI(t, "audit", "--store", store)
	if err != nil {
		t.Fatal(err)
	}
	assertNoNameCanary(t, "audit output", []byte(auditOut+errOut))
	if !bytes.Contains([]byte(auditOut), []byte("(invalid key)")) {
		t.Errorf("audit does not count the e-mail key as an invalid key:\n%s", auditOut)
	}
	st, err := duckdb.Open(context.Background(), store, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if err := st.DumpText(context.Background(), &dump); err != nil {
		t.Fatal(err)
	}
	assertNoNameCanary(t, "table dump", dump.Bytes())
	if !bytes.Contains(dump.Bytes(), []byte("{word}")) {
		t.Error("no templated message stored: the corpus did not reach the store")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{store, store + ".wal"} {
		if b, err := os.ReadFile(f); err == nil {
			assertNoNameCanary(t, "raw bytes of "+filepath.Base(f), b)
		}
	}
}

// TestServeNameCanariesLeaveNoTrace sends the name corpus to serve over
// OTLP/HTTP and searches the audit read through serve's API, every stored
// value, and the file and WAL bytes.
func TestServeNameCanariesLeaveNoTrace(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	store := filepath.Join(t.TempDir(), "ev.duckdb")
	sp := startServe(t, store)
	emitNameCanaries(t, sp.httpURL)
	auditOut, errOut, err := runChild(t, "audit", "--store", store)
	if err != nil {
		t.Fatalf("audit while serving: %v\n%s", err, errOut)
	}
	assertNoNameCanary(t, "audit output", []byte(auditOut+errOut))
	sp.stop(t)
	st, err := duckdb.Open(context.Background(), store, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if err := st.DumpText(context.Background(), &dump); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(dump.Bytes(), []byte("{word}")) {
		t.Fatal("no templated message stored: the scan would prove nothing")
	}
	assertNoNameCanary(t, "table dump", dump.Bytes())
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{store, store + ".wal"} {
		if b, err := os.ReadFile(f); err == nil {
			assertNoNameCanary(t, "raw bytes of "+filepath.Base(f), b)
		}
	}
}
