package explain

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/detect/critpath"
	"github.com/debugai/debugai/detect/shape"
	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

// Critical-path components of a candidate's change.
const (
	CompSelf = iota
	CompLock
	CompIO
	CompRunqueue
	CompNetwork
	NumComponents
)

// ComponentNames names the components.
var ComponentNames = [NumComponents]string{"self", "lock", "io", "runqueue", "network"}

// Config tunes the model.
type Config struct {
	// Alpha is the false discovery rate over the latency keys.
	Alpha float64
	// MinTraces is the fewest traces of a root operation per window for
	// it to be compared.
	MinTraces int
}

// DefaultConfig: FDR 5 %, 3 traces per root operation and window.
func DefaultConfig() Config { return Config{Alpha: 0.05, MinTraces: 3} }

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("invalid explain config")

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if !(c.Alpha > 0 && c.Alpha < 1) {
		return fmt.Errorf("%w: Alpha %v not in (0, 1)", ErrConfig, c.Alpha)
	}
	if c.MinTraces < 2 {
		return fmt.Errorf("%w: MinTraces %d must be at least 2", ErrConfig, c.MinTraces)
	}
	return nil
}

// Input is what the model compares.
type Input struct {
	// Spans holds the incident's and the baseline's spans.
	Spans []evidence.Span
	// IsBaseline marks the baseline's spans; nil: no baseline.
	IsBaseline func(*evidence.Span) bool
	// Overlays are the spans' kernel overlays (SpanIndex into Spans).
	Overlays []correlate.Overlay
	// Shape is package shape's result over the same spans (nil: none).
	Shape *shape.Result
	// Kernel holds the kernel events of both windows, and KernelIsBaseline
	// marks the baseline's (nil: every event is the incident's). TCP
	// retransmits among them decide which end of a grown transit loses
	// packets.
	Kernel           []evidence.KernelEvent
	KernelIsBaseline func(*evidence.KernelEvent) bool
}

// Op is a service's operation.
type Op = shape.Op

// Part is what one location explains.
type Part struct {
	// Explained is the share of the incident's change, in [0, 1].
	Explained float64
	// Latency and Shape are its shares of the two parts.
	Latency, Shape float64
	// DeltaNS is its change of critical-path time per request, per
	// component (ns, weighted by the incident's request mix).
	DeltaNS [NumComponents]float64
	// InducedNS is the growth of its callees' critical-path time that its
	// extra calls induced (moved here from them; see induce).
	InducedNS float64
	// Q is the strongest (smallest) q-value behind it.
	Q float64
	// Significant: some positive part passed its test.
	Significant bool
}

// Delta sums DeltaNS.
func (p *Part) Delta() float64 {
	var s float64
	for _, v := range p.DeltaNS {
		s += v
	}
	return s + p.InducedNS
}

// Candidate is a service and what it explains, with its operations.
type Candidate struct {
	Service string
	Part
	// Ops are its operations, most explained first.
	Ops []OpPart
}

// OpPart is one operation's part.
type OpPart struct {
	Op Op
	Part
}

// Model is the decomposition of one incident's change.
type Model struct {
	// Baseline: a baseline with comparable root operations existed; else
	// the latency part is the incident's own critical-path time.
	Baseline bool
	// LatencyChange (M_lat) and ShapeChange (M_shape) weigh the parts.
	LatencyChange, ShapeChange float64
	// MeanPathNS is the mean critical path per window (0 baseline, 1
	// incident), weighted by the incident's request mix.
	MeanPathNS [2]float64
	// Traces per window; Matched and Unmatched count root operations.
	Traces             [2]int
	Matched, Unmatched int
	// Candidates, most explained first.
	Candidates []Candidate

	minTraces int
	alpha     float64
	// transitTo maps a call operation to the operation its grown
	// transit time was charged to, when that is the callee's.
	transitTo map[Op]Op
	// retx counts the retransmits at each service per window.
	retx retxCounts
}

// NetworkLocation is where the network time of a call operation was
// charged: the callee's operation when the model put its grown transit at
// the callee, else op itself.
func (m *Model) NetworkLocation(op Op) Op {
	if to, ok := m.transitTo[op]; ok {
		return to
	}
	return op
}

