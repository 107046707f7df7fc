package shape

import (
	"cmp"
	"math"
	"slices"

	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

type spanKey struct {
	t evidence.TraceID
	s evidence.SpanID
}

// tree indexes the spans of both windows: parent, children, depth, window.
type tree struct {
	spans    []evidence.Span
	win      []int8 // 0 baseline, 1 incident
	parent   []int32
	children [][]int32
	depth    []int32
	ops      []Op
	orphans  [2]int
	counts   [2]int
	traces   map[evidence.TraceID]int8
	// order: mean start of a child operation within its parent operation
	// in the baseline, as a share of the parent's duration (lostAfter).
	order map[[2]Op]float64
}

func newTree(in Input) *tree {
	n := len(in.Spans)
	t := &tree{spans: in.Spans, win: make([]int8, n), parent: make([]int32, n), children: make([][]int32, n),
		depth: make([]int32, n), ops: make([]Op, n), traces: map[evidence.TraceID]int8{}}
	pos := make(map[spanKey]int32, n)
	for i := range in.Spans {
		sp := &in.Spans[i]
		pos[spanKey{sp.TraceID, sp.SpanID}] = int32(i)
		t.ops[i] = Op{sp.Service, sp.Name}
	}
	// A trace belongs to one window: the incident's when any of its spans
	// is not the baseline's.
	for i := range in.Spans {
		sp := &in.Spans[i]
		w := int8(1)
		if in.IsBaseline(sp) {
			w = 0
		}
		if old, ok := t.traces[sp.TraceID]; !ok || w > old {
			t.traces[sp.TraceID] = w
		}
	}
	for i := range in.Spans {
		sp := &in.Spans[i]
		t.win[i] = t.traces[sp.TraceID]
		t.counts[t.win[i]]++
		t.parent[i] = -1
		if sp.ParentSpanID.IsZero() || sp.ParentSpanID == sp.SpanID {
			continue
		}
		if p, ok := pos[spanKey{sp.TraceID, sp.ParentSpanID}]; ok {
			t.parent[i] = p
			t.children[p] = append(t.children[p], int32(i))
		} else {
			t.orphans[t.win[i]]++
		}
	}
	for i := range t.depth {
		t.depth[i] = -1
	}
	for i := range t.depth {
		t.depthOf(int32(i))
	}
	return t
}

// depthOf is the span's distance from its root (cycles count as roots).
func (t *tree) depthOf(i int32) int32 {
	var chain []int32
	for j := i; j >= 0 && t.depth[j] < 0; j = t.parent[j] {
		if len(chain) > len(t.spans) {
			break
		}
		t.depth[j] = -2 // visiting
		chain = append(chain, j)
		if p := t.parent[j]; p >= 0 && t.depth[p] == -2 {
			t.parent[j] = -1 // a cycle: cut it here
			break
		}
	}
	for k := len(chain) - 1; k >= 0; k-- {
		j := chain[k]
		if p := t.parent[j]; p >= 0 && t.depth[p] >= 0 {
			t.depth[j] = t.depth[p] + 1
		} else {
			t.depth[j] = 0
		}
	}
	return t.depth[i]
}

func (t *tree) traceCounts() [2]int {
	var c [2]int
	for _, w := range t.traces {
		c[w]++
	}
	return c
}

func (t *tree) orphanShares() [2]float64 {
	var s [2]float64
	for w := range 2 {
		if t.counts[w] > 0 {
			s[w] = float64(t.orphans[w]) / float64(t.counts[w])
		}
	}
	return s
}

// anyCallee is the child op of a call span (see childCounts).
var anyCallee = Op{Name: "(callee)"}

// childCounts returns, for span i, the number of children per child op. A
// call span (not a server or consumer span, every child in another
// service) counts its children as anyCallee: which operation answers a
// generic "HTTP POST" client span names its destination, which the request
// mix decides, while whether any answered is the call's own shape.
func (t *tree) childCounts(i int) map[Op]int {
	m := map[Op]int{}
	call := t.spans[i].Kind != evidence.KindServer && t.spans[i].Kind != evidence.KindConsumer && t.parent[i] >= 0
	for _, c := range t.children[i] {
		if t.spans[c].Service == t.spans[i].Service {
			call = false
		}
	}
	for _, c := range t.children[i] {
		if call {
			m[anyCallee]++
		} else {
			m[t.ops[c]]++
		}
	}
	return m
}

// parentOps groups, per operation that has children in either window, its
// spans by window.
func (t *tree) parentOps() map[Op]*[2][]int {
	withKids := map[Op]bool{}
	for i := range t.spans {
		if len(t.children[i]) > 0 {
			withKids[t.ops[i]] = true
		}
	}
	out := map[Op]*[2][]int{}
	for i := range t.spans {
		op := t.ops[i]
		if !withKids[op] {
			continue
		}
		g := out[op]
		if g == nil {
			g = &[2][]int{}
			out[op] = g
		}
		g[t.win[i]] = append(g[t.win[i]], i)
	}
	return out
}

// tests runs the edge and error tests (p-values and effects; adjust sets q).
func (t *tree) tests(cfg Config) []Test {
	var out []Test
	parents := t.parentOps()
	pops := make([]Op, 0, len(parents))
	for op := range parents {
		pops = append(pops, op)
	}
	slices.SortFunc(pops, cmpOp)
	for _, pop := range pops {
		g := parents[pop]
		if len(g[0]) < cfg.MinParents || len(g[1]) < cfg.MinParents {
			continue
		}
		counts := [2][]map[Op]int{}
		childOps := map[Op]bool{}
		for w := range 2 {
			for _, i := range g[w] {
				m := t.childCounts(i)
				counts[w] = append(counts[w], m)
				for c := range m {
					childOps[c] = true
				}
			}
		}
		cops := make([]Op, 0, len(childOps))
		for c := range childOps {
			cops = append(cops, c)
		}
		slices.SortFunc(cops, cmpOp)
		for _, cop := range cops {
			out = append(out, edgeTest(pop, cop, counts, cfg))
		}
	}
	out = append(out, t.errorTests(cfg)...)
	return out
}

func edgeTest(pop, cop Op, counts [2][]map[Op]int, cfg Config) Test {
	tst := Test{Parent: pop, Child: cop}
	var n [2][]float64
	hist := map[int]int{}
	for w := range 2 {
		tst.Parents[w] = len(counts[w])
		for _, m := range counts[w] {
			k := m[cop]
			n[w] = append(n[w], float64(k))
			tst.Calls[w] += k
			if k > 0 {
				tst.Present[w]++
			}
			if w == 0 {
				hist[k]++
			}
		}
	}
	for k, c := range hist {
		if c > hist[tst.Mode] || c == hist[tst.Mode] && k < tst.Mode {
			tst.Mode = k
		}
	}
	pf, _ := stattest.FisherTwoSided(tst.Present[1], tst.Parents[1]-tst.Present[1], tst.Present[0], tst.Parents[0]-tst.Present[0])
	pm, _ := stattest.MannWhitney(n[1], n[0])
	tst.P = math.Min(1, 2*math.Min(pf, pm))
	share := [2]float64{}
	mean := [2]float64{}
	off := [2]float64{} // share of parents away from the baseline's usual count
	for w := range 2 {
		share[w] = float64(tst.Present[w]) / float64(tst.Parents[w])
		mean[w] = float64(tst.Calls[w]) / float64(tst.Parents[w])
		for _, k := range n[w] {
			if int(k) != tst.Mode {
				off[w]++
			}
		}
		off[w] /= float64(tst.Parents[w])
	}
	// A share of parents that make one call fewer (a fan-out skipping a
	// shard) barely moves the mean count; it moves the share of parents
	// away from the usual count as much as a lost call moves presence.
	switch d, r, o := share[1]-share[0], (mean[1]-mean[0])/math.Max(mean[0], 0.5), off[1]-off[0]; {
	case d <= -cfg.MinShareChange:
		tst.Change = MissingCalls
	case d >= cfg.MinShareChange:
		tst.Change = NewCalls
	case r <= -cfg.MinCountChange || o >= cfg.MinShareChange && mean[1] < mean[0]:
		tst.Change = FewerCalls
	case r >= cfg.MinCountChange || o >= cfg.MinShareChange && mean[1] > mean[0]:
		tst.Change = MoreCalls
	}
	return tst
}

// errorTests compares each operation's share of spans in error, when any
// span carries an error status.
func (t *tree) errorTests(cfg Config) []Test {
	type acc struct{ n, errs [2]int }
	per := map[Op]*acc{}
	any := false
	for i := range t.spans {
		a := per[t.ops[i]]
		if a == nil {
			a = &acc{}
			per[t.ops[i]] = a
		}
		w := t.win[i]
		a.n[w]++
		if t.spans[i].StatusCode == evidence.StatusError {
			a.errs[w]++
			any = true
		}
	}
	if !any {
		return nil
	}
	var out []Test
	ops := make([]Op, 0, len(per))
	for op := range per {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, cmpOp)
	for _, op := range ops {
		a := per[op]
		if a.n[0] < cfg.MinParents || a.n[1] < cfg.MinParents || a.errs[1] == 0 {
			continue
		}
		tst := Test{Parent: op, Parents: a.n, Present: a.errs}
		tst.P, _ = stattest.FisherTwoSided(a.errs[1], a.n[1]-a.errs[1], a.errs[0], a.n[0]-a.errs[0])
		if float64(a.errs[1])/float64(a.n[1])-float64(a.errs[0])/float64(a.n[0]) >= cfg.MinShareChange/2 {
			tst.Change = MoreErrors
		}
		out = append(out, tst)
	}
	return out
}

// calleeChanges marks the operations whose own spans changed between the
// windows: their durations (Mann–Whitney, p < Alpha/ops), their error
// share, or their presence (an operation with baseline spans that the
// incident lacks entirely never answered).
func (t *tree) calleeChanges(cfg Config) map[Op]bool {
	dur := map[Op]*[2][]float64{}
	for i := range t.spans {
		d := dur[t.ops[i]]
		if d == nil {
			d = &[2][]float64{}
			dur[t.ops[i]] = d
		}
		d[t.win[i]] = append(d[t.win[i]], float64(t.spans[i].DurationNS()))
	}
	out := map[Op]bool{}
	alpha := cfg.Alpha / float64(max(1, len(dur)))
	for op, d := range dur {
		if len(d[0]) >= cfg.MinParents && len(d[1]) >= cfg.MinParents {
			if p, _ := stattest.MannWhitney(d[1], d[0]); p < alpha {
				out[op] = true
			}
		}
	}
	return out
}

// deviations lists, per span, the significant tests it deviates on.
func (t *tree) deviations(tests []Test) map[int][]*Test {
	byParent := map[Op][]*Test{}
	for i := range tests {
		if tests[i].Significant {
			byParent[tests[i].Parent] = append(byParent[tests[i].Parent], &tests[i])
		}
	}
	out := map[int][]*Test{}
	for i := range t.spans {
		ts := byParent[t.ops[i]]
		if len(ts) == 0 {
			continue
		}
		var m map[Op]int
		for _, tst := range ts {
			dev := false
			switch tst.Change {
			case MoreErrors:
				dev = t.spans[i].StatusCode == evidence.StatusError
			default:
				if m == nil {
					m = t.childCounts(i)
				}
				k := m[tst.Child]
				dev = tst.decrease() && k < tst.Mode || !tst.decrease() && k > tst.Mode
			}
			if dev {
				out[i] = append(out[i], tst)
			}
		}
	}
	return out
}

// blame attributes each deviating trace to the operations of its deepest
// deviating spans, passing the blame down to a callee whose own behaviour
// changed (see the package doc), and counts the deviating traces per
// window.
func (t *tree) blame(tests []Test, changed map[Op]bool, cfg Config) ([]Blame, [2]int) {
	devs := t.deviations(tests)
	cond := t.conditionedCallees(devs, cfg)
	type traceDev struct {
		deepest int32
		spans   []int
	}
	per := map[evidence.TraceID]*traceDev{}
	for i := range devs {
		id := t.spans[i].TraceID
		td := per[id]
		if td == nil {
			td = &traceDev{deepest: -1}
			per[id] = td
		}
		switch d := t.depth[i]; {
		case d > td.deepest:
			td.deepest, td.spans = d, []int{i}
		case d == td.deepest:
			td.spans = append(td.spans, i)
		}
	}
	var deviating [2]int
	acc := map[Op]*Blame{}
	incr := map[Op]float64{}
	ids := make([]evidence.TraceID, 0, len(per))
	for id := range per {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b evidence.TraceID) int { return slices.Compare(a[:], b[:]) })
	for _, id := range ids {
		w := t.traces[id]
		deviating[w]++
		if w == 0 {
			continue
		}
		td := per[id]
		slices.Sort(td.spans)
		weight := 1 / float64(len(td.spans))
		for _, i := range td.spans {
			at, increase := t.passDown(i, devs[i], changed, cond)
			b := acc[t.ops[at]]
			if b == nil {
				b = &Blame{Op: t.ops[at]}
				acc[t.ops[at]] = b
			}
			b.Traces += weight
			if increase {
				incr[b.Op] += weight
			}
			if len(b.Exemplars) < cfg.MaxExemplars {
				b.Exemplars = append(b.Exemplars, at)
				if at != i {
					b.Exemplars = append(b.Exemplars, i)
				}
			}
			if cd, ok := cond[t.ops[i]]; ok && cd.callee == b.Op && !slices.Contains(b.Because, cd.why) {
				b.Because = append(b.Because, cd.why)
			}
			for _, tst := range devs[i] {
				if !slices.Contains(b.Tests, tst) {
					b.Tests = append(b.Tests, tst)
				}
			}
		}
	}
	out := make([]Blame, 0, len(acc))
	for op, b := range acc {
		b.Increase = incr[op] > b.Traces/2
		slices.SortFunc(b.Tests, func(x, y *Test) int { return cmp.Compare(x.Q, y.Q) })
		out = append(out, *b)
	}
	sortBlames(out)
	return out, deviating
}

