package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/evidence"
)

// OverlayRow is the kernel time joined to one span: its own waits (not its
// children's), with the longest contributing kernel events cited.
type OverlayRow struct {
	FutexWaitMS    float64  `json:"futex_wait_ms,omitempty"`
	RunqueueMS     float64  `json:"runqueue_ms,omitempty"`
	OffCPUMS       float64  `json:"offcpu_ms,omitempty"`
	BlockIOMS      float64  `json:"block_io_ms,omitempty"`
	TCPRetransmits int64    `json:"tcp_retransmits,omitempty"`
	MajorFaults    int64    `json:"major_faults,omitempty"`
	Events         int      `json:"events"`
	Confidence     float64  `json:"confidence" jsonschema:"lowest join confidence among the events (1 stamped, 0.9 thread overlap, lower near edges)"`
	Refs           []string `json:"refs" jsonschema:"kev: IDs of the longest events"`
}

func overlayRow(o *correlate.Overlay) *OverlayRow {
	return &OverlayRow{FutexWaitMS: ms(o.FutexWaitNS), RunqueueMS: ms(o.RunqueueNS), OffCPUMS: ms(o.OffCPUNS),
		BlockIOMS: ms(o.BlockIONS), TCPRetransmits: o.TCPRetransmits, MajorFaults: o.MajorFaults, Events: o.Events,
		Confidence: round3(o.MinConfidence), Refs: refIDs(o.Refs, 3)}
}

// KernelTotals sums the kernel overlays of a set of spans.
type KernelTotals struct {
	Events         int     `json:"events" jsonschema:"kernel events joined to the spans"`
	Unjoined       int     `json:"unjoined,omitempty" jsonschema:"kernel events in the window that joined no span"`
	FutexWaitMS    float64 `json:"futex_wait_ms,omitempty"`
	RunqueueMS     float64 `json:"runqueue_ms,omitempty"`
	OffCPUMS       float64 `json:"offcpu_ms,omitempty"`
	BlockIOMS      float64 `json:"block_io_ms,omitempty"`
	TCPRetransmits int64   `json:"tcp_retransmits,omitempty"`
	MajorFaults    int64   `json:"major_faults,omitempty"`
}

func (k *KernelTotals) add(o *correlate.Overlay) {
	k.Events += o.Events
	k.FutexWaitMS += ms(o.FutexWaitNS)
	k.RunqueueMS += ms(o.RunqueueNS)
	k.OffCPUMS += ms(o.OffCPUNS)
	k.BlockIOMS += ms(o.BlockIONS)
	k.TCPRetransmits += o.TCPRetransmits
	k.MajorFaults += o.MajorFaults
}

func (k *KernelTotals) round() {
	for _, p := range []*float64{&k.FutexWaitMS, &k.RunqueueMS, &k.OffCPUMS, &k.BlockIOMS} {
		*p = round3(*p)
	}
}

// overlays joins events to spans and returns the overlays by span index.
func overlays(spans []evidence.Span, events []evidence.KernelEvent) (map[int]*correlate.Overlay, KernelTotals, error) {
	var tot KernelTotals
	if len(events) == 0 || len(spans) == 0 {
		tot.Unjoined = len(events)
		return nil, tot, nil
	}
	cfg := correlate.DefaultConfig()
	as, _, err := correlate.Join(spans, events, cfg)
	if err != nil {
		return nil, tot, fmt.Errorf("joining kernel events to spans: %w", err)
	}
	ovs, err := correlate.Overlays(spans, events, as, cfg)
	if err != nil {
		return nil, tot, fmt.Errorf("kernel overlays: %w", err)
	}
	byIdx := make(map[int]*correlate.Overlay, len(ovs))
	for i := range ovs {
		byIdx[int(ovs[i].SpanIndex)] = &ovs[i]
		tot.add(&ovs[i])
	}
	tot.Unjoined = len(events) - tot.Events
	tot.round()
	return byIdx, tot, nil
}

