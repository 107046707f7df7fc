package correlate

import (
	"fmt"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// Method says how an event was joined to its span.
type Method uint8

// Join methods.
const (
	// MethodNone: no span was found.
	MethodNone Method = iota
	// MethodStamped: span hooks stamped the event with the ids of a span
	// that is among the spans joined.
	MethodStamped
	// MethodOverlap: the innermost span on the event's (node, pid, tid) that
	// contains the event's anchor.
	MethodOverlap
	// MethodPID: the innermost span containing the anchor among the spans
	// of the event's process that carry no thread id (Config.PIDFallback).
	MethodPID
)

// String names the method as reports print it.
func (m Method) String() string {
	switch m {
	case MethodNone:
		return "none"
	case MethodStamped:
		return "stamped"
	case MethodOverlap:
		return "overlap"
	case MethodPID:
		return "pid"
	}
	return fmt.Sprintf("method(%d)", uint8(m))
}

// Confidence of an assignment, by method and by whether the anchor lies
// within Config.ClockErrorNS of a change of innermost span.
const (
	ConfidenceStamped         = 1.0
	ConfidenceOverlap         = 0.9
	ConfidenceOverlapNearEdge = 0.6
	ConfidencePID             = 0.5
	ConfidencePIDNearEdge     = 0.3
)

// Assignment joins one kernel event to one span. Join returns one per
// event, in event order. It is 12 bytes: a join of millions of events
// returns a compact slice.
type Assignment struct {
	EventIndex int32
	SpanIndex  int32 // -1 when Method is MethodNone
	Method     Method
	// NearEdge: the innermost span changes within Config.ClockErrorNS of
	// the anchor, so the clock error bound does not rule out a neighbour.
	NearEdge bool
}

// Confidence is the assignment's confidence in [0, 1]: 1 for a stamp, 0.9
// for a thread overlap (0.6 near an edge), 0.5 for a pid-only overlap (0.3
// near an edge), 0 for none.
func (a Assignment) Confidence() float64 {
	switch a.Method {
	case MethodStamped:
		return ConfidenceStamped
	case MethodOverlap:
		if a.NearEdge {
			return ConfidenceOverlapNearEdge
		}
		return ConfidenceOverlap
	case MethodPID:
		if a.NearEdge {
			return ConfidencePIDNearEdge
		}
		return ConfidencePID
	}
	return 0
}

// Stats counts what Join did; the counts explain unassigned events.
type Stats struct {
	Events, Spans int
	// Stamped, Overlap, PIDOnly and Unassigned partition Events by Method.
	Stamped, Overlap, PIDOnly, Unassigned int
	// NearEdge counts overlap and pid assignments flagged NearEdge.
	NearEdge int
	// StampUnresolved counts stamped events whose span is not among the
	// spans; they were joined by overlap instead.
	StampUnresolved int
	// StampOutside counts stamped events whose aligned anchor lies more
	// than ClockErrorNS outside their span: a sign of a wrong NodeOffsetNS.
	StampOutside int
	// EventsNoThread counts unstamped events without a thread id (tid 0:
	// softirq or irq context, such as RTO-timer TCP retransmits).
	EventsNoThread int
	// EventsNoSpanNode counts unstamped events from a node that no span
	// comes from (with MatchNode).
	EventsNoSpanNode int
	// SpansNoThread counts spans without thread.id: they join no event by
	// thread, only by pid with PIDFallback. SpansNoProcess counts spans
	// without process.pid, SpansNoNode spans without a host while
	// MatchNode is set: neither joins by overlap.
	SpansNoThread, SpansNoProcess, SpansNoNode int
	// BadIDs counts spans and events whose pid or tid is outside (0, MaxID].
	BadIDs int
	// Threads counts the distinct (node, pid, tid) keys that hold spans.
	Threads int
}

// Join assigns every event to at most one span: by its stamp when the
// stamped span is among spans, else to the innermost span on its thread
// that contains its anchor (see the package documentation). It returns
// one Assignment per event, in event order.
func Join(spans []evidence.Span, events []evidence.KernelEvent, cfg Config) ([]Assignment, Stats, error) {
	st := Stats{Events: len(events), Spans: len(spans)}
	if err := cfg.Validate(); err != nil {
		return nil, st, err
	}
	if len(spans) > MaxItems || len(events) > MaxItems {
		return nil, st, fmt.Errorf("%w: %d spans, %d events (limit %d each)", ErrTooMany, len(spans), len(events), MaxItems)
	}
	j := joiner{cfg: cfg, spans: spans, st: &st}
	j.nodes.last = -1
	j.hosts.last = -1
	keys, err := j.spanKeys()
	if err != nil {
		return nil, st, err
	}
	j.tl.build(spans, keys)
	st.Threads = j.tl.groups.n
	out := make([]Assignment, len(events))
	j.joinEvents(events, out)
	return out, st, nil
}

// joiner holds one Join's indexes.
type joiner struct {
	cfg      Config
	spans    []evidence.Span
	st       *Stats
	nodes    nodeIndex // node ids: span nodes and NodeOffsetNS keys
	offsets  []int64   // by node index
	hosts    nodeIndex // span host names
	hostNode []int32   // by host index
	tl       timelines
	stamps   *stampIndex // built on the first stamped event
}

// spanKeys returns each span's thread key (0: joins nothing by overlap).
func (j *joiner) spanKeys() ([]uint64, error) {
	for node, off := range j.cfg.NodeOffsetNS {
		n := j.nodes.add(node)
		for int(n) >= len(j.offsets) {
			j.offsets = append(j.offsets, 0)
		}
		j.offsets[n] = off
	}
	keys := make([]uint64, len(j.spans))
	for i := range j.spans {
		sp := &j.spans[i]
		if sp.ThreadID == 0 {
			j.st.SpansNoThread++
			if !j.cfg.PIDFallback {
				continue
			}
		}
		if sp.ProcessPID == 0 {
			j.st.SpansNoProcess++
			continue
		}
		node := int32(0)
		if j.cfg.MatchNode {
			if sp.Host == "" {
				j.st.SpansNoNode++
				continue
			}
			node = j.nodeOfHost(sp.Host)
			if node >= MaxNodes {
				return nil, fmt.Errorf("%w: more than %d nodes", ErrTooMany, MaxNodes)
			}
		}
		if keys[i] = threadKey(node, sp.ProcessPID, sp.ThreadID); keys[i] == 0 {
			j.st.BadIDs++
		}
	}
	return keys, nil
}

// nodeOfHost returns the node index of a span host, interning it.
func (j *joiner) nodeOfHost(host string) int32 {
	if h := j.hosts.find(host); h >= 0 {
		return j.hostNode[h]
	}
	name := host
	if n, ok := j.cfg.HostNodes[host]; ok {
		name = n
	}
	node := j.nodes.add(name)
	for int(node) >= len(j.offsets) {
		j.offsets = append(j.offsets, 0)
	}
	j.hosts.add(host)
	j.hostNode = append(j.hostNode, node)
	return node
}

// joinEvents fills out, one assignment per event. Events are looked up
// in input order: each thread's cursor gallops from its previous lookup,
// cheap while a thread's anchors mostly rise (a collector stream). When a
// sample of the input shows no such order, joinGrouped is used instead.
func (j *joiner) joinEvents(events []evidence.KernelEvent, out []Assignment) {
	if j.disordered(events) {
		j.joinGrouped(events, out)
		return
	}
	eps := j.cfg.ClockErrorNS
	for i := range events {
		ev := &events[i]
		a := &out[i]
		g, t := j.reduce(ev, i, a)
		if g >= 0 {
			a.SpanIndex, a.NearEdge = j.tl.lookup(g, t, eps)
			a.Method = MethodOverlap
		}
		j.finish(ev, t, a)
	}
}

// disordered samples the first events: true when more than a quarter of
// them step back in time on their thread.
func (j *joiner) disordered(events []evidence.KernelEvent) bool {
	n := min(len(events), 1<<16)
	last := make([]int64, len(j.tl.off))
	seen := make([]bool, len(j.tl.off))
	back, st := 0, *j.st
	var a Assignment
	for i := range n {
		g, t := j.reduce(&events[i], i, &a)
		if g < 0 {
			continue
		}
		if seen[g] && t < last[g] {
			back++
		}
		seen[g], last[g] = true, t
	}
	*j.st = st
	return back*4 > n
}

// reduce initialises a, resolves a stamp into it, and otherwise returns
// the event's thread group (-1 for none) and its anchor.
func (j *joiner) reduce(ev *evidence.KernelEvent, i int, a *Assignment) (int32, int64) {
	*a = Assignment{EventIndex: int32(i), SpanIndex: -1}
	node := j.nodes.find(ev.Node)
	t := j.anchor(ev, node)
	if !j.cfg.IgnoreStamps && !ev.SpanID.IsZero() {
		if s := j.stamped(ev, t); s >= 0 {
			a.SpanIndex, a.Method = s, MethodStamped
			return -1, t
		}
	}
	if !j.cfg.MatchNode {
		node = 0
	} else if node < 0 {
		j.st.EventsNoSpanNode++ // no span on the event's node
		return -1, t
	}
	if ev.TID == 0 {
		j.st.EventsNoThread++
		return -1, t
	}
	k := threadKey(node, ev.PID, ev.TID)
	if k == 0 {
		j.st.BadIDs++
		return -1, t
	}
	return j.tl.groups.get(k), t
}

// finish applies the pid fallback and counts the assignment.
func (j *joiner) finish(ev *evidence.KernelEvent, t int64, a *Assignment) {
	if a.Method == MethodStamped {
		j.st.Stamped++
		return
	}
	if a.SpanIndex < 0 && j.cfg.PIDFallback {
		j.fallback(ev, t, a)
	}
	j.count(a)
}

// joinGrouped reduces every event first, then looks anchors up thread by
// thread, so that one thread's timeline stays in cache while its events
// are searched.
func (j *joiner) joinGrouped(events []evidence.KernelEvent, out []Assignment) {
	grp := make([]int32, len(events))
	at := make([]int64, len(events))
	for i := range events {
		grp[i], at[i] = j.reduce(&events[i], i, &out[i])
	}
	j.lookupGrouped(grp, at, out)
	for i := range events {
		j.finish(&events[i], at[i], &out[i])
	}
}

// lookupGrouped looks anchors up group by group: a counting sort of
// (anchor, event) by group, input order within a group.
func (j *joiner) lookupGrouped(grp []int32, at []int64, out []Assignment) {
	type item struct {
		t int64
		i int32
	}
	ng := len(j.tl.off) - 1
	first := make([]int32, ng+1)
	for _, g := range grp {
		if g >= 0 {
			first[g+1]++
		}
	}
	for g := range ng {
		first[g+1] += first[g]
	}
	items := make([]item, first[ng])
	next := slices.Clone(first)
	for i, g := range grp {
		if g >= 0 {
			items[next[g]] = item{at[i], int32(i)}
			next[g]++
		}
	}
	eps := j.cfg.ClockErrorNS
	for g := range int32(ng) {
		for _, it := range items[first[g]:first[g+1]] {
			a := &out[it.i]
			a.SpanIndex, a.NearEdge = j.tl.lookup(g, it.t, eps)
			a.Method = MethodOverlap
		}
	}
}

// fallback joins an event that no thread span contains to a pid-level span.
func (j *joiner) fallback(ev *evidence.KernelEvent, t int64, a *Assignment) {
	node := int32(0)
	if j.cfg.MatchNode {
		if node = j.nodes.find(ev.Node); node < 0 {
			return
		}
	}
	if g := j.tl.groups.get(threadKey(node, ev.PID, 0)); g >= 0 {
		a.SpanIndex, a.NearEdge = j.tl.lookup(g, t, j.cfg.ClockErrorNS)
		a.Method = MethodPID
	}
}

// anchor returns the event's anchor on the span clock.
func (j *joiner) anchor(ev *evidence.KernelEvent, node int32) int64 {
	t := ev.TimeNS
	if node >= 0 {
		t += j.offsets[node]
	}
	if d := ev.DurationNS; d > 0 {
		switch j.cfg.Anchor {
		case AnchorMid:
			t -= d / 2
		case AnchorStart:
			t -= d
		}
	}
	return t
}

// stamped resolves an event's stamp to a span index, or -1.
func (j *joiner) stamped(ev *evidence.KernelEvent, t int64) int32 {
	if j.stamps == nil {
		j.stamps = newStampIndex(j.spans)
	}
	s := j.stamps.find(ev.TraceID, ev.SpanID)
	if s < 0 {
		j.st.StampUnresolved++
		return -1
	}
	sp := &j.spans[s]
	if eps := j.cfg.ClockErrorNS; t < sp.StartNS-eps || t > max(sp.EndNS, sp.StartNS)+eps {
		j.st.StampOutside++
	}
	return s
}

func (j *joiner) count(a *Assignment) {
	if a.SpanIndex < 0 {
		a.Method, a.NearEdge = MethodNone, false
		j.st.Unassigned++
		return
	}
	if a.Method == MethodPID {
		j.st.PIDOnly++
	} else {
		j.st.Overlap++
	}
	if a.NearEdge {
		j.st.NearEdge++
	}
}
