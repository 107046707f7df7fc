package regression

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// opComp names one component of one operation.
type opComp struct {
	op   Op
	comp int
}

func (k opComp) name() string { return k.op.String() + " " + ComponentNames[k.comp] }

// opCompTotals sums each (operation, component) over the paths, in name
// order.
func opCompTotals(paths []TracePath) ([]opComp, map[opComp]int64) {
	totals := map[opComp]int64{}
	for i := range paths {
		for _, ot := range paths[i].Ops {
			for c, ns := range ot.NS {
				if ns > 0 {
					totals[opComp{ot.Op, c}] += ns
				}
			}
		}
	}
	keys := make([]opComp, 0, len(totals))
	for k := range totals {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b opComp) int { return cmp.Compare(a.name(), b.name()) })
	return keys, totals
}

// perTrace returns the component's time in every path (0 where absent).
func perTrace(paths []TracePath, k opComp) []float64 {
	v := make([]float64, len(paths))
	for i := range paths {
		for _, ot := range paths[i].Ops {
			if ot.Op == k.op {
				v[i] = float64(ot.NS[k.comp])
				break
			}
		}
	}
	return v
}

// pathExemplars cites the component's evidence in the paths where it is
// largest: up to n paths, each with its refs (span, events, kernel events).
func pathExemplars(paths []TracePath, idx []int, k opComp, n int) []evidence.Ref {
	type hit struct {
		ns   int64
		path int
		refs []evidence.Ref
	}
	var hits []hit
	for _, i := range idx {
		for _, ot := range paths[i].Ops {
			if ot.Op == k.op && ot.NS[k.comp] > 0 {
				hits = append(hits, hit{ot.NS[k.comp], i, ot.Refs[k.comp]})
			}
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return cmp.Or(cmp.Compare(b.ns, a.ns), cmp.Compare(a.path, b.path)) })
	var refs []evidence.Ref
	for _, h := range hits[:min(n, len(hits))] {
		refs = appendRefs(refs, h.refs[:min(3, len(h.refs))]...)
	}
	return refs
}

// componentFindings reports each non-self (operation, component) holding
// at least cfg.ComponentShare of all critical-path time.
func componentFindings(paths []TracePath, totalNS int64, cfg Config) []evidence.Finding {
	if totalNS <= 0 {
		return nil
	}
	keys, totals := opCompTotals(paths)
	conc := concurrency(paths)
	all := make([]int, len(paths))
	for i := range all {
		all[i] = i
	}
	var out []evidence.Finding
	for _, k := range keys {
		share := float64(totals[k]) / float64(totalNS)
		if k.comp == CompSelf || share < cfg.ComponentShare {
			continue
		}
		var opNS int64
		for c := range NumComponents {
			opNS += totals[opComp{k.op, c}]
		}
		v := perTrace(paths, k)
		var on []float64
		for _, x := range v {
			if x > 0 {
				on = append(on, x)
			}
		}
		slices.Sort(on)
		rho := spearman(v, conc)
		coverage := float64(len(on)) / float64(len(paths))
		refs := pathExemplars(paths, all, k, cfg.Exemplars)
		subject := k.name()
		out = append(out, evidence.Finding{
			ID:   evidence.NewFindingID(KindCriticalPathComponent, subject, refs),
			Kind: KindCriticalPathComponent, Subject: subject,
			Summary: fmt.Sprintf("%s: %s is %.0f%% of all critical-path time over %d traces (%.0f%% of %s's %.0f%%); on %d traces, per-trace p50 %v, p95 %v; rank correlation with concurrent traces %.2f%s",
				subject, componentWords[k.comp], 100*share, len(paths), 100*float64(totals[k])/float64(opNS), k.op,
				100*float64(opNS)/float64(totalNS), len(on), dur(quantile(on, 0.5)), dur(quantile(on, 0.95)), rho, loadNote(k.comp, rho)),
			Score:      share,
			Confidence: coverage,
			Refs:       refs,
			Attrs: map[string]float64{
				"share": share, "op_share": float64(opNS) / float64(totalNS), "ns": float64(totals[k]),
				"traces": float64(len(on)), "total_traces": float64(len(paths)), "coverage": coverage,
				"p50_ns": quantile(on, 0.5), "p95_ns": quantile(on, 0.95), "concurrency_rho": rho,
			},
			StartNS: paths[0].StartNS, EndNS: maxEnd(paths),
		})
	}
	sortFindings(out)
	return out
}

var componentWords = [NumComponents]string{"own time", "lock wait", "network time", "block I/O wait", "run-queue wait"}

// loadNote reads a strong positive correlation of a wait with concurrency
// as queueing.
func loadNote(comp int, rho float64) string {
	if rho < 0.5 {
		return ""
	}
	if comp == CompLock {
		return " (lock queueing: the wait grows with concurrency)"
	}
	return " (queueing: the wait grows with concurrency)"
}

func maxEnd(paths []TracePath) int64 {
	var m int64
	for _, p := range paths {
		m = max(m, p.EndNS)
	}
	return m
}

// spearman is the rank correlation of x and y (average ranks for ties); 0
// when either is constant.
func spearman(x []float64, y []int) float64 {
	if len(x) != len(y) || len(x) < 3 {
		return 0
	}
	fy := make([]float64, len(y))
	for i, v := range y {
		fy[i] = float64(v)
	}
	rx, ry := ranks(x), ranks(fy)
	var mx, my float64
	for i := range rx {
		mx += rx[i]
		my += ry[i]
	}
	mx /= float64(len(rx))
	my /= float64(len(ry))
	var sxy, sxx, syy float64
	for i := range rx {
		dx, dy := rx[i]-mx, ry[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0
	}
	return sxy / math.Sqrt(sxx*syy)
}

func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(x[a], x[b]) })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && x[idx[j]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j-1)/2 + 1
		for k := i; k < j; k++ {
			r[idx[k]] = avg
		}
		i = j
	}
	return r
}
