package analyze

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// MinBaselineTraces is the fewest baseline traces a comparison accepts:
// fewer cannot tell a change from noise.
const MinBaselineTraces = 10

// Plan says what an analysis compares: the incident's windows with
// the baseline's. baseTraces, when set, decides which traces are the
// baseline (a bundle's baseline files, whatever their timestamps); else a
// trace belongs to the baseline when its first span starts in a baseline
// window.
type Plan struct {
	Incident, Baseline []hypothesis.Window
	BaselineTraces     map[evidence.TraceID]bool
	// source says where the baseline comes from, for reports.
	Source string
	// explicit: the user (or a bundle) asked for this baseline, so too
	// few baseline traces is an error rather than "no baseline".
	Explicit bool
}

const (
	SourceBundle = "the bundle's baseline files"
	// SourceOtherBundle is followed by that bundle's name.
	SourceOtherBundle = "the baseline bundle"
	SourceFlags       = "--baseline-since/--baseline-until"
	SourceBefore      = "the window of equal length before the incident"
	SourceNone        = "none"
)

// WindowError reports window flags that do not make a window (a usage
// error for a command line).
type WindowError struct{ msg string }

func (e *WindowError) Error() string { return e.msg }

func windowErrorf(format string, args ...any) error {
	return &WindowError{msg: fmt.Sprintf(format, args...)}
}

// ResolvePlan turns the window flags into a plan. The incident is
// --since..--until (default: all stored spans, or all kernel events and
// lock edges in a store without spans, or from --baseline-until on); the
// baseline is --baseline-since..--baseline-until (since defaults to the
// start of the stored data), else the window of equal length before an
// explicit --since, else none. Flags that make no window are a
// *WindowError.
func ResolvePlan(st evidence.Stats, since, until, bsince, buntil string) (Plan, error) {
	lo, hi := st.MinStartNS, st.MaxEndNS
	if st.Spans == 0 { // kernel events and lock edges only: their time range
		lo, hi = st.EvidenceMinNS, st.EvidenceMaxNS
	}
	end := hi + 1
	var p Plan
	inc := hypothesis.Window{SinceNS: lo, UntilNS: end}
	base := hypothesis.Window{SinceNS: lo}
	var err error
	for _, tf := range []struct {
		name, val string
		dst       *int64
	}{{"since", since, &inc.SinceNS}, {"until", until, &inc.UntilNS},
		{"baseline-since", bsince, &base.SinceNS}, {"baseline-until", buntil, &base.UntilNS}} {
		if tf.val == "" {
			continue
		}
		if *tf.dst, err = ParseWindowTime(tf.val, end); err != nil {
			return p, windowErrorf("--%s: %v", tf.name, err)
		}
	}
	switch {
	case buntil != "":
		if since == "" {
			inc.SinceNS = base.UntilNS
		}
		p.Baseline, p.Source, p.Explicit = []hypothesis.Window{base}, SourceFlags, true
	case bsince != "":
		if since == "" {
			return p, windowErrorf("--baseline-since needs --baseline-until or --since (where the baseline ends)")
		}
		base.UntilNS = inc.SinceNS
		p.Baseline, p.Source, p.Explicit = []hypothesis.Window{base}, SourceFlags, true
	case since != "":
		n := inc.UntilNS - inc.SinceNS
		p.Baseline, p.Source = []hypothesis.Window{{SinceNS: inc.SinceNS - n, UntilNS: inc.SinceNS}}, SourceBefore
	default:
		p.Source = SourceNone
	}
	if inc.UntilNS <= inc.SinceNS {
		return p, windowErrorf("empty window: --since %s is not before --until %s", FmtNS(inc.SinceNS), FmtNS(inc.UntilNS))
	}
	for _, b := range p.Baseline {
		if b.UntilNS <= b.SinceNS {
			return p, windowErrorf("empty baseline: it starts at %s and ends at %s", FmtNS(b.SinceNS), FmtNS(b.UntilNS))
		}
	}
	p.Incident = []hypothesis.Window{inc}
	return p, nil
}

