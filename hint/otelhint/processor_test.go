package otelhint

import (
	"context"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// call is one observed hint.Enter or hint.Exit.
type call struct {
	exit    bool
	traceID trace.TraceID
	spanID  trace.SpanID
}

// observe replaces enter and exit for the test and returns the calls seen.
func observe(t *testing.T) func() []call {
	t.Helper()
	var mu sync.Mutex
	var calls []call
	record := func(exit bool) func([16]byte, [8]byte) {
		return func(tid [16]byte, sid [8]byte) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call{exit, tid, sid})
		}
	}
	oldEnter, oldExit := enter, exit
	enter, exit = record(false), record(true)
	t.Cleanup(func() { enter, exit = oldEnter, oldExit })
	return func() []call {
		mu.Lock()
		defer mu.Unlock()
		return append([]call(nil), calls...)
	}
}

func TestProcessorMarksSpans(t *testing.T) {
	calls := observe(t)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(New()))
	defer func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	tr := tp.Tracer("test")

	ctx, parent := tr.Start(context.Background(), "parent")
	_, child := tr.Start(ctx, "child")
	done := make(chan struct{})
	go func() { // a span may end on another goroutine
		child.End()
		close(done)
	}()
	<-done
	parent.End()

	p, c := parent.SpanContext(), child.SpanContext()
	if p.TraceID() != c.TraceID() {
		t.Fatal("child not in parent's trace")
	}
	want := []call{
		{false, p.TraceID(), p.SpanID()},
		{false, c.TraceID(), c.SpanID()},
		{true, c.TraceID(), c.SpanID()},
		{true, p.TraceID(), p.SpanID()},
	}
	got := calls()
	if len(got) != len(want) {
		t.Fatalf("got %d calls %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestProcessorSkipsUnsampled documents that the SDK calls processors only
// for recording spans.
func TestProcessorSkipsUnsampled(t *testing.T) {
	calls := observe(t)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(New()))
	_, s := tp.Tracer("test").Start(context.Background(), "dropped")
	s.End()
	if got := calls(); len(got) != 0 {
		t.Errorf("unsampled span produced calls %+v", got)
	}
}

func TestLifecycleNoops(t *testing.T) {
	p := New()
	for i := range 2 { // idempotent
		if err := p.ForceFlush(context.Background()); err != nil {
			t.Errorf("ForceFlush %d: %v", i, err)
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown %d: %v", i, err)
		}
	}
}

// nopProcessor stands in for the exporter's processor that every real
// service has: without any processor the SDK skips the end-of-span
// snapshot, which would make the comparison unfair.
type nopProcessor struct{}

func (nopProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (nopProcessor) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (nopProcessor) Shutdown(context.Context) error                  { return nil }
func (nopProcessor) ForceFlush(context.Context) error                { return nil }

// BenchmarkSpanWithProcessor measures a span start and end with an
// exporter-like processor, without and with the hint processor.
func BenchmarkSpanWithProcessor(b *testing.B) {
	base := sdktrace.WithSpanProcessor(nopProcessor{})
	for _, c := range []struct {
		name string
		opts []sdktrace.TracerProviderOption
	}{
		{"without", []sdktrace.TracerProviderOption{base}},
		{"with", []sdktrace.TracerProviderOption{base, sdktrace.WithSpanProcessor(New())}},
	} {
		b.Run(c.name, func(b *testing.B) {
			tr := sdktrace.NewTracerProvider(c.opts...).Tracer("bench")
			ctx := context.Background()
			for b.Loop() {
				_, s := tr.Start(ctx, "op")
				s.End()
			}
		})
	}
}
