package tools

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/evidence"
)

// overlaySorts are the orders kernel_overlays offers.
var overlaySorts = []string{"total", "futex", "runqueue", "offcpu", "block_io", "tcp_retransmits", "major_faults"}

// KernelOverlaysInput selects the spans of a window whose kernel time to
// show.
type KernelOverlaysInput struct {
	TraceID string `json:"trace_id,omitempty" jsonschema:"only this trace (32 hex digits or span:<trace>/<span>)"`
	Service string `json:"service,omitempty" jsonschema:"only spans of this service"`
	Name    string `json:"name,omitempty" jsonschema:"only spans whose name contains this text"`
	Since   string `json:"since,omitempty" jsonschema:"RFC 3339 time or a duration before the end of the stored data (default: the last 5m)"`
	Until   string `json:"until,omitempty" jsonschema:"RFC 3339 time or a duration before the end of the stored data"`
	Sort    string `json:"sort,omitempty" jsonschema:"order: total (default: all wait time), futex, runqueue, offcpu, block_io, tcp_retransmits, major_faults"`
	Limit   int    `json:"limit,omitempty" jsonschema:"rows per page (default 20, at most 100)"`
	Cursor  string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

// SpanOverlayRow is one span with its kernel overlay.
type SpanOverlayRow struct {
	ID         string     `json:"id" jsonschema:"span:<trace>/<span>"`
	Service    string     `json:"service"`
	Name       string     `json:"name"`
	DurationMS float64    `json:"duration_ms"`
	Kernel     OverlayRow `json:"kernel"`
}

// KernelOverlaysOutput is a page of spans with kernel time, most first.
type KernelOverlaysOutput struct {
	Summary    string           `json:"summary"`
	Totals     KernelTotals     `json:"totals" jsonschema:"over every span in the window"`
	Truncated  bool             `json:"truncated,omitempty" jsonschema:"more spans or events than the tool reads; the latest spans were analysed; narrow the window"`
	Spans      []SpanOverlayRow `json:"spans"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// KernelOverlays joins the kernel events of a window (or a trace) to its
// spans and lists the spans with kernel time, most first.
func (t *Toolset) KernelOverlays(ctx context.Context, in KernelOverlaysInput) (KernelOverlaysOutput, error) {
	out := KernelOverlaysOutput{Spans: []SpanOverlayRow{}}
	pg, err := t.page(in.Limit, in.Cursor)
	if err != nil {
		return out, err
	}
	if err := oneOf("sort", in.Sort, overlaySorts); err != nil {
		return out, err
	}
	f := evidence.SpanFilter{}
	if in.TraceID != "" {
		if f.TraceID, err = parseTraceID("trace_id", in.TraceID); err != nil {
			return out, err
		}
	}
	w, err := t.window(ctx, in.Since, in.Until, in.TraceID == "")
	if err != nil {
		return out, err
	}
	f.SinceNS, f.UntilNS = w.since, w.until
	spans, truncS, err := t.scanSpans(ctx, f)
	if err != nil {
		return out, fmt.Errorf("reading spans: %w", err)
	}
	kf := evidence.KernelEventFilter{SinceNS: w.since, UntilNS: w.until}
	switch {
	case len(spans) > 0 && in.TraceID != "":
		kf.SinceNS, kf.UntilNS = spans[0].StartNS, maxEnd(spans)+1_000_000
	case truncS:
		// Events before the earliest span read join none of the spans read.
		kf.SinceNS = spans[0].StartNS
	}
	events, truncE, err := t.scanKernel(ctx, kf)
	if err != nil {
		return out, fmt.Errorf("reading kernel events: %w", err)
	}
	ovs, tot, err := overlays(spans, events)
	if err != nil {
		return out, err
	}
	out.Totals, out.Truncated = tot, truncS || truncE
	rows := overlayRows(spans, ovs, in)
	if pg.offset < len(rows) {
		out.Spans = rows[pg.offset:min(len(rows), pg.offset+pg.limit)]
	}
	out.NextCursor = pg.next(pg.offset+pg.limit < len(rows))
	note := truncNote(spans, truncS)
	if truncE {
		note += fmt.Sprintf(", kernel events truncated to the first %d", len(events))
	}
	out.Summary = fmt.Sprintf("%d spans and %d kernel events read (%s .. %s%s); %d spans with kernel time; totals: futex %.1fms, run queue %.1fms, off-CPU %.1fms, block I/O %.1fms, %d retransmits, %d major faults; %d events joined no span",
		len(spans), len(events), fmtNS(kf.SinceNS), fmtNS(kf.UntilNS), note,
		len(rows), tot.FutexWaitMS, tot.RunqueueMS, tot.OffCPUMS, tot.BlockIOMS, tot.TCPRetransmits, tot.MajorFaults, tot.Unjoined)
	return out, nil
}

func maxEnd(spans []evidence.Span) int64 {
	var end int64
	for i := range spans {
		end = max(end, spans[i].EndNS)
	}
	return end
}

// overlayRows returns the spans that have an overlay and pass the filter,
// sorted by the chosen metric, largest first.
func overlayRows(spans []evidence.Span, ovs map[int]*correlate.Overlay, in KernelOverlaysInput) []SpanOverlayRow {
	type kv struct {
		idx int
		key float64
	}
	var keep []kv
	for i, o := range ovs {
		s := &spans[i]
		if (in.Service != "" && s.Service != in.Service) || !strings.Contains(s.Name, in.Name) {
			continue
		}
		keep = append(keep, kv{i, overlayKey(o, in.Sort)})
	}
	slices.SortFunc(keep, func(a, b kv) int { return cmp.Or(cmp.Compare(b.key, a.key), cmp.Compare(a.idx, b.idx)) })
	rows := make([]SpanOverlayRow, 0, len(keep))
	for _, k := range keep {
		s := &spans[k.idx]
		rows = append(rows, SpanOverlayRow{ID: s.ID(), Service: s.Service, Name: s.Name, DurationMS: ms(s.DurationNS()),
			Kernel: *overlayRow(ovs[k.idx])})
	}
	return rows
}

func overlayKey(o *correlate.Overlay, sort string) float64 {
	switch sort {
	case "futex":
		return float64(o.FutexWaitNS)
	case "runqueue":
		return float64(o.RunqueueNS)
	case "offcpu":
		return float64(o.OffCPUNS)
	case "block_io":
		return float64(o.BlockIONS)
	case "tcp_retransmits":
		return float64(o.TCPRetransmits)
	case "major_faults":
		return float64(o.MajorFaults)
	}
	return float64(o.FutexWaitNS + o.RunqueueNS + o.OffCPUNS + o.BlockIONS)
}
