package explain

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/debugai/debugai/detect/shape"
	"github.com/debugai/debugai/evidence"
)

// Kind is the finding kind of a candidate the model itself reports.
const Kind = "change_explained"

// Mechanism codes in a change_explained finding's "mechanism" attribute:
// the component indexes, then these.
const (
	MechanismShape      = NumComponents     // lost calls, early ends, errors
	MechanismExtraCalls = NumComponents + 1 // multiplied calls (retries)
	MechanismInduced    = NumComponents + 2 // callees slowed by its extra calls
)

// Attribute keys the model adds to every finding it scores.
const (
	AttrMechanismShare = "mechanism_share"
	AttrOperationShare = "operation_share"
	AttrServiceQ       = "service_q"
)

// Index resolves what findings cite, to locate them.
type Index struct {
	spans    map[string]*evidence.Span
	kernel   map[string]*evidence.KernelEvent
	edges    map[string]*evidence.LockEdge
	pid      map[pidKey]string
	services map[string]bool
	ops      map[Op]bool
	entry    map[Op]string // the endpoint each operation mostly runs in
}

type pidKey struct {
	node string
	pid  int64
}

// NewIndex indexes the analysed evidence.
func NewIndex(spans []evidence.Span, kernel []evidence.KernelEvent, edges []evidence.LockEdge) *Index {
	ix := &Index{spans: map[string]*evidence.Span{}, kernel: map[string]*evidence.KernelEvent{},
		edges: map[string]*evidence.LockEdge{}, pid: map[pidKey]string{}, services: map[string]bool{}, ops: map[Op]bool{}}
	for i := range spans {
		sp := &spans[i]
		ix.spans[sp.ID()] = sp
		ix.services[sp.Service] = true
		ix.ops[Op{Service: sp.Service, Name: sp.Name}] = true
		if sp.ProcessPID != 0 && sp.Service != "" {
			ix.pid[pidKey{sp.Host, sp.ProcessPID}] = sp.Service
			ix.pid[pidKey{"", sp.ProcessPID}] = sp.Service
		}
	}
	ix.entry = EntryOperations(spans)
	for i := range kernel {
		ix.kernel[kernel[i].ID()] = &kernel[i]
	}
	for i := range edges {
		ix.edges[edges[i].ID()] = &edges[i]
	}
	return ix
}

// processService names the service of a process: its own spans' service.
func (ix *Index) processService(node string, pid int64) string {
	if s := ix.pid[pidKey{node, pid}]; s != "" {
		return s
	}
	return ix.pid[pidKey{"", pid}]
}

// Locate returns the service (and operation, when one is named) a finding
// is about: where its detector placed it (Finding.Service, when that is a
// known service: a lock convoy at its holder's operation), else the
// service its subject names when that is a known service, else the one
// most of its citations resolve to. The operation is the longest start of
// the rest of the subject that names an operation of that service
// ("GET /balance p50 slope" is about GET /balance); a subject naming an
// edge ("a/x -> b/y") names no operation.
func (ix *Index) Locate(f *evidence.Finding) (string, string) {
	if f.Service != "" && ix.services[f.Service] {
		if ix.ops[Op{Service: f.Service, Name: f.Operation}] {
			return f.Service, f.Operation
		}
		return f.Service, ""
	}
	if i := strings.IndexAny(f.Subject, "/ "); i > 0 && ix.services[f.Subject[:i]] {
		svc, rest := f.Subject[:i], strings.TrimSpace(f.Subject[i+1:])
		if strings.Contains(rest, " -> ") {
			return svc, "" // an edge, not an operation
		}
		return svc, ix.operationPrefix(svc, rest)
	}
	if ix.services[f.Subject] {
		return f.Subject, ""
	}
	votes := map[string]int{}
	for _, r := range f.Refs {
		var svc string
		switch {
		case ix.spans[r.ID] != nil:
			svc = ix.spans[r.ID].Service
		case ix.kernel[r.ID] != nil:
			k := ix.kernel[r.ID]
			svc = cmp.Or(k.Service, ix.processService(k.Node, k.PID))
		case ix.edges[r.ID] != nil:
			e := ix.edges[r.ID]
			svc = cmp.Or(e.Service, ix.processService(e.Node, e.PID))
		}
		if svc != "" {
			votes[svc]++
		}
	}
	best := ""
	for s, n := range votes {
		if best == "" || n > votes[best] || n == votes[best] && s < best {
			best = s
		}
	}
	return best, ""
}

// Endpoint is the endpoint operation op of svc runs in: the outermost span
// of its service and unit of work (an internal step such as a pool
// acquire or a commit is reported at the request or job it serves); op
// itself when it is one, or when it is unknown.
func (ix *Index) Endpoint(svc, op string) string {
	if e := ix.entry[Op{Service: svc, Name: op}]; e != "" {
		return e
	}
	return op
}

