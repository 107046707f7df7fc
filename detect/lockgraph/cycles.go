package lockgraph

import (
	"cmp"
	"slices"
	"strings"
)

// Cycle is an elementary cycle of the lock graph: a lock-order inversion.
// Locks[0] is the cycle's smallest lock name (the canonical rotation), and
// Edges[i] goes from Locks[i] to Locks[(i+1)%len(Locks)].
type Cycle struct {
	Locks []string
	Edges []Edge
	// Count sums the edges' observations; MinCount is the weakest edge's.
	Count, MinCount int64
	// FirstNS is the earliest non-zero FirstNS of the edges, LastNS the
	// latest LastNS: the window in which the inversion was observed.
	FirstNS, LastNS int64
	// Impact is filled in by [Analyze] and [Graph.Impact]; its zero value
	// means unknown.
	Impact Impact
}

// Len is the number of locks (and edges) of the cycle.
func (c *Cycle) Len() int { return len(c.Locks) }

// Subject names the cycle: "A<->B" for two locks, "A->B->C->A" otherwise
// ("A->A" for a self-loop).
func (c *Cycle) Subject() string {
	if len(c.Locks) == 2 {
		return c.Locks[0] + "<->" + c.Locks[1]
	}
	return strings.Join(c.Locks, "->") + "->" + c.Locks[0]
}

// Cycles returns every elementary cycle of at most Config.MaxCycleLen locks
// whose edges all have at least Config.MinEdgeCount observations, each
// once, in canonical rotation, shortest first; among cycles of one length,
// the one whose weakest edge has more observations comes first, then by
// lock names. Self-loops are included (as length-1 cycles) only when
// Config.ReportSelfLoops is set and the lock is not address-based.
//
// At most Config.MaxCycles cycles are returned; truncated reports that
// more exist. Enumeration goes by length, so every cycle shorter than the
// longest returned one is present.
//
// The algorithm: strongly connected components (Tarjan) first, since every
// cycle lies inside one; then, for each length L and each start lock s in
// a component of at least L locks, a depth-first search for paths of
// exactly L edges back to s through locks ordered after s in the same
// component (so each cycle is found once, from its smallest lock), pruned
// by a backward breadth-first search from s: a lock is entered only when
// it can still reach s within the remaining edges.
func (g *Graph) Cycles() (cycles []Cycle, truncated bool) {
	e := newEnumerator(g)
	if g.cfg.ReportSelfLoops {
		for i := range g.edges {
			f := g.from[i]
			if f == g.to[i] && !g.locks[f].Address && e.active(int32(i)) {
				if !e.emit([]int32{int32(i)}) {
					break
				}
			}
		}
	}
	for L := 2; L <= g.cfg.MaxCycleLen && !e.full; L++ {
		for s := range int32(len(g.locks)) {
			if e.full {
				break
			}
			if e.compSize[e.comp[s]] >= int32(L) {
				e.from(s, L)
			}
		}
	}
	slices.SortStableFunc(e.found, func(a, b Cycle) int {
		return cmp.Or(cmp.Compare(len(a.Locks), len(b.Locks)), cmp.Compare(b.MinCount, a.MinCount),
			slices.Compare(a.Locks, b.Locks))
	})
	return e.found, e.full
}

type enumerator struct {
	g        *Graph
	in       [][]int32 // per lock: incoming non-self active edges
	comp     []int32   // component of each lock
	compSize []int32
	mark     []int32 // BFS stamp per lock
	dist     []int8  // edges from a lock to s, valid when mark == stamp
	stamp    int32
	onPath   []bool
	path     []int32 // edge indices
	queue    []int32
	s        int32
	L        int
	found    []Cycle
	full     bool
}

func newEnumerator(g *Graph) *enumerator {
	n := len(g.locks)
	e := &enumerator{
		g: g, in: make([][]int32, n), mark: make([]int32, n), dist: make([]int8, n),
		onPath: make([]bool, n),
	}
	for i := range g.edges {
		if f, t := g.from[i], g.to[i]; f != t && e.active(int32(i)) {
			e.in[t] = append(e.in[t], int32(i))
		}
	}
	e.comp, e.compSize = e.tarjan()
	return e
}

