// Command anomalyload is the workload of the anomaly-loop test
// (cmd/debugai/collector_test.go). It sends traces through the
// OpenTelemetry SDK (OTLP/HTTP to the base URL in its first argument, with
// the otelhint span processor, so that debugai-node stamps its kernel
// events) and makes one of them carry a kernel anomaly without an error or
// a high latency.
//
// Each trace is a server span with a child span; inside the child, a
// futex wait that times out: 100 µs in every trace but one, 50 ms in that
// one (the second argument is its index, the third the number of traces).
// No span has an error status, and every trace takes well under the
// Collector's latency threshold.
//
// It prints "ready" and waits for a line; then it runs the traces, prints
// "trace <trace id hex> <wait>" for each, flushes the exporter (its spans
// are then acknowledged), prints "done" and exits at the next line.
//
// Usage: anomalyload URL SLOW-INDEX TRACES
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sys/unix"

	"github.com/debugai/debugai/hint/otelhint"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: anomalyload URL SLOW-INDEX TRACES")
		os.Exit(2)
	}
	slow, err1 := strconv.Atoi(os.Args[2])
	n, err2 := strconv.Atoi(os.Args[3])
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "anomalyload: SLOW-INDEX and TRACES must be integers")
		os.Exit(2)
	}
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(os.Args[1]+"/v1/traces"), otlptracehttp.WithInsecure())
	if err != nil {
		fmt.Fprintln(os.Stderr, "anomalyload: exporter:", err)
		os.Exit(1)
	}
	res := resource.NewSchemaless(semconv.ServiceName("anomalyload"))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(otelhint.New()),
		sdktrace.WithBatcher(exp),
	)
	tr := tp.Tracer("anomalyload")
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	in.Scan()

	for i := range n {
		wait := 100 * time.Microsecond
		if i == slow {
			wait = 50 * time.Millisecond
		}
		sctx, server := tr.Start(ctx, "handle", trace.WithSpanKind(trace.SpanKindServer))
		_, child := tr.Start(sctx, "work")
		futexWait(wait)
		child.End()
		server.End()
		fmt.Printf("trace %s %s\n", server.SpanContext().TraceID(), wait)
	}
	if err := tp.ForceFlush(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "anomalyload: flush:", err)
		os.Exit(1)
	}
	fmt.Println("done")
	in.Scan()
	_ = tp.Shutdown(ctx)
}

// futexWait waits on a private futex word nobody wakes until d passes: one
// kernel futex wait of (at least) d, on this goroutine's thread.
func futexWait(d time.Duration) {
	var word uint32
	const futexWaitPrivate = 0 | 128 // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
	deadline := time.Now().Add(d)
	for left := d; left > 0; left = time.Until(deadline) {
		ts := unix.NsecToTimespec(left.Nanoseconds())
		_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&word)), futexWaitPrivate, 0, uintptr(unsafe.Pointer(&ts)), 0, 0)
		if errno != unix.EINTR {
			return
		}
	}
}