// operationPrefix is the longest start of rest, cut at spaces, that is an
// operation of svc; "" when none is.
func (ix *Index) operationPrefix(svc, rest string) string {
	for op := rest; op != ""; {
		if ix.ops[Op{Service: svc, Name: op}] {
			return op
		}
		i := strings.LastIndexByte(op, ' ')
		if i < 0 {
			break
		}
		op = strings.TrimSpace(op[:i])
	}
	return ""
}

// locate is Locate with two corrections the model knows of: a
// critical-path component's subject names its operation and then the
// component, and a finding about a call's network time is about the end
// the model charged that time to (the callee whose packets are lost, not
// the caller that waits).
func (m *Model) locate(f *evidence.Finding, ix *Index) (string, string) {
	svc, op := ix.Locate(f)
	comp := mechanismOf(f)
	if f.Kind == "critical_path_component" {
		for _, name := range ComponentNames {
			if t, ok := strings.CutSuffix(op, " "+name); ok {
				op = t
				break
			}
		}
	}
	if comp == CompNetwork && op != "" {
		to := m.NetworkLocation(Op{Service: svc, Name: op})
		svc, op = to.Service, to.Name
	}
	return svc, op
}

// mechanismOf is the component a finding describes (-1: the whole change
// of its location).
func mechanismOf(f *evidence.Finding) int {
	if f.Kind == "critical_path_component" {
		for comp, name := range ComponentNames {
			if comp != CompSelf && strings.HasSuffix(f.Subject, " "+name) {
				return comp
			}
		}
		return -1
	}
	switch f.Kind {
	case "lock_convoy", "lock_inversion":
		return CompLock
	case "io_latency":
		return CompIO
	case "starvation", "service_stall":
		return CompRunqueue
	case "page_fault_storm":
		return CompSelf // faulting threads stall in their own time
	case "retransmit_tail", "network_gap", "service_network_delay":
		return CompNetwork
	case shape.Kind:
		return MechanismShape
	}
	return -1
}

// Score locates every finding (Finding.Service and Operation), gives it the
// share of the change its location explains
// (Finding.Score and evidence.AttrExplainedShare), how much of that its
// mechanism covers, its operation's share, and whether it is pre-existing;
// then sorts them (call Corroborate first): explained share, mechanism share, operation share,
// confidence, id.
func (m *Model) Score(fs []evidence.Finding, ix *Index) {
	for i := range fs {
		f := &fs[i]
		if f.Attrs == nil {
			f.Attrs = map[string]float64{}
		}
		svc, op := m.locate(f, ix)
		if svc != "" && ix.services[svc] {
			f.Service, f.Operation = svc, ix.Endpoint(svc, op)
		}
		c := m.Service(svc)
		if c == nil {
			f.Score = 0
			f.Attrs[evidence.AttrExplainedShare] = 0
			if m.Baseline && svc != "" {
				f.Attrs[evidence.AttrPreExisting] = 1
			}
			continue
		}
		f.Score = c.Explained
		f.Attrs[evidence.AttrExplainedShare] = c.Explained
		f.Attrs[AttrServiceQ] = c.Q
		if op != "" {
			if p := m.Op(Op{Service: svc, Name: op}); p != nil {
				f.Attrs[AttrOperationShare] = p.Explained
			}
		}
		mech, measured := m.mechanismShare(c, f)
		f.Attrs[AttrMechanismShare] = mech
		// Pre-existing: a location that did not change, or a mechanism
		// whose component measurably did not grow there.
		if m.Baseline && (!c.Significant || c.Explained < 0.01 || measured && mech == 0) {
			f.Attrs[evidence.AttrPreExisting] = 1
		}
	}
	slices.SortStableFunc(fs, func(a, b evidence.Finding) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score),
			cmp.Compare(b.Attrs[AttrMechanismShare], a.Attrs[AttrMechanismShare]),
			cmp.Compare(b.Attrs[AttrOperationShare], a.Attrs[AttrOperationShare]),
			cmp.Compare(b.Confidence, a.Confidence), strings.Compare(a.ID, b.ID))
	})
}

