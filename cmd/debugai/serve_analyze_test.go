package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/debugai/debugai/analyze"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/remote"
)

// TestServeAnalyzesByItself: serve, started with an analysis interval,
// finds a change in what it receives with no further command: web's
// calls to db slow down in the last minute of two sent through a real
// OTLP exporter; the ranking model's finding that db explains the change
// appears in the store (read through serve's API, as MCP reads it), an
// incident opens, its report is stored and the webhook receives it.
func TestServeAnalyzesByItself(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	events := make(chan analyze.Event, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev analyze.Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		events <- ev
	}))
	defer hook.Close()
	store := filepath.Join(t.TempDir(), "ev.duckdb")
	sp := startServe(t, store, "--analyze-every", "200ms", "--analyze-window", "60s", "--notify-url", hook.URL)

	ctx := context.Background()
	provider := func(service string) *sdktrace.TracerProvider {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(sp.httpURL+"/v1/traces"), otlptracehttp.WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
	}
	webTP, dbTP := provider("web"), provider("db")
	web, db := webTP.Tracer("web"), dbTP.Tracer("db")
	t0 := time.Now().Add(-3 * time.Minute).Truncate(time.Second)
	for i := range 120 {
		start := t0.Add(time.Duration(i) * time.Second)
		dbTime := 2*time.Millisecond + time.Duration(i%5)*100*time.Microsecond
		if i >= 60 {
			dbTime += 40 * time.Millisecond // the last minute: db is slow
		}
		c, root := web.Start(ctx, "GET /", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
		c, call := web.Start(c, "query", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(start.Add(time.Millisecond)))
		_, srv := db.Start(c, "SELECT", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start.Add(1500*time.Microsecond)))
		srv.End(trace.WithTimestamp(start.Add(1500*time.Microsecond + dbTime)))
		call.End(trace.WithTimestamp(start.Add(2*time.Millisecond + dbTime)))
		root.End(trace.WithTimestamp(start.Add(3*time.Millisecond + dbTime)))
	}
	for _, tp := range []*sdktrace.TracerProvider{webTP, dbTP} {
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatalf("exporting: %v", err)
		}
	}

	state, err := remote.ReadState(store)
	if err != nil {
		t.Fatal(err)
	}
	client := remote.NewClient(state)
	deadline := time.Now().Add(60 * time.Second)
	for {
		fs, err := client.Findings(ctx, evidence.FindingFilter{Kinds: []string{"change_explained"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) > 0 && fs[0].Service == "db" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finding stored by serve's analysis within 60s (stderr: %s)", sp.stderr)
		}
		time.Sleep(100 * time.Millisecond) // polling an observable condition, bounded by the deadline
	}
	select {
	case ev := <-events:
		if ev.Event != "incident.opened" || ev.Incident.Service != "db" || ev.Incident.ReportID == "" {
			t.Fatalf("webhook event %+v; want db's incident opened with a report", ev.Incident)
		}
		rs, err := client.Reports(ctx, evidence.ReportFilter{})
		if err != nil || len(rs) == 0 || rs[0].ID != ev.Incident.ReportID {
			t.Fatalf("stored reports %+v, %v; want the incident's", rs, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no incident event within 60s (stderr: %s)", sp.stderr)
	}
}

func TestServeAnalysisFlags(t *testing.T) {
	store := filepath.Join(t.TempDir(), "ev.duckdb")
	for _, args := range [][]string{
		{"--analyze-every", "0", "--notify-url", "http://127.0.0.1:1/hook"},
		{"--notify-url", "ftp://user:secretpw@example.invalid/hook"},
		{"--analyze-every", "1ms"},
		{"--analyze-window", "10ms"},
	} {
		_, _, err := runCLI(t, append([]string{"serve", "--store", store, "--listen", "127.0.0.1:0", "--grpc-listen", ""}, args...)...)
		if code := exitCode(err, io.Discard); code != 2 || strings.Contains(fmt.Sprint(err), "secretpw") {
			t.Errorf("serve %v: exit %d, %v; want a usage error that does not quote the URL", args, code, err)
		}
	}
}
