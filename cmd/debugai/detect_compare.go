package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// minBaselineTraces is the fewest baseline traces a comparison accepts:
// fewer cannot tell a change from noise.
const minBaselineTraces = 10

// comparePlan says what an analysis compares: the incident's windows with
// the baseline's. baseTraces, when set, decides which traces are the
// baseline (a bundle's baseline files, whatever their timestamps); else a
// trace belongs to the baseline when its first span starts in a baseline
// window.
type comparePlan struct {
	incident, baseline []hypothesis.Window
	baseTraces         map[evidence.TraceID]bool
	// source says where the baseline comes from, for reports.
	source string
	// explicit: the user (or a bundle) asked for this baseline, so too
	// few baseline traces is an error rather than "no baseline".
	explicit bool
}

const (
	baselineFromBundle = "the bundle's baseline files"
	// baselineFromOtherBundle is followed by that bundle's name.
	baselineFromOtherBundle = "the baseline bundle"
	baselineFromFlags       = "--baseline-since/--baseline-until"
	baselineBefore          = "the window of equal length before the incident"
	baselineNone            = "none"
)

// resolvePlan turns the window flags into a plan. The incident is
// --since..--until (default: all stored spans, or all kernel events and
// lock edges in a store without spans, or from --baseline-until on); the baseline is --baseline-since..--baseline-until (since defaults
// to the start of the stored data), else the window of equal length before
// an explicit --since, else none.
func resolvePlan(st evidence.Stats, since, until, bsince, buntil string) (comparePlan, error) {
	lo, hi := st.MinStartNS, st.MaxEndNS
	if st.Spans == 0 { // kernel events and lock edges only: their time range
		lo, hi = st.EvidenceMinNS, st.EvidenceMaxNS
	}
	end := hi + 1
	var p comparePlan
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
		if *tf.dst, err = parseWindowTime(tf.val, end); err != nil {
			return p, usagef("--%s: %v", tf.name, err)
		}
	}
	switch {
	case buntil != "":
		if since == "" {
			inc.SinceNS = base.UntilNS
		}
		p.baseline, p.source, p.explicit = []hypothesis.Window{base}, baselineFromFlags, true
	case bsince != "":
		if since == "" {
			return p, usagef("--baseline-since needs --baseline-until or --since (where the baseline ends)")
		}
		base.UntilNS = inc.SinceNS
		p.baseline, p.source, p.explicit = []hypothesis.Window{base}, baselineFromFlags, true
	case since != "":
		n := inc.UntilNS - inc.SinceNS
		p.baseline, p.source = []hypothesis.Window{{SinceNS: inc.SinceNS - n, UntilNS: inc.SinceNS}}, baselineBefore
	default:
		p.source = baselineNone
	}
	if inc.UntilNS <= inc.SinceNS {
		return p, usagef("empty window: --since %s is not before --until %s", fmtNS(inc.SinceNS), fmtNS(inc.UntilNS))
	}
	for _, b := range p.baseline {
		if b.UntilNS <= b.SinceNS {
			return p, usagef("empty baseline: it starts at %s and ends at %s", fmtNS(b.SinceNS), fmtNS(b.UntilNS))
		}
	}
	p.incident = []hypothesis.Window{inc}
	return p, nil
}

// describe says what was compared, for reports and errors.
func (p comparePlan) describe(baseTraces, baseSpans, incSpans int) string {
	if len(p.baseline) == 0 || baseTraces == 0 {
		return fmt.Sprintf("no baseline (%s): %d incident spans, judged on their own", p.source, incSpans)
	}
	return fmt.Sprintf("incident %s (%d spans) against the baseline %s (%d traces, %d spans; %s)",
		windowsString(p.incident), incSpans, windowsString(p.baseline), baseTraces, baseSpans, p.source)
}

// describe says what the detection compared, for detect's "compared"
// line and reports.
func (in *detectInput) describe() string {
	if in.kernelOnly {
		return fmt.Sprintf("kernel-only window %s: no spans; %d kernel events and %d lock edges, judged on their own (the detectors that read spans had nothing to read)",
			windowsString(in.plan.incident), len(in.kernel), len(in.edges))
	}
	return in.plan.describe(len(in.baseTraces), in.baseSpans, len(in.spans)-in.baseSpans)
}

func windowsString(ws []hypothesis.Window) string {
	s := ""
	for i, w := range ws {
		if i > 0 {
			s += ", "
		}
		s += fmtNS(w.SinceNS) + " .. " + fmtNS(w.UntilNS)
	}
	return s
}

