package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"

	"github.com/debugai/debugai/evidence"
)

// ReceiverStats counts what one receiver (HTTP or gRPC) answered. Every
// request lands in exactly one outcome counter.
type ReceiverStats struct {
	Requests     int64 // all requests, including those refused before decoding
	Accepted     int64 // acknowledged: committed (2xx / OK)
	Malformed    int64 // undecodable body (400 / INVALID_ARGUMENT)
	TooLarge     int64 // over a size limit (413 / RESOURCE_EXHAUSTED)
	Unsupported  int64 // wrong method, path, content type or encoding (404, 405, 415)
	Refused      int64 // queue full (429 / RESOURCE_EXHAUSTED with RetryInfo)
	Unavailable  int64 // shutting down or the write failed (503 / UNAVAILABLE)
	Internal     int64 // the converter panicked (500 / INTERNAL)
	Canceled     int64 // the client left before its answer
	TimedOut     int64 // the body did not arrive in time (408)
	Unauthorized int64 // no or wrong token, or a Host/Origin not allowed (401, 403 / UNAUTHENTICATED)

	AcceptedItems int64 // items in acknowledged requests
	RejectedItems int64 // items the converter refused (reported as partial success)
}

type receiverCounters struct {
	requests, accepted, malformed, tooLarge, unsupported atomic.Int64
	refused, unavailable, internal, canceled, timedOut   atomic.Int64
	unauthorized                                         atomic.Int64
	acceptedItems, rejectedItems                         atomic.Int64
}

func (c *receiverCounters) snapshot() ReceiverStats {
	return ReceiverStats{
		Requests:      c.requests.Load(),
		Accepted:      c.accepted.Load(),
		Malformed:     c.malformed.Load(),
		TooLarge:      c.tooLarge.Load(),
		Unsupported:   c.unsupported.Load(),
		Refused:       c.refused.Load(),
		Unavailable:   c.unavailable.Load(),
		Internal:      c.internal.Load(),
		Canceled:      c.canceled.Load(),
		TimedOut:      c.timedOut.Load(),
		Unauthorized:  c.unauthorized.Load(),
		AcceptedItems: c.acceptedItems.Load(),
		RejectedItems: c.rejectedItems.Load(),
	}
}

// receiver is what the HTTP and gRPC front ends share: the converter, the
// pipeline, a bound on concurrent decoding and the counters.
type receiver struct {
	conv Converter
	p    *Pipeline
	log  *slog.Logger
	sem  chan struct{} // decoding/converting slots
	c    receiverCounters
	// budget bounds the memory of requests being read, decoded and
	// converted, shared with the Server's other receiver; nil is unlimited.
	budget *budgets
}

func newReceiver(conv Converter, p *Pipeline, logger *slog.Logger, slots int) (*receiver, error) {
	switch {
	case conv == nil:
		return nil, errors.New("nil converter")
	case p == nil:
		return nil, errors.New("nil pipeline")
	case slots <= 0:
		return nil, fmt.Errorf("concurrency limit %d: must be positive", slots)
	}
	return &receiver{conv: conv, p: p, log: discardLogger(logger), sem: make(chan struct{}, slots)}, nil
}

// acquire takes a decoding slot, waiting until one is free or ctx ends.
func (r *receiver) acquire(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *receiver) release() { <-r.sem }

type signal uint8

const (
	signalTraces signal = iota
	signalLogs
)

func (s signal) String() string {
	if s == signalLogs {
		return "logs"
	}
	return "traces"
}

// convert runs the converter, turning a panic into ErrConverterPanic: one
// hostile request must not take the process down.
func (r *receiver) convert(sig signal, td ptrace.Traces, ld plog.Logs) (b *evidence.Batch, rejected int64, reason string, err error) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("converter panicked", "signal", sig.String(), "panic", v, "stack", string(debug.Stack()))
			// The panic value is logged, not answered: it may quote input.
			b, rejected, reason, err = nil, 0, "", fmt.Errorf("converting %s: %w", sig, ErrConverterPanic)
		}
	}()
	if sig == signalLogs {
		b, rejected, reason = r.conv.ConvertLogs(ld)
	} else {
		b, rejected, reason = r.conv.ConvertTraces(td)
	}
	return b, rejected, reason, nil
}

// outcome is how one failure is answered on either protocol.
type outcome struct {
	httpStatus int
	code       codes.Code
	retry      bool // attach Retry-After / RetryInfo
	counter    *atomic.Int64
}

// classify maps a Submit or convert error to its answer.
func (r *receiver) classify(err error) outcome {
	switch {
	case errors.Is(err, ErrBackpressure), errors.Is(err, ErrOverBudget):
		return outcome{http.StatusTooManyRequests, codes.ResourceExhausted, true, &r.c.refused}
	case errors.Is(err, errNeverFits):
		return outcome{http.StatusRequestEntityTooLarge, codes.ResourceExhausted, false, &r.c.tooLarge}
	case errors.Is(err, ErrShuttingDown), errors.Is(err, ErrNotStarted):
		return outcome{http.StatusServiceUnavailable, codes.Unavailable, true, &r.c.unavailable}
	case errors.Is(err, ErrBatchTooLarge):
		return outcome{http.StatusRequestEntityTooLarge, codes.ResourceExhausted, false, &r.c.tooLarge}
	case errors.Is(err, ErrConverterPanic):
		return outcome{http.StatusInternalServerError, codes.Internal, false, &r.c.internal}
	case errors.Is(err, errWriteFailed): // the store failed: nothing was committed, a retry may succeed
		return outcome{http.StatusServiceUnavailable, codes.Unavailable, true, &r.c.unavailable}
	case errors.Is(err, context.Canceled):
		return outcome{http.StatusServiceUnavailable, codes.Canceled, false, &r.c.canceled}
	case errors.Is(err, context.DeadlineExceeded):
		return outcome{http.StatusServiceUnavailable, codes.DeadlineExceeded, false, &r.c.canceled}
	default:
		return outcome{http.StatusServiceUnavailable, codes.Unavailable, true, &r.c.unavailable}
	}
}
