package patterns

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/evidence"
)

// Input is what the detectors read. Every field may be empty; a detector
// without its input reports nothing.
type Input struct {
	// Spans are the spans to explain (an incident window).
	Spans []evidence.Span
	// Events are the kernel events of the same window.
	Events []evidence.KernelEvent
	// Edges are the lock-order edges; lock_convoy cites the edges that name
	// its lock.
	Edges []evidence.LockEdge
	// Baseline holds fault-free spans, used by network_gap,
	// service_network_delay and service_stall to compare gaps against; nil
	// (and no IsBaseline) compares against Config.Gap.MinGapNS instead,
	// and finds no service hotspot.
	Baseline []evidence.Span
	// IsBaseline, when Baseline is nil, marks the spans of Spans that are
	// the gap detectors' baseline (chosen by source, not by time). The
	// other detectors look at every span, so that kernel detectors keep the
	// quiet baseline as context.
	IsBaseline func(*evidence.Span) bool
}

// Stats counts what Analyze looked at.
type Stats struct {
	Spans, Events, Edges, BaselineSpans int
	// SlowSpans and FastSpans count the labelled spans (endpoints with at
	// least Config.MinEndpointSpans spans).
	SlowSpans, FastSpans int
	// Join is the join's statistics (zero when no detector needed it).
	Join correlate.Stats
	// Findings counts findings per kind.
	Findings map[string]int
}

// Analyze runs the detectors that Config.Kinds selects and returns their
// findings ordered by kind (AllKinds order), then Score (highest first),
// then Subject.
func Analyze(in Input, cfg Config) ([]evidence.Finding, Stats, error) {
	if err := cfg.Validate(); err != nil {
		return nil, Stats{}, err
	}
	x := newIndex(&in, &cfg)
	st := Stats{Spans: len(in.Spans), Events: len(in.Events), Edges: len(in.Edges),
		BaselineSpans: len(in.Baseline), Findings: map[string]int{}}
	if in.Baseline == nil && in.IsBaseline != nil {
		for i := range in.Spans {
			if in.IsBaseline(&in.Spans[i]) {
				st.BaselineSpans++
			}
		}
	}
	for _, l := range x.label {
		switch l {
		case labelSlow:
			st.SlowSpans++
		case labelFast:
			st.FastSpans++
		}
	}
	detectors := []struct {
		kind string
		run  func() ([]evidence.Finding, error)
	}{
		{KindLockConvoy, x.lockConvoys},
		{KindStarvation, x.starvation},
		{KindRetransmitTail, x.retransmitTail},
		{KindIOLatency, x.ioLatency},
		{KindPageFaultStorm, x.faultStorms},
		{KindNetworkGap, func() ([]evidence.Finding, error) { return x.networkGaps(x.gapEdges(&in)) }},
		{KindServiceNetworkDelay, func() ([]evidence.Finding, error) { return x.gapHotspot(x.gapEdges(&in)) }},
		{KindNPlusOne, x.nPlusOne},
		{KindPoolSaturation, x.poolSaturation},
	}
	var out []evidence.Finding
	for _, d := range detectors {
		if !cfg.enabled(d.kind) && (d.kind != KindServiceNetworkDelay || !cfg.enabled(KindServiceStall)) {
			continue
		}
		fs, err := d.run()
		if err != nil {
			return nil, st, err
		}
		fs = slices.DeleteFunc(fs, func(f evidence.Finding) bool { return !cfg.enabled(f.Kind) })
		sortFindings(fs)
		for _, k := range []string{d.kind, KindServiceStall} {
			if cfg.enabled(k) && (k == d.kind || d.kind == KindServiceNetworkDelay) {
				st.Findings[k] += 0 // ran, even with nothing found
			}
		}
		for _, f := range fs {
			st.Findings[f.Kind]++
		}
		out = append(out, fs...)
	}
	st.Join = x.stats
	return out, st, nil
}

func sortFindings(fs []evidence.Finding) {
	slices.SortStableFunc(fs, func(a, b evidence.Finding) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), strings.Compare(a.Subject, b.Subject),
			strings.Compare(a.ID, b.ID))
	})
}

// refSet collects refs in citation order without repeats.
type refSet struct {
	refs []evidence.Ref
	seen map[string]bool
}

func (r *refSet) add(id string, line evidence.Line) {
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if id == "" || r.seen[id] {
		return
	}
	r.seen[id] = true
	r.refs = append(r.refs, evidence.Ref{ID: id, Line: line})
}

func (r *refSet) span(s *evidence.Span) { r.add(s.ID(), evidence.LineTrace) }

func (r *refSet) event(ev *evidence.KernelEvent) { r.add(ev.ID(), ev.Type.Line()) }

// newFinding assembles a finding with its deterministic ID.
func newFinding(kind, subject, summary string, score, conf float64, refs []evidence.Ref, attrs map[string]float64) evidence.Finding {
	return evidence.Finding{
		ID:         evidence.NewFindingID(kind, subject, refs),
		Kind:       kind,
		Subject:    subject,
		Summary:    summary,
		Score:      score,
		Confidence: min(1, max(0, conf)),
		Refs:       refs,
		Attrs:      attrs,
	}
}

// sat is x/(x+half): 0 at 0, 0.5 at half, towards 1 as x grows.
func sat(x, half float64) float64 {
	if x <= 0 {
		return 0
	}
	return x / (x + half)
}

// roundDur rounds to a readable precision (1.052s, 12.3ms).
func roundDur(ns int64) time.Duration {
	d := time.Duration(ns)
	switch {
	case d >= time.Second || d <= -time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond || d <= -time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// median of int64 values (sorts a copy).
func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return quantileInt(s, 0.5)
}

// topK returns the indices of the k largest keys, largest first, ties by
// lower index.
func topK(n int, k int, key func(i int) int64) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(key(b), key(a)) })
	return idx[:min(k, n)]
}
