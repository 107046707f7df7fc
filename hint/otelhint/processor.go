package otelhint

import (
	"context"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/debugai/debugai/hint"
)

// Processor is a [sdktrace.SpanProcessor] that marks span starts and ends
// for the node collector. It keeps no state; the zero value is ready to use.
type Processor struct{}

var _ sdktrace.SpanProcessor = (*Processor)(nil)

// New returns a Processor.
func New() *Processor { return &Processor{} }

// enter and exit are hint.Enter and hint.Exit; tests replace them to observe
// the calls.
var (
	enter = hint.Enter
	exit  = hint.Exit
)

// OnStart calls hint.Enter with s's trace and span id on the goroutine that
// starts s.
func (*Processor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	sc := s.SpanContext()
	enter(sc.TraceID(), sc.SpanID())
}

// OnEnd calls hint.Exit with s's trace and span id on the goroutine that
// ends s.
func (*Processor) OnEnd(s sdktrace.ReadOnlySpan) {
	sc := s.SpanContext()
	exit(sc.TraceID(), sc.SpanID())
}

// Shutdown does nothing; the processor holds no resources.
func (*Processor) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing; the processor buffers nothing.
func (*Processor) ForceFlush(context.Context) error { return nil }