// describe says what was compared, for reports and errors.
func (p Plan) describe(baseTraces, baseSpans, incSpans int) string {
	if len(p.Baseline) == 0 || baseTraces == 0 {
		return fmt.Sprintf("no baseline (%s): %d incident spans, judged on their own", p.Source, incSpans)
	}
	return fmt.Sprintf("incident %s (%d spans) against the baseline %s (%d traces, %d spans; %s)",
		windowsString(p.Incident), incSpans, windowsString(p.Baseline), baseTraces, baseSpans, p.Source)
}

// Describe says what the detection compared, for detect's "compared"
// line and reports.
func (in *Input) Describe() string {
	if in.KernelOnly {
		return fmt.Sprintf("kernel-only window %s: no spans; %d kernel events and %d lock edges, judged on their own (the detectors that read spans had nothing to read)",
			windowsString(in.Plan.Incident), len(in.Kernel), len(in.Edges))
	}
	d := in.Plan.describe(len(in.BaseTraces), in.BaseSpans, len(in.Spans)-in.BaseSpans)
	if note := in.Sampling.Note(); note != "" {
		d += "; " + note
	}
	return d
}

func windowsString(ws []hypothesis.Window) string {
	s := ""
	for i, w := range ws {
		if i > 0 {
			s += ", "
		}
		s += FmtNS(w.SinceNS) + " .. " + FmtNS(w.UntilNS)
	}
	return s
}

