package patterns

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/evidence"
)

// Slow labels of a span.
const (
	labelNone int8 = iota // endpoint with too few spans
	labelFast
	labelSlow
)

// index holds what several detectors share: endpoints, slow labels, the
// join of events to spans and per-process event lists. Parts are built on
// first use.
type index struct {
	cfg    *Config
	spans  []evidence.Span
	events []evidence.KernelEvent
	edges  []evidence.LockEdge
	gaps   *gapCalls // gapEdges, memoized

	ep      []int32  // endpoint of each span
	epName  []string // "service/name" of each endpoint
	epSpans []int32  // spans grouped by endpoint, CSR with epOff
	epOff   []int32
	label   []int8
	slowNS  []int64 // per endpoint threshold, -1 when unlabelled

	joined  bool
	stats   correlate.Stats
	spanEvO []int32 // CSR: events assigned to span i are spanEv[spanEvO[i]:spanEvO[i+1]]
	spanEv  []int32
	evSpan  []int32 // span of each event, -1 when unassigned

	bySpanID map[spanKey]int32
	children [][]int32 // lazily: children of each span, by start
	byProc   map[procKey][]int32
	callOp   []int32 // lazily: operation of each span as a call, see callOps
	callName []string
}

type spanKey struct {
	t evidence.TraceID
	s evidence.SpanID
}

// procKey names a process: node (empty when Config.Join.MatchNode is off)
// and pid.
type procKey struct {
	node string
	pid  int64
}

func newIndex(in *Input, cfg *Config) *index {
	x := &index{cfg: cfg, spans: in.Spans, events: in.Events, edges: in.Edges}
	x.endpoints()
	x.labelSlow()
	return x
}

// endpoints numbers each (service, span name) and groups spans by it.
func (x *index) endpoints() {
	ids := map[[2]string]int32{}
	x.ep = make([]int32, len(x.spans))
	for i := range x.spans {
		s := &x.spans[i]
		k := [2]string{s.Service, s.Name}
		id, ok := ids[k]
		if !ok {
			id = int32(len(x.epName))
			ids[k] = id
			x.epName = append(x.epName, s.Service+"/"+s.Name)
		}
		x.ep[i] = id
	}
	x.epOff = make([]int32, len(x.epName)+1)
	for _, e := range x.ep {
		x.epOff[e+1]++
	}
	for i := 1; i < len(x.epOff); i++ {
		x.epOff[i] += x.epOff[i-1]
	}
	next := slices.Clone(x.epOff[:len(x.epName)])
	x.epSpans = make([]int32, len(x.spans))
	for i, e := range x.ep {
		x.epSpans[next[e]] = int32(i)
		next[e]++
	}
}

// labelSlow marks spans above their endpoint's Config.SlowQuantile.
func (x *index) labelSlow() {
	x.label = make([]int8, len(x.spans))
	x.slowNS = make([]int64, len(x.epName))
	var durs []int64
	for e := range x.epName {
		members := x.epSpans[x.epOff[e]:x.epOff[e+1]]
		x.slowNS[e] = -1
		if len(members) < x.cfg.MinEndpointSpans {
			continue
		}
		durs = durs[:0]
		for _, i := range members {
			durs = append(durs, x.spans[i].DurationNS())
		}
		slices.Sort(durs)
		q := quantileInt(durs, x.cfg.SlowQuantile)
		x.slowNS[e] = q
		for _, i := range members {
			if x.spans[i].DurationNS() > q {
				x.label[i] = labelSlow
			} else {
				x.label[i] = labelFast
			}
		}
	}
}

// quantileInt is the linearly interpolated quantile (Hyndman–Fan type 7)
// of sorted values, rounded down to a nanosecond.
func quantileInt(s []int64, p float64) int64 {
	if len(s) == 0 {
		return 0
	}
	h := float64(len(s)-1) * p
	lo := int(h)
	if lo+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[lo] + int64((h-float64(lo))*float64(s[lo+1]-s[lo]))
}

// join runs correlate.Join once and groups assigned events by span.
func (x *index) join() error {
	if x.joined {
		return nil
	}
	as, st, err := correlate.Join(x.spans, x.events, x.cfg.Join)
	if err != nil {
		return fmt.Errorf("joining kernel events to spans: %w", err)
	}
	x.joined, x.stats = true, st
	x.evSpan = make([]int32, len(x.events))
	x.spanEvO = make([]int32, len(x.spans)+1)
	for i := range x.evSpan {
		x.evSpan[i] = -1
	}
	for _, a := range as {
		if a.Method == correlate.MethodNone || a.SpanIndex < 0 {
			continue
		}
		x.evSpan[a.EventIndex] = a.SpanIndex
		x.spanEvO[a.SpanIndex+1]++
	}
	for i := 1; i < len(x.spanEvO); i++ {
		x.spanEvO[i] += x.spanEvO[i-1]
	}
	next := slices.Clone(x.spanEvO[:len(x.spans)])
	x.spanEv = make([]int32, x.spanEvO[len(x.spans)])
	for ev, s := range x.evSpan {
		if s >= 0 {
			x.spanEv[next[s]] = int32(ev)
			next[s]++
		}
	}
	return nil
}

