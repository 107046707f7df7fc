package critpath

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// Segment is a stretch of a critical path spent in one span's own time.
type Segment struct {
	SpanID  evidence.SpanID
	Service string
	Name    string
	StartNS int64 // unix ns, clipped to the ancestors' intervals
	EndNS   int64
	// SelfNS is the time of the segment attributed to the span's own work.
	// A segment is entirely its span's own time, so SelfNS is always
	// EndNS-StartNS; adjacent stretches of one span are merged into one
	// segment, so a span appears in several segments only when its children
	// interleave.
	SelfNS int64
	// Index is the span's position in the slice given to [Tracer.Path].
	Index int
}

// Path is the critical path of one trace.
type Path struct {
	TraceID evidence.TraceID
	// Root is the span the path starts from (see the package doc for how it
	// is chosen); RootIndex its position in the input.
	Root      evidence.SpanID
	RootIndex int
	// StartNS and EndNS are the root's interval.
	StartNS, EndNS int64
	// Segments are in time order and partition [StartNS, EndNS]: their
	// SelfNS sum to DurationNS. Zero-length stretches are left out.
	Segments []Segment
	// Roots counts parentless spans (1 in a complete trace); subtrees under
	// the others are not on the path.
	Roots int
	// Duplicates counts spans ignored because an earlier span had their id.
	Duplicates int
}

// DurationNS is the root's duration, the length of the critical path.
func (p *Path) DurationNS() int64 { return p.EndNS - p.StartNS }

// CriticalPath computes the critical path of one trace. It is
// (&Tracer{}).Path: use a Tracer to reuse buffers over many traces.
func CriticalPath(spans []evidence.Span) (Path, error) {
	var t Tracer
	return t.Path(spans)
}

// Tracer computes critical paths, reusing its buffers from one trace to the
// next. The zero value is ready to use; a Tracer is not safe for concurrent
// use.
type Tracer struct {
	ents   []keyPos
	ids    []int32 // identity index for Path
	uidx   []int32 // unique span -> position in spans
	ukey   []uint64
	start  []int64
	end    []int64
	parent []int32
	edges  []edge
	off    []int32 // children of unique span u: edges[off[u]:off[u+1]]
	stack  []frame
	segs   []seg // the last path, in time order
}

type keyPos struct {
	key uint64
	pos int32 // position in the index slice, i.e. input order
}

type edge struct {
	end, start int64
	key        uint64
	parent     int32
	child      int32
}

type frame struct {
	node   int32
	next   int32 // next child edge to consider
	lim    int32 // end of the node's child edges
	cs, ce int64 // the node's clipped interval
	cursor int64
}

type seg struct {
	node       int32 // unique span
	start, end int64
}

// pathInfo is what compute returns besides t.segs.
type pathInfo struct {
	root       int32 // unique span
	roots      int
	duplicates int
}

// Path computes the critical path of one trace: spans must share one trace
// id. Their order does not matter except among spans repeating a span id,
// where the first wins.
func (t *Tracer) Path(spans []evidence.Span) (Path, error) {
	t.ids = t.ids[:0]
	for i := range spans {
		t.ids = append(t.ids, int32(i))
	}
	info, err := t.compute(spans, t.ids, true)
	if err != nil {
		return Path{}, err
	}
	root := &spans[t.uidx[info.root]]
	p := Path{
		TraceID:    root.TraceID,
		Root:       root.SpanID,
		RootIndex:  int(t.uidx[info.root]),
		StartNS:    t.start[info.root],
		EndNS:      t.end[info.root],
		Segments:   make([]Segment, len(t.segs)),
		Roots:      info.roots,
		Duplicates: info.duplicates,
	}
	for i, s := range t.segs {
		in := t.uidx[s.node]
		sp := &spans[in]
		p.Segments[i] = Segment{
			SpanID: sp.SpanID, Service: sp.Service, Name: sp.Name,
			StartNS: s.start, EndNS: s.end, SelfNS: s.end - s.start, Index: int(in),
		}
	}
	return p, nil
}

func spanKey(id evidence.SpanID) uint64 { return binary.BigEndian.Uint64(id[:]) }