// passDown returns the span to blame for span i's deviations: i itself, or
// the callee whose failure explains them: the callee its operation's
// deviations are conditioned on (cond), else the callee of its last
// completed call when that callee's operation changed between the windows.
func (t *tree) passDown(i int, tests []*Test, changed map[Op]bool, cond map[Op]condition) (int, bool) {
	increase, decrease := false, false
	for _, tst := range tests {
		switch {
		case tst.Change == MoreErrors && !t.answersForCallee(i):
			return i, false // the span's own error
		case tst.Change == MoreErrors:
			// A call's error reports its callee's answer: the callee its
			// errors are conditioned on, if any, takes the blame.
		case tst.decrease():
			decrease = true
		default:
			increase = true
		}
	}
	if cd, ok := cond[t.ops[i]]; ok {
		if x := t.descendant(i, cd.callee); x >= 0 {
			return x, increase && !decrease
		}
	}
	var via int32 = -1
	switch {
	case decrease:
		// The last child to end before the span stopped calling, when the
		// lost calls come after it in the baseline's order: a call that
		// used to come first was not lost because a later one failed.
		for _, c := range t.children[i] {
			if via < 0 || t.spans[c].EndNS > t.spans[via].EndNS {
				via = c
			}
		}
		if via >= 0 && !t.lostAfter(i, via, tests) {
			via = -1
		}
	case increase:
		// A failed call among the multiplied ones: extra calls that
		// answer failures are retries, and the callee's failure is the
		// cause; extra calls after successful answers are the caller's
		// own change (a new code path, a loop, a cache that misses).
		for _, tst := range tests {
			for _, c := range t.children[i] {
				if t.ops[c] == tst.Child && t.failed(int(i), c) {
					via = c
					break
				}
			}
			if via >= 0 {
				break
			}
		}
	}
	if via < 0 {
		return i, increase && !decrease
	}
	callee := t.callee(i, via)
	if callee >= 0 && changed[t.ops[callee]] {
		return int(callee), increase && !decrease
	}
	return i, increase && !decrease
}

