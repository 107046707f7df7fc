package ingest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/debugai/debugai/evidence"
)

// emitSpans creates n spans (children of one root) through the real SDK,
// flushes, and returns their contexts by name. ForceFlush returns only after
// the exporter got its answer, which the server sends after commit.
func emitSpans(t *testing.T, exp sdktrace.SpanExporter, prefix string, n int) map[string]trace.SpanContext {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer func() {
		if err := tp.Shutdown(ctx); err != nil {
			t.Errorf("tracer provider shutdown: %v", err)
		}
	}()
	tr := tp.Tracer("ingest-test")
	want := map[string]trace.SpanContext{}
	rctx, root := tr.Start(ctx, prefix+"-root")
	want[prefix+"-root"] = root.SpanContext()
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		_, sp := tr.Start(rctx, name)
		want[name] = sp.SpanContext()
		sp.End()
	}
	root.End()
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
	return want
}

func checkSpans(t *testing.T, w *recordingWriter, want map[string]trace.SpanContext) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	got := map[string]evidence.Span{}
	for _, sp := range w.spans {
		if _, dup := got[sp.Name]; dup {
			t.Errorf("span %s written twice", sp.Name)
		}
		got[sp.Name] = sp
	}
	if len(got) != len(want) {
		t.Errorf("written %d spans, want %d", len(got), len(want))
	}
	for name, sc := range want {
		sp, ok := got[name]
		switch {
		case !ok:
			t.Errorf("span %s missing", name)
		case sp.TraceID != evidence.TraceID(sc.TraceID()) || sp.SpanID != evidence.SpanID(sc.SpanID()):
			t.Errorf("span %s: ids %s/%s, want %s/%s", name, sp.TraceID, sp.SpanID, sc.TraceID(), sc.SpanID())
		}
	}
}

func TestSDKTraceHTTP(t *testing.T) {
	for _, gzip := range []bool{false, true} {
		t.Run(fmt.Sprint("gzip=", gzip), func(t *testing.T) {
			w := &recordingWriter{}
			s := startTestServer(t, w, nil)
			opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(s.HTTPAddr()), otlptracehttp.WithInsecure()}
			if gzip {
				opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
			}
			exp, err := otlptracehttp.New(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			checkSpans(t, w, emitSpans(t, exp, "http", 50))
			if st := s.Stats().HTTP; st.Accepted == 0 || st.AcceptedItems != 51 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestSDKTraceGRPC(t *testing.T) {
	w := &recordingWriter{}
	s := startTestServer(t, w, nil)
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(s.GRPCAddr()),
		otlptracegrpc.WithInsecure(), otlptracegrpc.WithCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, w, emitSpans(t, exp, "grpc", 50))
	if st := s.Stats().GRPC; st.Accepted == 0 || st.AcceptedItems != 51 {
		t.Errorf("stats %+v", st)
	}
}

func TestSDKLogsHTTP(t *testing.T) {
	w := &recordingWriter{}
	s := startTestServer(t, w, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(s.HTTPAddr()), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	defer func() {
		if err := lp.Shutdown(ctx); err != nil {
			t.Errorf("logger provider shutdown: %v", err)
		}
	}()
	logger := lp.Logger("ingest-test")
	want := make([]string, 20)
	for i := range want {
		want[i] = fmt.Sprintf("log-%02d", i)
		var r otellog.Record
		r.SetBody(attribute.StringValue(want[i]))
		r.SetSeverity(otellog.SeverityWarn)
		r.SetTimestamp(time.Unix(1_700_000_000, 0))
		logger.Emit(ctx, r)
	}
	if err := lp.ForceFlush(ctx); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
	if got := w.logBodies(); !slices.Equal(got, want) {
		t.Errorf("written logs %v, want %v", got, want)
	}
	w.mu.Lock()
	for _, l := range w.logs {
		if l.Severity != int32(otellog.SeverityWarn) {
			t.Errorf("log %s severity %d", l.EventName, l.Severity)
		}
	}
	w.mu.Unlock()
}
