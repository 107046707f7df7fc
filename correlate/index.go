package correlate

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"github.com/debugai/debugai/evidence"
)

// nodeIndex interns node names to dense indices. A handful of nodes is the
// common case: they are found by a linear scan (string equality first
// compares lengths and data pointers); beyond smallNodes a map takes over.
type nodeIndex struct {
	names []string
	m     map[string]int32
	last  int32 // index of the last name found, tried first
	// seen caches names by their bytes' address: strings are immutable, so
	// an address and length found once name the same node while the input
	// holds them (for one Join). Events decoded separately repeat a node's
	// name in many copies; this skips comparing their bytes.
	seen [64]struct {
		p   *byte
		n   int
		idx int32
	}
}

const smallNodes = 8

func (n *nodeIndex) find(s string) int32 {
	p := unsafe.StringData(s)
	c := &n.seen[uintptr(unsafe.Pointer(p))>>3&63]
	if c.p == p && c.n == len(s) && p != nil {
		return c.idx
	}
	i := n.lookup(s)
	if i >= 0 {
		c.p, c.n, c.idx = p, len(s), i
	}
	return i
}

func (n *nodeIndex) lookup(s string) int32 {
	if n.last >= 0 && int(n.last) < len(n.names) && n.names[n.last] == s {
		return n.last
	}
	if n.m != nil {
		if i, ok := n.m[s]; ok {
			n.last = i
			return i
		}
		return -1
	}
	for i, name := range n.names {
		if name == s {
			n.last = int32(i)
			return int32(i)
		}
	}
	return -1
}

func (n *nodeIndex) add(s string) int32 {
	if i := n.find(s); i >= 0 {
		return i
	}
	i := int32(len(n.names))
	n.names = append(n.names, s)
	if n.m == nil && len(n.names) > smallNodes {
		n.m = make(map[string]int32, 2*len(n.names))
		for k, name := range n.names {
			n.m[name] = int32(k)
		}
	} else if n.m != nil {
		n.m[s] = i
	}
	n.last = i
	return i
}

// threadKey packs (node, pid, tid) into one word: 20 + 22 + 22 bits. It
// is 0 (never a valid key: pid 0 is rejected) when an id is out of range.
// tid 0 stands for "no thread": the pid-level key.
func threadKey(node int32, pid, tid int64) uint64 {
	if pid <= 0 || pid > MaxID || tid < 0 || tid > MaxID || node < 0 {
		return 0
	}
	return uint64(node)<<44 | uint64(pid)<<22 | uint64(tid)
}

// table is an open-addressing hash table from non-zero uint64 keys to
// int32 values, with linear probing. It replaces Go maps on the per-event
// path: probes stay in one small, cache-resident array.
type table struct {
	keys  []uint64
	vals  []int32
	shift uint
	mask  uint64
	n     int
}

func newTable(n int) *table {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	return &table{
		keys:  make([]uint64, size),
		vals:  make([]int32, size),
		shift: uint(64 - bits.TrailingZeros(uint(size))),
		mask:  uint64(size - 1),
	}
}

// grow doubles the table, rehashing every key.
func (t *table) grow() {
	old, oldVals := t.keys, t.vals
	*t = *newTable(len(old))
	for i, k := range old {
		if k != 0 {
			t.put(k, oldVals[i])
		}
	}
}

func (t *table) slot(k uint64) uint64 { return mix(k) >> t.shift }

// get returns the value for k, or -1.
func (t *table) get(k uint64) int32 {
	if k == 0 {
		return -1
	}
	for i := t.slot(k); ; i = (i + 1) & t.mask {
		switch t.keys[i] {
		case k:
			return t.vals[i]
		case 0:
			return -1
		}
	}
}

// put stores v under k unless k is present; it returns the stored value.
// The table grows to stay at most half full.
func (t *table) put(k uint64, v int32) int32 {
	if 2*(t.n+1) > len(t.keys) {
		t.grow()
	}
	for i := t.slot(k); ; i = (i + 1) & t.mask {
		switch t.keys[i] {
		case k:
			return t.vals[i]
		case 0:
			t.keys[i], t.vals[i] = k, v
			t.n++
			return v
		}
	}
}

// stampIndex finds spans by (trace id, span id). Span ids are random, so
// the span id's bytes are the hash key; the trace id is checked on a hit.
// Of spans repeating an id pair, the first in input order wins.
type stampIndex struct {
	spans []evidence.Span
	tab   []int32 // span index + 1; 0 = empty
	mask  uint64
	shift uint
}

// mix is splitmix64's finalizer: every input bit reaches the top bits,
// which index the tables.
func mix(k uint64) uint64 {
	k ^= k >> 30
	k *= 0xbf58476d1ce4e5b9
	k ^= k >> 27
	k *= 0x94d049bb133111eb
	return k ^ k>>31
}

func spanKey(s evidence.SpanID) uint64 { return mix(binary.LittleEndian.Uint64(s[:])) }

func newStampIndex(spans []evidence.Span) *stampIndex {
	size := 16
	for size < 2*len(spans) {
		size <<= 1
	}
	x := &stampIndex{spans: spans, tab: make([]int32, size), mask: uint64(size - 1),
		shift: uint(64 - bits.TrailingZeros(uint(size)))}
	for i := range spans {
		sp := &spans[i]
		if sp.SpanID.IsZero() {
			continue
		}
		for j := spanKey(sp.SpanID) >> x.shift; ; j = (j + 1) & x.mask {
			v := x.tab[j]
			if v == 0 {
				x.tab[j] = int32(i + 1)
				break
			}
			if o := &spans[v-1]; o.SpanID == sp.SpanID && o.TraceID == sp.TraceID {
				break // duplicate: keep the first
			}
		}
	}
	return x
}

// find returns the index of the span with the ids, or -1.
func (x *stampIndex) find(t evidence.TraceID, s evidence.SpanID) int32 {
	for j := spanKey(s) >> x.shift; ; j = (j + 1) & x.mask {
		v := x.tab[j]
		if v == 0 {
			return -1
		}
		if o := &x.spans[v-1]; o.SpanID == s && o.TraceID == t {
			return v - 1
		}
	}
}
