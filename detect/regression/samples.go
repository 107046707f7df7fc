package regression

import (
	"cmp"
	"math"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// Sample is one endpoint span.
type Sample struct {
	Index   int // position in Input.Spans
	StartNS int64
	DurNS   int64
	Version string
}

// Endpoint holds the samples of one endpoint, ordered by start (then
// input position).
type Endpoint struct {
	Name    string // "<service> <span name>"
	Samples []Sample
}

type spanKey struct {
	t evidence.TraceID
	s evidence.SpanID
}

// endpoints groups the SERVER and root spans by endpoint, in name order.
func endpoints(spans []evidence.Span) []Endpoint {
	present := make(map[spanKey]struct{}, len(spans))
	for i := range spans {
		present[spanKey{spans[i].TraceID, spans[i].SpanID}] = struct{}{}
	}
	seen := make(map[spanKey]struct{})
	byName := map[string]*Endpoint{}
	for i := range spans {
		sp := &spans[i]
		k := spanKey{sp.TraceID, sp.SpanID}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		_, hasParent := present[spanKey{sp.TraceID, sp.ParentSpanID}]
		root := sp.ParentSpanID.IsZero() || !hasParent || sp.ParentSpanID == sp.SpanID
		if sp.Kind != evidence.KindServer && !root {
			continue
		}
		name := endpointName(sp)
		ep := byName[name]
		if ep == nil {
			ep = &Endpoint{Name: name}
			byName[name] = ep
		}
		ep.Samples = append(ep.Samples, Sample{Index: i, StartNS: sp.StartNS, DurNS: max(0, sp.DurationNS()), Version: sp.Version})
	}
	out := make([]Endpoint, 0, len(byName))
	for _, ep := range byName {
		slices.SortFunc(ep.Samples, func(a, b Sample) int {
			return cmp.Or(cmp.Compare(a.StartNS, b.StartNS), cmp.Compare(a.Index, b.Index))
		})
		out = append(out, *ep)
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func endpointName(sp *evidence.Span) string { return sp.Service + " " + sp.Name }

// quantile is the nearest-rank p-quantile of sorted values (p in (0, 1]).
func quantile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	r := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(r, 0), len(sorted)-1)]
}

// median of unsorted values (sorted copy, nearest rank 0.5).
func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return quantile(s, 0.5)
}

// relChange is (b-a)/(a+floor): the relative change of a level, finite
// when a is 0.
func relChange(a, b, floor float64) float64 { return (b - a) / (math.Abs(a) + floor) }

// logRatio is |log2((b+floor)/(a+floor))|, the score of a level change:
// symmetric in rises and falls and finite from nothing.
func logRatio(a, b, floor float64) float64 {
	return math.Abs(math.Log2((math.Max(b, 0) + floor) / (math.Max(a, 0) + floor)))
}

// slowest returns up to n span evidence IDs of the samples with the
// longest durations (ties: earlier input position).
func slowest(spans []evidence.Span, samples []Sample, n int) []evidence.Ref {
	s := slices.Clone(samples)
	slices.SortFunc(s, func(a, b Sample) int { return cmp.Or(cmp.Compare(b.DurNS, a.DurNS), cmp.Compare(a.Index, b.Index)) })
	refs := make([]evidence.Ref, 0, min(n, len(s)))
	for _, x := range s[:min(n, len(s))] {
		refs = append(refs, evidence.Ref{ID: spans[x.Index].ID(), Line: evidence.LineTrace})
	}
	return refs
}

// durations returns the samples' durations as float64 ns.
func durations(samples []Sample) []float64 {
	out := make([]float64, len(samples))
	for i, s := range samples {
		out[i] = float64(s.DurNS)
	}
	return out
}
