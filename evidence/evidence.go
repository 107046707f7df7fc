// Package evidence defines debugai's domain types — spans, kernel events,
// lock-order edges, log records, audit counts — their stable content-derived
// evidence IDs, and the small Reader and Writer interfaces that the store
// implements. It imports no storage, LLM or MCP package: everything above the
// store speaks these types.
package evidence

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors shared by every implementation of Reader and Writer.
var (
	// ErrNotFound reports that no stored item has the requested evidence ID.
	ErrNotFound = errors.New("evidence not found")
	// ErrBadID reports an evidence ID that does not parse.
	ErrBadID = errors.New("malformed evidence id")
)

// TraceID is a W3C/OpenTelemetry trace id.
type TraceID [16]byte

// String returns the lower-case hex form, as OTLP/JSON writes it.
func (t TraceID) String() string { return hex.EncodeToString(t[:]) }

// IsZero reports whether the id is all zeros (absent).
func (t TraceID) IsZero() bool { return t == TraceID{} }

// ParseTraceID parses 32 hex digits.
func ParseTraceID(s string) (TraceID, error) {
	var t TraceID
	if len(s) != 32 {
		return t, fmt.Errorf("trace id: %d characters, want 32 hex digits: %w", len(s), ErrBadID)
	}
	if _, err := hex.Decode(t[:], []byte(s)); err != nil {
		return t, fmt.Errorf("trace id: not hex digits: %w", ErrBadID)
	}
	return t, nil
}

// SpanID is an OpenTelemetry span id.
type SpanID [8]byte

// String returns the lower-case hex form.
func (s SpanID) String() string { return hex.EncodeToString(s[:]) }

// IsZero reports whether the id is all zeros (absent).
func (s SpanID) IsZero() bool { return s == SpanID{} }

// ParseSpanID parses 16 hex digits.
func ParseSpanID(s string) (SpanID, error) {
	var id SpanID
	if len(s) != 16 {
		return id, fmt.Errorf("span id: %d characters, want 16 hex digits: %w", len(s), ErrBadID)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("span id: not hex digits: %w", ErrBadID)
	}
	return id, nil
}

// SpanKind follows OTLP's numbering.
type SpanKind int8

// Span kinds.
const (
	KindUnspecified SpanKind = 0
	KindInternal    SpanKind = 1
	KindServer      SpanKind = 2
	KindClient      SpanKind = 3
	KindProducer    SpanKind = 4
	KindConsumer    SpanKind = 5
)

// StatusCode follows OTLP's numbering.
type StatusCode int8

// Span status codes.
const (
	StatusUnset StatusCode = 0
	StatusOK    StatusCode = 1
	StatusError StatusCode = 2
)

// ValueKind says which field of a Value is set.
type ValueKind uint8

// Value kinds. Composite OTLP values (arrays, maps, bytes) never reach the
// store as such: the privacy layer drops them or flattens them to strings.
const (
	KindString ValueKind = iota
	KindInt
	KindFloat
	KindBool
)

// Value is a scalar attribute value after privacy has been applied.
type Value struct {
	Kind  ValueKind
	Str   string
	Int   int64
	Float float64
	Bool  bool
}

// String renders the value as text (used for display and for hashing).
func (v Value) String() string {
	switch v.Kind {
	case KindInt:
		return strconv.FormatInt(v.Int, 10)
	case KindFloat:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.Bool)
	default:
		return v.Str
	}
}

// StringValue, IntValue, FloatValue and BoolValue build Values.
func StringValue(s string) Value { return Value{Kind: KindString, Str: s} }
func IntValue(i int64) Value     { return Value{Kind: KindInt, Int: i} }
func FloatValue(f float64) Value { return Value{Kind: KindFloat, Float: f} }
func BoolValue(b bool) Value     { return Value{Kind: KindBool, Bool: b} }

// Attr is one kept attribute.
type Attr struct {
	Key   string
	Value Value
}

// Attrs is a list of attributes in their original order.
type Attrs []Attr

