package attribution

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchItems: n items, 5 dimensions of 50 values each, 10% slow, with
// host h7 slow 3× as often.
func benchItems(n int) []Item {
	r := rand.New(rand.NewPCG(42, 42))
	dims := []string{"version", "host", "kernel", "region", "endpoint"}
	vals := make([][]string, len(dims))
	for d := range dims {
		for v := range 50 {
			vals[d] = append(vals[d], fmt.Sprintf("%s-%d", dims[d][:1], v))
		}
	}
	items := make([]Item, n)
	for i := range items {
		m := make(map[string]string, len(dims))
		for d, name := range dims {
			m[name] = vals[d][r.IntN(50)]
		}
		p := 0.1
		if m["host"] == "h-7" {
			p = 0.3
		}
		items[i] = Item{ID: fmt.Sprintf("span:%032x/%016x", i, i), Slow: r.Float64() < p, Dims: m}
	}
	return items
}

func BenchmarkSlice100kx5x50(b *testing.B) {
	items := benchItems(100_000)
	cfg := DefaultConfig()
	b.ReportAllocs()
	b.ResetTimer()
	var rep SliceReport
	for b.Loop() {
		var err error
		rep, err = Slice(items, cfg)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if len(rep.Tested) != 250 || len(rep.Significant) == 0 || rep.Significant[0].Subject() != "host=h-7" {
		b.Fatalf("tested %d, significant %+v", len(rep.Tested), rep.Significant)
	}
	b.ReportMetric(float64(len(items))*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

func benchGroups(n, k int) (a, bb [][]float64) {
	r := rand.New(rand.NewPCG(1, 1))
	scale := make([]float64, k)
	for c := range scale {
		scale[c] = 1e5 * float64(c+1)
	}
	a = randGroup(r, n, k, scale)
	scale[1] *= 3
	bb = randGroup(r, n, k, scale)
	return a, bb
}

func BenchmarkAttribute(b *testing.B) {
	for _, bc := range []struct {
		n, k int
		stat Statistic
	}{
		{10_000, 6, StatP95},
		{100_000, 6, StatP95},
		{100_000, 8, StatP99},
		{100_000, 6, StatMean},
	} {
		comps := make([]string, bc.k)
		for c := range comps {
			comps[c] = fmt.Sprintf("c%d", c)
		}
		a, bb := benchGroups(bc.n, bc.k)
		cfg := cfgWith(bc.stat)
		b.Run(fmt.Sprintf("n=%d/k=%d/%s", bc.n, bc.k, bc.stat), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Attribute(comps, a, bb, cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
