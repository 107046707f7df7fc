package otelhint_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/debugai/debugai/hint/otelhint"
)

// An instrumented service adds the processor to its tracer provider next
// to its exporter; every recording span then marks its start and end for
// the node collector.
func ExampleNew() {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(otelhint.New()),
		// sdktrace.WithBatcher(exporter),
	)
	defer func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			fmt.Println(err)
		}
	}()

	ctx, span := tp.Tracer("checkout").Start(context.Background(), "GET /cart")
	_ = ctx // pass ctx on; kernel events on this goroutine now belong to span
	span.End()
	fmt.Println("span marked:", span.SpanContext().IsValid())
	// Output: span marked: true
}
