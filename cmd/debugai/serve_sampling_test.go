package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/debugai/debugai/analyze"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/remote"
)

// tailSampler keeps a root span, and its trace, when its "test.keep"
// attribute is not false; children follow their parent. It stands for a
// Collector's tail-sampling decision, known here in advance.
type tailSampler struct{}

func (tailSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	psc := trace.SpanContextFromContext(p.ParentContext)
	keep := true
	if psc.IsValid() {
		keep = psc.IsSampled()
	} else {
		for _, a := range p.Attributes {
			if a.Key == "test.keep" {
				keep = a.Value.AsBool()
			}
		}
	}
	if keep {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: psc.TraceState()}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: psc.TraceState()}
}

func (tailSampler) Description() string { return "test tail sampler" }

// TestServeFlagsTailSampledTraces: web calls db ten times a second for
// two minutes, db slows down in the second; the node stamps a kernel event
// of every request with its trace. Sent through real OTLP exporters with
// every trace kept, serve's analysis does not mention sampling; with only
// the slow traces and 5 % of the others kept (the shipped Collector's
// policies), the stored findings over trace distributions are marked and
// the incident's report says that traces are tail-sampled.
func TestServeFlagsTailSampledTraces(t *testing.T) {
	for _, sampled := range []bool{false, true} {
		name := "every trace kept"
		if sampled {
			name = "tail-sampled"
		}
		t.Run(name, func(t *testing.T) { runSamplingCase(t, sampled) })
	}
}

func runSamplingCase(t *testing.T, sampled bool) {
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
	// Everything is sent to a serve that does not analyze; a second serve
	// on the same store analyzes it whole (no pass sees half of it).
	sp := startServe(t, store, "--analyze-every", "0")

	ctx := context.Background()
	provider := func(service string) *sdktrace.TracerProvider {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(sp.httpURL+"/v1/traces"), otlptracehttp.WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(tailSampler{}),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
	}
	webTP, dbTP := provider("web"), provider("db")
	web, db := webTP.Tracer("web"), dbTP.Tracer("db")
	logExp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(sp.httpURL+"/v1/logs"), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(logExp)),
		sdklog.WithResource(resource.NewSchemaless(attribute.String(evidence.AttrNodeID, "node-1"))))
	node := lp.Logger("debugai-node")

	t0 := time.Now().Add(-3 * time.Minute).Truncate(time.Second)
	const perSecond, seconds = 10, 120
	for i := range perSecond * seconds {
		start := t0.Add(time.Duration(i) * time.Second / perSecond)
		dbTime := 2*time.Millisecond + time.Duration(i%5)*100*time.Microsecond
		slow := i >= perSecond*seconds/2
		if slow {
			dbTime += 40 * time.Millisecond // the last minute: db is slow
		}
		keep := !sampled || slow || i%20 == 0
		c, root := web.Start(ctx, "GET /", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
			trace.WithAttributes(attribute.Bool("test.keep", keep)))
		c, call := web.Start(c, "query", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(start.Add(time.Millisecond)))
		c, srv := db.Start(c, "SELECT", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start.Add(1500*time.Microsecond)))
		// The node stamps the request's run-queue wait with its trace,
		// kept or not.
		var k otellog.Record
		k.SetTimestamp(start.Add(2 * time.Millisecond))
		k.SetEventName("kernel.runqueue_delay")
		k.AddAttributes(attribute.String(evidence.AttrStream, "sched"), attribute.Int64(evidence.AttrSeq, int64(i)),
			attribute.Int64(evidence.AttrPID, 4242), attribute.Int64(evidence.AttrTID, 4243),
			attribute.Int64(evidence.AttrDurationNS, 20_000))
		node.Emit(c, k)
		srv.End(trace.WithTimestamp(start.Add(1500*time.Microsecond + dbTime)))
		call.End(trace.WithTimestamp(start.Add(2*time.Millisecond + dbTime)))
		root.End(trace.WithTimestamp(start.Add(3*time.Millisecond + dbTime)))
	}
	// Kernel events first: the traces that are kept arrive after them, as
	// behind a Collector's decision wait.
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("exporting kernel events: %v", err)
	}
	for _, tp := range []*sdktrace.TracerProvider{webTP, dbTP} {
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatalf("exporting spans: %v", err)
		}
	}

	sp.stop(t)
	sp = startServe(t, store, "--analyze-every", "200ms", "--analyze-window", "60s", "--notify-url", hook.URL)

	sp.stop(t)
	sp = startServe(t, store, "--analyze-every", "200ms", "--analyze-window", "60s", "--notify-url", hook.URL)

	var ev analyze.Event
	select {
	case ev = <-events:
	case <-time.After(60 * time.Second):
		t.Fatalf("no incident event within 60s (stderr: %s)", sp.stderr)
	}
	if ev.Event != "incident.opened" || ev.Incident.Service != "db" || len(ev.Report) == 0 {
		t.Fatalf("webhook event %+v; want db's incident opened with a report", ev.Incident)
	}
	var rep struct {
		Scope struct {
			Compared string `json:"compared"`
		} `json:"scope"`
	}
	if err := json.Unmarshal(ev.Report, &rep); err != nil {
		t.Fatal(err)
	}
	const said = "traces are tail-sampled: "
	if got := strings.Contains(rep.Scope.Compared, said) && strings.Contains(ev.Incident.Compared, said); got != sampled {
		t.Errorf("the report's comparison says sampled: %v, want %v: %q", got, sampled, rep.Scope.Compared)
	}
	if sampled && !strings.Contains(rep.Scope.Compared, "% of stamped kernel events point at traces that were not kept") {
		t.Errorf("the report's comparison does not give the share: %q", rep.Scope.Compared)
	}

	state, err := remote.ReadState(store)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := remote.NewClient(state).Findings(ctx, evidence.FindingFilter{Kinds: []string{"change_explained"}})
	if err != nil || len(fs) == 0 {
		t.Fatalf("change_explained findings: %d, %v", len(fs), err)
	}
	for _, f := range fs {
		_, marked := f.Attrs[analyze.AttrTracesNotKept]
		if marked != sampled || strings.Contains(f.Summary, "tail-sampled") != sampled {
			t.Errorf("finding %q (attrs %v): marked %v, want %v", f.Summary, f.Attrs, marked, sampled)
		}
	}
}
