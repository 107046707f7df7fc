package critpath

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// traceHash mixes a trace id into 64 bits. Both halves count, so 64-bit
// trace ids (upper half zero) spread as well as random 128-bit ones.
// Distinct ids may collide; AddSpans detects that and splits the group.
func traceHash(t *evidence.TraceID) uint64 {
	hi := binary.BigEndian.Uint64(t[:8])
	lo := binary.BigEndian.Uint64(t[8:])
	h := hi*0x9e3779b97f4a7c15 ^ bits.RotateLeft64(lo*0xc2b2ae3d27d4eb4f, 31)
	return h ^ h>>29
}

// grouper orders spans by trace, reusing its buffers.
type grouper struct {
	keys  []uint64
	count []int32
	next  []int32
	out   []traceKey
}

// group returns the positions of spans ordered by (traceHash, input
// position): one counting pass on the top bits of the hash, then small
// sorts per bucket. No per-span map. The result is valid until the next
// call.
func (g *grouper) group(spans []evidence.Span) []traceKey {
	n := len(spans)
	dst := slices.Grow(g.out[:0], n)[:n]
	g.out = dst
	if n == 0 {
		return dst
	}
	b := min(max(bits.Len(uint(n)/8), 1), 16) // ~8 spans per bucket
	shift := 64 - b
	count := slices.Grow(g.count[:0], 1<<b+1)[:1<<b+1]
	clear(count)
	keys := slices.Grow(g.keys[:0], n)[:n]
	g.count, g.keys = count, keys
	for i := range spans {
		k := traceHash(&spans[i].TraceID)
		keys[i] = k
		count[k>>shift+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	next := append(g.next[:0], count[:len(count)-1]...)
	g.next = next
	for i, k := range keys {
		j := &next[k>>shift]
		dst[*j] = traceKey{key: k, pos: int32(i)}
		*j++
	}
	for i := 0; i+1 < len(count); i++ {
		bucket := dst[count[i]:count[i+1]]
		if len(bucket) <= 32 {
			insertionSort(bucket)
		} else {
			slices.SortFunc(bucket, cmpTraceKey)
		}
	}
	return dst
}

// insertionSort sorts by key; it is stable, and buckets arrive in input
// order, so equal keys stay in input order.
func insertionSort(s []traceKey) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].key < s[j-1].key; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func cmpTraceKey(a, b traceKey) int {
	if c := cmp.Compare(a.key, b.key); c != 0 {
		return c
	}
	return cmp.Compare(a.pos, b.pos)
}