// spanEvents returns the events assigned to span i (after join).
func (x *index) spanEvents(i int32) []int32 { return x.spanEv[x.spanEvO[i]:x.spanEvO[i+1]] }

// eventTime is the event's TimeNS on the span clock.
func (x *index) eventTime(ev *evidence.KernelEvent) int64 {
	return ev.TimeNS + x.cfg.Join.NodeOffsetNS[ev.Node]
}

// spanProc is the process of a span, as events name it.
func (x *index) spanProc(s *evidence.Span) (procKey, bool) {
	if s.ProcessPID <= 0 {
		return procKey{}, false
	}
	if !x.cfg.Join.MatchNode {
		return procKey{pid: s.ProcessPID}, true
	}
	node := s.Host
	if n, ok := x.cfg.Join.HostNodes[s.Host]; ok {
		node = n
	}
	return procKey{node: node, pid: s.ProcessPID}, node != ""
}

// eventProc is the process of an event.
func (x *index) eventProc(ev *evidence.KernelEvent) procKey {
	if !x.cfg.Join.MatchNode {
		return procKey{pid: ev.PID}
	}
	return procKey{node: ev.Node, pid: ev.PID}
}

// timed is an event index with its aligned time.
type timed struct {
	t  int64
	ev int32
}

// procEvents groups the unstamped events of type typ by process, each list
// sorted by aligned time. Stamped events belong to their span and are
// reached through the join instead.
func (x *index) procEvents(typ evidence.KernelEventType, unstampedOnly bool) map[procKey][]timed {
	out := map[procKey][]timed{}
	for i := range x.events {
		ev := &x.events[i]
		if ev.Type != typ || ev.PID <= 0 || unstampedOnly && !ev.TraceID.IsZero() {
			continue
		}
		k := x.eventProc(ev)
		out[k] = append(out[k], timed{x.eventTime(ev), int32(i)})
	}
	for _, l := range out {
		slices.SortFunc(l, func(a, b timed) int { return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.ev, b.ev)) })
	}
	return out
}

// within returns the entries of sorted l with lo <= t <= hi.
func within(l []timed, lo, hi int64) []timed {
	i, _ := slices.BinarySearchFunc(l, lo, func(e timed, t int64) int { return cmp.Compare(e.t, t) })
	j, _ := slices.BinarySearchFunc(l, hi+1, func(e timed, t int64) int { return cmp.Compare(e.t, t) })
	return l[i:max(i, j)]
}

// spanByID finds a span by trace and span id (first in input order).
func (x *index) spanByID(t evidence.TraceID, s evidence.SpanID) (int32, bool) {
	if x.bySpanID == nil {
		x.bySpanID = make(map[spanKey]int32, len(x.spans))
		for i := range x.spans {
			k := spanKey{x.spans[i].TraceID, x.spans[i].SpanID}
			if _, dup := x.bySpanID[k]; !dup {
				x.bySpanID[k] = int32(i)
			}
		}
	}
	i, ok := x.bySpanID[spanKey{t, s}]
	return i, ok
}

// childrenOf returns the children of every span, each list sorted by start
// (then input order). A span naming itself as parent has no parent.
func (x *index) childrenOf() [][]int32 {
	if x.children != nil {
		return x.children
	}
	x.children = make([][]int32, len(x.spans))
	for i := range x.spans {
		s := &x.spans[i]
		if s.ParentSpanID.IsZero() || s.ParentSpanID == s.SpanID {
			continue
		}
		if p, ok := x.spanByID(s.TraceID, s.ParentSpanID); ok && p != int32(i) {
			x.children[p] = append(x.children[p], int32(i))
		}
	}
	for _, c := range x.children {
		if len(c) > 1 {
			slices.SortFunc(c, func(a, b int32) int {
				return cmp.Or(cmp.Compare(x.spans[a].StartNS, x.spans[b].StartNS), cmp.Compare(a, b))
			})
		}
	}
	return x.children
}

// callOps numbers each span's operation as a call: its endpoint, plus the
// endpoint of its first child in another service when it has one ("HTTP
// GET" calls to two services are two operations). Names read
// "service/name" or "service/name -> callee/name".
func (x *index) callOps() ([]int32, []string) {
	if x.callOp != nil {
		return x.callOp, x.callName
	}
	ch := x.childrenOf()
	ids := map[[2]int32]int32{}
	x.callOp = make([]int32, len(x.spans))
	for i := range x.spans {
		k := [2]int32{x.ep[i], -1}
		for _, c := range ch[i] {
			if x.spans[c].Service != x.spans[i].Service {
				k[1] = x.ep[c]
				break
			}
		}
		id, ok := ids[k]
		if !ok {
			id = int32(len(x.callName))
			ids[k] = id
			name := x.epName[k[0]]
			if k[1] >= 0 {
				name += " -> " + x.epName[k[1]]
			}
			x.callName = append(x.callName, name)
		}
		x.callOp[i] = id
	}
	return x.callOp, x.callName
}
