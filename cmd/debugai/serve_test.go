package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

// servingProcess is a debugai serve running in-process on loopback ports.
type servingProcess struct {
	store    string
	httpURL  string
	grpcAddr string
	mcpURL   string // "" when MCP is off
	cancel   context.CancelFunc
	done     chan error
	stderr   *bytes.Buffer
}

var serveLine = regexp.MustCompile(`OTLP/HTTP (\S+); OTLP/gRPC (\S+)`)

// startServe runs `debugai serve` in a goroutine and waits for the line it
// prints once both listeners are bound.
func startServe(t *testing.T, store string, extra ...string) *servingProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	sp := &servingProcess{store: store, cancel: cancel, done: make(chan error, 1), stderr: &bytes.Buffer{}}
	args := append([]string{"serve", "--store", store, "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	go func() {
		err := run(ctx, args, strings.NewReader(""), pw, sp.stderr)
		pw.CloseWithError(fmt.Errorf("serve returned: %v", err))
		sp.done <- err
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadString('\n')
	var mcpLine string
	if err == nil {
		mcpLine, err = br.ReadString('\n')
	}
	if err != nil {
		cancel()
		t.Fatalf("serve did not start: %v (stderr: %s)", err, sp.stderr)
	}
	go io.Copy(io.Discard, br)
	if u, ok := strings.CutPrefix(strings.TrimSpace(mcpLine), "debugai serve: MCP "); ok && u != "off" {
		sp.mcpURL = u
	}
	m := serveLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("unexpected serve banner %q", line)
	}
	sp.httpURL, sp.grpcAddr = m[1], m[2]
	t.Cleanup(func() { sp.stop(t) })
	return sp
}

func (sp *servingProcess) stop(t *testing.T) {
	t.Helper()
	if sp.cancel == nil {
		return
	}
	sp.cancel()
	sp.cancel = nil
	select {
	case err := <-sp.done:
		if err != nil {
			t.Errorf("serve: %v (stderr: %s)", err, sp.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not shut down within 60s")
	}
}

// Canaries planted in the corpus below. None may survive anywhere.
var canaries = []string{
	"alice.canary@example.org", "alice.canary", "ops-lead@example.org",
	"8675309", "203.0.113.77", "198.51.100.23",
	"4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111",
	"eyJhbGciOiJIUzI1NiJ9", "202-555-0173", "078-05-1120", "xyzzy-literal",
	"AKIAIOSFODNN7CANARY7", "canarysessiontoken",
}

const canaryJWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlY2FuYXJ5"

func canaryResource() *resource.Resource {
	return resource.NewSchemaless(
		attribute.String("service.name", "canary-svc"),
		attribute.String("service.version", "v1.2.3"),
		attribute.String("deployment.environment", "prod, contact ops-lead@example.org"),
		attribute.String("host.name", "web-1"),
		attribute.String("customer.email", "alice.canary@example.org"),
		attribute.Int("process.pid", 4242),
	)
}

// emitCanaryTraces sends the PII-laden spans through a real SDK exporter.
func emitCanaryTraces(t *testing.T, exp sdktrace.SpanExporter, tag string) trace.SpanContext {
	t.Helper()
	ctx := context.Background()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(canaryResource()))
	tr := tp.Tracer("canary")
	ctx, root := tr.Start(ctx, "GET /users/8675309/orders", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", "GET"),
		attribute.Int("http.response.status_code", 500),
		attribute.String("url.path", "/users/8675309/orders?email=alice.canary@example.org"),
		attribute.String("url.full", "https://alice.canary:pw@shop.example/users/8675309?session=canarysessiontoken"),
		attribute.String("user.id", "user-8675309"),
		attribute.String("client.address", "203.0.113.77"),
		attribute.String("net.peer.ip", "198.51.100.23"),
		attribute.String("http.request.header.authorization", "Bearer "+canaryJWT),
		attribute.String("card", "4111 1111 1111 1111"),
		attribute.String("peer.service", "billing 4111-1111-1111-1111"),
		attribute.String("aws.key", "AKIAIOSFODNN7CANARY7"),
		attribute.Int("thread.id", 42),
		attribute.String("test.tag", tag),
	))
	root.AddEvent("Waiting for lock behind 3 transactions", trace.WithAttributes(
		attribute.String("customer_phone", "+1-202-555-0173"), attribute.String("level", "info")))
	root.RecordError(errors.New("token " + canaryJWT + " rejected for +1-202-555-0173 (ssn 078-05-1120)"))
	root.SetStatus(codes.Error, "payment failed for card 4111111111111111 of alice.canary@example.org")
	_, child := tr.Start(ctx, "SQL SELECT", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system", "mysql"),
		attribute.String("db.statement", "SELECT * FROM customer WHERE email = 'alice.canary@example.org' AND note = 'xyzzy-literal' AND id = 8675309"),
		attribute.String("enduser.id", "alice.canary@example.org"),
	))
	child.End()
	root.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatalf("exporting spans: %v", err)
	}
	return root.SpanContext()
}

