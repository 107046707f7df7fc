// Package hist is the latency histogram of debugai's load generators
// (bench/loadgen, bench/httpload): log-linear buckets, fixed memory,
// quantiles within ~3 %.
package hist

import (
	"math"
	"math/bits"
	"time"
)

// Histogram is a log-linear latency histogram: 32 buckets per power of two,
// so any recorded duration is reported within ~3 %, in fixed memory (15 KiB)
// whatever the run's length. The zero value is ready to use; it is not safe
// for concurrent use (give each worker its own and Merge them).
type Histogram struct {
	counts [59 * subBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	subBits    = 5
	subBuckets = 1 << subBits
)

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift*subBuckets + int(v>>shift)
}

// bucketMid returns a value in the middle of bucket i.
func bucketMid(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	lower := uint64(i-shift*subBuckets) << shift
	return lower + (uint64(1)<<shift)/2
}

// Record adds one duration; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

// Merge adds the durations recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count is the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded duration, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the q-quantile (0 < q ≤ 1) of the recorded durations: the
// value whose rank is ⌈q·n⌉. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(1, min(rank, h.n))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketMid(i))
		}
	}
	return 0 // unreachable: the counts sum to n
}
