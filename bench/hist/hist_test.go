package hist

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name             string
		values           func(i int) time.Duration
		n                int
		wantP50, wantP99 time.Duration
	}{
		{"tiny values are exact", func(i int) time.Duration { return time.Duration(i % 20) }, 100, 9, 19},
		{"uniform 1..1000 µs", func(i int) time.Duration { return time.Duration(i+1) * time.Microsecond }, 1000,
			500 * time.Microsecond, 990 * time.Microsecond},
		{"constant 3 s", func(int) time.Duration { return 3 * time.Second }, 10, 3 * time.Second, 3 * time.Second},
		{"tail", func(i int) time.Duration {
			if i%100 == 99 {
				return time.Second
			}
			return time.Millisecond
		}, 10000, time.Millisecond, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a, b Histogram
			for i := range tt.n {
				if i%2 == 0 {
					a.Record(tt.values(i))
				} else {
					b.Record(tt.values(i))
				}
			}
			a.Merge(&b)
			for _, c := range []struct {
				q    float64
				want time.Duration
			}{{0.5, tt.wantP50}, {0.99, tt.wantP99}} {
				got := a.Quantile(c.q)
				if math.Abs(float64(got-c.want)) > 0.035*float64(c.want) {
					t.Errorf("q%v = %v, want %v ± 3.5 %%", c.q, got, c.want)
				}
			}
		})
	}
	var empty Histogram
	if got := empty.Quantile(0.5); got != 0 {
		t.Errorf("empty quantile = %v, want 0", got)
	}
}

func TestBucketsContiguous(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 1 << 40, 1<<63 - 1} {
		i := bucketOf(v)
		if i < prev || i >= len(Histogram{}.counts) {
			t.Fatalf("bucketOf(%d) = %d out of order or range", v, i)
		}
		prev = i
		if mid := bucketMid(i); v >= 32 && math.Abs(float64(mid)-float64(v)) > float64(v)/32 {
			t.Errorf("bucketMid(bucketOf(%d)) = %d, more than 1/32 away", v, mid)
		}
	}
}

func TestCountAndMax(t *testing.T) {
	var a, b Histogram
	for _, d := range []time.Duration{3 * time.Millisecond, -time.Second, 7 * time.Millisecond} {
		a.Record(d)
	}
	b.Record(9 * time.Millisecond)
	if a.Count() != 3 || a.Max() != 7*time.Millisecond {
		t.Fatalf("count %d max %v, want 3 and 7ms", a.Count(), a.Max())
	}
	a.Merge(&b)
	if a.Count() != 4 || a.Max() != 9*time.Millisecond {
		t.Fatalf("after merge: count %d max %v, want 4 and 9ms", a.Count(), a.Max())
	}
}