func emitCanaryLogs(t *testing.T, url string, sc trace.SpanContext) {
	t.Helper()
	exp, err := otlploghttp.New(context.Background(), otlploghttp.WithEndpointURL(url+"/v1/logs"), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)), sdklog.WithResource(canaryResource()))
	lg := lp.Logger("canary")
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	var app otellog.Record
	app.SetTimestamp(time.Now())
	app.SetSeverity(otellog.SeverityInfo)
	app.SetBody(attribute.StringValue("user alice.canary@example.org logged in from 203.0.113.77 with card 4111111111111111"))
	app.AddAttributes(attribute.String("enduser.id", "alice.canary@example.org"), attribute.String("http.route", "/login"))
	lg.Emit(ctx, app)

	var k otellog.Record
	k.SetTimestamp(time.Now())
	k.SetEventName("kernel.futex_wait")
	k.AddAttributes(
		attribute.String(evidence.AttrStream, "futex"), attribute.Int64(evidence.AttrSeq, 7),
		attribute.Int64(evidence.AttrPID, 4242), attribute.Int64(evidence.AttrTID, 4243),
		attribute.Int64(evidence.AttrDurationNS, 12_000_000), attribute.Int64(evidence.AttrFutexAddr, 0x7f00dead0000),
		attribute.Int64(evidence.AttrWakerTID, 4250), attribute.String("debugai.note", "holder alice.canary@example.org"),
	)
	lg.Emit(ctx, k)
	if err := lp.Shutdown(context.Background()); err != nil {
		t.Fatalf("exporting logs: %v", err)
	}
}

func TestServeEndToEndWithSDKExportersAndCanaries(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	store := filepath.Join(t.TempDir(), "ev.duckdb")
	sp := startServe(t, store)

	httpExp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(sp.httpURL+"/v1/traces"), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	scHTTP := emitCanaryTraces(t, httpExp, "http")
	grpcExp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(sp.grpcAddr), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	scGRPC := emitCanaryTraces(t, grpcExp, "grpc")
	emitCanaryLogs(t, sp.httpURL, scHTTP)

	// While serve owns the file, stats and audit read through its API.
	// (Separate processes, as DuckDB allows one process per file.)
	out, errOut, err := runChild(t, "stats", "--store", store)
	if err != nil || !strings.Contains(out, "spans:         4") || !strings.Contains(out, "kernel events: 1") {
		t.Fatalf("stats while serving: err=%v\n%s\n%s", err, out, errOut)
	}
	auditOut, _, err := runChild(t, "audit", "--store", store)
	if err != nil || !strings.Contains(auditOut, "user.id") || !strings.Contains(auditOut, "tokenize") {
		t.Fatalf("audit while serving: %v\n%s", err, auditOut)
	}
	sp.stop(t)
	if _, err := os.Stat(store + ".serve.json"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve state file left behind: %v", err)
	}

	st, err := duckdb.Open(context.Background(), store, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkCanarySpans(t, st, scHTTP, "http")
	checkCanarySpans(t, st, scGRPC, "grpc")
	checkKernelEvent(t, st, scHTTP)

	var dump bytes.Buffer
	if err := st.DumpText(context.Background(), &dump); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump.String(), "canary-svc") {
		t.Fatal("dump does not contain the service name: the scan would prove nothing")
	}
	assertNoCanary(t, "table dump", dump.Bytes())
	auditAfter, _, err := runCLI(t, "audit", "--store", store)
	if err != nil {
		t.Fatal(err)
	}
	assertNoCanary(t, "audit output", []byte(auditOut+auditAfter))
	st.Close()
	for _, f := range []string{store, store + ".wal"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		assertNoCanary(t, "raw bytes of "+filepath.Base(f), b)
	}
}

