package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/detect/critpath"
	"github.com/debugai/debugai/evidence"
)

// Charts holds the data the SVG charts draw; a nil chart had no data.
type Charts struct {
	Timeline *TimelineChart `json:"timeline,omitempty"`
	Latency  *LatencyChart  `json:"latency,omitempty"`
}

// TimelineChart is the kernel-overlay timeline of an exemplar trace.
type TimelineChart struct {
	TraceID string `json:"trace_id"`
	StartNS int64  `json:"start_ns"`
	EndNS   int64  `json:"end_ns"`
	// Rows are spans in tree order (parents before children, siblings by
	// start), at most Options.MaxChartSpans; SpansOmitted counts the rest.
	Rows         []TimelineRow `json:"rows"`
	SpansOmitted int           `json:"spans_omitted,omitempty"`
}

// TimelineRow is one span with its critical-path stretches and the kernel
// waits joined to it (package correlate).
type TimelineRow struct {
	ID       string     `json:"id"`
	Service  string     `json:"service"`
	Name     string     `json:"name"`
	Depth    int        `json:"depth"`
	StartNS  int64      `json:"start_ns"`
	EndNS    int64      `json:"end_ns"`
	Critical []Interval `json:"critical,omitempty"`
	Waits    []Wait     `json:"waits,omitempty"`
}

// Interval is [StartNS, EndNS] in unix ns.
type Interval struct {
	StartNS int64 `json:"start_ns"`
	EndNS   int64 `json:"end_ns"`
}

// Wait is one kernel event on a span: its wait interval [TimeNS-DurationNS,
// TimeNS] (a point for events without a duration).
type Wait struct {
	ID      string                   `json:"id"`
	Type    evidence.KernelEventType `json:"type"`
	Line    evidence.Line            `json:"line"`
	StartNS int64                    `json:"start_ns"`
	EndNS   int64                    `json:"end_ns"`
}

// maxWaitsPerRow bounds the waits drawn on one span.
const maxWaitsPerRow = 64

// buildCharts fills the overlay timeline and the latency distributions.
func buildCharts(ctx context.Context, rs *resolver, rep *Report, opts Options) error {
	tl, err := timelineChart(ctx, rs, rep, opts)
	if err != nil {
		return fmt.Errorf("building overlay timeline: %w", err)
	}
	lat, err := latencyChart(ctx, rs, rep, opts)
	if err != nil {
		return fmt.Errorf("building latency distributions: %w", err)
	}
	rep.Charts = Charts{Timeline: tl, Latency: lat}
	return nil
}

// exemplarTrace picks the trace the overlay chart draws.
func exemplarTrace(ctx context.Context, rs *resolver, rep *Report, opts Options) (evidence.TraceID, error) {
	if !opts.ExemplarTrace.IsZero() {
		return opts.ExemplarTrace, nil
	}
	var fromEvent evidence.TraceID
	for _, id := range citedIDs(rep) {
		it, err := rs.get(ctx, id)
		switch {
		case err != nil:
			return evidence.TraceID{}, err
		case it == nil:
		case it.Span != nil:
			return it.Span.TraceID, nil
		case it.KernelEvent != nil && fromEvent.IsZero():
			fromEvent = it.KernelEvent.TraceID
		}
	}
	return fromEvent, nil
}

func timelineChart(ctx context.Context, rs *resolver, rep *Report, opts Options) (*TimelineChart, error) {
	tid, err := exemplarTrace(ctx, rs, rep, opts)
	if err != nil || tid.IsZero() {
		return nil, err
	}
	spans, err := rs.r.Trace(ctx, tid)
	if err != nil || len(spans) == 0 {
		return nil, err
	}
	c := &TimelineChart{TraceID: tid.String(), StartNS: spans[0].StartNS, EndNS: spans[0].EndNS}
	for _, s := range spans {
		c.StartNS, c.EndNS = min(c.StartNS, s.StartNS), max(c.EndNS, s.EndNS)
	}
	order, depth := treeOrder(spans)
	if len(order) > opts.MaxChartSpans {
		c.SpansOmitted = len(order) - opts.MaxChartSpans
		order = order[:opts.MaxChartSpans]
	}
	crit := map[int][]Interval{}
	if p, err := critpath.CriticalPath(spans); err == nil {
		for _, sg := range p.Segments {
			crit[sg.Index] = append(crit[sg.Index], Interval{sg.StartNS, sg.EndNS})
		}
	}
	waits, err := spanWaits(ctx, rs.r, spans, c.StartNS, c.EndNS)
	if err != nil {
		return nil, err
	}
	for _, i := range order {
		s := &spans[i]
		c.Rows = append(c.Rows, TimelineRow{ID: s.ID(), Service: s.Service, Name: s.Name, Depth: depth[i],
			StartNS: s.StartNS, EndNS: max(s.EndNS, s.StartNS), Critical: crit[i], Waits: waits[i]})
	}
	return c, nil
}