// compute finds the critical path of the trace formed by spans[idx[i]] and
// leaves it in t.segs (unique span indices, time order).
func (t *Tracer) compute(spans []evidence.Span, idx []int32, checkTrace bool) (pathInfo, error) {
	var info pathInfo
	if len(idx) == 0 {
		return info, ErrNoSpans
	}
	if checkTrace {
		tid := spans[idx[0]].TraceID
		for _, i := range idx[1:] {
			if spans[i].TraceID != tid {
				return info, fmt.Errorf("trace %s and %s: %w", tid, spans[i].TraceID, ErrMixedTraces)
			}
		}
	}

	// Unique spans, sorted by span id; the first of a repeated id wins.
	t.ents = t.ents[:0]
	for k, i := range idx {
		t.ents = append(t.ents, keyPos{spanKey(spans[i].SpanID), int32(k)})
	}
	slices.SortFunc(t.ents, func(a, b keyPos) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	t.uidx, t.ukey, t.start, t.end = t.uidx[:0], t.ukey[:0], t.start[:0], t.end[:0]
	for k, e := range t.ents {
		if k > 0 && e.key == t.ents[k-1].key {
			info.duplicates++
			continue
		}
		in := idx[e.pos]
		sp := &spans[in]
		s, en := sp.StartNS, sp.EndNS
		if en < s {
			en = s
		}
		t.uidx = append(t.uidx, in)
		t.ukey = append(t.ukey, e.key)
		t.start = append(t.start, s)
		t.end = append(t.end, en)
	}
	nu := int32(len(t.uidx))

	// Parents by binary search; choose the root; collect child edges.
	t.parent = t.parent[:0]
	t.edges = t.edges[:0]
	info.root = -1
	for u := int32(0); u < nu; u++ {
		p := int32(-1)
		if pid := spans[t.uidx[u]].ParentSpanID; !pid.IsZero() {
			p = search(t.ukey, spanKey(pid))
			if p == u {
				p = -1
			}
		}
		t.parent = append(t.parent, p)
		if p >= 0 {
			t.edges = append(t.edges, edge{end: t.end[u], start: t.start[u], key: t.ukey[u], parent: p, child: u})
			continue
		}
		info.roots++
		if r := info.root; r < 0 || betterRoot(t.start[u], t.end[u], t.start[r], t.end[r]) {
			info.root = u // ties on start and duration: lower key, met first
		}
	}
	if info.root < 0 {
		return info, ErrNoRoot
	}

	// Children of each span, last finishing first.
	slices.SortFunc(t.edges, func(a, b edge) int {
		if c := cmp.Compare(a.parent, b.parent); c != 0 {
			return c
		}
		if c := cmp.Compare(b.end, a.end); c != 0 {
			return c
		}
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	t.off = slices.Grow(t.off[:0], int(nu)+1)[:nu+1]
	clear(t.off)
	for _, e := range t.edges {
		t.off[e.parent+1]++
	}
	for u := int32(1); u <= nu; u++ {
		t.off[u] += t.off[u-1]
	}

	t.walk(info.root)
	return info, nil
}

// betterRoot orders root candidates: longer first, then earlier start.
func betterRoot(s, e, rs, re int64) bool {
	if d, rd := e-s, re-rs; d != rd {
		return d > rd
	}
	return s < rs
}

// search returns the position of key in the sorted keys, or -1.
func search(keys []uint64, key uint64) int32 {
	lo, hi := 0, len(keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if keys[m] < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(keys) && keys[lo] == key {
		return int32(lo)
	}
	return -1
}

func clamp(v, lo, hi int64) int64 { return min(max(v, lo), hi) }

// walk runs the last-finishing-child walk from root and leaves the
// segments in t.segs in time order.
func (t *Tracer) walk(root int32) {
	t.segs = t.segs[:0]
	t.stack = append(t.stack[:0], frame{
		node: root, next: t.off[root], lim: t.off[root+1],
		cs: t.start[root], ce: t.end[root], cursor: t.end[root],
	})
	for len(t.stack) > 0 {
		f := &t.stack[len(t.stack)-1]
		found := false
		var child frame
		for f.next < f.lim {
			e := &t.edges[f.next]
			f.next++
			ce := clamp(e.end, f.cs, f.ce)
			if ce > f.cursor {
				continue // still running at the cursor: not what we waited for
			}
			c := e.child
			child = frame{
				node: c, next: t.off[c], lim: t.off[c+1],
				cs: clamp(e.start, f.cs, f.ce), ce: ce, cursor: ce,
			}
			found = true
			break
		}
		if found {
			t.emit(f.node, child.ce, f.cursor)
			f.cursor = child.cs
			t.stack = append(t.stack, child)
			continue
		}
		t.emit(f.node, f.cs, f.cursor)
		t.stack = t.stack[:len(t.stack)-1]
	}
	slices.Reverse(t.segs)
}

// emit records [s, e) of node's own time. Segments arrive latest first;
// a stretch adjacent to the previous one of the same span extends it.
func (t *Tracer) emit(node int32, s, e int64) {
	if s >= e {
		return
	}
	if n := len(t.segs); n > 0 && t.segs[n-1].node == node && t.segs[n-1].start == e {
		t.segs[n-1].start = s
		return
	}
	t.segs = append(t.segs, seg{node: node, start: s, end: e})
}
