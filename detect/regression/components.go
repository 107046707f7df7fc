package regression

import (
	"cmp"
	"slices"
	"strings"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/detect/critpath"
	"github.com/debugai/debugai/evidence"
)

// Critical-path components, in the order of ComponentNames.
const (
	CompSelf = iota
	CompLock
	CompNetwork
	CompIO
	CompRunqueue
	NumComponents
)

// ComponentNames names the components.
var ComponentNames = [NumComponents]string{"self", "lock", "network", "io", "runqueue"}

// Op is a (service, operation name).
type Op struct{ Service, Name string }

// String is "service/name", critpath's subject for the operation.
func (o Op) String() string { return o.Service + "/" + o.Name }

// OpTime is one operation's critical-path time in one trace, per component.
type OpTime struct {
	Op Op
	NS [NumComponents]int64
	// Refs cite the trace's evidence per component: the operation's spans,
	// the lock-wait span events, the kernel events of its overlays.
	Refs [NumComponents][]evidence.Ref
}

// TracePath is one trace's critical path split into components.
type TracePath struct {
	TraceID evidence.TraceID
	Root    int // position of the root span in Input.Spans
	StartNS int64
	EndNS   int64
	// Ops holds every operation on the path, by Op.String().
	Ops []OpTime
	// Total sums Ops per component; its sum is the root's duration.
	Total [NumComponents]int64
}

// wait is a lock wait found in a span's events.
type wait struct {
	start, end int64
	refs       []evidence.Ref
}

// tracePaths computes the component split of every trace's critical path,
// ordered by root start then trace id. Traces without a root are skipped
// and counted.
func tracePaths(spans []evidence.Span, overlays []correlate.Overlay, cfg Config) ([]TracePath, int) {
	byTrace := map[evidence.TraceID][]int{}
	hasChild := map[spanKey]bool{}
	for i := range spans {
		sp := &spans[i]
		byTrace[sp.TraceID] = append(byTrace[sp.TraceID], i)
		if !sp.ParentSpanID.IsZero() && sp.ParentSpanID != sp.SpanID {
			hasChild[spanKey{sp.TraceID, sp.ParentSpanID}] = true
		}
	}
	ov := make(map[int]*correlate.Overlay, len(overlays))
	for i := range overlays {
		if j := int(overlays[i].SpanIndex); j >= 0 && j < len(spans) {
			ov[j] = &overlays[i]
		}
	}
	var (
		tr      critpath.Tracer
		out     []TracePath
		skipped int
		local   []evidence.Span
	)
	for id, idx := range byTrace {
		local = local[:0]
		for _, g := range idx {
			local = append(local, spans[g])
		}
		p, err := tr.Path(local)
		if err != nil {
			skipped++
			continue
		}
		tp := TracePath{TraceID: id, Root: idx[p.RootIndex], StartNS: p.StartNS, EndNS: p.EndNS}
		splitPath(&tp, &p, idx, spans, ov, hasChild, cfg)
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b TracePath) int {
		return cmp.Or(cmp.Compare(a.StartNS, b.StartNS), slices.Compare(a.TraceID[:], b.TraceID[:]))
	})
	return out, skipped
}

// budget is what is left of a span's kernel overlay to charge to its
// critical-path segments.
type budget struct{ lock, io, runq int64 }

func splitPath(tp *TracePath, p *critpath.Path, idx []int, spans []evidence.Span,
	ov map[int]*correlate.Overlay, hasChild map[spanKey]bool, cfg Config) {
	ops := map[Op]*OpTime{}
	sp := splitter{spans: spans, ov: ov, hasChild: hasChild, cfg: cfg, budgets: map[int]*budget{}, waits: map[int][]wait{}}
	for _, seg := range p.Segments {
		g := idx[seg.Index]
		span := &spans[g]
		op := Op{span.Service, span.Name}
		ot := ops[op]
		if ot == nil {
			ot = &OpTime{Op: op}
			ops[op] = ot
		}
		c, lockRefs := sp.segment(g, seg)
		ot.Refs[CompLock] = appendRefs(ot.Refs[CompLock], lockRefs...)
		spanRef := evidence.Ref{ID: span.ID(), Line: evidence.LineTrace}
		for k := range c {
			if c[k] == 0 {
				continue
			}
			ot.NS[k] += c[k]
			tp.Total[k] += c[k]
			ot.Refs[k] = appendRefs(ot.Refs[k], spanRef)
			if o := ov[g]; o != nil && k != CompSelf && k != CompNetwork {
				ot.Refs[k] = appendRefs(ot.Refs[k], kernelRefs(o, k)...)
			}
		}
	}
	for _, ot := range ops {
		tp.Ops = append(tp.Ops, *ot)
	}
	slices.SortFunc(tp.Ops, func(a, b OpTime) int { return cmp.Compare(a.Op.String(), b.Op.String()) })
}

