package attribution

import (
	"fmt"
	"math"
)

// FisherGreater is the one-sided ("greater") p-value of Fisher's exact test
// for the 2×2 table
//
//	        slow  not slow
//	value    a       b
//	rest     c       d
//
// P(X ≥ a) for X hypergeometric with the table's margins: N = a+b+c+d
// items, K = a+c slow, n = a+b drawn. It equals scipy's
// fisher_exact([[a, b], [c, d]], alternative="greater") p-value. Terms are
// exact hypergeometric probabilities (log-gamma for the first, the ratio
// recurrence for the rest), summed from the tail that does not contain the
// mode so they decrease and never overflow; the sum stops when a term no
// longer changes it.
func FisherGreater(a, b, c, d int) (float64, error) {
	if a < 0 || b < 0 || c < 0 || d < 0 {
		return 0, fmt.Errorf("table [[%d %d] [%d %d]]: %w", a, b, c, d, ErrNegativeCount)
	}
	N, K, n := a+b+c+d, a+c, a+b
	lo := max(0, n+K-N)
	hi := min(n, K)
	if a <= lo {
		return 1, nil
	}
	lpmf := func(x int) float64 { return lchoose(K, x) + lchoose(N-K, n-x) - lchoose(N, n) }
	fN, fK, fn := float64(N), float64(K), float64(n)
	mode := int(math.Floor((fn + 1) * (fK + 1) / (fN + 2)))
	if a > mode { // upper tail: terms decrease from a
		sum, t := 1.0, 1.0
		for x := a; x < hi; x++ {
			fx := float64(x)
			t *= (fK - fx) * (fn - fx) / ((fx + 1) * (fN - fK - fn + fx + 1))
			if sum+t == sum {
				break
			}
			sum += t
		}
		return math.Min(1, math.Exp(lpmf(a))*sum), nil
	}
	// a ≤ mode: 1 − P(X ≤ a−1), lower-tail terms decrease from a−1.
	sum, t := 1.0, 1.0
	for x := a - 1; x > lo; x-- {
		fx := float64(x)
		t *= fx * (fN - fK - fn + fx) / ((fK - fx + 1) * (fn - fx + 1))
		if sum+t == sum {
			break
		}
		sum += t
	}
	return math.Max(0, math.Min(1, 1-math.Exp(lpmf(a-1))*sum)), nil
}

// lchoose is log C(n, k).
func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n) + 1)
	b, _ := math.Lgamma(float64(k) + 1)
	c, _ := math.Lgamma(float64(n-k) + 1)
	return a - b - c
}

// TwoProportionZ is the pooled two-proportion z-test of the same table as
// [FisherGreater]: z = (p1 − p2) / sqrt(p(1−p)(1/n1 + 1/n2)) with
// p1 = a/(a+b), p2 = c/(c+d), p = (a+c)/N, and the one-sided p-value
// P(Z ≥ z) = erfc(z/√2)/2 for the alternative p1 > p2. A row without items
// or a pooled proportion of 0 or 1 gives z = 0, p = 1 (no evidence).
func TwoProportionZ(a, b, c, d int) (z, p float64, err error) {
	if a < 0 || b < 0 || c < 0 || d < 0 {
		return 0, 0, fmt.Errorf("table [[%d %d] [%d %d]]: %w", a, b, c, d, ErrNegativeCount)
	}
	n1, n2 := float64(a+b), float64(c+d)
	if n1 == 0 || n2 == 0 {
		return 0, 1, nil
	}
	p1, p2 := float64(a)/n1, float64(c)/n2
	pool := float64(a+c) / (n1 + n2)
	se := math.Sqrt(pool * (1 - pool) * (1/n1 + 1/n2))
	if se == 0 {
		return 0, 1, nil
	}
	z = (p1 - p2) / se
	return z, math.Erfc(z/math.Sqrt2) / 2, nil
}