func (e *enumerator) active(i int32) bool { return e.g.edges[i].Count >= e.g.cfg.MinEdgeCount }

// from enumerates the cycles of exactly L edges whose smallest lock is s.
func (e *enumerator) from(s int32, L int) {
	e.s, e.L = s, L
	e.stamp++
	// Backward BFS: dist[v] = fewest edges from v to s, up to L-1, over
	// locks after s in s's component.
	e.mark[s], e.dist[s] = e.stamp, 0
	e.queue = append(e.queue[:0], s)
	for h := 0; h < len(e.queue); h++ {
		v := e.queue[h]
		if int(e.dist[v]) >= L-1 {
			continue
		}
		for _, ei := range e.in[v] {
			u := e.g.from[ei]
			if u > s && e.mark[u] != e.stamp && e.comp[u] == e.comp[s] {
				e.mark[u], e.dist[u] = e.stamp, e.dist[v]+1
				e.queue = append(e.queue, u)
			}
		}
	}
	e.onPath[s] = true
	e.dfs(s, 0)
	e.onPath[s] = false
}

func (e *enumerator) dfs(u int32, d int) {
	for _, ei := range e.g.out[u] {
		if e.full {
			return
		}
		if !e.active(ei) {
			continue
		}
		w := e.g.to[ei]
		if w == e.s {
			if d+1 == e.L {
				e.path = append(e.path, ei)
				e.emit(e.path)
				e.path = e.path[:len(e.path)-1]
			}
			continue
		}
		if w < e.s || e.mark[w] != e.stamp || e.onPath[w] || d+1+int(e.dist[w]) > e.L {
			continue
		}
		e.onPath[w] = true
		e.path = append(e.path, ei)
		e.dfs(w, d+1)
		e.path = e.path[:len(e.path)-1]
		e.onPath[w] = false
	}
}

// emit records the cycle made of the given edges; it reports false (and
// sets full) when the cycle would exceed Config.MaxCycles.
func (e *enumerator) emit(path []int32) bool {
	if len(e.found) >= e.g.cfg.MaxCycles {
		e.full = true
		return false
	}
	c := Cycle{Locks: make([]string, len(path)), Edges: make([]Edge, len(path))}
	for i, ei := range path {
		ed := e.g.edges[ei]
		c.Locks[i], c.Edges[i] = ed.From, ed
		c.Count += ed.Count
		if i == 0 || ed.Count < c.MinCount {
			c.MinCount = ed.Count
		}
		if ed.FirstNS != 0 && (c.FirstNS == 0 || ed.FirstNS < c.FirstNS) {
			c.FirstNS = ed.FirstNS
		}
		c.LastNS = max(c.LastNS, ed.LastNS)
	}
	e.found = append(e.found, c)
	return true
}

// tarjan labels the strongly connected components over the active,
// non-self edges, iteratively (lock graphs can be deep).
func (e *enumerator) tarjan() (comp, size []int32) {
	g := e.g
	n := len(g.locks)
	const unvisited = -1
	index := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	comp = make([]int32, n)
	for i := range index {
		index[i] = unvisited
	}
	var stack []int32
	type frame struct {
		v    int32
		next int // position in g.out[v]
	}
	var call []frame
	next := int32(0)
	for root := range int32(n) {
		if index[root] != unvisited {
			continue
		}
		call = append(call, frame{v: root})
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.next < len(g.out[v]) {
				ei := g.out[v][f.next]
				f.next++
				if !e.active(ei) {
					continue
				}
				w := g.to[ei]
				switch {
				case index[w] == unvisited:
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{v: w})
				case onStack[w]:
					low[v] = min(low[v], index[w])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] == index[v] {
				id := int32(len(size))
				var k int32
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = id
					k++
					if w == v {
						break
					}
				}
				size = append(size, k)
			}
		}
	}
	return comp, size
}
