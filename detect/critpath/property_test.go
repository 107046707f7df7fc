package critpath

import (
	"math/rand/v2"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// refPath is a literal, map-based transcription of the algorithm in the
// package doc (recursive, no sorting, no buffers), used to cross-check
// Tracer on random traces.
func refPath(spans []evidence.Span) []seg {
	type node struct {
		i        int
		s, e     int64
		children []int
	}
	byID := map[evidence.SpanID]int{}
	for i := range spans {
		if _, dup := byID[spans[i].SpanID]; !dup {
			byID[spans[i].SpanID] = i
		}
	}
	nodes := map[int]*node{}
	for _, i := range byID {
		e := max(spans[i].EndNS, spans[i].StartNS)
		nodes[i] = &node{i: i, s: spans[i].StartNS, e: e}
	}
	root := -1
	for _, i := range byID {
		p, ok := byID[spans[i].ParentSpanID]
		if ok && p != i && !spans[i].ParentSpanID.IsZero() {
			nodes[p].children = append(nodes[p].children, i)
			continue
		}
		n := nodes[i]
		if root < 0 {
			root = i
			continue
		}
		r := nodes[root]
		switch {
		case n.e-n.s != r.e-r.s:
			if n.e-n.s > r.e-r.s {
				root = i
			}
		case n.s != r.s:
			if n.s < r.s {
				root = i
			}
		case spanKey(spans[i].SpanID) < spanKey(spans[root].SpanID):
			root = i
		}
	}
	var out []seg // latest first
	emit := func(i int, s, e int64) {
		if s >= e {
			return
		}
		if n := len(out); n > 0 && out[n-1].node == int32(i) && out[n-1].start == e {
			out[n-1].start = s
			return
		}
		out = append(out, seg{node: int32(i), start: s, end: e})
	}
	var visit func(i int, cs, ce int64)
	visit = func(i int, cs, ce int64) {
		used := map[int]bool{}
		cursor := ce
		for {
			best := -1
			var bs, be int64
			for _, c := range nodes[i].children {
				n := nodes[c]
				s, e := clamp(n.s, cs, ce), clamp(n.e, cs, ce)
				if used[c] || e > cursor {
					continue
				}
				if best >= 0 {
					b := nodes[best]
					if e < be || e == be && (n.e < b.e || n.e == b.e && (n.s > b.s ||
						n.s == b.s && spanKey(spans[c].SpanID) > spanKey(spans[best].SpanID))) {
						continue
					}
				}
				best, bs, be = c, s, e
			}
			if best < 0 {
				emit(i, cs, cursor)
				return
			}
			// A child skipped now ends after every later cursor: never used.
			for _, c := range nodes[i].children {
				if clamp(nodes[c].e, cs, ce) > cursor {
					used[c] = true
				}
			}
			used[best] = true
			emit(i, be, cursor)
			visit(best, bs, be)
			cursor = bs
		}
	}
	visit(root, nodes[root].s, nodes[root].e)
	for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
		out[l], out[r] = out[r], out[l]
	}
	return out
}

// randomTrace builds a trace of n spans: a root and random descendants,
// some skewed outside their parent, some zero-length, some orphaned, some
// duplicated, with coarse times so that ties are common.
func randomTrace(r *rand.Rand, n int) []evidence.Span {
	spans := make([]evidence.Span, 0, n)
	spans = append(spans, evidence.Span{TraceID: testTrace, SpanID: evidence.SpanID{0, 1}, StartNS: 0, EndNS: int64(10 + r.IntN(100))})
	for len(spans) < n {
		k := len(spans)
		p := spans[r.IntN(k)]
		s := p.StartNS + int64(r.IntN(int(p.EndNS-p.StartNS)+1))
		e := s + int64(r.IntN(int(p.EndNS-s)+1))
		switch r.IntN(12) {
		case 0: // skew
			d := int64(r.IntN(60) - 30)
			s, e = s+d, e+d
		case 1: // outlives the parent
			e += int64(r.IntN(50))
		case 2:
			e = s
		}
		sp := evidence.Span{
			TraceID: testTrace, SpanID: evidence.SpanID{0, byte(k + 1), byte(k >> 8)},
			ParentSpanID: p.SpanID, StartNS: s, EndNS: e,
		}
		switch r.IntN(20) {
		case 0:
			sp.ParentSpanID = evidence.SpanID{0xff, byte(k)} // orphan
		case 1:
			if k > 1 {
				sp.SpanID = spans[1+r.IntN(k-1)].SpanID // duplicate id, never the root's
			}
		}
		spans = append(spans, sp)
	}
	r.Shuffle(len(spans), func(i, j int) { spans[i], spans[j] = spans[j], spans[i] })
	return spans
}

func TestCriticalPathMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var tr Tracer
	for iter := range 3000 {
		spans := randomTrace(r, 1+r.IntN(40))
		p, err := tr.Path(spans)
		if err != nil {
			t.Fatalf("trace %d: %v", iter, err)
		}
		checkPartition(t, spans, p)
		want := refPath(spans)
		if len(want) != len(p.Segments) {
			t.Fatalf("trace %d: %d segments, reference %d\n got  %+v\n want %+v", iter, len(p.Segments), len(want), p.Segments, want)
		}
		for i, w := range want {
			g := p.Segments[i]
			if g.Index != int(w.node) || g.StartNS != w.start || g.EndNS != w.end {
				t.Fatalf("trace %d segment %d: got span %d %d-%d, reference span %d %d-%d",
					iter, i, g.Index, g.StartNS, g.EndNS, w.node, w.start, w.end)
			}
		}
	}
}
