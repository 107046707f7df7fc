package attribution

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

var propStats = []Statistic{StatMean, StatP50, StatP95, StatP99, StatMax, "p0", "p37.5"}

func randGroup(r *rand.Rand, n, k int, scale []float64) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, k)
		for c := range k {
			x := r.ExpFloat64() * scale[c]
			if r.IntN(4) == 0 {
				x = 0 // components are often absent
			}
			rows[i][c] = math.Round(x)
		}
	}
	return rows
}

func randCase(r *rand.Rand) (comps []string, a, b [][]float64, cfg Config) {
	k := 1 + r.IntN(MaxComponents)
	sa, sb := make([]float64, k), make([]float64, k)
	for c := range k {
		comps = append(comps, fmt.Sprintf("c%d", c))
		sa[c] = 1 + float64(r.IntN(1000))
		sb[c] = sa[c] * (0.5 + 1.5*r.Float64())
	}
	a = randGroup(r, 1+r.IntN(300), k, sa)
	b = randGroup(r, 1+r.IntN(300), k, sb)
	cfg = DefaultConfig()
	cfg.Statistic = propStats[r.IntN(len(propStats))]
	cfg.MaxGrid = 1 + r.IntN(400) // often below the group sizes
	return comps, a, b, cfg
}

// Efficiency: the contributions sum to stat(B) − stat(A) of the full groups,
// whatever the sizes, the grid and the statistic.
func TestPropertyEfficiency(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 300 {
		comps, a, b, cfg := randCase(r)
		got, err := Attribute(comps, a, b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var sum, share float64
		for _, c := range got.Contributions {
			sum += c.Delta
			share += c.Share
		}
		scale := math.Max(math.Abs(got.StatA), math.Abs(got.StatB))
		if math.Abs(sum-got.Delta) > 1e-9*math.Max(scale, 1) {
			t.Fatalf("case %d (%s, k=%d, |A|=%d, |B|=%d, grid %d): Σφ = %v, Δ = %v",
				i, cfg.Statistic, len(comps), len(a), len(b), got.Grid, sum, got.Delta)
		}
		if got.Delta != 0 && math.Abs(share-1) > 1e-6 {
			t.Fatalf("case %d: shares sum to %v", i, share)
		}
		if cfg.Statistic == StatMean {
			for _, c := range got.Contributions {
				if math.Abs(c.Delta-(c.MeanB-c.MeanA)) > 1e-9*math.Max(scale, 1) {
					t.Fatalf("case %d: mean identity: φ %v, mean delta %v", i, c.Delta, c.MeanB-c.MeanA)
				}
			}
		}
		for j := 1; j < len(got.Contributions); j++ {
			if math.Abs(got.Contributions[j].Delta) > math.Abs(got.Contributions[j-1].Delta) {
				t.Fatalf("case %d: not sorted by magnitude", i)
			}
		}
	}
}

// Symmetry and dummy: with equal sizes (no grid error), a component that is
// the same in A and B contributes nothing, and relabelling components
// relabels their contributions.
func TestPropertyDummyAndSymmetry(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for i := range 100 {
		k := 2 + r.IntN(MaxComponents-1)
		n := 1 + r.IntN(200)
		scale := make([]float64, k)
		for c := range scale {
			scale[c] = 1 + float64(r.IntN(100))
		}
		a, b := randGroup(r, n, k, scale), randGroup(r, n, k, scale)
		for j := range n { // component 0 is a constant: a dummy player
			a[j][0], b[j][0] = 7, 7
		}
		var comps []string
		for c := range k {
			comps = append(comps, fmt.Sprintf("c%d", c))
		}
		cfg := cfgWith(propStats[r.IntN(len(propStats))])
		got, err := Attribute(comps, a, b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		phi := byName(got)
		if math.Abs(phi["c0"]) > 1e-9 {
			t.Fatalf("case %d (%s): dummy got %v", i, cfg.Statistic, phi["c0"])
		}
		// Reverse the column order and the names with it.
		perm := func(rows [][]float64) [][]float64 {
			out := make([][]float64, len(rows))
			for j, row := range rows {
				for c := k - 1; c >= 0; c-- {
					out[j] = append(out[j], row[c])
				}
			}
			return out
		}
		rev := make([]string, k)
		for c := range k {
			rev[c] = comps[k-1-c]
		}
		got2, err := Attribute(rev, perm(a), perm(b), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for c, v := range byName(got2) {
			if math.Abs(v-phi[c]) > 1e-9*math.Max(1, math.Abs(v)) {
				t.Fatalf("case %d: relabelled φ_%s = %v, was %v", i, c, v, phi[c])
			}
		}
	}
}

func TestAttributeDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	comps, a, b, cfg := randCase(r)
	first, err := Attribute(comps, a, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, err := Attribute(comps, a, b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, again) {
			t.Fatal("results differ between runs")
		}
	}
}
