package verify

import (
	"fmt"
	"slices"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/detect/lockgraph"
	"github.com/debugai/debugai/evidence"
)

// outOfScope says why item lies outside scope's time ("" when it is
// inside): it must overlap the incident window widened by slack.
func outOfScope(item evidence.Item, scope hypothesis.Scope, slack int64) string {
	lo, hi, _, timed := extent(item)
	if !timed {
		return ""
	}
	since, until := scope.SinceNS, scope.UntilNS
	if since != 0 && hi < since-slack || until != 0 && lo > until+slack {
		return fmt.Sprintf("%s at %s..%s lies outside the incident window %s..%s", item.ID, fmtNS(lo), fmtNS(hi), fmtNS(since), fmtNS(until))
	}
	return ""
}

// inBaseline says why item is baseline evidence ("" when it is not): it
// lies in a baseline window without overlapping the incident window
// itself. Supporting claims may cite it (as the comparison); root-cause
// claims may not.
func inBaseline(item evidence.Item, scope hypothesis.Scope) string {
	lo, hi, _, timed := extent(item)
	since, until := scope.SinceNS, scope.UntilNS
	if !timed || (since == 0 || hi >= since) && (until == 0 || lo < until) {
		return ""
	}
	for _, w := range scope.Baseline {
		if hi >= w.SinceNS && lo < w.UntilNS {
			return fmt.Sprintf("%s at %s..%s lies in the baseline window %s..%s, not in the incident window %s..%s: it is no root-cause evidence",
				item.ID, fmtNS(lo), fmtNS(hi), fmtNS(w.SinceNS), fmtNS(w.UntilNS), fmtNS(since), fmtNS(until))
		}
	}
	return ""
}

// outOfServices says why an item whose parts resolve to services lies
// outside scope.Services ("" when it is inside, when no service is given,
// or when no part resolves to a service).
func outOfServices(id string, parts []part, scope hypothesis.Scope) string {
	if len(scope.Services) == 0 {
		return ""
	}
	var seen []string
	for _, p := range parts {
		for _, s := range p.services {
			if slices.Contains(scope.Services, s) {
				return ""
			}
			seen = append(seen, s)
		}
	}
	if len(seen) == 0 {
		return ""
	}
	slices.Sort(seen)
	return fmt.Sprintf("%s belongs to service(s) %q, not to the incident's services %q", id, slices.Compact(seen), scope.Services)
}

// extent is an item's time interval and service.
func extent(item evidence.Item) (lo, hi int64, service string, timed bool) {
	switch {
	case item.Span != nil:
		return item.Span.StartNS, item.Span.EndNS, item.Span.Service, true
	case item.SpanEvent != nil:
		return item.SpanEvent.TimeNS, item.SpanEvent.TimeNS, "", true
	case item.KernelEvent != nil:
		k := item.KernelEvent
		return k.TimeNS - max(k.DurationNS, 0), k.TimeNS, k.Service, true
	case item.LockEdge != nil:
		return item.LockEdge.FirstNS, item.LockEdge.LastNS, item.LockEdge.Service, true
	case item.Log != nil:
		return item.Log.TimeNS, item.Log.TimeNS, item.Log.Service, true
	case item.Finding != nil:
		f := item.Finding
		return f.StartNS, f.EndNS, "", f.StartNS != 0 || f.EndNS != 0
	case item.Resource != nil:
		return 0, 0, item.Resource.Service, false
	}
	return 0, 0, "", false
}

func fmtNS(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// citesCycle reports whether the citations include a lock cycle: a
// lock_inversion finding, or lock-order edges that close a cycle.
func citesCycle(cites map[string]*citation) bool {
	next := map[string][]string{}
	for _, c := range cites {
		if f := c.item.Finding; f != nil && f.Kind == lockgraph.KindInversion {
			return true
		}
		if e := c.item.LockEdge; e != nil && e.Held != e.Acquiring {
			next[e.Held] = append(next[e.Held], e.Acquiring)
		}
	}
	// Depth-first search for a back edge.
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var visit func(n string) bool
	visit = func(n string) bool {
		color[n] = grey
		for _, m := range next[n] {
			switch color[m] {
			case grey:
				return true
			case white:
				if visit(m) {
					return true
				}
			}
		}
		color[n] = black
		return false
	}
	nodes := make([]string, 0, len(next))
	for n := range next {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		if color[n] == white && visit(n) {
			return true
		}
	}
	return false
}
