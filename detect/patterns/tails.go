package patterns

import (
	"fmt"
	"slices"

	"github.com/debugai/debugai/detect/attribution"
	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

// table is the 2×2 table of one endpoint: spans with / without the
// evidence, slow / fast.
type table struct {
	slowWith, fastWith, slowWithout, fastWithout int
}

func (t *table) add(label int8, with bool) {
	switch {
	case label == labelSlow && with:
		t.slowWith++
	case label == labelSlow:
		t.slowWithout++
	case with:
		t.fastWith++
	default:
		t.fastWithout++
	}
}

// fisher is the one-sided p-value that slow spans carry the evidence more
// often than fast ones.
func (t *table) fisher() float64 {
	p, err := attribution.FisherGreater(t.slowWith, t.fastWith, t.slowWithout, t.fastWithout)
	if err != nil { // counts are never negative
		return 1
	}
	return p
}

// rates returns the Laplace-smoothed rates (k+1)/(n+2) of the evidence
// among slow and fast spans.
func (t *table) rates() (slow, fast float64) {
	slow = float64(t.slowWith+1) / float64(t.slowWith+t.slowWithout+2)
	fast = float64(t.fastWith+1) / float64(t.fastWith+t.fastWithout+2)
	return slow, fast
}

// bh adjusts p-values with Benjamini–Hochberg at Config.Alpha; it returns
// the adjusted values and the reject flags (nil, nil for no tests).
func (x *index) bh(p []float64) ([]float64, []bool) {
	if len(p) == 0 {
		return nil, nil
	}
	r, err := stattest.BenjaminiHochberg(p, x.cfg.Alpha)
	if err != nil { // p-values always lie in [0, 1]
		return p, make([]bool, len(p))
	}
	return r.Adjusted, r.Reject
}

// spanLists holds event lists per span: span i's are ev[off[i]:off[i+1]].
type spanLists struct{ off, ev []int32 }

func (l *spanLists) of(s int32) []int32 { return l.ev[l.off[s]:l.off[s+1]] }

// typedSpanEvents returns, per labelled span, its events of type typ: those
// the join assigned to it (stamped or on its thread) and, when byProcess,
// the unstamped events of its process inside its interval.
func (x *index) typedSpanEvents(typ evidence.KernelEventType, byProcess bool) (*spanLists, error) {
	if err := x.join(); err != nil {
		return nil, err
	}
	var pairs [][2]int32 // span, event
	for i, s := range x.evSpan {
		if s >= 0 && x.events[i].Type == typ && x.label[s] != labelNone {
			pairs = append(pairs, [2]int32{s, int32(i)})
		}
	}
	if byProcess {
		proc := x.procEvents(typ, true)
		for i := range x.spans {
			s := &x.spans[i]
			k, ok := x.spanProc(s)
			if !ok || x.label[i] == labelNone || len(proc[k]) == 0 {
				continue
			}
			for _, e := range within(proc[k], s.StartNS, max(s.EndNS, s.StartNS)) {
				if x.evSpan[e.ev] < 0 { // events the join placed belong to their thread's span
					pairs = append(pairs, [2]int32{int32(i), e.ev})
				}
			}
		}
	}
	l := &spanLists{off: make([]int32, len(x.spans)+1), ev: make([]int32, len(pairs))}
	for _, p := range pairs {
		l.off[p[0]+1]++
	}
	for i := 1; i < len(l.off); i++ {
		l.off[i] += l.off[i-1]
	}
	next := slices.Clone(l.off[:len(x.spans)])
	for _, p := range pairs {
		l.ev[next[p[0]]] = p[1]
		next[p[0]]++
	}
	return l, nil
}

func (x *index) hasType(typ evidence.KernelEventType) bool {
	return slices.ContainsFunc(x.events, func(ev evidence.KernelEvent) bool { return ev.Type == typ })
}

// retransmitTail implements retransmit_tail (see the package doc).
func (x *index) retransmitTail() ([]evidence.Finding, error) {
	if !x.hasType(evidence.KernelTCPRetransmit) {
		return nil, nil
	}
	retx, err := x.typedSpanEvents(evidence.KernelTCPRetransmit, true)
	if err != nil {
		return nil, err
	}
	c := &x.cfg.Retransmit
	var eps []int
	var tabs []table
	var ps []float64
	for e := range x.epName {
		if x.slowNS[e] < 0 {
			continue
		}
		var t table
		for _, s := range x.epSpans[x.epOff[e]:x.epOff[e+1]] {
			t.add(x.label[s], len(retx.of(s)) > 0)
		}
		if t.slowWith < c.MinSlowWithRetransmit {
			continue
		}
		eps, tabs, ps = append(eps, e), append(tabs, t), append(ps, t.fisher())
	}
	adj, reject := x.bh(ps)
	var out []evidence.Finding
	for j, e := range eps {
		t := &tabs[j]
		rs, rf := t.rates()
		if !reject[j] || rs < c.MinRateRatio*rf {
			continue
		}
		out = append(out, x.retransmitFinding(e, t, ps[j], adj[j], retx))
	}
	return out, nil
}

func (x *index) retransmitFinding(e int, t *table, p, padj float64, retx *spanLists) evidence.Finding {
	slow := x.slowWith(e, retx)
	var refs refSet
	var count int64
	for _, s := range slow {
		for _, ev := range retx.of(s) {
			count += max(x.events[ev].Value, 1)
		}
	}
	for _, s := range slow[:min(len(slow), x.cfg.MaxRefs)] {
		refs.span(&x.spans[s])
		for _, ev := range retx.of(s)[:min(len(retx.of(s)), 2)] {
			refs.event(&x.events[ev])
		}
	}
	slowRate := float64(t.slowWith) / float64(t.slowWith+t.slowWithout)
	fastRate := float64(t.fastWith) / float64(max(t.fastWith+t.fastWithout, 1))
	rs, rf := t.rates()
	subject := x.epName[e]
	summary := fmt.Sprintf("%d of %d slow %s spans (above p%g = %v) overlap TCP retransmits, against %d of %d fast spans (Fisher p = %.2g)",
		t.slowWith, t.slowWith+t.slowWithout, subject, 100*x.cfg.SlowQuantile, roundDur(x.slowNS[e]),
		t.fastWith, t.fastWith+t.fastWithout, p)
	attrs := map[string]float64{
		"slow_with": float64(t.slowWith), "slow_without": float64(t.slowWithout),
		"fast_with": float64(t.fastWith), "fast_without": float64(t.fastWithout),
		"slow_rate": slowRate, "fast_rate": fastRate, "rate_ratio": rs / rf,
		"p_value": p, "p_adjusted": padj, "slow_threshold_ns": float64(x.slowNS[e]),
		"retransmits_in_slow": float64(count),
	}
	return newFinding(KindRetransmitTail, subject, summary, rs/rf, slowRate*(1-padj), refs.refs, attrs)
}

// slowWith returns the endpoint's slow spans that have events in m,
// longest first.
func (x *index) slowWith(e int, m *spanLists) []int32 {
	var out []int32
	for _, s := range x.epSpans[x.epOff[e]:x.epOff[e+1]] {
		if x.label[s] == labelSlow && len(m.of(s)) > 0 {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b int32) int {
		return int(min(max(x.spans[b].DurationNS()-x.spans[a].DurationNS(), -1), 1))
	})
	return out
}