// comparativeQ is the q-value of a finding that itself compares its
// location with the same baseline (gaps and stalls against baseline calls,
// a KS test of baseline against incident), or whose mechanism's kernel
// events grew significantly there between the windows (retransmits at
// either end of the location's connections, per trace); ok is false for
// any other.
func (m *Model) comparativeQ(f *evidence.Finding, svc string) (float64, bool) {
	switch f.Kind {
	case "retransmit_tail":
		return m.retx.increaseP(svc), svc != ""
	case "service_stall", "service_network_delay", "network_gap":
		if f.Attrs["baseline_calls"] > 0 {
			if q, ok := f.Attrs["p_adjusted"]; ok {
				return q, true
			}
			q, ok := f.Attrs["p_value"]
			return q, ok
		}
	case "latency_ks":
		if strings.Contains(f.Subject, " baseline..incident") {
			q, ok := f.Attrs["q"]
			return q, ok
		}
	}
	return 0, false
}

// Corroborate lets a detector's own test of a location against the same
// baseline count as the evidence strength of that location's change when
// the model's test alone did not reach it (few traces cross a service, so
// a per-trace test has little power where a per-call test has more), then
// weighs the shares again.
func (m *Model) Corroborate(fs []evidence.Finding, ix *Index) {
	if !m.Baseline {
		return
	}
	changed := false
	for i := range fs {
		svc, _ := m.locate(&fs[i], ix)
		q, ok := m.comparativeQ(&fs[i], svc)
		if !ok || q >= m.alpha {
			continue
		}
		if c := m.Service(svc); c != nil && !c.Significant && (c.Latency > 0 || c.Shape > 0) {
			c.Significant, c.Q, changed = true, q, true
		}
	}
	if !changed {
		return
	}
	w := m.LatencyChange + m.ShapeChange
	for i := range m.Candidates {
		if c := &m.Candidates[i]; c.Significant && w > 0 {
			c.Explained = (m.LatencyChange*c.Latency + m.ShapeChange*c.Shape) / w
		}
	}
	slices.SortFunc(m.Candidates, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(b.Explained, a.Explained), cmp.Compare(b.Delta(), a.Delta()), cmp.Compare(a.Service, b.Service))
	})
}

// mechanismShare is the part of the candidate's change the finding's
// mechanism covers, and whether it could be measured (a kernel component
// with no overlay time in either window cannot).
func (m *Model) mechanismShare(c *Candidate, f *evidence.Finding) (float64, bool) {
	if f.Kind == Kind {
		return 0.25, false // the candidate itself, ahead of generic findings
	}
	comp := mechanismOf(f)
	switch {
	case comp < 0:
		return 0, false
	case comp == MechanismShape:
		if c.Explained <= 0 {
			return 0, true
		}
		w := m.LatencyChange + m.ShapeChange
		return math.Min(1, m.ShapeChange*c.Shape/w/c.Explained), true
	}
	// A mechanism seen at the location (a detector's observation of it)
	// leads the location's generic findings and its own change_explained
	// finding (0.5), the more so the more of its change it covers; one
	// whose components did not grow at all is pre-existing. A
	// critical-path component is not an observation but a part of the
	// change itself: its share is the part it covers, so it leads the
	// change_explained finding (0.25) only when it covers more than a
	// quarter of the change.
	var grown float64
	measured := false
	for _, k := range stretched(f, comp) {
		grown += c.DeltaNS[k]
		measured = measured || c.DeltaNS[k] != 0
	}
	if !measured {
		return 0.5, false // no overlay time of it in either window: not measurable here
	}
	if grown < 0 || !m.Baseline && grown <= 0 {
		return 0, true
	}
	total := math.Max(c.Delta(), grown)
	if f.Kind == "critical_path_component" {
		return math.Min(1, grown/total), true
	}
	return 0.5 + 0.5*math.Min(1, grown/total), true
}

// stretched lists the critical-path components a mechanism lengthens: its
// own; for CPU starvation (run-queue waits, a CPU quota's throttling) also
// the location's own time and the transit into it — a throttled or
// waiting thread is not on the run queue while dequeued, and a server that
// cannot run yet has not started its span; for a lock, its waiters' lock
// time, its holder's blocking under it (I/O, or transit for a call) and
// the transit into a server whose threads are blocked.
func stretched(f *evidence.Finding, comp int) []int {
	switch f.Kind {
	case "starvation", "service_stall":
		return []int{CompRunqueue, CompSelf, CompNetwork}
	case "lock_convoy", "lock_inversion":
		// Waiters wait on the lock; the holder's hold is its blocking
		// under it (a disk flush, a call: I/O or transit); a server whose
		// threads are blocked starts its spans late (transit into it).
		return []int{CompLock, CompIO, CompNetwork}
	}
	return []int{comp}
}

