package patterns

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

// svcPair is the calls from one caller service to one callee service,
// pooled over their operations: one network path.
type svcPair struct{ caller, callee string }

func (p svcPair) compare(o svcPair) int {
	return cmp.Or(strings.Compare(p.caller, o.caller), strings.Compare(p.callee, o.callee))
}

// pairCalls pools the calls of a set of edges per service pair.
type pairCalls struct {
	gaps, callee []int64
	shares       []float64
	calls        []gapCall
}

// gapCall is one call of a pooled pair: its gap and its spans.
type gapCall struct {
	gap            int64
	client, server int32
	callerOp       string
	calleeOp       string
}

func poolPairs(edges map[edgeKey]*edgeCalls) map[svcPair]*pairCalls {
	out := map[svcPair]*pairCalls{}
	for _, k := range slices.SortedFunc(maps.Keys(edges), edgeKey.less) {
		e := edges[k]
		p := svcPair{k.callerSvc, k.calleeSvc}
		pc := out[p]
		if pc == nil {
			pc = &pairCalls{}
			out[p] = pc
		}
		pc.gaps = append(pc.gaps, e.gaps...)
		pc.callee = append(pc.callee, e.callee...)
		pc.shares = append(pc.shares, e.shares...)
		for j := range e.gaps {
			pc.calls = append(pc.calls, gapCall{gap: e.gaps[j], client: e.client[j], server: e.server[j],
				callerOp: k.callerOp, calleeOp: k.calleeOp})
		}
	}
	return out
}

// gappedPair is a service pair whose gaps grew over the baseline.
type gappedPair struct {
	svcPair
	inc int64
}

// gapHotspot implements service_network_delay and service_stall (see the
// package doc): the one service that the grown gaps share.
func (x *index) gapHotspot(g gapCalls) ([]evidence.Finding, error) {
	if !g.hasBase || len(g.base) == 0 {
		return nil, nil
	}
	c := &x.cfg.Gap
	cur, base := poolPairs(g.cur), poolPairs(g.base)
	var gapped []gappedPair
	for _, p := range slices.SortedFunc(maps.Keys(cur), svcPair.compare) {
		e, b := cur[p], base[p]
		if b == nil || len(e.gaps) < c.MinPairCalls || len(b.gaps) == 0 {
			continue
		}
		inc := median(e.gaps) - median(b.gaps)
		if inc >= c.MinIncreaseNS && inc > median(e.callee)-median(b.callee) && medianF(e.shares) >= c.MinShare {
			gapped = append(gapped, gappedPair{p, inc})
		}
	}
	hot, ok := pickHotspot(gapped)
	if !ok {
		return nil, nil
	}
	stall := len(hot.out) > len(hot.in)
	var curGaps, baseGaps []int64
	var calls []gapCall
	for _, p := range slices.SortedFunc(maps.Keys(cur), svcPair.compare) {
		e := cur[p]
		if (stall && p.caller == hot.svc) || (!stall && p.callee == hot.svc) {
			curGaps = append(curGaps, e.gaps...)
			if hot.pairs[p] {
				calls = append(calls, e.calls...)
			}
			if b := base[p]; b != nil {
				baseGaps = append(baseGaps, b.gaps...)
			}
		}
	}
	if len(baseGaps) == 0 {
		return nil, nil
	}
	r, err := stattest.KS2Samp(floats(baseGaps), floats(curGaps), stattest.KSOptions{Alternative: stattest.Greater, Method: stattest.Bounded})
	if err != nil {
		return nil, fmt.Errorf("gap hotspot test of %s: %w", hot.svc, err)
	}
	inc := median(curGaps) - median(baseGaps)
	if r.PValue > x.cfg.Alpha || inc < c.MinIncreaseNS {
		return nil, nil
	}
	return []evidence.Finding{x.hotspotFinding(hot, stall, calls, curGaps, baseGaps, r.PValue, len(gapped))}, nil
}

// hotspot is a service with the grown-gap pairs it takes part in.
type hotspot struct {
	svc     string
	in, out []string // counterpart services, sorted
	pairs   map[svcPair]bool
	inc     int64 // summed median increase over its pairs
}

