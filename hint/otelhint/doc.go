// Package otelhint connects the OpenTelemetry Go SDK to package
// [github.com/debugai/debugai/hint]: a span processor that calls hint.Enter
// when a span starts and hint.Exit when it ends, so an instrumented service
// needs one line:
//
//	tp := sdktrace.NewTracerProvider(
//		sdktrace.WithSpanProcessor(otelhint.New()),
//		sdktrace.WithBatcher(exporter),
//	)
//
// It is a sub-package so that hint itself stays free of dependencies.
//
// # Goroutines
//
// The SDK calls OnStart on the goroutine that starts the span
// (tracer.Start) and OnEnd on the goroutine that ends it (span.End). The
// node collector keys Go span context by goroutine (R14 at the probe), so
// kernel events are attributed to a span while its starting goroutine runs
// between Start and End. Work the span hands to other goroutines is not
// attributed unless those goroutines start spans of their own. A span ended
// on another goroutine than the one that started it is still closed
// correctly: the exit marker carries the span id, and the collector removes
// the span by id.
//
// # Sampling
//
// The SDK calls span processors only for recording spans. With a sampler
// that drops spans in the SDK (TraceIDRatioBased, ParentBased with an
// unsampled parent) the dropped spans produce no markers; sampling at an
// OpenTelemetry Collector (tail sampling) keeps every span marked.
package otelhint