// treeOrder returns span indices parents first, siblings by start then
// span ID, and each span's depth. Spans whose parent is absent are roots.
func treeOrder(spans []evidence.Span) ([]int, []int) {
	byID := make(map[evidence.SpanID]int, len(spans))
	for i := range spans {
		if _, dup := byID[spans[i].SpanID]; !dup {
			byID[spans[i].SpanID] = i
		}
	}
	children := map[int][]int{}
	var roots []int
	for i := range spans {
		p, ok := byID[spans[i].ParentSpanID]
		if byID[spans[i].SpanID] != i {
			continue // duplicate span id
		}
		if !ok || p == i || spans[i].ParentSpanID.IsZero() {
			roots = append(roots, i)
			continue
		}
		children[p] = append(children[p], i)
	}
	bySpan := func(a, b int) int {
		return cmp.Or(cmp.Compare(spans[a].StartNS, spans[b].StartNS),
			cmp.Compare(spans[a].SpanID.String(), spans[b].SpanID.String()))
	}
	order, depth := make([]int, 0, len(spans)), make([]int, len(spans))
	var walk func(i, d int)
	walk = func(i, d int) {
		order = append(order, i)
		depth[i] = d
		kids := children[i]
		slices.SortFunc(kids, bySpan)
		for _, k := range kids {
			if len(order) <= len(spans) { // a parent cycle cannot loop
				walk(k, d+1)
			}
		}
	}
	slices.SortFunc(roots, bySpan)
	for _, r := range roots {
		walk(r, 0)
	}
	return order, depth
}

// spanWaits joins the kernel events around [start, end] to the spans
// (correlate.Join) and returns each span's waits by span index, in time
// order, bounded by maxWaitsPerRow.
func spanWaits(ctx context.Context, r evidence.Reader, spans []evidence.Span, start, end int64) (map[int][]Wait, error) {
	// An event is stored at the end of its wait: look a trace length past
	// the end for waits that began inside the trace.
	evs, err := r.KernelEvents(ctx, evidence.KernelEventFilter{SinceNS: start, UntilNS: end + (end - start) + 1})
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	cfg := correlate.DefaultConfig()
	cfg.MatchNode = slices.ContainsFunc(spans, func(s evidence.Span) bool { return s.Host != "" })
	as, _, err := correlate.Join(spans, evs, cfg)
	if err != nil {
		return nil, err
	}
	out := map[int][]Wait{}
	for _, a := range as {
		ev := &evs[a.EventIndex]
		if a.Method == correlate.MethodNone || ev.Type.Line() == evidence.LineUnclassified {
			continue
		}
		w := Wait{ID: ev.ID(), Type: ev.Type, Line: ev.Type.Line(),
			StartNS: max(ev.TimeNS-max(ev.DurationNS, 0), start), EndNS: min(ev.TimeNS, end)}
		if w.EndNS < w.StartNS {
			continue
		}
		out[int(a.SpanIndex)] = append(out[int(a.SpanIndex)], w)
	}
	for i, ws := range out {
		slices.SortFunc(ws, func(a, b Wait) int {
			return cmp.Or(cmp.Compare(a.StartNS, b.StartNS), cmp.Compare(a.ID, b.ID))
		})
		if len(ws) > maxWaitsPerRow {
			out[i] = ws[:maxWaitsPerRow]
		}
	}
	return out, nil
}
