package critpath

import (
	"bytes"
	"cmp"
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// Exemplar is one span on a critical path, cited by evidence ID.
type Exemplar struct {
	ID      string // span:<trace>/<span>
	TraceID evidence.TraceID
	SpanID  evidence.SpanID
	// SelfNS is the span's own time on its trace's critical path.
	SelfNS int64
}

// OpShare is the critical-path share of one (service, operation name).
type OpShare struct {
	Service string
	Name    string
	// Share is SelfNS over Report.TotalNS.
	Share float64
	// SelfNS is the operation's critical-path time summed over all traces.
	SelfNS int64
	// Traces counts traces whose critical path includes the operation;
	// Spans the spans of the operation on those paths.
	Traces int
	Spans  int
	// P50NS and P95NS are nearest-rank percentiles of the operation's
	// critical-path time per trace, over the traces that include it.
	P50NS, P95NS int64
	// Exemplars are the operation's spans with the most critical-path self
	// time, largest first, at most Config.Exemplars.
	Exemplars []Exemplar
}

// Subject is "service/name", the subject of the operation's findings.
func (o *OpShare) Subject() string { return o.Service + "/" + o.Name }

// Report is the aggregate over every trace added to an Aggregator.
type Report struct {
	// Traces counts traces with a critical path; SkippedTraces those
	// without a root (ErrNoRoot), which AddSpans leaves out.
	Traces        int
	SkippedTraces int
	// DuplicateSpans counts spans ignored for repeating a span id.
	DuplicateSpans int
	// DetachedRoots counts parentless spans other than each trace's root:
	// their subtrees are on no critical path.
	DetachedRoots int
	// TotalNS is the summed root duration: all critical-path time.
	TotalNS int64
	// Ops holds every operation seen on a critical path, largest share
	// first (ties: service, then name).
	Ops []OpShare
}

// Aggregator accumulates critical paths over traces. Not safe for
// concurrent use.
type Aggregator struct {
	cfg Config
	tr  Tracer

	ops map[opKey]int32
	acc []opAcc
	rep Report // counters; Ops is built by Report

	selfBy    []int64 // per unique span of the current trace
	touched   []int32
	opTrace   []int64 // per op, for the current trace
	opTouched []int32
	ids       []int32
	grouper   grouper
}

type opKey struct{ service, name string }

type opAcc struct {
	key      opKey
	selfNS   int64
	spans    int
	perTrace []int64
	ex       []Exemplar // ID empty until Report
}

type traceKey struct {
	key uint64 // traceHash
	pos int32
}

// NewAggregator returns an empty Aggregator.
func NewAggregator(cfg Config) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Aggregator{cfg: cfg, ops: make(map[opKey]int32)}, nil
}

// AddTrace adds the critical path of one trace (spans sharing a trace id).
// On error nothing is added.
func (a *Aggregator) AddTrace(spans []evidence.Span) error {
	a.ids = a.ids[:0]
	for i := range spans {
		a.ids = append(a.ids, int32(i))
	}
	return a.add(spans, a.ids, true)
}

// AddSpans adds the critical paths of every trace in spans, in any order
// (a store returns spans by start time, traces interleaved); within a trace
// the first of spans repeating a span id wins. Traces without a root are
// counted in Report.SkippedTraces.
func (a *Aggregator) AddSpans(spans []evidence.Span) {
	g := a.grouper.group(spans)
	for lo := 0; lo < len(g); {
		hi := lo + 1
		for hi < len(g) && g[hi].key == g[lo].key {
			hi++
		}
		a.ids = a.ids[:0]
		for _, e := range g[lo:hi] {
			a.ids = append(a.ids, e.pos)
		}
		switch err := a.add(spans, a.ids, true); {
		case errors.Is(err, ErrMixedTraces): // two trace ids with one hash
			a.addMixed(spans, a.ids)
		case errors.Is(err, ErrNoRoot):
			a.rep.SkippedTraces++
		}
		lo = hi
	}
}

// addMixed splits positions holding several trace ids (in input order)
// into one trace each.
func (a *Aggregator) addMixed(spans []evidence.Span, ids []int32) {
	sorted := slices.Clone(ids)
	slices.SortStableFunc(sorted, func(x, y int32) int {
		return bytes.Compare(spans[x].TraceID[:], spans[y].TraceID[:])
	})
	for lo := 0; lo < len(sorted); {
		hi := lo + 1
		for hi < len(sorted) && spans[sorted[hi]].TraceID == spans[sorted[lo]].TraceID {
			hi++
		}
		if err := a.add(spans, sorted[lo:hi], false); errors.Is(err, ErrNoRoot) {
			a.rep.SkippedTraces++
		}
		lo = hi
	}
}