// splitter splits the critical-path segments of one trace into
// components, charging each span's kernel overlay once.
type splitter struct {
	spans    []evidence.Span
	ov       map[int]*correlate.Overlay
	hasChild map[spanKey]bool
	cfg      Config
	budgets  map[int]*budget
	waits    map[int][]wait
}

// segment returns the components of one segment of span g and the refs of
// the span-event lock waits it overlaps.
func (sp *splitter) segment(g int, seg critpath.Segment) ([NumComponents]int64, []evidence.Ref) {
	span := &sp.spans[g]
	b, ok := sp.budgets[g]
	if !ok {
		b = &budget{}
		if o := sp.ov[g]; o != nil {
			b = &budget{lock: o.FutexWaitNS, io: o.IOWaitNS(), runq: o.RunqueueNS}
		}
		sp.budgets[g] = b
		sp.waits[g] = lockWaits(span, sp.cfg)
	}
	var c [NumComponents]int64
	var refs []evidence.Ref
	rem := seg.SelfNS
	for _, w := range sp.waits[g] {
		if t := min(overlap(w.start, w.end, seg.StartNS, seg.EndNS), rem); t > 0 {
			c[CompLock] += t
			rem -= t
			refs = append(refs, w.refs...)
		}
	}
	take := func(comp int, left *int64) {
		t := min(*left, rem)
		c[comp] += t
		*left -= t
		rem -= t
	}
	take(CompLock, &b.lock)
	take(CompIO, &b.io)
	take(CompRunqueue, &b.runq)
	if span.Kind == evidence.KindClient && sp.hasChild[spanKey{span.TraceID, span.SpanID}] {
		c[CompNetwork] += rem
	} else {
		c[CompSelf] += rem
	}
	return c, refs
}

// kernelRefs returns the overlay's refs on the line of component k.
func kernelRefs(o *correlate.Overlay, k int) []evidence.Ref {
	var want evidence.Line
	switch k {
	case CompLock:
		want = evidence.LineKernelFutex
	case CompIO:
		want = evidence.LineKernelBlock
	case CompRunqueue:
		want = evidence.LineKernelSched
	}
	var out []evidence.Ref
	for _, r := range o.Refs {
		if r.Line == want {
			out = append(out, r)
		}
	}
	return out
}

// appendRefs appends refs not yet in dst.
func appendRefs(dst []evidence.Ref, refs ...evidence.Ref) []evidence.Ref {
	for _, r := range refs {
		if !slices.Contains(dst, r) {
			dst = append(dst, r)
		}
	}
	return dst
}

func overlap(a0, a1, b0, b1 int64) int64 { return max(0, min(a1, b1)-max(a0, b0)) }

// lockWaits pairs each event whose name contains cfg.LockWaitStart with the
// next event containing cfg.LockWaitEnd, in time order.
func lockWaits(sp *evidence.Span, cfg Config) []wait {
	if len(sp.Events) == 0 {
		return nil
	}
	evs := slices.Clone(sp.Events)
	slices.SortStableFunc(evs, func(a, b evidence.SpanEvent) int { return cmp.Compare(a.TimeNS, b.TimeNS) })
	start, end := strings.ToLower(cfg.LockWaitStart), strings.ToLower(cfg.LockWaitEnd)
	var out []wait
	open := -1
	for i := range evs {
		name := strings.ToLower(evs[i].Name)
		switch {
		case strings.Contains(name, start):
			if open < 0 {
				open = i
			}
		case strings.Contains(name, end) && open >= 0:
			out = append(out, wait{start: evs[open].TimeNS, end: evs[i].TimeNS, refs: []evidence.Ref{
				{ID: evidence.SpanEventEvidenceID(sp.TraceID, sp.SpanID, evs[open].Index), Line: evidence.LineTrace},
				{ID: evidence.SpanEventEvidenceID(sp.TraceID, sp.SpanID, evs[i].Index), Line: evidence.LineTrace},
			}})
			open = -1
		}
	}
	return out
}

// concurrency returns, per trace, how many other traces' intervals overlap
// its own (closed intervals).
func concurrency(paths []TracePath) []int {
	starts := make([]int64, len(paths))
	ends := make([]int64, len(paths))
	for i, p := range paths {
		starts[i], ends[i] = p.StartNS, p.EndNS
	}
	slices.Sort(starts)
	slices.Sort(ends)
	out := make([]int, len(paths))
	for i, p := range paths {
		// traces starting at or before p's end, minus those ending before
		// p's start, minus p itself.
		startedBy, _ := slices.BinarySearch(starts, p.EndNS+1)
		endedBefore, _ := slices.BinarySearch(ends, p.StartNS)
		out[i] = startedBy - endedBefore - 1
	}
	return out
}
