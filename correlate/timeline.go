package correlate

import (
	"cmp"
	"math"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// spanItem is a span reduced to what the sweep needs: its closed interval
// [start, endx-1] written half-open, and its input index.
type spanItem struct {
	start, endx int64
	idx         int32
}

// byNesting orders spans by start, then longest first, then input order,
// so that of spans starting together the shortest (and then the latest in
// the input) is pushed last and is innermost.
func byNesting(a, b spanItem) int {
	return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(b.endx, a.endx), cmp.Compare(a.idx, b.idx))
}

// timelines holds, for every thread key, the innermost span as a step
// function of time: group g owns breakpoints bt[off[g]:off[g+1]], and the
// innermost span on [bt[k], bt[k+1]) is bo[k] (-1 for none). Every group
// starts with a breakpoint at math.MinInt64 owned by -1.
type timelines struct {
	groups *table  // thread key -> group
	off    []int32 // len(groups)+1 offsets into bt and bo
	cur    []int32 // per group: the breakpoint of the last lookup
	bt     []int64 // breakpoint times
	bo     []int32 // owners
	stack  []spanItem
	items  []spanItem
	gstart int // index of the current group's first breakpoint
}

// build indexes spans by keys[i] (0: the span joins nothing).
func (tl *timelines) build(spans []evidence.Span, keys []uint64) {
	tl.groups = newTable(64)
	grp := make([]int32, len(spans))
	var counts []int32
	for i, k := range keys {
		if k == 0 {
			grp[i] = -1
			continue
		}
		g := tl.groups.put(k, int32(len(counts)))
		if int(g) == len(counts) {
			counts = append(counts, 0)
		}
		grp[i] = g
		counts[g]++
	}
	// Counting sort by group, stable: input order within a group.
	first := make([]int32, len(counts)+1)
	for g, c := range counts {
		first[g+1] = first[g] + c
	}
	tl.items = make([]spanItem, first[len(counts)])
	next := slices.Clone(first[:len(counts)])
	for i, g := range grp {
		if g < 0 {
			continue
		}
		sp := &spans[i]
		end := max(sp.EndNS, sp.StartNS) // a span ending before it starts is a point
		endx := end + 1
		if end == math.MaxInt64 {
			endx = end
		}
		tl.items[next[g]] = spanItem{start: sp.StartNS, endx: endx, idx: int32(i)}
		next[g]++
	}
	tl.off = make([]int32, 0, len(counts)+1)
	tl.bt = make([]int64, 0, 2*len(tl.items)+len(counts))
	tl.bo = make([]int32, 0, cap(tl.bt))
	for g := range counts {
		items := tl.items[first[g]:first[g+1]]
		if !slices.IsSortedFunc(items, byNesting) {
			slices.SortFunc(items, byNesting)
		}
		tl.off = append(tl.off, int32(len(tl.bt)))
		tl.sweep(items)
	}
	tl.off = append(tl.off, int32(len(tl.bt)))
	tl.cur = slices.Clone(tl.off[:len(counts)])
	tl.items, tl.stack = nil, nil
}

// sweep appends one group's breakpoints. Spans are pushed in byNesting
// order; a span leaves the stack when it is on top and has ended. The top
// of the stack is then always the latest-starting span that contains the
// current time, even when spans overlap without nesting.
func (tl *timelines) sweep(items []spanItem) {
	tl.emit(math.MinInt64, -1, true)
	stack := tl.stack[:0]
	for _, it := range items {
		stack = tl.closeBefore(stack, it.start)
		stack = append(stack, it)
		tl.emit(it.start, it.idx, false)
	}
	tl.stack = tl.closeBefore(stack, math.MaxInt64)
}

// closeBefore pops the spans that end at or before t, emitting the owner
// that each end reveals.
func (tl *timelines) closeBefore(stack []spanItem, t int64) []spanItem {
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		if top.endx > t {
			break
		}
		stack = stack[:len(stack)-1]
		// Spans below that ended meanwhile were hidden by top: drop them.
		for len(stack) > 0 && stack[len(stack)-1].endx <= top.endx {
			stack = stack[:len(stack)-1]
		}
		owner := int32(-1)
		if len(stack) > 0 {
			owner = stack[len(stack)-1].idx
		}
		tl.emit(top.endx, owner, false)
	}
	return stack
}

// emit appends breakpoint (t, owner); a later breakpoint at the same time
// replaces an earlier one, and a breakpoint that keeps the owner is
// dropped. first starts a group.
func (tl *timelines) emit(t int64, owner int32, first bool) {
	n := len(tl.bt)
	if first {
		tl.gstart = n
	} else {
		if tl.bt[n-1] == t && n-1 > tl.gstart {
			tl.bt, tl.bo = tl.bt[:n-1], tl.bo[:n-1]
			n--
		}
		if tl.bo[n-1] == owner {
			return
		}
	}
	tl.bt = append(tl.bt, t)
	tl.bo = append(tl.bo, owner)
}

// lookup returns the innermost span of group g at t (-1 for none) and
// whether the owner changes within eps of t. It gallops from the
// breakpoint of the group's previous lookup, so lookups in (nearly)
// time order cost O(1) each and others O(log n).
func (tl *timelines) lookup(g int32, t, eps int64) (owner int32, near bool) {
	lo, hi := tl.off[g], tl.off[g+1]
	bt := tl.bt[:hi] // bt[lo] == MinInt64 <= t
	k := tl.cur[g]
	if bt[k] <= t {
		if k+1 < hi && bt[k+1] <= t {
			from, step := k+1, int32(1)
			for {
				next := from + step
				if next >= hi || bt[next] > t {
					k = search(bt, from, min(next, hi), t)
					break
				}
				from, step = next, 2*step
			}
		}
	} else {
		to, step := k, int32(1) // bt[to] > t
		for {
			next := to - step
			if next <= lo {
				k = search(bt, lo, to, t)
				break
			}
			if bt[next] <= t {
				k = search(bt, next, to, t)
				break
			}
			to, step = next, 2*step
		}
	}
	tl.cur[g] = k
	lower, upper := t-eps, t+eps
	if lower > t { // overflow
		lower = math.MinInt64
	}
	if upper < t {
		upper = math.MaxInt64
	}
	near = bt[k] > lower || (k+1 < hi && bt[k+1] <= upper)
	return tl.bo[k], near
}

// search returns the last k in [lo, hi) with bt[k] <= t, given bt[lo] <= t.
func search(bt []int64, lo, hi int32, t int64) int32 {
	for hi-lo > 1 {
		m := int32(uint32(lo+hi) >> 1)
		if bt[m] <= t {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}
