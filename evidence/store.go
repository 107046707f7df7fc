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
	// WithEvents fills each span's Events (ordered by index).
	WithEvents bool `json:",omitempty"`
	// Newest orders the spans newest first (start time descending); Limit
	// and Offset then count from the newest span, so a bounded read of a
	// large window gets its latest spans.
	Newest bool `json:",omitempty"`
	// Fields chooses the fields each span carries; the zero value fills
	// every one.
	Fields SpanFields `json:",omitempty"`
}

// SpanFields chooses the fields a span query fills.
type SpanFields uint8

const (
	// SpanFieldsAll fills every field.
	SpanFieldsAll SpanFields = iota
	// SpanFieldsCore fills what window analyses (critical paths, kernel
	// joins, dimension slicing) use: ids and parent, service, version,
	// host, name, kind, status code, times, thread and process, HTTP
	// route, method and status code, peer service and database system.
	// ResourceID, StatusMessage, the RPC fields, DBStatement, DBQueryID,
	// ExceptionType and Attrs stay empty; reading them is most of the cost
	// of a large read.
	SpanFieldsCore
)

// SpanBoundsReader reports the time range of the stored spans: the
// earliest start and the latest end (0, 0 when there are none). It is
// cheap where Stats counts the whole store; readers implement it
// optionally.
type SpanBoundsReader interface {
	SpanBounds(ctx context.Context) (minStartNS, maxEndNS int64, err error)
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
	// Finding is set for a finding: ID, and for the statistics findings
	// report (cp:, ks:): then it is the stored finding citing that ID.
	// A finding: ID is on no evidence line of its own (Line is empty);
	// its Refs carry the lines.
	Finding *Finding
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
	// MinStartNS and MaxEndNS bound the stored spans (0 without spans).
	MinStartNS int64
	MaxEndNS   int64
	// EvidenceMinNS and EvidenceMaxNS bound every stored item with a
	// time: spans, kernel events and lock edges (0 when there is none).
	EvidenceMinNS int64
	EvidenceMaxNS int64
}

// Reader answers the first queries later packages need. Results are
// ordered (spans by start time, newest first with SpanFilter.Newest;
// kernel events by time) and bounded by the filter's Limit.
type Reader interface {
	Spans(ctx context.Context, f SpanFilter) ([]Span, error)
	Trace(ctx context.Context, id TraceID) ([]Span, error)
	KernelEvents(ctx context.Context, f KernelEventFilter) ([]KernelEvent, error)
	Get(ctx context.Context, id string) (Item, error)
	Audit(ctx context.Context) ([]AuditCount, error)
	Stats(ctx context.Context) (Stats, error)
}

// FindingFilter selects stored findings. Zero fields do not filter.
type FindingFilter struct {
	Kinds   []string
	Subject string
	// SinceNS and UntilNS keep findings whose data window [StartNS, EndNS]
	// overlaps [SinceNS, UntilNS); a finding without a window is kept.
	SinceNS int64
	UntilNS int64
	Limit   int // 0 = DefaultLimit
	Offset  int
}

// LockEdgeFilter selects lock-order edges. Zero fields do not filter.
type LockEdgeFilter struct {
	Service string
	Node    string
	PID     int64
	// SinceNS and UntilNS keep edges observed in [SinceNS, UntilNS): last
	// seen at or after SinceNS and first seen before UntilNS.
	SinceNS int64
	UntilNS int64
	Limit   int // 0 = DefaultLimit
	Offset  int
}

// FindingWriter stores detector findings. WriteFindings is atomic (all or
// none are stored) and idempotent: a finding whose ID is stored replaces
// the stored one. It rejects the whole list when one finding fails
// Finding.Validate.
type FindingWriter interface {
	WriteFindings(ctx context.Context, fs []Finding) error
}

// FindingReader lists stored findings ordered by kind, score (highest
// first) and ID, bounded by the filter's Limit. Get resolves one by ID.
type FindingReader interface {
	Findings(ctx context.Context, f FindingFilter) ([]Finding, error)
}

// LockEdgeReader lists lock-order edges ordered by held and acquiring
// lock, bounded by the filter's Limit.
type LockEdgeReader interface {
	LockEdges(ctx context.Context, f LockEdgeFilter) ([]LockEdge, error)
}

// StoredReport is an investigation report kept in the store, so that MCP
// clients can list and read it later (debugai://reports/<id>). Body is the
// report's JSON document (report package's versioned schema); the store does
// not interpret it.
type StoredReport struct {
	// ID is chosen by the writer (e.g. "report:<hash>"); writing the same
	// ID again replaces the stored report.
	ID        string `json:"id"`
	CreatedNS int64  `json:"created_ns"` // unix ns
	// Status is the hypothesis status the report carries (accepted,
	// rejected, unconfirmed).
	Status string `json:"status"`
	Title  string `json:"title"`
	// Body is the JSON document; Reports leaves it empty.
	Body []byte `json:"body,omitempty"`
}

// ReportFilter selects stored reports. Zero fields do not filter.
type ReportFilter struct {
	Status string
	Limit  int // 0 = DefaultLimit
	Offset int
}

// ReportWriter stores reports. WriteReport is idempotent by ID: a report
// whose ID is stored replaces the stored one. Body must be valid JSON.
type ReportWriter interface {
	WriteReport(ctx context.Context, r StoredReport) error
}

// ReportReader lists stored reports, newest first (then by ID), without
// their bodies, and reads one with its body. Report returns an error
// wrapping ErrNotFound for an unknown ID.
type ReportReader interface {
	Reports(ctx context.Context, f ReportFilter) ([]StoredReport, error)
	Report(ctx context.Context, id string) (StoredReport, error)
}

// TimeNS is when the item happened, for timelines: a span's start, a span
// event's or log record's time, a kernel event's observation (the end of
// its wait), a lock edge's first observation, a finding's data start; 0
// for items without a time (resources).
func (it *Item) TimeNS() int64 {
	switch {
	case it.Span != nil:
		return it.Span.StartNS
	case it.SpanEvent != nil:
		return it.SpanEvent.TimeNS
	case it.KernelEvent != nil:
		return it.KernelEvent.TimeNS
	case it.LockEdge != nil:
		return it.LockEdge.FirstNS
	case it.Log != nil:
		return it.Log.TimeNS
	case it.Finding != nil:
		return it.Finding.StartNS
	}
	return 0
}