// Service returns the candidate of a service (nil when it has none).
func (m *Model) Service(name string) *Candidate {
	for i := range m.Candidates {
		if m.Candidates[i].Service == name {
			return &m.Candidates[i]
		}
	}
	return nil
}

// Op returns the part of an operation (nil when it has none).
func (m *Model) Op(op Op) *OpPart {
	if c := m.Service(op.Service); c != nil {
		for i := range c.Ops {
			if c.Ops[i].Op == op {
				return &c.Ops[i]
			}
		}
	}
	return nil
}

// key is what critical-path time is charged to: an operation's own time
// (per component) or a transit between two operations.
type key struct {
	op      Op
	comp    int
	transit bool
	to      Op // the callee of a transit
}

// Build decomposes the incident's change (see the package doc).
func Build(in Input, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{minTraces: cfg.MinTraces, alpha: cfg.Alpha}
	traces, err := chargeTraces(in)
	if err != nil {
		return nil, err
	}
	ep := groupByRoot(traces)
	for _, g := range ep {
		m.Traces[0] += len(g[0])
		m.Traces[1] += len(g[1])
	}
	deltas, tests := m.latencyDeltas(ep, cfg)
	parts := map[Op]*Part{}
	part := func(op Op) *Part {
		p := parts[op]
		if p == nil {
			p = &Part{Q: 1}
			parts[op] = p
		}
		return p
	}
	m.retx = countRetransmits(in)
	assign := resolveTransits(deltas, tests, m.retx.growth(), cfg.Alpha)
	moved := map[Op]float64{}
	m.transitTo = map[Op]Op{}
	for k, d := range deltas {
		p := part(assign[k].op)
		p.DeltaNS[assign[k].comp] += d
		if at := assign[k].op; k.transit && at != k.op && d > moved[k.op] {
			moved[k.op], m.transitTo[k.op] = d, at
		}
	}
	if m.Baseline {
		for op, q := range m.testParts(ep, assign, parts, cfg) {
			part(op).Q = q
		}
	}
	if in.Shape != nil && m.Baseline {
		m.ShapeChange = in.Shape.Change
		for _, b := range in.Shape.Blames {
			p := part(b.Op)
			p.Shape = b.Share
			for _, t := range b.Tests {
				p.Q = math.Min(p.Q, t.Q)
			}
		}
		induce(parts, in.Shape)
	}
	m.finish(parts, cfg)
	return m, nil
}

// induce moves the latency growth of a service that receives more calls
// per request to the operation blamed for those extra calls: a callee that
// slows down because it is called more (a cache whose misses send reads
// to the store, an N+1 loop) is the symptom; the change that multiplied
// the calls is the cause. A callee that fails and is retried is not
// moved (shape.Blame.Retried: its own failure is the cause). The growth
// moved is the callee's positive deltas, all of them: the model cannot
// split a callee's growth between its added load and a fault of its own.
func induce(parts map[Op]*Part, sh *shape.Result) {
	to := map[string]Op{}
	weight := map[string]float64{}
	for _, b := range sh.Blames {
		for _, callee := range b.ExtraCallsTo {
			if b.Traces > weight[callee.Service] {
				to[callee.Service], weight[callee.Service] = b.Op, b.Traces
			}
		}
	}
	for op, p := range parts {
		cause, ok := to[op.Service]
		if !ok || op.Name == "" || cause.Service == op.Service {
			continue
		}
		var moved float64
		for comp, d := range p.DeltaNS {
			if d > 0 {
				moved += d
				p.DeltaNS[comp] = 0
			}
		}
		if moved > 0 {
			c := parts[cause]
			if c == nil {
				c = &Part{Q: 1}
				parts[cause] = c
			}
			c.InducedNS += moved
			c.Q = math.Min(c.Q, p.Q)
		}
	}
}

// trace is one trace's critical-path time per key.
type trace struct {
	root    Op
	base    bool
	pathNS  int64
	charges map[key]int64
}