func (a *Aggregator) add(spans []evidence.Span, idx []int32, check bool) error {
	t := &a.tr
	info, err := t.compute(spans, idx, check)
	if err != nil {
		return err
	}
	a.rep.Traces++
	a.rep.TotalNS += t.end[info.root] - t.start[info.root]
	a.rep.DuplicateSpans += info.duplicates
	a.rep.DetachedRoots += info.roots - 1

	if n := len(t.uidx); len(a.selfBy) < n {
		a.selfBy = make([]int64, n)
	}
	a.touched = a.touched[:0]
	for _, s := range t.segs {
		if a.selfBy[s.node] == 0 {
			a.touched = append(a.touched, s.node)
		}
		a.selfBy[s.node] += s.end - s.start
	}
	a.opTouched = a.opTouched[:0]
	for _, u := range a.touched {
		self := a.selfBy[u]
		a.selfBy[u] = 0
		sp := &spans[t.uidx[u]]
		op := a.opID(sp.Service, sp.Name)
		acc := &a.acc[op]
		acc.selfNS += self
		acc.spans++
		if a.opTrace[op] == 0 {
			a.opTouched = append(a.opTouched, op)
		}
		a.opTrace[op] += self
		acc.offer(a.cfg.Exemplars, Exemplar{TraceID: sp.TraceID, SpanID: sp.SpanID, SelfNS: self})
	}
	for _, op := range a.opTouched {
		a.acc[op].perTrace = append(a.acc[op].perTrace, a.opTrace[op])
		a.opTrace[op] = 0
	}
	return nil
}

func (a *Aggregator) opID(service, name string) int32 {
	k := opKey{service, name}
	if id, ok := a.ops[k]; ok {
		return id
	}
	id := int32(len(a.acc))
	a.ops[k] = id
	a.acc = append(a.acc, opAcc{key: k})
	a.opTrace = append(a.opTrace, 0)
	return id
}

// offer keeps the k exemplars with the most self time (ties: lower trace
// id, then lower span id), sorted best first.
func (o *opAcc) offer(k int, e Exemplar) {
	if len(o.ex) == k && !betterExemplar(e, o.ex[k-1]) {
		return
	}
	if len(o.ex) < k {
		o.ex = append(o.ex, e)
	} else {
		o.ex[k-1] = e
	}
	for i := len(o.ex) - 1; i > 0 && betterExemplar(o.ex[i], o.ex[i-1]); i-- {
		o.ex[i], o.ex[i-1] = o.ex[i-1], o.ex[i]
	}
}

func betterExemplar(a, b Exemplar) bool {
	if a.SelfNS != b.SelfNS {
		return a.SelfNS > b.SelfNS
	}
	if c := strings.Compare(string(a.TraceID[:]), string(b.TraceID[:])); c != 0 {
		return c < 0
	}
	return string(a.SpanID[:]) < string(b.SpanID[:])
}

// Report returns the aggregate so far. The Aggregator stays usable.
func (a *Aggregator) Report() Report {
	r := a.rep
	r.Ops = make([]OpShare, 0, len(a.acc))
	var vals []int64
	for i := range a.acc {
		acc := &a.acc[i]
		o := OpShare{
			Service: acc.key.service, Name: acc.key.name,
			SelfNS: acc.selfNS, Traces: len(acc.perTrace), Spans: acc.spans,
			Exemplars: make([]Exemplar, len(acc.ex)),
		}
		if r.TotalNS > 0 {
			o.Share = float64(acc.selfNS) / float64(r.TotalNS)
		}
		vals = append(vals[:0], acc.perTrace...)
		slices.Sort(vals)
		o.P50NS, o.P95NS = nearestRank(vals, 0.50), nearestRank(vals, 0.95)
		for j, e := range acc.ex {
			e.ID = evidence.SpanEvidenceID(e.TraceID, e.SpanID)
			o.Exemplars[j] = e
		}
		r.Ops = append(r.Ops, o)
	}
	slices.SortFunc(r.Ops, func(x, y OpShare) int {
		if c := cmp.Compare(y.SelfNS, x.SelfNS); c != 0 {
			return c
		}
		if c := strings.Compare(x.Service, y.Service); c != 0 {
			return c
		}
		return strings.Compare(x.Name, y.Name)
	})
	return r
}

// nearestRank returns the p-quantile of sorted values by the nearest-rank
// method: the smallest value with at least p of the values at or below it.
func nearestRank(sorted []int64, p float64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	r := int(math.Ceil(p*float64(n) - 1e-9)) // 1e-9: 0.95*20 must be rank 19
	return sorted[min(max(r, 1), n)-1]
}