// Get returns the value for key and whether it is present.
func (a Attrs) Get(key string) (Value, bool) {
	for _, kv := range a {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return Value{}, false
}

// Line is an evidence line: two citations are independent when they are on
// different lines (ARCHITECTURE.md, "Evidence contract").
type Line string

// Evidence lines.
const (
	LineTrace        Line = "trace"
	LineKernelFutex  Line = "kernel.futex"
	LineKernelSched  Line = "kernel.sched"
	LineKernelTCP    Line = "kernel.tcp"
	LineKernelBlock  Line = "kernel.block"
	LineKernelFault  Line = "kernel.fault"
	LineLock         Line = "lock"
	LineDeploy       Line = "deploy"
	LineLog          Line = "log"
	LineUnclassified Line = "unclassified"
)

// Ref cites one stored item.
type Ref struct {
	ID   string `json:"id"`
	Line Line   `json:"line"`
}

// Resource is the kept, privacy-filtered description of an emitting entity.
type Resource struct {
	ID          string // "res:<hash>", derived from Attrs
	Service     string // service.name
	Version     string // service.version, else deployment.version
	Environment string // deployment.environment(.name)
	Host        string // host.name
	Node        string // debugai.node.id (node collector), else Host
	Attrs       Attrs  // every kept attribute, including those above
}

// SpanEvent is a span event reduced to its name and allowlisted attributes.
type SpanEvent struct {
	Index  int   // position within the span, part of its ID
	TimeNS int64 // unix ns
	Name   string
	Attrs  Attrs
}

// Span is one privacy-filtered span. Typed fields hold the attributes that
// detectors query; Attrs holds the remaining kept attributes.
type Span struct {
	TraceID       TraceID
	SpanID        SpanID
	ParentSpanID  SpanID
	ResourceID    string
	Service       string
	Version       string
	Host          string
	Name          string
	Kind          SpanKind
	StatusCode    StatusCode
	StatusMessage string // redacted
	StartNS       int64  // unix ns
	EndNS         int64  // unix ns
	ThreadID      int64  // thread.id, 0 when absent
	ProcessPID    int64  // process.pid (span or resource), 0 when absent

	HTTPRoute      string
	HTTPMethod     string
	HTTPStatusCode int64
	RPCSystem      string
	RPCService     string
	RPCMethod      string
	DBSystem       string
	DBStatement    string // SQL fingerprint, literals replaced by '?'
	DBQueryID      string // stable id of the fingerprint
	PeerService    string
	ExceptionType  string

	Attrs  Attrs
	Events []SpanEvent
}

// DurationNS is EndNS-StartNS.
func (s *Span) DurationNS() int64 { return s.EndNS - s.StartNS }

// HandedOffFrom reports whether s starts a job of its own rather than
// continuing its parent's work: a consumer under a producer, or a span
// that starts after its parent ended. Such a job is a unit of work of its
// own (the ranking model's units, the endpoint an operation runs in).
func (s *Span) HandedOffFrom(parent *Span) bool {
	return s.Kind == KindConsumer && parent.Kind == KindProducer || s.StartNS >= parent.EndNS
}

// ID is the span's evidence ID: span:<trace>/<span>.
func (s *Span) ID() string { return SpanEvidenceID(s.TraceID, s.SpanID) }

// SpanEvidenceID formats span:<trace>/<span>.
func SpanEvidenceID(t TraceID, s SpanID) string {
	return "span:" + t.String() + "/" + s.String()
}

// SpanEventEvidenceID formats sev:<trace>/<span>/<index>.
func SpanEventEvidenceID(t TraceID, s SpanID, index int) string {
	return "sev:" + t.String() + "/" + s.String() + "/" + strconv.Itoa(index)
}

// KernelEventType names a kind of kernel observation. The OTLP log event
// name is "kernel." + the type (docs/kernel-events.md).
type KernelEventType string

// Kernel event types.
const (
	KernelFutexWait     KernelEventType = "futex_wait"
	KernelRunqueueDelay KernelEventType = "runqueue_delay"
	KernelOffCPU        KernelEventType = "offcpu"
	KernelTCPRetransmit KernelEventType = "tcp_retransmit"
	KernelBlockIO       KernelEventType = "block_io"
	KernelFsync         KernelEventType = "fsync" // fsync, fdatasync, sync_file_range waits
	KernelPageFaultMaj  KernelEventType = "page_fault_major"
	KernelAnomaly       KernelEventType = "anomaly"
	// KernelCPUThrottle: the process's cgroup was throttled by its CPU
	// quota during an interval (read from cpu.stat, not a probe).
	KernelCPUThrottle KernelEventType = "cpu_throttle"
)

// Line returns the evidence line an event type belongs to.
func (t KernelEventType) Line() Line {
	switch t {
	case KernelFutexWait:
		return LineKernelFutex
	case KernelRunqueueDelay, KernelOffCPU, KernelCPUThrottle:
		return LineKernelSched
	case KernelTCPRetransmit:
		return LineKernelTCP
	case KernelBlockIO, KernelFsync:
		return LineKernelBlock
	case KernelPageFaultMaj:
		return LineKernelFault
	default:
		return LineUnclassified
	}
}

// KernelEvent is one eBPF observation, as the node collector exports it.
type KernelEvent struct {
	Node       string // node id
	Stream     string // collector stream (probe/ring) name
	Seq        uint64 // sequence number within (Node, Stream)
	Type       KernelEventType
	ResourceID string
	Service    string
	TimeNS     int64 // unix ns of the observation (end of a wait)
	DurationNS int64 // wait/latency, 0 when not a duration
	PID        int64
	TID        int64
	CgroupID   uint64
	TraceID    TraceID // stamped by span hooks when known
	SpanID     SpanID
	Addr       uint64 // futex/lock address when relevant
	WakerTID   int64  // releasing thread of a futex wait
	Value      int64  // bytes, counts: type-specific
	Attrs      Attrs  // remaining kept attributes
}

// ID is the event's evidence ID: kev:<node>/<stream>/<seq>.
func (e *KernelEvent) ID() string {
	return "kev:" + e.Node + "/" + e.Stream + "/" + strconv.FormatUint(e.Seq, 10)
}

// LockEdge is an observed lock acquisition order: Acquiring was taken while
// Held was held. Count accumulates repeated observations.
type LockEdge struct {
	Node          string
	ResourceID    string
	Service       string
	PID           int64
	Held          string // lock identity: symbol, call site or address token
	Acquiring     string
	HeldSite      string // function and file:line where Held was taken
	AcquiringSite string
	Count         int64
	FirstNS       int64
	LastNS        int64
}

// ID is the edge's evidence ID: edge:<held>><acquiring>.
func (e *LockEdge) ID() string { return "edge:" + e.Held + ">" + e.Acquiring }

// LogRecord is a non-kernel OTLP log record: its body never reaches the
// store, only severity, correlation ids and kept attributes.
type LogRecord struct {
	ID           string // log:<hash>
	ResourceID   string
	Service      string
	TimeNS       int64
	Severity     int32
	SeverityText string
	EventName    string
	TraceID      TraceID
	SpanID       SpanID
	Attrs        Attrs
}

// AuditCount is how often the privacy layer took Action on Key from Source.
type AuditCount struct {
	Source string
	Key    string
	Action string
	Count  int64
}

// Batch is what one ingest request (or import chunk) writes: a Writer stores
// it atomically.
type Batch struct {
	Resources    []Resource
	Spans        []Span
	KernelEvents []KernelEvent
	LockEdges    []LockEdge
	Logs         []LogRecord
	Audit        []AuditCount
}

// Len counts the items of a batch (resources and audit rows excluded).
func (b *Batch) Len() int {
	n := len(b.Spans) + len(b.KernelEvents) + len(b.LockEdges) + len(b.Logs)
	for i := range b.Spans {
		n += len(b.Spans[i].Events)
	}
	return n
}

// IDKind returns the prefix of an evidence ID ("span", "kev", "edge", ...).
func IDKind(id string) string {
	kind, _, ok := strings.Cut(id, ":")
	if !ok {
		return ""
	}
	return kind
}

// MarshalText encodes the id as hex (JSON strings, not byte arrays).
func (t TraceID) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses hex; the empty string is the zero id.
func (t *TraceID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*t = TraceID{}
		return nil
	}
	id, err := ParseTraceID(string(b))
	*t = id
	return err
}

