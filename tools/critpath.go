package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/debugai/debugai/detect/critpath"
	"github.com/debugai/debugai/evidence"
)

// CriticalPathInput asks for one trace's critical path, or the
// critical-path shares of the operations over a window.
type CriticalPathInput struct {
	TraceID string `json:"trace_id,omitempty" jsonschema:"a trace (32 hex digits or span:<trace>/<span>): its critical path; omit to aggregate over a window"`
	Service string `json:"service,omitempty" jsonschema:"aggregate: keep operations of this service"`
	Name    string `json:"name,omitempty" jsonschema:"aggregate: keep operations whose name contains this text"`
	Since   string `json:"since,omitempty" jsonschema:"aggregate window start: RFC 3339 time or a duration before the end of the stored data (default: the last 5m)"`
	Until   string `json:"until,omitempty" jsonschema:"aggregate window end (same forms)"`
	Limit   int    `json:"limit,omitempty" jsonschema:"rows per page (default 20, at most 100)"`
	Cursor  string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

// SegmentRow is a stretch of one trace's critical path spent in one span's
// own time.
type SegmentRow struct {
	ID       string  `json:"id" jsonschema:"span:<trace>/<span>"`
	Service  string  `json:"service"`
	Name     string  `json:"name"`
	OffsetMS float64 `json:"offset_ms"`
	SelfMS   float64 `json:"self_ms"`
	Share    float64 `json:"share" jsonschema:"of the trace's duration"`
}

// OpRow is one operation's share of all critical-path time in a window.
type OpRow struct {
	Subject   string   `json:"subject" jsonschema:"service/operation"`
	Share     float64  `json:"share"`
	SelfMS    float64  `json:"self_ms"`
	Traces    int      `json:"traces" jsonschema:"traces whose critical path includes it"`
	P50MS     float64  `json:"p50_ms" jsonschema:"per-trace critical-path time"`
	P95MS     float64  `json:"p95_ms"`
	Exemplars []string `json:"exemplars" jsonschema:"span IDs with the most critical-path time"`
}

// CriticalPathOutput holds Segments (one trace) or Ops (a window).
type CriticalPathOutput struct {
	Summary    string       `json:"summary"`
	DurationMS float64      `json:"duration_ms,omitempty" jsonschema:"one trace: its duration"`
	Segments   []SegmentRow `json:"segments,omitempty"`
	Traces     int          `json:"traces,omitempty" jsonschema:"window: traces analysed"`
	Truncated  bool         `json:"truncated,omitempty" jsonschema:"window: more spans than the tool reads; the latest were analysed; narrow the window"`
	Ops        []OpRow      `json:"ops,omitempty"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// CriticalPath returns a trace's critical path in time order, or, without
// a trace, each operation's share of all critical-path time in a window,
// largest first.
func (t *Toolset) CriticalPath(ctx context.Context, in CriticalPathInput) (CriticalPathOutput, error) {
	pg, err := t.page(in.Limit, in.Cursor)
	if err != nil {
		return CriticalPathOutput{}, err
	}
	if in.TraceID != "" {
		return t.tracePath(ctx, in.TraceID, pg)
	}
	w, err := t.window(ctx, in.Since, in.Until, true)
	if err != nil {
		return CriticalPathOutput{}, err
	}
	spans, truncated, err := t.scanSpans(ctx, evidence.SpanFilter{SinceNS: w.since, UntilNS: w.until})
	if err != nil {
		return CriticalPathOutput{}, fmt.Errorf("reading spans: %w", err)
	}
	rep, _, err := critpath.Analyze(spans, critpath.DefaultConfig())
	if err != nil {
		return CriticalPathOutput{}, fmt.Errorf("critical paths: %w", err)
	}
	ops := slices.DeleteFunc(rep.Ops, func(o critpath.OpShare) bool {
		return (in.Service != "" && o.Service != in.Service) || !strings.Contains(o.Name, in.Name)
	})
	out := CriticalPathOutput{Traces: rep.Traces, Truncated: truncated, Ops: []OpRow{}}
	for _, o := range ops[min(pg.offset, len(ops)):min(len(ops), pg.offset+pg.limit)] {
		row := OpRow{Subject: o.Subject(), Share: round3(o.Share), SelfMS: ms(o.SelfNS), Traces: o.Traces,
			P50MS: ms(o.P50NS), P95MS: ms(o.P95NS), Exemplars: []string{}}
		for _, e := range o.Exemplars[:min(2, len(o.Exemplars))] {
			row.Exemplars = append(row.Exemplars, e.ID)
		}
		out.Ops = append(out.Ops, row)
	}
	out.NextCursor = pg.next(pg.offset+pg.limit < len(ops))
	out.Summary = fmt.Sprintf("%d traces in %s .. %s (%d spans read%s); %d operations on critical paths",
		rep.Traces, fmtNS(w.since), fmtNS(w.until), len(spans), truncNote(spans, truncated), len(ops))
	if len(ops) > 0 {
		out.Summary += fmt.Sprintf("; largest: %s %.0f%% of critical-path time", ops[0].Subject(), 100*ops[0].Share)
	}
	return out, nil
}

func (t *Toolset) tracePath(ctx context.Context, traceID string, pg page) (CriticalPathOutput, error) {
	out := CriticalPathOutput{Segments: []SegmentRow{}}
	id, err := parseTraceID("trace_id", traceID)
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
	p, err := critpath.CriticalPath(spans)
	if err != nil {
		return out, fmt.Errorf("critical path of %s: %w", id, err)
	}
	dur := p.DurationNS()
	out.DurationMS = ms(dur)
	for _, s := range p.Segments[min(pg.offset, len(p.Segments)):min(len(p.Segments), pg.offset+pg.limit)] {
		out.Segments = append(out.Segments, SegmentRow{ID: evidence.SpanEvidenceID(id, s.SpanID), Service: s.Service,
			Name: s.Name, OffsetMS: ms(s.StartNS - p.StartNS), SelfMS: ms(s.SelfNS), Share: round3(float64(s.SelfNS) / float64(max(dur, 1)))})
	}
	out.NextCursor = pg.next(pg.offset+pg.limit < len(p.Segments))
	top := slices.Clone(p.Segments)
	slices.SortFunc(top, func(a, b critpath.Segment) int { return cmp.Compare(b.SelfNS, a.SelfNS) })
	var parts []string
	for _, s := range top[:min(3, len(top))] {
		parts = append(parts, fmt.Sprintf("%s/%s %.0f%%", s.Service, s.Name, 100*float64(s.SelfNS)/float64(max(dur, 1))))
	}
	out.Summary = fmt.Sprintf("critical path of trace %s (%.1fms, %d segments); longest self time: %s",
		id, out.DurationMS, len(p.Segments), strings.Join(parts, ", "))
	return out, nil
}
