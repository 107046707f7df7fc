package explain

import (
	"github.com/debugai/debugai/evidence"
)

// EntryOperations maps every operation to the endpoint it runs in: the
// outermost span of its service and unit of work on its path to the root
// (a job handed off by a request — a consumer under a producer, or a span
// that starts after its parent ended — is a unit of its own, as units
// counts them). An operation seen under several endpoints maps to the one
// it runs in most often (ties: the smaller name).
func EntryOperations(spans []evidence.Span) map[Op]string {
	type key struct {
		t evidence.TraceID
		s evidence.SpanID
	}
	byID := make(map[key]int, len(spans))
	for i := range spans {
		k := key{spans[i].TraceID, spans[i].SpanID}
		if _, dup := byID[k]; !dup {
			byID[k] = i
		}
	}
	const unknown = -1
	entry := make([]int, len(spans))
	for i := range entry {
		entry[i] = unknown
	}
	// parentInUnit is i's parent when it continues i's unit in i's service.
	parentInUnit := func(i int) (int, bool) {
		s := &spans[i]
		if s.ParentSpanID.IsZero() || s.ParentSpanID == s.SpanID {
			return 0, false
		}
		p, ok := byID[key{s.TraceID, s.ParentSpanID}]
		if !ok || p == i || spans[p].Service != s.Service {
			return 0, false
		}
		if s.HandedOffFrom(&spans[p]) {
			return 0, false
		}
		return p, true
	}
	var path []int
	for i := range spans {
		path = path[:0]
		at, root := i, i
		for steps := 0; ; steps++ {
			if entry[at] != unknown {
				root = entry[at]
				break
			}
			path = append(path, at)
			p, ok := parentInUnit(at)
			if !ok || steps >= len(spans) { // a parent cycle ends the walk
				root = at
				break
			}
			at = p
		}
		for _, k := range path {
			entry[k] = root
		}
	}
	counts := map[Op]map[string]int{}
	for i := range spans {
		op := Op{Service: spans[i].Service, Name: spans[i].Name}
		if counts[op] == nil {
			counts[op] = map[string]int{}
		}
		counts[op][spans[entry[i]].Name]++
	}
	out := make(map[Op]string, len(counts))
	for op, byEntry := range counts {
		best, n := "", 0
		for name, c := range byEntry {
			if c > n || c == n && name < best {
				best, n = name, c
			}
		}
		out[op] = best
	}
	return out
}
