package report

import (
	"context"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// LatencyChart compares an endpoint's latency before (the baseline window)
// and after (the incident window).
type LatencyChart struct {
	Service  string       `json:"service"`
	Endpoint string       `json:"endpoint"`
	Before   Distribution `json:"before"`
	After    Distribution `json:"after"`
}

// Distribution is a latency histogram over log-spaced bins (five per
// decade, shared by Before and After) with nearest-rank percentiles.
type Distribution struct {
	Label   string `json:"label"`
	SinceNS int64  `json:"since_ns"`
	UntilNS int64  `json:"until_ns"`
	Count   int    `json:"count"`
	P50NS   int64  `json:"p50_ns"`
	P95NS   int64  `json:"p95_ns"`
	P99NS   int64  `json:"p99_ns"`
	Bins    []Bin  `json:"bins,omitempty"`
}

// Bin counts durations in [LowNS, HighNS).
type Bin struct {
	LowNS  int64 `json:"low_ns"`
	HighNS int64 `json:"high_ns"`
	Count  int   `json:"count"`
}

// latencySubject is the (service, endpoint) the latency chart draws: the
// location's, else the first cited server or root span's.
func latencySubject(rs *resolver, rep *Report) (string, string) {
	loc := rep.Hypothesis.Location
	if loc.Service != "" && loc.Endpoint != "" {
		return loc.Service, loc.Endpoint
	}
	for _, id := range citedIDs(rep) {
		if it := rs.items[id]; it != nil && it.Span != nil &&
			(it.Span.Kind == evidence.KindServer || it.Span.ParentSpanID.IsZero()) {
			return it.Span.Service, it.Span.Name
		}
	}
	return "", ""
}

func latencyChart(ctx context.Context, rs *resolver, rep *Report, opts Options) (*LatencyChart, error) {
	svc, ep := latencySubject(rs, rep)
	since, until := opts.Scope.SinceNS, opts.Scope.UntilNS
	if svc == "" || ep == "" || since == 0 || until == 0 {
		return nil, nil
	}
	bSince, bUntil := opts.BaselineSinceNS, opts.BaselineUntilNS
	if bSince == 0 && bUntil == 0 {
		bSince, bUntil = since-(until-since), since
	}
	read := func(from, to int64) ([]int64, error) {
		spans, err := rs.r.Spans(ctx, evidence.SpanFilter{Service: svc, Name: ep, SinceNS: from, UntilNS: to, Limit: opts.MaxSamples})
		ds := make([]int64, 0, len(spans))
		for i := range spans {
			ds = append(ds, max(spans[i].DurationNS(), 0))
		}
		slices.Sort(ds)
		return ds, err
	}
	before, err := read(bSince, bUntil)
	if err != nil {
		return nil, err
	}
	after, err := read(since, until)
	if err != nil {
		return nil, err
	}
	if len(before) == 0 && len(after) == 0 {
		return nil, nil
	}
	edges := logEdges(append(slices.Clone(before), after...))
	return &LatencyChart{Service: svc, Endpoint: ep,
		Before: distribution("before", bSince, bUntil, before, edges),
		After:  distribution("after", since, until, after, edges)}, nil
}

// mantissas are 10^(k/5) for k in 0..4, times 100, rounded.
var mantissas = [5]int64{100, 158, 251, 398, 631}

// minEdgeNS is the lowest bin edge: shorter durations fall in the first bin.
const minEdgeNS = 1_000

// maxEdge is the largest k for which edge(k) fits in an int64.
const maxEdge = 79

// edge is the k-th bin edge: 10^(k/5) µs, rounded to three digits.
func edge(k int) int64 {
	p := int64(minEdgeNS / 100)
	for range k / 5 {
		p *= 10
	}
	return mantissas[k%5] * p
}

// logEdges returns bin edges, five per decade from 1 µs, covering the
// durations: edges[0] <= min (or 1 µs), edges[len-1] > max (durations
// beyond the last edge fall in the last bin).
func logEdges(ds []int64) []int64 {
	if len(ds) == 0 {
		return nil
	}
	lo, hi := slices.Min(ds), slices.Max(ds)
	k := 0
	for k+1 < maxEdge && edge(k+1) <= lo {
		k++
	}
	edges := []int64{edge(k)}
	for k < maxEdge && (len(edges) < 2 || edges[len(edges)-1] <= hi) {
		k++
		edges = append(edges, edge(k))
	}
	return edges
}

// distribution bins sorted durations ds over edges.
func distribution(label string, since, until int64, ds []int64, edges []int64) Distribution {
	d := Distribution{Label: label, SinceNS: since, UntilNS: until, Count: len(ds),
		P50NS: rank(ds, 50), P95NS: rank(ds, 95), P99NS: rank(ds, 99)}
	j := 0
	for i := 0; i+1 < len(edges); i++ {
		b := Bin{LowNS: edges[i], HighNS: edges[i+1]}
		for j < len(ds) && (ds[j] < b.HighNS || i+2 == len(edges)) {
			b.Count++
			j++
		}
		d.Bins = append(d.Bins, b)
	}
	return d
}

// rank is the nearest-rank p-th percentile of sorted ds (0 when empty).
func rank(ds []int64, p int) int64 {
	if len(ds) == 0 {
		return 0
	}
	i := (p*len(ds) + 99) / 100
	return ds[max(i-1, 0)]
}
