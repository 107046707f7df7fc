package evidence

import "context"

// Writer stores batches. Write is atomic: when it returns nil the whole batch
// is committed (durable against a crash of the process); when it returns an
// error nothing of the batch is visible. Re-writing an item with the same
// evidence ID does not duplicate it.
type Writer interface {
	Write(ctx context.Context, b *Batch) error
}

// WriterFunc adapts a function to Writer.
type WriterFunc func(ctx context.Context, b *Batch) error

// Write calls f.
func (f WriterFunc) Write(ctx context.Context, b *Batch) error { return f(ctx, b) }

var _ Writer = WriterFunc(nil)

// SpanFilter selects spans. Zero fields do not filter.
type SpanFilter struct {
	Service       string
	Name          string
	Version       string
	TraceID       TraceID
	SinceNS       int64 // span start >= SinceNS
	UntilNS       int64 // span start < UntilNS
	MinDurationNS int64
	Status        *StatusCode
	Limit         int // 0 = DefaultLimit
	Offset        int
}

// KernelEventFilter selects kernel events. Zero fields do not filter.
type KernelEventFilter struct {
	Node    string
	PID     int64
	TID     int64
	Types   []KernelEventType
	TraceID TraceID
	SinceNS int64 // event time >= SinceNS
	UntilNS int64 // event time < UntilNS
	Limit   int   // 0 = DefaultLimit
	Offset  int
}

// DefaultLimit bounds a query that does not say how many rows it wants.
const DefaultLimit = 1000

// Item is one stored fact resolved from its evidence ID; exactly one of the
// pointers is set.
type Item struct {
	ID          string
	Line        Line
	Span        *Span
	SpanEvent   *SpanEvent
	KernelEvent *KernelEvent
	LockEdge    *LockEdge
	Log         *LogRecord
	Resource    *Resource
}

// Stats counts what a store holds.
type Stats struct {
	SchemaVersion int
	Resources     int64
	Traces        int64
	Spans         int64
	SpanEvents    int64
	KernelEvents  int64
	LockEdges     int64
	Logs          int64
	Services      []string
	MinStartNS    int64
	MaxEndNS      int64
}

// Reader answers the first queries later packages need. Results are
// ordered (spans by start time, kernel events by time) and bounded by the
// filter's Limit.
type Reader interface {
	Spans(ctx context.Context, f SpanFilter) ([]Span, error)
	Trace(ctx context.Context, id TraceID) ([]Span, error)
	KernelEvents(ctx context.Context, f KernelEventFilter) ([]KernelEvent, error)
	Get(ctx context.Context, id string) (Item, error)
	Audit(ctx context.Context) ([]AuditCount, error)
	Stats(ctx context.Context) (Stats, error)
}
