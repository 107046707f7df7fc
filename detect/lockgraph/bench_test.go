package lockgraph

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// layeredEdges models a real program: n locks with a global order (lock i
// before lock j when i < j, as in well-ordered code), m edges mostly
// following it, plus inversions back-edges that close short cycles.
func layeredEdges(n, m, inversions int) []evidence.LockEdge {
	r := rand.New(rand.NewPCG(1, 1))
	name := func(i int) string { return "pkg.(*T" + strconv.Itoa(i) + ").mu" }
	out := make([]evidence.LockEdge, 0, m)
	for len(out) < m-inversions {
		a := r.IntN(n - 1)
		b := a + 1 + r.IntN(min(20, n-1-a)) // nearby in the order
		out = append(out, evidence.LockEdge{
			Node: "n1", Service: "svc", PID: int64(1 + r.IntN(4)), Held: name(a), Acquiring: name(b),
			HeldSite: "f.go:" + strconv.Itoa(a), AcquiringSite: "g.go:" + strconv.Itoa(r.IntN(3)),
			Count: 1 + r.Int64N(100), FirstNS: r.Int64N(1e9), LastNS: 1e9 + r.Int64N(1e9),
		})
	}
	for range inversions {
		e := out[r.IntN(len(out))]
		e.Held, e.Acquiring = e.Acquiring, e.Held
		out = append(out, e)
	}
	return out
}

// randomEdgesBench is the adversarial case: 100k uniformly random edges over
// 10k locks, one giant strongly connected component with thousands of
// cycles of length <= 4.
func randomEdgesBench(n, m int) []evidence.LockEdge {
	r := rand.New(rand.NewPCG(2, 2))
	out := make([]evidence.LockEdge, m)
	for i := range out {
		out[i] = evidence.LockEdge{
			Node: "n1", PID: 1, Held: "L" + strconv.Itoa(r.IntN(n)), Acquiring: "L" + strconv.Itoa(r.IntN(n)), Count: 1,
		}
	}
	return out
}

func benchAnalyze(b *testing.B, in []evidence.LockEdge, cfg Config) {
	b.ReportAllocs()
	var cycles int
	for b.Loop() {
		r, _, err := Analyze(in, nil, cfg)
		if err != nil {
			b.Fatal(err)
		}
		cycles = len(r.Cycles)
	}
	b.ReportMetric(float64(cycles), "cycles")
}

// BenchmarkAnalyze10kLocks100kEdges: 10k locks, 100k edges.
func BenchmarkAnalyze10kLocks100kEdges(b *testing.B) {
	b.Run("layered", func(b *testing.B) { benchAnalyze(b, layeredEdges(10_000, 100_000, 50), DefaultConfig()) })
	b.Run("random", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.MaxCycles = MaxCyclesLimit
		benchAnalyze(b, randomEdgesBench(10_000, 100_000), cfg)
	})
}

// BenchmarkCycles10kLocks100kEdges: cycle enumeration alone, on a built
// graph.
func BenchmarkCycles10kLocks100kEdges(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxCycles = MaxCyclesLimit
	for _, bc := range []struct {
		name  string
		edges []evidence.LockEdge
	}{
		{"layered", layeredEdges(10_000, 100_000, 50)},
		{"random", randomEdgesBench(10_000, 100_000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := Build(bc.edges, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var n int
			for b.Loop() {
				c, _ := g.Cycles()
				n = len(c)
			}
			b.ReportMetric(float64(n), "cycles")
		})
	}
}