// pickHotspot returns the service in the most grown-gap pairs (counting
// distinct counterparts), preferring, on ties, the one that is the callee
// in more of them (a single slow path is blamed on its callee, as
// network_gap does), then the larger summed increase, then the name.
func pickHotspot(gapped []gappedPair) (hotspot, bool) {
	by := map[string]*hotspot{}
	get := func(s string) *hotspot {
		h := by[s]
		if h == nil {
			h = &hotspot{svc: s, pairs: map[svcPair]bool{}}
			by[s] = h
		}
		return h
	}
	for _, g := range gapped {
		cl, ce := get(g.caller), get(g.callee)
		cl.out, ce.in = append(cl.out, g.callee), append(ce.in, g.caller)
		cl.pairs[g.svcPair], ce.pairs[g.svcPair] = true, true
		cl.inc += g.inc
		ce.inc += g.inc
	}
	var best *hotspot
	for _, s := range slices.Sorted(maps.Keys(by)) {
		h := by[s]
		slices.Sort(h.in)
		slices.Sort(h.out)
		if best == nil || cmp.Or(cmp.Compare(len(h.pairs), len(best.pairs)), cmp.Compare(len(h.in), len(best.in)),
			cmp.Compare(h.inc, best.inc)) > 0 {
			best = h
		}
	}
	if best == nil {
		return hotspot{}, false
	}
	return *best, true
}

func (x *index) hotspotFinding(hot hotspot, stall bool, calls []gapCall, cur, base []int64, p float64, nGapped int) evidence.Finding {
	var refs refSet
	for _, j := range topK(len(calls), x.cfg.MaxRefs, func(j int) int64 { return calls[j].gap }) {
		refs.span(&x.spans[calls[j].client])
		refs.span(&x.spans[calls[j].server])
	}
	ops := map[string]int{}
	for _, cl := range calls {
		if stall {
			ops[cl.callerOp]++
		} else {
			ops[cl.calleeOp]++
		}
	}
	op := ""
	for _, o := range slices.Sorted(maps.Keys(ops)) {
		if op == "" || ops[o] > ops[op] {
			op = o
		}
	}
	gap, bgap := median(cur), median(base)
	explained := float64(len(hot.pairs)) / float64(nGapped)
	attrs := map[string]float64{
		"calls": float64(len(cur)), "baseline_calls": float64(len(base)),
		"gap_p50_ns": float64(gap), "baseline_gap_p50_ns": float64(bgap), "increase_ns": float64(gap - bgap),
		"p_value": p, "gapped_pairs": float64(nGapped), "pairs_involving": float64(len(hot.pairs)),
		"callers": float64(len(hot.in)), "callees": float64(len(hot.out)),
	}
	vs := fmt.Sprintf("p50 %v (baseline %v, +%v; KS p = %.2g over %d calls)", roundDur(gap), roundDur(bgap), roundDur(gap-bgap), p, len(cur))
	share := fmt.Sprintf("%d of the %d caller->callee service pairs whose gaps grew involve %s", len(hot.pairs), nGapped, hot.svc)
	if len(hot.pairs) == nGapped {
		share = fmt.Sprintf("every caller->callee service pair whose gaps grew (%d) involves %s", nGapped, hot.svc)
	}
	kind, summary := KindServiceNetworkDelay, fmt.Sprintf(
		"calls into %s from %s wait %s outside %s's server spans: %s, so the time is lost on the network path into %s, not in its callers or its own work",
		hot.svc, countList(hot.in, "service"), vs, hot.svc, share, hot.svc)
	if stall {
		kind, summary = KindServiceStall, fmt.Sprintf(
			"%s's calls out to %s wait %s outside the callees' server spans: %s, so %s itself stalls while its calls are in flight (CPU starvation or contention, GC pauses, or its own network stack), not its callees",
			hot.svc, countList(hot.out, "service"), vs, share, hot.svc)
	}
	return newFinding(kind, hot.svc+"/"+op, summary, float64(gap-bgap)/1e9, (1-p)*explained, refs.refs, attrs)
}

// countList writes "3 services (a, b, c)".
func countList(names []string, noun string) string {
	if len(names) == 1 {
		return names[0]
	}
	return fmt.Sprintf("%d %ss (%s)", len(names), noun, strings.Join(names, ", "))
}