// MarshalText encodes the id as hex.
func (s SpanID) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses hex; the empty string is the zero id.
func (s *SpanID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = SpanID{}
		return nil
	}
	id, err := ParseSpanID(string(b))
	*s = id
	return err
}

// Merge appends o's items to b: resources are de-duplicated by ID and audit
// counts with the same (source, key, action) are added up.
func (b *Batch) Merge(o *Batch) {
	if o == nil {
		return
	}
	for _, r := range o.Resources {
		if !slicesContainsResource(b.Resources, r.ID) {
			b.Resources = append(b.Resources, r)
		}
	}
	b.Spans = append(b.Spans, o.Spans...)
	b.KernelEvents = append(b.KernelEvents, o.KernelEvents...)
	b.LockEdges = append(b.LockEdges, o.LockEdges...)
	b.Logs = append(b.Logs, o.Logs...)
outer:
	for _, a := range o.Audit {
		for i := range b.Audit {
			if b.Audit[i].Source == a.Source && b.Audit[i].Key == a.Key && b.Audit[i].Action == a.Action {
				b.Audit[i].Count += a.Count
				continue outer
			}
		}
		b.Audit = append(b.Audit, a)
	}
}

func slicesContainsResource(rs []Resource, id string) bool {
	for i := range rs {
		if rs[i].ID == id {
			return true
		}
	}
	return false
}