// chargeTraces computes every trace's critical path and charges it.
func chargeTraces(in Input) ([]trace, error) {
	ov := make(map[int]*correlate.Overlay, len(in.Overlays))
	for i := range in.Overlays {
		if j := int(in.Overlays[i].SpanIndex); j >= 0 && j < len(in.Spans) {
			ov[j] = &in.Overlays[i]
		}
	}
	byTrace := map[evidence.TraceID][]int{}
	var order []evidence.TraceID
	for i := range in.Spans {
		id := in.Spans[i].TraceID
		if _, ok := byTrace[id]; !ok {
			order = append(order, id)
		}
		byTrace[id] = append(byTrace[id], i)
	}
	var (
		tr    critpath.Tracer
		local []evidence.Span
		out   []trace
	)
	for _, id := range order {
		for _, u := range units(in.Spans, byTrace[id]) {
			local = local[:0]
			for _, g := range u.idx {
				local = append(local, in.Spans[g])
			}
			if u.job {
				local[0].ParentSpanID = evidence.SpanID{} // the job's own root
			}
			t, ok := chargeUnit(&tr, local, u.idx, ov, in.IsBaseline)
			if ok {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// unit is one unit of work of a trace: positions in the input spans,
// a job's root first.
type unit struct {
	idx []int
	job bool
}

// units splits one trace's spans (idx: positions in spans) into units of
// work: the request, and every job it handed off without waiting for it —
// a consumer span whose parent is a producer span, or a span starting
// after its parent ended — each with its subtree (jobs nested in a job
// split off again). A job's latency is its own: it is not on the
// request's critical path, yet a slow job is an incident of its own.
func units(spans []evidence.Span, idx []int) []unit {
	pos := make(map[evidence.SpanID]int, len(idx)) // span id -> position in idx
	for k, g := range idx {
		pos[spans[g].SpanID] = k
	}
	parent := make([]int, len(idx))
	detached := make([]bool, len(idx))
	jobs := 0
	for k, g := range idx {
		sp := &spans[g]
		parent[k] = -1
		if p, ok := pos[sp.ParentSpanID]; ok && !sp.ParentSpanID.IsZero() && p != k {
			parent[k] = p
			ps := &spans[idx[p]]
			if sp.HandedOffFrom(ps) {
				detached[k] = true
				jobs++
			}
		}
	}
	if jobs == 0 {
		return []unit{{idx: idx}}
	}
	// owner[k]: the job span k belongs to (-1: the request), by the nearest
	// detached ancestor-or-self; a parent cycle (malformed input) is the
	// request's.
	owner := make([]int, len(idx))
	const unknown = -2
	for k := range owner {
		owner[k] = unknown
	}
	var find func(k, depth int) int
	find = func(k, depth int) int {
		if owner[k] != unknown {
			return owner[k]
		}
		o := -1
		switch {
		case detached[k]:
			o = k
		case parent[k] >= 0 && depth < len(idx):
			o = find(parent[k], depth+1)
		}
		owner[k] = o
		return o
	}
	byOwner := map[int]*unit{-1: {}}
	order := []int{-1}
	for k := range idx {
		o := find(k, 0)
		u := byOwner[o]
		if u == nil {
			u = &unit{job: true, idx: []int{idx[o]}}
			byOwner[o] = u
			order = append(order, o)
		}
		if k != o {
			u.idx = append(u.idx, idx[k])
		}
	}
	out := make([]unit, 0, len(order))
	for _, o := range order {
		if u := byOwner[o]; len(u.idx) > 0 {
			out = append(out, *u)
		}
	}
	return out
}

// chargeUnit charges the critical path of one unit of work (local, the
// spans of idx, its root first).
func chargeUnit(tr *critpath.Tracer, local []evidence.Span, idx []int, ov map[int]*correlate.Overlay, isBaseline func(*evidence.Span) bool) (trace, bool) {
	p, err := tr.Path(local)
	if err != nil {
		return trace{}, false // no root: not a request
	}
	root := &local[p.RootIndex]
	t := trace{root: Op{Service: root.Service, Name: root.Name}, pathNS: p.DurationNS(), charges: map[key]int64{}}
	if isBaseline != nil {
		t.base = isBaseline(root)
	}
	kids := children(local)
	for _, seg := range p.Segments {
		sp := &local[seg.Index]
		if seg.SelfNS <= 0 {
			continue
		}
		op := Op{Service: sp.Service, Name: sp.Name}
		if c, ok := transitCallee(local, kids, seg.Index); ok {
			t.charges[key{op: op, comp: CompNetwork, transit: true, to: Op{Service: local[c].Service, Name: local[c].Name}}] += seg.SelfNS
			continue
		}
		rest := seg.SelfNS
		if o := ov[idx[seg.Index]]; o != nil {
			dur := max(sp.DurationNS(), 1)
			for _, c := range []struct {
				comp int
				ns   int64
			}{{CompLock, o.FutexWaitNS}, {CompIO, o.IOWaitNS()}, {CompRunqueue, o.RunqueueNS}} {
				share := min(rest, int64(float64(seg.SelfNS)*math.Min(1, float64(c.ns)/float64(dur))))
				if share > 0 {
					t.charges[key{op: op, comp: c.comp}] += share
					rest -= share
				}
			}
		}
		t.charges[key{op: op, comp: CompSelf}] += rest
	}
	return t, true
}

// children lists each local span's children.
func children(spans []evidence.Span) [][]int {
	pos := make(map[evidence.SpanID]int, len(spans))
	for i := range spans {
		pos[spans[i].SpanID] = i
	}
	kids := make([][]int, len(spans))
	for i := range spans {
		if p, ok := pos[spans[i].ParentSpanID]; ok && !spans[i].ParentSpanID.IsZero() && p != i {
			kids[p] = append(kids[p], i)
		}
	}
	return kids
}

// transitCallee reports whether span i is a call into other services (not
// a root; not a server or consumer span; every child in another service)
// and returns its longest child.
func transitCallee(spans []evidence.Span, kids [][]int, i int) (int, bool) {
	sp := &spans[i]
	if sp.ParentSpanID.IsZero() || len(kids[i]) == 0 || sp.Kind == evidence.KindServer || sp.Kind == evidence.KindConsumer {
		return 0, false
	}
	best := -1
	for _, c := range kids[i] {
		if spans[c].Service == sp.Service {
			return 0, false
		}
		if best < 0 || spans[c].DurationNS() > spans[best].DurationNS() {
			best = c
		}
	}
	return best, true
}

// groupByRoot groups traces by root operation and window.
func groupByRoot(ts []trace) map[Op]*[2][]*trace {
	out := map[Op]*[2][]*trace{}
	for i := range ts {
		t := &ts[i]
		g := out[t.root]
		if g == nil {
			g = &[2][]*trace{}
			out[t.root] = g
		}
		w := 1
		if t.base {
			w = 0
		}
		g[w] = append(g[w], t)
	}
	return out
}

// latencyDeltas returns each key's change of critical-path time per
// request and, for the keys that grew, their BH-adjusted q-values.
func (m *Model) latencyDeltas(ep map[Op]*[2][]*trace, cfg Config) (map[key]float64, map[key]float64) {
	var matched []Op
	var incMatched int
	for op, g := range ep {
		if len(g[0]) >= cfg.MinTraces && len(g[1]) >= cfg.MinTraces {
			matched = append(matched, op)
			incMatched += len(g[1])
		} else if len(g[1]) > 0 {
			m.Unmatched++
		}
	}
	slices.SortFunc(matched, func(a, b Op) int { return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Name, b.Name)) })
	m.Matched = len(matched)
	deltas := map[key]float64{}
	if len(matched) == 0 {
		// No baseline: the incident's own critical-path time per request.
		n := float64(m.Traces[1])
		for _, g := range ep {
			for _, t := range g[1] {
				m.MeanPathNS[1] += float64(t.pathNS) / n
				for k, v := range t.charges {
					deltas[k] += float64(v) / n
				}
			}
		}
		m.LatencyChange = 1
		return deltas, nil
	}
	m.Baseline = true
	type values struct{ inc, base []float64 }
	centred := map[key]*values{} // per-trace values of the matched root operations
	for _, op := range matched {
		g := ep[op]
		w := float64(len(g[1])) / float64(incMatched)
		means := [2]map[key]float64{{}, {}}
		for win := range 2 {
			n := float64(len(g[win]))
			for _, t := range g[win] {
				m.MeanPathNS[win] += w * float64(t.pathNS) / n
				for k, v := range t.charges {
					means[win][k] += float64(v) / n
				}
			}
		}
		for k := range union(means[0], means[1]) {
			deltas[k] += w * (means[1][k] - means[0][k])
			v := centred[k]
			if v == nil {
				v = &values{}
				centred[k] = v
			}
			for _, t := range g[1] {
				v.inc = append(v.inc, float64(t.charges[k]))
			}
			for _, t := range g[0] {
				v.base = append(v.base, float64(t.charges[k]))
			}
		}
	}
	var ks []key
	var ps []float64
	for k, v := range centred {
		if deltas[k] <= 0 {
			continue
		}
		ks = append(ks, k)
		p := changeP(v.inc, v.base)
		ps = append(ps, p)
	}
	qs := map[key]float64{}
	if len(ps) > 0 {
		bh, err := stattest.BenjaminiHochberg(ps, cfg.Alpha)
		if err == nil {
			for i, k := range ks {
				qs[k] = bh.Adjusted[i]
			}
		}
	}
	// M_lat: how much the mean critical path grew, or what its
	// significant increases add up to when that is more — a slowdown in
	// one place is not cancelled by an unrelated speed-up elsewhere (a
	// cache that warmed, a quieter disk, another endpoint's noise).
	if m.MeanPathNS[0] > 0 {
		var grown float64
		for k, q := range qs {
			if q < cfg.Alpha {
				grown += deltas[k]
			}
		}
		growth := math.Max(m.MeanPathNS[1]-m.MeanPathNS[0], grown)
		m.LatencyChange = math.Min(1, math.Max(0, growth/m.MeanPathNS[0]))
	}
	return deltas, qs
}

// changeP tests a key's per-trace time between the windows in three
// parts: how many traces spend any time on it (Fisher), how much those that
// do spend (Mann–Whitney on the non-zero values), and how many spend more
// than the baseline's 95th percentile (Fisher: a heavier tail, which is
// how network loss and rare stalls show); the smallest p, times three.
// Most traces spend nothing on most keys, so a rank test over all traces
// would see ties at zero and miss a few traces' large growth.
func changeP(inc, base []float64) float64 {
	var nz [2][]float64
	for w, vs := range [][]float64{base, inc} {
		for _, v := range vs {
			if v != 0 {
				nz[w] = append(nz[w], v)
			}
		}
	}
	pf, _ := stattest.FisherTwoSided(len(nz[1]), len(inc)-len(nz[1]), len(nz[0]), len(base)-len(nz[0]))
	pm, _ := stattest.MannWhitney(nz[1], nz[0])
	p := math.Min(pf, pm)
	if len(base) > 0 {
		sorted := slices.Clone(base)
		slices.Sort(sorted)
		q95 := sorted[min(len(sorted)-1, int(math.Ceil(tailQuantile*float64(len(sorted))))-1)]
		above := func(vs []float64) int {
			n := 0
			for _, v := range vs {
				if v > q95 {
					n++
				}
			}
			return n
		}
		ai, ab := above(inc), above(base)
		pt, _ := stattest.FisherTwoSided(ai, len(inc)-ai, ab, len(base)-ab)
		p = math.Min(p, pt)
	}
	return math.Min(1, 3*p)
}

// tailQuantile is the baseline quantile the tail test counts exceedances of.
const tailQuantile = 0.95

func union(a, b map[key]float64) map[key]bool {
	out := make(map[key]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// resolveTransits says where each key's time is charged: a transit goes
// to the end whose TCP retransmits grew more (kernel evidence of which end
// loses packets); else to the end whose side of the calls grew more
// consistently — the caller when the share of its outbound transits that
// grew significantly (q < alpha) is higher than the share of the callee's
// inbound ones (a client-side pool or queue delays every call it makes,
// not the callee's other callers), then when more of them grew (a delayed
// pod grows all of its calls); the callee on a tie. Other keys stay.
func resolveTransits(deltas, tests map[key]float64, retx map[string]float64, alpha float64) map[key]key {
	type side struct{ grown, total int }
	out, in := map[string]*side{}, map[string]*side{}
	count := func(m map[string]*side, svc string, grown bool) {
		s := m[svc]
		if s == nil {
			s = &side{}
			m[svc] = s
		}
		s.total++
		if grown {
			s.grown++
		}
	}
	for k, d := range deltas {
		if !k.transit {
			continue
		}
		q, ok := tests[k]
		grown := d > 0 && ok && q < alpha
		count(out, k.op.Service, grown)
		count(in, k.to.Service, grown)
	}
	share := func(s *side) float64 { return float64(s.grown) / float64(s.total) }
	res := make(map[key]key, len(deltas))
	for k := range deltas {
		at := k
		if k.transit {
			at = key{op: k.to, comp: CompNetwork}
			rc, rt := retx[k.op.Service], retx[k.to.Service]
			co, ci := out[k.op.Service], in[k.to.Service]
			caller := rc > rt && rc > 0
			if rc == rt {
				caller = cmp.Or(cmp.Compare(share(co), share(ci)), cmp.Compare(co.grown, ci.grown)) > 0
			}
			if caller {
				at = key{op: k.op, comp: CompNetwork}
			}
		}
		res[k] = at
	}
	return res
}

// countRetransmits counts, per service and window, the TCP retransmits on
// its connections, and the traces of each window (growth: retransmits per
// trace of each window; the incident's alone without a baseline). A retransmit
// counts at both known ends of its connection: the local end is the
// service listening on its local port, else the retransmit's service, else
// the service of its process; the remote end is the service listening on
// its remote port (the listening ports are the server.port of the
// services' server spans; a port two services claim names neither). Loss
// on a path shows at both of its ends, so which end is at fault is
// decided by what the lossy connections share: an end whose every
// connection loses packets (a sender's own egress, a server all of whose
// clients retransmit to it) collects more than each of its peers.
func countRetransmits(in Input) retxCounts {
	pid := map[int64]string{}
	listening := map[int64]string{}
	traces := [2]map[evidence.TraceID]bool{{}, {}}
	for i := range in.Spans {
		sp := &in.Spans[i]
		if sp.ProcessPID != 0 {
			pid[sp.ProcessPID] = sp.Service
		}
		if sp.Kind == evidence.KindServer {
			if v, ok := sp.Attrs.Get(attrServerPort); ok && v.Kind == evidence.KindInt && v.Int > 0 {
				if old, seen := listening[v.Int]; !seen {
					listening[v.Int] = sp.Service
				} else if old != sp.Service {
					listening[v.Int] = ""
				}
			}
		}
		w := 1
		if in.IsBaseline != nil && in.IsBaseline(sp) {
			w = 0
		}
		traces[w][sp.TraceID] = true
	}
	n := [2]map[string]float64{{}, {}}
	for i := range in.Kernel {
		k := &in.Kernel[i]
		if k.Type != evidence.KernelTCPRetransmit {
			continue
		}
		local := cmp.Or(listeningService(k, attrLocalPort, listening), k.Service, pid[k.PID])
		remote := listeningService(k, attrRemotePort, listening)
		w := 1
		if in.KernelIsBaseline != nil && in.KernelIsBaseline(k) {
			w = 0
		}
		if local != "" {
			n[w][local]++
		}
		if remote != "" && remote != local {
			n[w][remote]++
		}
	}
	return retxCounts{n: n, traces: [2]int{len(traces[0]), len(traces[1])}}
}

// retxCounts are the retransmits counted at each service per window (0
// baseline, 1 incident) and the windows' traces.
type retxCounts struct {
	n      [2]map[string]float64
	traces [2]int
}

// growth is, per service, the retransmits per incident trace less those
// per baseline trace.
func (r retxCounts) growth() map[string]float64 {
	out := map[string]float64{}
	for svc, c := range r.n[1] {
		out[svc] = c / float64(max(1, r.traces[1]))
		if r.traces[0] > 0 {
			out[svc] -= r.n[0][svc] / float64(r.traces[0])
		}
	}
	return out
}

// increaseP is the p-value that the retransmits at svc happen at a higher
// rate per trace in the incident than in the baseline (1 without a
// baseline).
func (r retxCounts) increaseP(svc string) float64 {
	if r.n[1] == nil {
		return 1
	}
	return stattest.RateIncrease(int(r.n[0][svc]), int(r.n[1][svc]), float64(r.traces[0]), float64(r.traces[1]))
}

// Attributes that tie a retransmit to a connection's server.
const (
	attrServerPort = "server.port"
	attrLocalPort  = "debugai.tcp.local_port"
	attrRemotePort = "debugai.tcp.remote_port"
)

// listeningService is the service listening on the retransmit's port
// named by the attribute key ("" when unknown).
func listeningService(k *evidence.KernelEvent, port string, listening map[int64]string) string {
	if v, ok := k.Attrs.Get(port); ok && v.Kind == evidence.KindInt {
		return listening[v.Int]
	}
	return ""
}

// testParts tests, for every service and operation whose critical-path
// time grew, the per-trace time charged to it between the windows
// (changeP over the matched root operations' traces), with
// Benjamini–Hochberg over services and operations separately. Services
// are keyed by an Op with an empty Name.
func (m *Model) testParts(ep map[Op]*[2][]*trace, assign map[key]key, parts map[Op]*Part, cfg Config) map[Op]float64 {
	grown := map[Op]bool{}
	svcDelta := map[string]float64{}
	for op, p := range parts {
		svcDelta[op.Service] += p.Delta()
		if p.Delta() > 0 {
			grown[op] = true
		}
	}
	for svc, d := range svcDelta {
		if d > 0 {
			grown[Op{Service: svc}] = true
		}
	}
	type values struct{ inc, base []float64 }
	vals := map[Op]*values{}
	for op := range grown {
		vals[op] = &values{}
	}
	for _, g := range ep {
		if len(g[0]) < cfg.MinTraces || len(g[1]) < cfg.MinTraces {
			continue
		}
		for w := range 2 {
			for _, t := range g[w] {
				per := map[Op]float64{}
				for k, v := range t.charges {
					op := assign[k].op
					per[op] += float64(v)
					per[Op{Service: op.Service}] += float64(v)
				}
				for op, v := range vals {
					if w == 0 {
						v.base = append(v.base, per[op])
					} else {
						v.inc = append(v.inc, per[op])
					}
				}
			}
		}
	}
	out := map[Op]float64{}
	for _, level := range []bool{true, false} { // services, then operations
		var ops []Op
		var ps []float64
		for op, v := range vals {
			if (op.Name == "") == level {
				ops = append(ops, op)
				ps = append(ps, changeP(v.inc, v.base))
			}
		}
		if len(ps) == 0 {
			continue
		}
		bh, err := stattest.BenjaminiHochberg(ps, cfg.Alpha)
		if err != nil {
			continue
		}
		for i, op := range ops {
			out[op] = bh.Adjusted[i]
		}
	}
	return out
}

// finish weighs the parts into shares and sorts the candidates.
func (m *Model) finish(parts map[Op]*Part, cfg Config) {
	byService := map[string]*Candidate{}
	for op, p := range parts {
		if op.Name == "" {
			continue // a service's own test (testParts)
		}
		c := byService[op.Service]
		if c == nil {
			c = &Candidate{Service: op.Service, Part: Part{Q: 1}}
			byService[op.Service] = c
		}
		c.Ops = append(c.Ops, OpPart{Op: op, Part: *p})
		for i, v := range p.DeltaNS {
			c.DeltaNS[i] += v
		}
		c.InducedNS += p.InducedNS
		c.Shape += p.Shape
		if p.Shape > 0 {
			c.Q = math.Min(c.Q, p.Q) // the shape tests
		}
	}
	for _, c := range byService {
		if sp := parts[Op{Service: c.Service}]; sp != nil {
			c.Q = math.Min(c.Q, sp.Q)
		}
	}
	var totalSvc, totalOp float64
	for _, c := range byService {
		totalSvc += math.Max(0, c.Delta())
		for _, o := range c.Ops {
			totalOp += math.Max(0, o.Delta())
		}
	}
	weigh := func(p *Part, total float64) {
		if total > 0 {
			p.Latency = math.Max(0, p.Delta()) / total
		}
		if !m.Baseline {
			p.Q, p.Significant = 0, p.Latency > 0
		} else {
			p.Significant = p.Q < cfg.Alpha && (p.Latency > 0 || p.Shape > 0)
		}
		if w := m.LatencyChange + m.ShapeChange; w > 0 && p.Significant {
			p.Explained = (m.LatencyChange*p.Latency + m.ShapeChange*p.Shape) / w
		}
	}
	for _, c := range byService {
		weigh(&c.Part, totalSvc)
		for i := range c.Ops {
			weigh(&c.Ops[i].Part, totalOp)
		}
		slices.SortFunc(c.Ops, func(a, b OpPart) int {
			return cmp.Or(cmp.Compare(b.Explained, a.Explained), cmp.Compare(b.Delta(), a.Delta()), cmp.Compare(a.Op.Name, b.Op.Name))
		})
		m.Candidates = append(m.Candidates, *c)
	}
	slices.SortFunc(m.Candidates, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(b.Explained, a.Explained), cmp.Compare(b.Delta(), a.Delta()), cmp.Compare(a.Service, b.Service))
	})
}
