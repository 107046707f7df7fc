// Package ingest receives OTLP traces and logs (the node collector's kernel
// events arrive as OTLP logs) over OTLP/HTTP and OTLP/gRPC, converts them at
// the edge into privacy-filtered evidence batches and hands those to a
// bounded, group-committing write pipeline in front of an evidence.Writer.
//
// A request is acknowledged (HTTP 2xx, gRPC OK) only after its batch has been
// committed by the Writer. When the pipeline's queue is full the receivers
// answer at once with a retryable refusal (HTTP 429 with Retry-After, gRPC
// RESOURCE_EXHAUSTED with RetryInfo), so memory stays bounded under overload.
//
// The parts:
//   - Pipeline: the bounded queue and the single writer goroutine;
//   - HTTPHandler: POST /v1/traces and /v1/logs, protobuf or JSON, gzip;
//   - RegisterGRPC: the OTLP trace and log services on a *grpc.Server;
//   - Server: both listeners and the pipeline with one Start/Shutdown.
//
// Hostile senders are expected: OTLP/JSON nesting is bounded like protobuf's
// (MaxValueDepth), bodies are read under a deadline before a decoding slot
// is taken, errors name field paths and never values, and AuthConfig
// (bearer tokens, mTLS, Host/Origin checks) says who may send.
//
// Conversion (pdata to evidence) is not done here: callers supply a Converter.
package ingest

import (
	"errors"
	"log/slog"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/evidence"
)

// Converter turns decoded OTLP into a privacy-filtered batch. rejected counts
// items refused (e.g. spans with invalid ids), reason says why (for OTLP
// partial success).
//
// A Converter is called concurrently from many requests. It must not retain
// td or ld after it returns. A nil or empty batch means nothing to store.
type Converter interface {
	ConvertTraces(td ptrace.Traces) (b *evidence.Batch, rejected int64, reason string)
	ConvertLogs(ld plog.Logs) (b *evidence.Batch, rejected int64, reason string)
}

// Sentinel errors. Receivers map them to protocol status codes.
var (
	// ErrBackpressure reports that the pipeline's queue is full; the caller
	// should retry later (HTTP 429, gRPC RESOURCE_EXHAUSTED with RetryInfo).
	ErrBackpressure = errors.New("ingest queue full")
	// ErrShuttingDown reports that the pipeline no longer accepts batches
	// (HTTP 503, gRPC UNAVAILABLE).
	ErrShuttingDown = errors.New("ingest shutting down")
	// ErrNotStarted reports a Submit before Start.
	ErrNotStarted = errors.New("ingest pipeline not started")
	// ErrBatchTooLarge reports a batch that alone exceeds the queue bounds;
	// retrying it cannot succeed (HTTP 413, gRPC RESOURCE_EXHAUSTED without
	// RetryInfo).
	ErrBatchTooLarge = errors.New("batch larger than the ingest queue")
	// ErrConverterPanic reports a Converter that panicked on a request.
	ErrConverterPanic = errors.New("converter panicked")

	// errWriteFailed wraps every error of Writer.Write as Submit returns it.
	errWriteFailed = errors.New("writing evidence")
)

// discardLogger returns l, or a logger that drops everything when l is nil.
func discardLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
