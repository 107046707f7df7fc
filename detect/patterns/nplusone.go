package patterns

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// nAgg accumulates one (parent endpoint, child endpoint) pair.
type nAgg struct {
	parentEp, childOp int32
	eligible          int     // parents with at least MinCalls calls
	parents           []int32 // of those, the sequential ones
	calls             []int   // per sequential parent
	callNS, parentNS  int64
	seqSum            float64
	callDur           []int64
}

// nPlusOne implements n_plus_one (see the package doc).
func (x *index) nPlusOne() ([]evidence.Finding, error) {
	c := &x.cfg.NPlusOne
	ch := x.childrenOf()
	ops, _ := x.callOps()
	aggs := map[[2]int32]*nAgg{}
	var scratch []int32
	for p, kids := range ch {
		if len(kids) < c.MinCalls {
			continue
		}
		scratch = append(scratch[:0], kids...)
		slices.SortStableFunc(scratch, func(a, b int32) int { return cmp.Compare(ops[a], ops[b]) })
		for i := 0; i < len(scratch); {
			j := i + 1
			for j < len(scratch) && ops[scratch[j]] == ops[scratch[i]] {
				j++
			}
			if j-i >= c.MinCalls {
				x.addCalls(aggs, int32(p), scratch[i:j])
			}
			i = j
		}
	}
	keys := make([][2]int32, 0, len(aggs))
	for k := range aggs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]int32) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	var out []evidence.Finding
	for _, k := range keys {
		a := aggs[k]
		if len(a.parents) < c.MinParents {
			continue
		}
		share := float64(a.callNS) / float64(max(a.parentNS, 1))
		if share < c.MinShare {
			continue
		}
		out = append(out, x.nFinding(a, share))
	}
	return out, nil
}

// addCalls records the calls (one endpoint, sorted by start) of parent p.
func (x *index) addCalls(aggs map[[2]int32]*nAgg, p int32, calls []int32) {
	ops, _ := x.callOps()
	k := [2]int32{x.ep[p], ops[calls[0]]}
	a := aggs[k]
	if a == nil {
		a = &nAgg{parentEp: k[0], childOp: k[1]}
		aggs[k] = a
	}
	a.eligible++
	seq, end := 0, x.spans[calls[0]].EndNS
	var ns int64
	for i, s := range calls {
		sp := &x.spans[s]
		ns += max(sp.DurationNS(), 0)
		if i > 0 {
			if sp.StartNS >= end {
				seq++
			}
			end = max(end, sp.EndNS)
		}
	}
	share := float64(seq) / float64(len(calls)-1)
	if share < x.cfg.NPlusOne.MinSequential {
		return
	}
	a.parents = append(a.parents, p)
	a.calls = append(a.calls, len(calls))
	a.callNS += ns
	a.parentNS += max(x.spans[p].DurationNS(), 0)
	a.seqSum += share
	for _, s := range calls {
		a.callDur = append(a.callDur, x.spans[s].DurationNS())
	}
}

func (x *index) nFinding(a *nAgg, share float64) evidence.Finding {
	var refs refSet
	top := topK(len(a.parents), x.cfg.MaxRefs, func(i int) int64 { return int64(a.calls[i]) })
	for _, i := range top {
		refs.span(&x.spans[a.parents[i]])
	}
	calls := 0
	for _, n := range a.calls {
		calls += n
	}
	first := a.parents[top[0]]
	ops, names := x.callOps()
	n := 0
	for _, s := range x.childrenOf()[first] {
		if ops[s] == a.childOp && n < x.cfg.MaxRefs {
			refs.span(&x.spans[s])
			n++
		}
	}
	seq := a.seqSum / float64(len(a.parents))
	mean := float64(calls) / float64(len(a.parents))
	subject := x.epName[a.parentEp] + " -> " + names[a.childOp]
	summary := fmt.Sprintf("%d %s spans each make %.1f sequential %s calls on average (%d calls, p50 %v each), %.0f%% of the parents' time: an N+1 query loop that a batched call would collapse",
		len(a.parents), x.epName[a.parentEp], mean, names[a.childOp], calls, roundDur(median(a.callDur)), 100*share)
	attrs := map[string]float64{
		"parents": float64(len(a.parents)), "eligible_parents": float64(a.eligible), "calls": float64(calls),
		"mean_calls": mean, "share": share, "sequential_share": seq, "call_ns": float64(a.callNS),
		"call_p50_ns": float64(median(a.callDur)),
	}
	conf := float64(len(a.parents)) / float64(a.eligible) * seq
	return newFinding(KindNPlusOne, subject, summary, share, conf, refs.refs, attrs)
}
