package stattest

import (
	"math"
	"testing"
)

func TestFisherTwoSided(t *testing.T) {
	for _, tc := range []struct {
		a, b, c, d int
		want       float64
	}{
		{8, 2, 1, 5, 0.034965034965034975}, // scipy fisher_exact([[8,2],[1,5]])
		{3, 1, 1, 3, 0.48571428571428565},  // scipy fisher_exact([[3,1],[1,3]])
		{0, 10, 10, 0, 1.0825088224469026e-05},
		{5, 5, 5, 5, 1},
		{0, 0, 0, 0, 1},
	} {
		got, err := FisherTwoSided(tc.a, tc.b, tc.c, tc.d)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-tc.want) > 1e-9*math.Max(1, tc.want) {
			t.Errorf("FisherTwoSided(%d,%d,%d,%d) = %.17g, want %.17g", tc.a, tc.b, tc.c, tc.d, got, tc.want)
		}
	}
	if _, err := FisherTwoSided(-1, 0, 0, 0); err == nil {
		t.Error("negative count accepted")
	}
}

func TestMannWhitney(t *testing.T) {
	// scipy.stats.mannwhitneyu([1,2,3,4,5], [6,7,8,9,10], method="asymptotic")
	p, eff := MannWhitney([]float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10})
	if math.Abs(p-0.012185780355344664) > 1e-9 || eff != 0 {
		t.Errorf("p = %.17g, effect %v", p, eff)
	}
	// Heavy ties: counts 0/1.
	x := []float64{0, 0, 0, 0, 0, 0, 1, 1}
	y := []float64{1, 1, 1, 1, 1, 1, 1, 0}
	p, eff = MannWhitney(x, y)
	if p >= 0.05 || eff >= 0.5 {
		t.Errorf("tied counts: p = %v, effect %v; want a significant decrease", p, eff)
	}
	if p, _ := MannWhitney([]float64{1, 1, 1}, []float64{1, 1, 1}); p != 1 {
		t.Errorf("identical constant samples: p = %v, want 1", p)
	}
}

// Exact values of P(X >= n1), X ~ Binomial(n0+n1, e1/(e0+e1)), computed
// by hand (as scipy.stats.binomtest(..., alternative="greater") gives).
func TestRateIncrease(t *testing.T) {
	for _, tc := range []struct {
		n0, n1 int
		e0, e1 float64
		want   float64
	}{
		{0, 21, 100, 100, math.Pow(0.5, 21)},
		{5, 5, 100, 100, 1 - 386.0/1024},
		{10, 2, 1, 1, 1 - 13.0/4096},
		{0, 0, 1, 1, 1},
		{3, 3, 0, 1, 1},
	} {
		if got := RateIncrease(tc.n0, tc.n1, tc.e0, tc.e1); math.Abs(got-tc.want) > 1e-9*math.Max(1, tc.want) && math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("RateIncrease(%d, %d, %v, %v) = %v, want %v", tc.n0, tc.n1, tc.e0, tc.e1, got, tc.want)
		}
	}
}
