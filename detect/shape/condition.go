package shape

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

// condition is the callee an operation's deviations are conditioned on,
// and why (the test that told its spans apart).
type condition struct {
	callee Op
	why    string
}

// maxChain bounds how many services deep a deviation is followed.
const maxChain = 8

// conditionedCallees decides, per operation with deviating incident spans,
// the callee its deviation is conditioned on: the callee operation whose
// own spans under the deviating spans differ from its spans under the
// conforming spans of the same operation in the same window (see the
// package doc). The search follows the callee's own callees while one of
// them differs too, and returns the deepest; operations whose callees do
// not differ are absent (the deviation is their own).
func (t *tree) conditionedCallees(devs map[int][]*Test, cfg Config) map[Op]condition {
	var dev, conform, base = map[Op][]int{}, map[Op][]int{}, map[Op][]int{}
	for i := range t.spans {
		op := t.ops[i]
		switch {
		case t.win[i] == 0:
			base[op] = append(base[op], i)
		case devs[i] != nil && (!ownError(devs[i]) || t.answersForCallee(i)):
			dev[op] = append(dev[op], i)
		default:
			conform[op] = append(conform[op], i)
		}
	}
	ops := make([]Op, 0, len(dev))
	for op := range dev {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, cmpOp)
	out := map[Op]condition{}
	for _, op := range ops {
		d, c := dev[op], conform[op]
		if len(c) < cfg.MinParents {
			// Every incident span deviates: the baseline's spans are the
			// only reference left.
			c = base[op]
		}
		cd := condition{callee: op}
		for range maxChain {
			next, dn, cn, why, ok := t.conditionOn(d, c, cfg)
			if !ok {
				break
			}
			cd.callee, cd.why, d, c = next, why, dn, cn
		}
		if cd.callee != op {
			cd.why = fmt.Sprintf("the %s spans that deviate are those whose call to %s went otherwise: %s", op, cd.callee, cd.why)
			out[op] = cd
		}
	}
	return out
}

// answersForCallee: span i is a call into another service (a client or
// producer span with a child there), whose error status reports what the
// callee answered (an HTTP 5xx, a gRPC status), not a fault of its own.
func (t *tree) answersForCallee(i int) bool {
	sp := &t.spans[i]
	if sp.Kind != evidence.KindClient && sp.Kind != evidence.KindProducer {
		return false
	}
	for _, c := range t.children[i] {
		if t.spans[c].Service != sp.Service {
			return true
		}
	}
	return false
}

func ownError(tests []*Test) bool {
	for _, tst := range tests {
		if tst.Change == MoreErrors {
			return true
		}
	}
	return false
}

// conditionOn returns the callee operation whose spans under the spans d
// differ most significantly from its spans under the spans c (Bonferroni
// over the candidate callees), with those two groups of its spans.
func (t *tree) conditionOn(d, c []int, cfg Config) (Op, []int, []int, string, bool) {
	cd, cc := t.calleeSpans(d), t.calleeSpans(c)
	var cands []Op
	for op, xs := range cd {
		if len(xs) >= cfg.MinParents && len(cc[op]) >= cfg.MinParents {
			cands = append(cands, op)
		}
	}
	if len(cands) == 0 {
		return Op{}, nil, nil, "", false
	}
	slices.SortFunc(cands, cmpOp)
	best, bestP, why := -1, cfg.Alpha/float64(len(cands)), ""
	for k, op := range cands {
		if p, w := t.behaviourP(cd[op], cc[op], cfg); p < bestP {
			best, bestP, why = k, p, op.String()+" "+w
		}
	}
	if best < 0 {
		return Op{}, nil, nil, "", false
	}
	op := cands[best]
	return op, cd[op], cc[op], why, true
}

// calleeSpans groups, by operation, the spans of other services that the
// spans ps call (directly, or through a client span of their own).
func (t *tree) calleeSpans(ps []int) map[Op][]int {
	out := map[Op][]int{}
	for _, i := range ps {
		for _, c := range t.children[i] {
			if x := t.callee(i, c); x >= 0 {
				out[t.ops[x]] = append(out[t.ops[x]], int(x))
			}
		}
	}
	return out
}

// behaviourP tests whether two groups of one operation's spans behave
// differently: their durations (Mann–Whitney), their error share and, per
// child operation, the share of spans making that call (Fisher; counted
// only with an effect as large as the edge tests require). It returns the
// smallest p-value times the number of tests (Bonferroni), at most 1, and
// what that test found.
func (t *tree) behaviourP(a, b []int, cfg Config) (float64, string) {
	dur := func(xs []int) []float64 {
		out := make([]float64, len(xs))
		for k, i := range xs {
			out[k] = float64(t.spans[i].DurationNS())
		}
		return out
	}
	da, db := dur(a), dur(b)
	pMin, _ := stattest.MannWhitney(da, db)
	why := fmt.Sprintf("has a median duration of %s under them against %s", fmtDur(median(da)), fmtDur(median(db)))
	tests := 1
	share := func(xs []int, has func(int) bool) (int, float64) {
		n := 0
		for _, i := range xs {
			if has(i) {
				n++
			}
		}
		return n, float64(n) / float64(len(xs))
	}
	ea, sa := share(a, func(i int) bool { return t.spans[i].StatusCode == evidence.StatusError })
	eb, sb := share(b, func(i int) bool { return t.spans[i].StatusCode == evidence.StatusError })
	if ea+eb > 0 {
		tests++
		if math.Abs(sa-sb) >= cfg.MinShareChange/2 {
			if p, _ := stattest.FisherTwoSided(ea, len(a)-ea, eb, len(b)-eb); p < pMin {
				pMin, why = p, fmt.Sprintf("is in error in %.0f %% of them against %.0f %%", 100*sa, 100*sb)
			}
		}
	}
	childOps := map[Op]bool{}
	for _, xs := range [][]int{a, b} {
		for _, i := range xs {
			for _, c := range t.children[i] {
				childOps[t.ops[c]] = true
			}
		}
	}
	cops := make([]Op, 0, len(childOps))
	for cop := range childOps {
		cops = append(cops, cop)
	}
	slices.SortFunc(cops, cmpOp)
	for _, cop := range cops {
		tests++
		calls := func(i int) int {
			n := 0
			for _, c := range t.children[i] {
				if t.ops[c] == cop {
					n++
				}
			}
			return n
		}
		na, sa := share(a, func(i int) bool { return calls(i) > 0 })
		nb, sb := share(b, func(i int) bool { return calls(i) > 0 })
		if math.Abs(sa-sb) < cfg.MinShareChange && math.Abs(sa-sb)/math.Max(math.Max(sa, sb), 1e-9) < cfg.MinCountChange {
			continue
		}
		if p, _ := stattest.FisherTwoSided(na, len(a)-na, nb, len(b)-nb); p < pMin {
			pMin, why = p, fmt.Sprintf("calls %s in %.0f %% of them against %.0f %%", cop, 100*sa, 100*sb)
		}
	}
	p := math.Min(1, pMin*float64(tests))
	return p, fmt.Sprintf("%s (%d against %d spans, p = %.2g)", why, len(a), len(b), p)
}

// descendant returns the first span of operation op below span i (breadth
// first), or -1.
func (t *tree) descendant(i int, op Op) int {
	queue := slices.Clone(t.children[i])
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if t.ops[c] == op {
			return int(c)
		}
		queue = append(queue, t.children[c]...)
	}
	return -1
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtDur(ns float64) string { return time.Duration(ns).Round(time.Microsecond).String() }
