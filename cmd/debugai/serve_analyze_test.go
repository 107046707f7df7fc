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

	sendSlowDB(t, sp.httpURL)

	ctx := context.Background()
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
		{"--alert-service-labels", " , "},
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

// sendSlowDB sends two minutes of web -> db requests, ending three minutes
// ago, through real OTLP exporters; db is 40 ms slower in the second
// minute. It returns the start of the first request.
func sendSlowDB(t *testing.T, httpURL string) time.Time {
	t.Helper()
	ctx := context.Background()
	provider := func(service string) *sdktrace.TracerProvider {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(httpURL+"/v1/traces"), otlptracehttp.WithInsecure())
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
	return t0
}

// TestServeInvestigatesAlerts: serve, with no periodic analysis, takes an
// Alertmanager webhook: a firing alert for db at the start of its slow
// minute is investigated (its report stored, an "alert.investigated"
// event posted); the same alert again is a duplicate; a resolved one is
// ignored; bodies that are not payloads get 4xx naming what was wrong
// without echoing it.
func TestServeInvestigatesAlerts(t *testing.T) {
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
	sp := startServe(t, store, "--analyze-every", "0", "--analyze-window", "60s", "--notify-url", hook.URL)
	t0 := sendSlowDB(t, sp.httpURL)

	post := func(contentType, body string) (int, analyze.AlertResponse, string) {
		t.Helper()
		resp, err := http.Post(sp.httpURL+alertsPath, contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var ar analyze.AlertResponse
		if resp.StatusCode == http.StatusAccepted {
			if err := json.Unmarshal(raw, &ar); err != nil {
				t.Fatalf("answer %q: %v", raw, err)
			}
		}
		return resp.StatusCode, ar, string(raw)
	}
	// The alert fires when db's slow minute is over (Alertmanager alerts
	// after a "for:" period): the window of 60s ending then holds it.
	firing := fmt.Sprintf(`{"version":"4","status":"firing","receiver":"debugai","groupLabels":{"alertname":"Slow"},
		"alerts":[{"status":"firing","labels":{"alertname":"Slow","service":"db","owner":"Jane Roe"},"annotations":{"summary":"p95 up"},
		"startsAt":%q,"endsAt":"0001-01-01T00:00:00Z","fingerprint":"4f1c2d"},
		{"status":"resolved","labels":{"alertname":"Old","service":"web"},"startsAt":%q,"fingerprint":"9e9e"}]}`,
		t0.Add(120*time.Second).Format(time.RFC3339Nano), t0.Format(time.RFC3339Nano))
	if code, ar, raw := post("application/json", firing); code != http.StatusAccepted || ar.Accepted != 1 || ar.Ignored != 1 {
		t.Fatalf("firing alert: %d %s; want 202, 1 accepted, 1 resolved ignored", code, raw)
	}
	select {
	case ev := <-events:
		if ev.Event != "alert.investigated" || ev.Incident.Service != "db" || ev.Incident.ReportID == "" || ev.Incident.Status != "accepted" && ev.Incident.Status != "unconfirmed" {
			t.Fatalf("webhook event %s %+v; want db's alert investigated with a report", ev.Event, ev.Incident)
		}
		if strings.Contains(string(ev.Report), "Jane Roe") || strings.Contains(string(ev.Report), "p95 up") {
			t.Errorf("the report quotes the alert's labels or annotations")
		}
		state, err := remote.ReadState(store)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := remote.NewClient(state).Reports(context.Background(), evidence.ReportFilter{})
		if err != nil || len(rs) != 1 || rs[0].ID != ev.Incident.ReportID {
			t.Fatalf("stored reports %+v, %v; want the alert's", rs, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no alert event within 60s (stderr: %s)", sp.stderr)
	}
	if code, ar, raw := post("application/json", firing); code != http.StatusAccepted || ar.Accepted != 0 || ar.Duplicates != 1 {
		t.Errorf("the same alert again: %d %s; want 202 and a duplicate", code, raw)
	}
	for _, tc := range []struct {
		contentType, body string
		code              int
	}{
		{"text/plain", firing, http.StatusUnsupportedMediaType},
		{"application/json", `{"alerts":[{"status":"firing","startsAt":"secret-time-value"}]}`, http.StatusBadRequest},
		{"application/json", `{"alerts":[{"status":"secret-status","startsAt":"2026-01-01T00:00:00Z"}]}`, http.StatusBadRequest},
		{"application/json", `not json secret`, http.StatusBadRequest},
		{"application/json", `{"alerts":[]}` + strings.Repeat(" ", 2<<20), http.StatusRequestEntityTooLarge},
	} {
		code, _, raw := post(tc.contentType, tc.body)
		if code != tc.code || strings.Contains(raw, "secret") {
			t.Errorf("%.40q: %d %q; want %d without the value", tc.body, code, raw, tc.code)
		}
	}
	select {
	case ev := <-events:
		t.Errorf("unexpected event %s after duplicates and refusals", ev.Event)
	default:
	}
}

// TestDetectAndInvestigateThroughServe: while serve owns the store,
// detect (in another process) reads through serve's API and stores its
// findings through it, and investigate stores its report through it: both
// visible in the served store afterwards.
func TestDetectAndInvestigateThroughServe(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	store := filepath.Join(t.TempDir(), "ev.duckdb")
	sp := startServe(t, store, "--analyze-every", "0")
	sendSlowDB(t, sp.httpURL)
	state, err := remote.ReadState(store)
	if err != nil {
		t.Fatal(err)
	}
	client := remote.NewClient(state)
	ctx := context.Background()
	if fs, err := client.Findings(ctx, evidence.FindingFilter{}); err != nil || len(fs) != 0 {
		t.Fatalf("findings before detect: %d, %v; want none (no analysis loop)", len(fs), err)
	}
	out, errOut, err := runChild(t, "detect", "--store", store, "--since", "60s")
	if err != nil {
		t.Fatalf("detect through serve: %v\n%s\n%s", err, out, errOut)
	}
	fs, err := client.Findings(ctx, evidence.FindingFilter{Kinds: []string{"change_explained"}})
	if err != nil || len(fs) == 0 || fs[0].Service != "db" {
		t.Fatalf("stored findings %+v, %v; want db's change stored through serve", fs, err)
	}
	out, errOut, err = runChild(t, "investigate", "--store", store, "--since", "60s", "--no-detect")
	if err != nil && exitCode(err, io.Discard) != 1 {
		t.Fatalf("investigate through serve: %v\n%s\n%s", err, out, errOut)
	}
	rs, err := client.Reports(ctx, evidence.ReportFilter{})
	if err != nil || len(rs) != 1 || !strings.Contains(out+errOut, rs[0].ID) {
		t.Fatalf("stored reports %+v, %v; want investigate's report stored through serve (output %s %s)", rs, err, out, errOut)
	}
}