// GetTraceInput names a trace.
type GetTraceInput struct {
	TraceID       string  `json:"trace_id" jsonschema:"32 hex digits, or a span evidence id span:<trace>/<span>"`
	MinDurationMS float64 `json:"min_duration_ms,omitempty" jsonschema:"leave shorter spans out of the timeline (they still count in the summary)"`
	Limit         int     `json:"limit,omitempty" jsonschema:"timeline rows per page (default 20, at most 100)"`
	Cursor        string  `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

// TimelineRow is one span of a trace timeline.
type TimelineRow struct {
	ID         string      `json:"id" jsonschema:"span:<trace>/<span>"`
	Depth      int         `json:"depth" jsonschema:"0 for the root"`
	Service    string      `json:"service"`
	Name       string      `json:"name"`
	OffsetMS   float64     `json:"offset_ms" jsonschema:"start relative to the trace start"`
	DurationMS float64     `json:"duration_ms"`
	Status     string      `json:"status,omitempty"`
	Kernel     *OverlayRow `json:"kernel,omitempty" jsonschema:"kernel time joined to this span"`
}

// TraceOutput is a trace's timeline with kernel overlays.
type TraceOutput struct {
	Summary    string        `json:"summary"`
	RootID     string        `json:"root_id"`
	DurationMS float64       `json:"duration_ms"`
	Spans      int           `json:"spans" jsonschema:"spans in the trace"`
	Kernel     KernelTotals  `json:"kernel"`
	Timeline   []TimelineRow `json:"timeline"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// GetTrace returns a trace as a timeline in start order, each span with
// its depth and the kernel time (futex, run queue, off-CPU, block I/O,
// retransmits, faults) joined to it.
func (t *Toolset) GetTrace(ctx context.Context, in GetTraceInput) (TraceOutput, error) {
	out := TraceOutput{Timeline: []TimelineRow{}}
	pg, err := t.page(in.Limit, in.Cursor)
	if err != nil {
		return out, err
	}
	if in.TraceID == "" {
		return out, argErrorf("trace_id", "required")
	}
	id, err := parseTraceID("trace_id", in.TraceID)
	if err != nil {
		return out, err
	}
	spans, err := t.r.Trace(ctx, id)
	if err != nil && !errors.Is(err, evidence.ErrNotFound) {
		return out, fmt.Errorf("reading trace: %w", err)
	}
	if len(spans) == 0 {
		return out, fmt.Errorf("trace %s: %w", id, evidence.ErrNotFound)
	}
	slices.SortStableFunc(spans, func(a, b evidence.Span) int { return cmp.Compare(a.StartNS, b.StartNS) })
	start, end := spans[0].StartNS, spans[0].EndNS
	for i := range spans {
		end = max(end, spans[i].EndNS)
	}
	events, _, err := t.scanKernel(ctx, evidence.KernelEventFilter{SinceNS: start, UntilNS: end + 1_000_000})
	if err != nil {
		return out, fmt.Errorf("reading kernel events: %w", err)
	}
	ovs, tot, err := overlays(spans, events)
	if err != nil {
		return out, err
	}
	out.Kernel, out.Spans, out.DurationMS = tot, len(spans), ms(end-start)
	depth := depths(spans)
	root := 0
	for i := range spans {
		if depth[i] == 0 && spans[i].DurationNS() > spans[root].DurationNS() {
			root = i
		}
	}
	out.RootID = spans[root].ID()
	rows := timeline(spans, depth, ovs, int64(in.MinDurationMS*1e6))
	if pg.offset < len(rows) {
		out.Timeline = rows[pg.offset:min(len(rows), pg.offset+pg.limit)]
	}
	out.NextCursor = pg.next(pg.offset+pg.limit < len(rows))
	r := &spans[root]
	out.Summary = fmt.Sprintf("trace %s: %d spans, root %s %q %.1fms; kernel: %d events joined (futex %.1fms, run queue %.1fms, off-CPU %.1fms, block I/O %.1fms, %d retransmits)",
		id, len(spans), r.Service, r.Name, out.DurationMS, tot.Events, tot.FutexWaitMS, tot.RunqueueMS, tot.OffCPUMS, tot.BlockIOMS, tot.TCPRetransmits)
	return out, nil
}

// timeline returns the rows of the spans at least minNS long, in order.
func timeline(spans []evidence.Span, depth []int, ovs map[int]*correlate.Overlay, minNS int64) []TimelineRow {
	var rows []TimelineRow
	start := spans[0].StartNS
	for i := range spans {
		s := &spans[i]
		if s.DurationNS() < minNS {
			continue
		}
		row := TimelineRow{ID: s.ID(), Depth: depth[i], Service: s.Service, Name: s.Name,
			OffsetMS: ms(s.StartNS - start), DurationMS: ms(s.DurationNS()), Status: spanRow(s).Status}
		if o := ovs[i]; o != nil {
			row.Kernel = overlayRow(o)
		}
		rows = append(rows, row)
	}
	return rows
}

// depths returns each span's depth below its trace's root (parents absent
// from spans make a root).
func depths(spans []evidence.Span) []int {
	idx := make(map[evidence.SpanID]int, len(spans))
	for i := range spans {
		idx[spans[i].SpanID] = i
	}
	d := make([]int, len(spans))
	for i := range spans {
		n, p := 0, spans[i].ParentSpanID
		for !p.IsZero() && n <= len(spans) {
			j, ok := idx[p]
			if !ok {
				break
			}
			n++
			p = spans[j].ParentSpanID
		}
		d[i] = n
	}
	return d
}
