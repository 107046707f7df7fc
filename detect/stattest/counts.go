package stattest

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrBadTable reports a contingency table with a negative count.
var ErrBadTable = errors.New("negative count in table")

// FisherTwoSided is the two-sided p-value of Fisher's exact test for the
// 2×2 table [[a, b], [c, d]]: the probability, under the hypergeometric
// law of the table's margins, of every table at most as likely as this one
// (with scipy's relative tolerance of 1e-7), as scipy's
// fisher_exact(..., alternative="two-sided") computes it.
func FisherTwoSided(a, b, c, d int) (float64, error) {
	if a < 0 || b < 0 || c < 0 || d < 0 {
		return 0, fmt.Errorf("table [[%d %d] [%d %d]]: %w", a, b, c, d, ErrBadTable)
	}
	N, K, n := a+b+c+d, a+c, a+b
	if N == 0 {
		return 1, nil
	}
	lo, hi := max(0, n+K-N), min(n, K)
	lpmf := func(x int) float64 { return lchoose(K, x) + lchoose(N-K, n-x) - lchoose(N, n) }
	obs := lpmf(a)
	var p float64
	for x := lo; x <= hi; x++ {
		if l := lpmf(x); l <= obs+math.Log1p(1e-7) {
			p += math.Exp(l)
		}
	}
	return math.Min(1, p), nil
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// MannWhitney is the two-sided p-value of the Mann–Whitney U test of x
// against y by the normal approximation with tie correction and continuity
// correction (scipy's mannwhitneyu(method="asymptotic")), and the common
// language effect size P(X > Y) + P(X = Y)/2 (U over n·m). Either sample
// empty gives p = 1 and effect 0.5.
func MannWhitney(x, y []float64) (p, effect float64) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return 1, 0.5
	}
	type obs struct {
		v     float64
		fromX bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(a, b obs) int { return cmp.Compare(a.v, b.v) })
	n := float64(n1 + n2)
	var r1, ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // mean of ranks i+1 .. j
		for k := i; k < j; k++ {
			if all[k].fromX {
				r1 += rank
			}
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	f1, f2 := float64(n1), float64(n2)
	u := r1 - f1*(f1+1)/2
	effect = u / (f1 * f2)
	mu := f1 * f2 / 2
	v := f1 * f2 / 12 * ((n + 1) - ties/(n*(n-1)))
	if v <= 0 {
		return 1, effect
	}
	z := (math.Abs(u-mu) - 0.5) / math.Sqrt(v)
	if z < 0 {
		return 1, effect
	}
	return math.Min(1, math.Erfc(z/math.Sqrt2)), effect
}

// RateIncrease is the one-sided p-value that events counted n1 times over
// exposure e1 (traces, seconds) happen at a higher rate than n0 times over
// e0: the conditional binomial test of two Poisson counts, P(X ≥ n1) for X
// ~ Binomial(n0+n1, e1/(e0+e1)). It is 1 when either exposure is not
// positive or n1 is 0.
func RateIncrease(n0, n1 int, e0, e1 float64) float64 {
	if n0 < 0 || n1 <= 0 || !(e0 > 0) || !(e1 > 0) {
		return 1
	}
	n := n0 + n1
	q := e1 / (e0 + e1)
	lq, l1q := math.Log(q), math.Log1p(-q)
	var p float64
	for x := n1; x <= n; x++ {
		p += math.Exp(lchoose(n, x) + float64(x)*lq + float64(n-x)*l1q)
	}
	return math.Min(1, p)
}