// loadComparison reads the spans, kernel events and lock edges of every
// window of the plan into in, marks the baseline traces and checks that
// the comparison has enough of both.
func loadComparison(ctx context.Context, r evidence.Reader, st evidence.Stats, p comparePlan, maxItems int, store string) (*detectInput, error) {
	in := &detectInput{plan: p}
	windows := slices.Concat(p.incident, p.baseline)
	var err error
	in.spans, err = loadWindows(ctx, windows, maxItems, "spans", (*evidence.Span).ID, func(w hypothesis.Window, limit, offset int) ([]evidence.Span, error) {
		return r.Spans(ctx, evidence.SpanFilter{SinceNS: w.SinceNS, UntilNS: w.UntilNS, WithEvents: true, Limit: limit, Offset: offset})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(in.spans, func(a, b evidence.Span) int { return cmp.Compare(a.StartNS, b.StartNS) })
	in.baseTraces = p.baseTraces
	if in.baseTraces == nil && len(p.baseline) > 0 {
		in.baseTraces = baselineByWindow(in.spans, p)
	}
	var incSpans int
	in.sinceNS, in.untilNS = 0, 0
	for i := range in.spans {
		sp := &in.spans[i]
		if in.baseTraces[sp.TraceID] {
			in.baseSpans++
			continue
		}
		incSpans++
		if in.sinceNS == 0 || sp.StartNS < in.sinceNS {
			in.sinceNS = sp.StartNS
		}
		in.untilNS = max(in.untilNS, sp.EndNS+1)
	}
	if st.KernelEvents > 0 {
		in.kernel, err = loadWindows(ctx, windows, maxItems, "kernel events", (*evidence.KernelEvent).ID, func(w hypothesis.Window, limit, offset int) ([]evidence.KernelEvent, error) {
			return r.KernelEvents(ctx, evidence.KernelEventFilter{SinceNS: w.SinceNS, UntilNS: w.UntilNS, Limit: limit, Offset: offset})
		})
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(in.kernel, func(a, b evidence.KernelEvent) int { return cmp.Compare(a.TimeNS, b.TimeNS) })
	}
	if lr, ok := r.(evidence.LockEdgeReader); ok && st.LockEdges > 0 {
		in.edges, err = loadWindows(ctx, windows, maxItems, "lock edges", (*evidence.LockEdge).ID, func(w hypothesis.Window, limit, offset int) ([]evidence.LockEdge, error) {
			return lr.LockEdges(ctx, evidence.LockEdgeFilter{SinceNS: w.SinceNS, UntilNS: w.UntilNS, Limit: limit, Offset: offset})
		})
		if err != nil {
			return nil, err
		}
	}
	if incSpans == 0 {
		if len(in.kernel) == 0 && len(in.edges) == 0 {
			return nil, fmt.Errorf("no spans, kernel events or lock edges in the incident window %s of store %s (it holds %d spans, %d kernel events, %d lock edges)",
				windowsString(p.incident), store, st.Spans, st.KernelEvents, st.LockEdges)
		}
		// Kernel-only evidence is evidence: the kernel and lock-order
		// detectors run on it alone, judged on its own.
		in.kernelOnly = true
		in.baseTraces, in.baseSpans, in.spans = nil, 0, nil
		in.plan.baseline, in.plan.source = nil, baselineNone
		inIncident := func(t int64) bool {
			return slices.ContainsFunc(p.incident, func(w hypothesis.Window) bool { return w.Contains(t) })
		}
		in.kernel = slices.DeleteFunc(in.kernel, func(k evidence.KernelEvent) bool { return !inIncident(k.TimeNS) })
		in.edges = slices.DeleteFunc(in.edges, func(e evidence.LockEdge) bool { return !inIncident(e.LastNS) })
		in.sinceNS, in.untilNS = kernelOnlyBounds(in.kernel, in.edges)
		return in, nil
	}
	if n := len(in.baseTraces); len(p.baseline) > 0 && n < minBaselineTraces {
		if p.explicit {
			return nil, fmt.Errorf("the baseline (%s, %s) holds %d traces: at least %d are needed to tell a change from noise; widen it",
				p.source, windowsString(p.baseline), n, minBaselineTraces)
		}
		in.baseTraces, in.baseSpans = nil, 0 // too little before the incident: judge it on its own
		in.plan.source = baselineNone + " (" + fmt.Sprintf("%d traces in %s", n, baselineBefore) + ")"
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
func baselineByWindow(spans []evidence.Span, p comparePlan) map[evidence.TraceID]bool {
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
		if in(p.baseline, t) && !in(p.incident, t) {
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