// Findings reports the candidates that explain at least minShare of the
// change as change_explained findings, citing their leading operation's
// slowest incident spans (or, for a shape change, package shape's
// exemplars).
func (m *Model) Findings(spans []evidence.Span, isBase func(*evidence.Span) bool, sh *shape.Result, minShare float64) []evidence.Finding {
	var out []evidence.Finding
	if m.Traces[1] < m.minTraces {
		return nil // too few requests to speak of a change
	}
	for _, c := range m.Candidates {
		if c.Explained < minShare || len(c.Ops) == 0 {
			continue
		}
		top := c.Ops[0]
		mech, mechNS := -1, 0.0
		for comp, v := range c.DeltaNS {
			if v > mechNS {
				mech, mechNS = comp, v
			}
		}
		if c.InducedNS > mechNS {
			mech = MechanismInduced
		}
		w := m.LatencyChange + m.ShapeChange
		if w > 0 && m.ShapeChange*c.Shape > m.LatencyChange*c.Latency {
			mech = MechanismShape
			if sh != nil {
				if b := sh.BlameOf(top.Op); b.Increase || b.Retried {
					mech = MechanismExtraCalls
				}
			}
		}
		refs := exemplars(spans, isBase, top.Op, 4)
		if mech >= MechanismShape && sh != nil {
			if b := sh.BlameOf(top.Op); len(b.Exemplars) > 0 {
				refs = refs[:0]
				for _, i := range b.Exemplars[:min(4, len(b.Exemplars))] {
					refs = append(refs, evidence.Ref{ID: spans[i].ID(), Line: evidence.LineTrace})
				}
			}
		}
		if len(refs) == 0 {
			continue
		}
		attrs := map[string]float64{
			evidence.AttrExplainedShare: c.Explained, "latency_share": c.Latency, "shape_share": c.Shape,
			"delta_ns": c.Delta(), "q": c.Q, "mechanism": float64(mech),
			"latency_change": m.LatencyChange, "shape_change": m.ShapeChange,
			"mean_path_baseline_ns": m.MeanPathNS[0], "mean_path_incident_ns": m.MeanPathNS[1],
		}
		f := evidence.Finding{Kind: Kind, Subject: top.Op.String(), Score: c.Explained, Confidence: 1 - c.Q,
			Summary: m.summary(&c, top, mech), Refs: refs, Attrs: attrs}
		f.ID = evidence.NewFindingID(f.Kind, f.Subject, f.Refs)
		out = append(out, f)
	}
	return out
}

func (m *Model) summary(c *Candidate, top OpPart, mech int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s explains %.0f %% of the incident's change", c.Service, 100*c.Explained)
	if !m.Baseline {
		fmt.Fprintf(&b, " (no baseline: its share of the incident's critical-path time)")
	}
	if d := c.Delta(); d != 0 {
		fmt.Fprintf(&b, "; its critical-path time per request changed by %s", signed(d))
		if mech >= 0 && mech < NumComponents {
			fmt.Fprintf(&b, ", mostly %s (%s)", ComponentNames[mech], signed(c.DeltaNS[mech]))
		}
	}
	if c.InducedNS > 0 {
		fmt.Fprintf(&b, "; its extra calls lengthened its callees' time by %s", signed(c.InducedNS))
	}
	if c.Shape > 0 {
		fmt.Fprintf(&b, "; %.0f %% of the traces whose shape changed are blamed on it", 100*c.Shape)
	}
	fmt.Fprintf(&b, "; leading operation %s", top.Op.Name)
	if m.Baseline {
		fmt.Fprintf(&b, " (q = %.2g; mean critical path %s -> %s)", c.Q, dur(m.MeanPathNS[0]), dur(m.MeanPathNS[1]))
	}
	return b.String()
}

func dur(ns float64) time.Duration { return time.Duration(ns).Round(time.Microsecond) }

func signed(ns float64) string {
	if ns >= 0 {
		return "+" + dur(ns).String()
	}
	return "-" + dur(-ns).String()
}

// exemplars are the longest incident spans of op.
func exemplars(spans []evidence.Span, isBase func(*evidence.Span) bool, op Op, n int) []evidence.Ref {
	var idx []int
	for i := range spans {
		sp := &spans[i]
		if sp.Service == op.Service && sp.Name == op.Name && (isBase == nil || !isBase(sp)) {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(spans[b].DurationNS(), spans[a].DurationNS()) })
	var refs []evidence.Ref
	for _, i := range idx[:min(n, len(idx))] {
		refs = append(refs, evidence.Ref{ID: spans[i].ID(), Line: evidence.LineTrace})
	}
	return refs
}

// MechanismName names a change_explained finding's "mechanism" code: a
// critical-path component, "shape" or "extra calls" ("" when unknown).
func MechanismName(code int) string {
	switch {
	case code >= 0 && code < NumComponents:
		return ComponentNames[code]
	case code == MechanismShape:
		return "shape"
	case code == MechanismExtraCalls:
		return "extra calls"
	}
	return ""
}