func assertNoCanary(t *testing.T, where string, b []byte) {
	t.Helper()
	for _, c := range canaries {
		if i := bytes.Index(b, []byte(c)); i >= 0 {
			lo, hi := max(0, i-60), min(len(b), i+len(c)+60)
			t.Errorf("canary %q found in %s: ...%q...", c, where, b[lo:hi])
		}
	}
}

func checkCanarySpans(t *testing.T, st *duckdb.Store, sc trace.SpanContext, tag string) {
	t.Helper()
	spans, err := st.Trace(context.Background(), evidence.TraceID(sc.TraceID()))
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 {
		t.Fatalf("%s: trace has %d spans, want 2", tag, len(spans))
	}
	var root, child *evidence.Span
	for i := range spans {
		if spans[i].SpanID == evidence.SpanID(sc.SpanID()) {
			root = &spans[i]
		} else {
			child = &spans[i]
		}
	}
	if root == nil || child == nil {
		t.Fatalf("%s: root or child missing", tag)
	}
	if root.Name != "GET /users/{id}/orders" || root.HTTPMethod != "GET" || root.HTTPStatusCode != 500 ||
		root.ThreadID != 42 || root.ProcessPID != 4242 || root.Service != "canary-svc" || root.Version != "v1.2.3" ||
		root.Kind != evidence.KindServer || root.StatusCode != evidence.StatusError {
		t.Errorf("%s: root span fields after privacy: %+v", tag, *root)
	}
	if v, ok := root.Attrs.Get("user.id"); !ok || !strings.HasPrefix(v.Str, "tok:") {
		t.Errorf("%s: user.id not tokenized: %+v", tag, root.Attrs)
	}
	if v, ok := root.Attrs.Get("test.tag"); ok {
		t.Errorf("%s: unknown key test.tag kept: %v", tag, v)
	}
	if root.StatusMessage == "" || root.ExceptionType == "" {
		t.Errorf("%s: status message %q / exception type %q lost", tag, root.StatusMessage, root.ExceptionType)
	}
	if len(root.Events) != 2 || root.Events[0].Name != "Waiting for lock behind 3 transactions" {
		t.Errorf("%s: events: %+v", tag, root.Events)
	}
	if child.DBSystem != "mysql" || child.DBQueryID == "" || !strings.Contains(child.DBStatement, "?") || child.ParentSpanID != root.SpanID {
		t.Errorf("%s: SQL span: %+v", tag, *child)
	}
	item, err := st.Get(context.Background(), root.ID())
	if err != nil || item.Span == nil || item.Line != evidence.LineTrace {
		t.Errorf("%s: Get(%s) = %+v, %v", tag, root.ID(), item, err)
	}
}

func checkKernelEvent(t *testing.T, st *duckdb.Store, sc trace.SpanContext) {
	t.Helper()
	evs, err := st.KernelEvents(context.Background(), evidence.KernelEventFilter{PID: 4242})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("kernel events for pid 4242: %d, want 1", len(evs))
	}
	e := evs[0]
	if e.Type != evidence.KernelFutexWait || e.TID != 4243 || e.DurationNS != 12_000_000 || e.Addr != 0x7f00dead0000 ||
		e.WakerTID != 4250 || e.Seq != 7 || e.Stream != "futex" || e.TraceID != evidence.TraceID(sc.TraceID()) {
		t.Errorf("kernel event: %+v", e)
	}
	if _, err := st.Get(context.Background(), e.ID()); err != nil {
		t.Errorf("Get(%s): %v", e.ID(), err)
	}
}