// lostAfter reports whether every call span i lost (its decrease tests)
// starts, in the baseline, no earlier within its parent than child via's
// operation does (relative to the parent's start and duration); unknown
// orders count as after.
func (t *tree) lostAfter(i int, via int32, tests []*Test) bool {
	if t.order == nil {
		t.order = map[[2]Op]float64{}
		n := map[[2]Op]int{}
		for p := range t.spans {
			if t.win[p] != 0 {
				continue
			}
			dur := float64(max(t.spans[p].EndNS-t.spans[p].StartNS, 1))
			for _, c := range t.children[p] {
				k := [2]Op{t.ops[p], t.ops[c]}
				t.order[k] += float64(t.spans[c].StartNS-t.spans[p].StartNS) / dur
				n[k]++
			}
		}
		for k, c := range n {
			t.order[k] /= float64(c)
		}
	}
	at, ok := t.order[[2]Op{t.ops[i], t.ops[via]}]
	if !ok {
		return true
	}
	for _, tst := range tests {
		if !tst.decrease() || tst.Child == anyCallee {
			continue
		}
		if lost, ok := t.order[[2]Op{t.ops[i], tst.Child}]; ok && lost < at {
			return false
		}
	}
	return true
}

// failed reports whether child c of span i, or the callee span it
// reaches, ended in error.
func (t *tree) failed(i int, c int32) bool {
	if t.spans[c].StatusCode == evidence.StatusError {
		return true
	}
	g := t.callee(i, c)
	return g >= 0 && t.spans[g].StatusCode == evidence.StatusError
}

// callee is the span of another service reached through child c of span
// i: c itself when it is another service's, else c's first child in
// another service; -1 when none.
func (t *tree) callee(i int, c int32) int32 {
	if t.spans[c].Service != t.spans[i].Service {
		return c
	}
	for _, g := range t.children[c] {
		if t.spans[g].Service != t.spans[c].Service {
			return g
		}
	}
	return -1
}

func cmpOp(a, b Op) int {
	return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Name, b.Name))
}