// Load reads the spans, kernel events and lock edges of every
// window of the plan into in, marks the baseline traces and checks that
// the comparison has enough of both.
func Load(ctx context.Context, r evidence.Reader, st evidence.Stats, p Plan, maxItems int, store string) (*Input, error) {
	in := &Input{Plan: p}
	windows := slices.Concat(p.Incident, p.Baseline)
	var err error
	in.Spans, err = loadWindows(ctx, windows, maxItems, "spans", (*evidence.Span).ID, func(w hypothesis.Window, limit, offset int) ([]evidence.Span, error) {
		return r.Spans(ctx, evidence.SpanFilter{SinceNS: w.SinceNS, UntilNS: w.UntilNS, WithEvents: true, Limit: limit, Offset: offset})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(in.Spans, func(a, b evidence.Span) int { return cmp.Compare(a.StartNS, b.StartNS) })
	in.BaseTraces = p.BaselineTraces
	if in.BaseTraces == nil && len(p.Baseline) > 0 {
		in.BaseTraces = baselineByWindow(in.Spans, p)
	}
	var incSpans int
	in.SinceNS, in.UntilNS = 0, 0
	for i := range in.Spans {
		sp := &in.Spans[i]
		if in.BaseTraces[sp.TraceID] {
			in.BaseSpans++
			continue
		}
		incSpans++
		if in.SinceNS == 0 || sp.StartNS < in.SinceNS {
			in.SinceNS = sp.StartNS
		}
		in.UntilNS = max(in.UntilNS, sp.EndNS+1)
	}
	if st.KernelEvents > 0 {
		in.Kernel, err = loadWindows(ctx, windows, maxItems, "kernel events", (*evidence.KernelEvent).ID, func(w hypothesis.Window, limit, offset int) ([]evidence.KernelEvent, error) {
			return r.KernelEvents(ctx, evidence.KernelEventFilter{SinceNS: w.SinceNS, UntilNS: w.UntilNS, Limit: limit, Offset: offset})
		})
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(in.Kernel, func(a, b evidence.KernelEvent) int { return cmp.Compare(a.TimeNS, b.TimeNS) })
	}
	if lr, ok := r.(evidence.LockEdgeReader); ok && st.LockEdges > 0 {
		in.Edges, err = loadWindows(ctx, windows, maxItems, "lock edges", (*evidence.LockEdge).ID, func(w hypothesis.Window, limit, offset int) ([]evidence.LockEdge, error) {
			return lr.LockEdges(ctx, evidence.LockEdgeFilter{SinceNS: w.SinceNS, UntilNS: w.UntilNS, Limit: limit, Offset: offset})
		})
		if err != nil {
			return nil, err
		}
	}
	if incSpans == 0 {
		if len(in.Kernel) == 0 && len(in.Edges) == 0 {
			return nil, fmt.Errorf("no spans, kernel events or lock edges in the incident window %s of store %s (it holds %d spans, %d kernel events, %d lock edges)",
				windowsString(p.Incident), store, st.Spans, st.KernelEvents, st.LockEdges)
		}
		// Kernel-only evidence is evidence: the kernel and lock-order
		// detectors run on it alone, judged on its own.
		in.KernelOnly = true
		in.BaseTraces, in.BaseSpans, in.Spans = nil, 0, nil
		in.Plan.Baseline, in.Plan.Source = nil, SourceNone
		inIncident := func(t int64) bool {
			return slices.ContainsFunc(p.Incident, func(w hypothesis.Window) bool { return w.Contains(t) })
		}
		in.Kernel = slices.DeleteFunc(in.Kernel, func(k evidence.KernelEvent) bool { return !inIncident(k.TimeNS) })
		in.Edges = slices.DeleteFunc(in.Edges, func(e evidence.LockEdge) bool { return !inIncident(e.LastNS) })
		in.SinceNS, in.UntilNS = kernelOnlyBounds(in.Kernel, in.Edges)
		return in, nil
	}
	if n := len(in.BaseTraces); len(p.Baseline) > 0 && n < MinBaselineTraces {
		if p.Explicit {
			return nil, fmt.Errorf("the baseline (%s, %s) holds %d traces: at least %d are needed to tell a change from noise; widen it",
				p.Source, windowsString(p.Baseline), n, MinBaselineTraces)
		}
		in.BaseTraces, in.BaseSpans = nil, 0 // too little before the incident: judge it on its own
		in.Plan.Source = SourceNone + " (" + fmt.Sprintf("%d traces in %s", n, SourceBefore) + ")"
	}
	return in, nil
}

// kernelOnlyBounds is the time range of the kernel events and lock edges
// (end exclusive).
func kernelOnlyBounds(kernel []evidence.KernelEvent, edges []evidence.LockEdge) (int64, int64) {
	var lo, hi int64
	see := func(a, b int64) {
		if lo == 0 || a < lo {
			lo = a
		}
		hi = max(hi, b+1)
	}
	for i := range kernel {
		see(kernel[i].TimeNS, kernel[i].TimeNS+max(0, kernel[i].DurationNS))
	}
	for i := range edges {
		see(edges[i].FirstNS, edges[i].LastNS)
	}
	return lo, hi
}

// baselineByWindow marks the traces whose first span starts in a baseline
// window and in no incident window.
func baselineByWindow(spans []evidence.Span, p Plan) map[evidence.TraceID]bool {
	first := map[evidence.TraceID]int64{}
	for i := range spans {
		sp := &spans[i]
		if t, ok := first[sp.TraceID]; !ok || sp.StartNS < t {
			first[sp.TraceID] = sp.StartNS
		}
	}
	in := func(ws []hypothesis.Window, t int64) bool {
		return slices.ContainsFunc(ws, func(w hypothesis.Window) bool { return w.Contains(t) })
	}
	out := map[evidence.TraceID]bool{}
	for id, t := range first {
		if in(p.Baseline, t) && !in(p.Incident, t) {
			out[id] = true
		}
	}
	return out
}

// loadWindows reads every window's items page by page, each item once
// (windows may overlap); more than maxItems in all is an error.
func loadWindows[T any](ctx context.Context, windows []hypothesis.Window, maxItems int, what string, id func(*T) string,
	page func(w hypothesis.Window, limit, offset int) ([]T, error)) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	for _, w := range windows {
		items, err := loadPaged(ctx, maxItems, what, func(limit, offset int) ([]T, error) { return page(w, limit, offset) })
		if err != nil {
			return nil, err
		}
		for i := range items {
			if k := id(&items[i]); !seen[k] {
				seen[k] = true
				out = append(out, items[i])
			}
		}
		if len(out) > maxItems {
			return nil, fmt.Errorf("the windows hold more than %d %s (--max-items): narrow them", maxItems, what)
		}
	}
	return out, nil
}
