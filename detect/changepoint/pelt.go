package changepoint

import (
	"fmt"
	"math"
)

// mbicMean is R changepoint's "mean.norm.mbic" cost of a segment with sum
// x, sum of squares x2 and length n: x2 - x^2/n + ln(n). logn holds ln(n).
func mbicMean(x, x2 float64, n int, logn float64) float64 {
	return x2 - x*x/float64(n) + logn
}

// logTable returns ln(0..n) (ln 0 unused).
func logTable(n int) []float64 {
	t := make([]float64, n+1)
	for i := 1; i <= n; i++ {
		t[i] = math.Log(float64(i))
	}
	return t
}

// PELT detects changes in mean with the pruned exact linear time method,
// exactly as R changepoint 2.2.2's cpt.mean(x, penalty="MBIC",
// method="PELT", test.stat="Normal", class=FALSE) does, after z-scoring
// when cfg.Standardize is set. It returns the 0-based last index of every
// segment, ending with len(x)-1; see [Clean].
func PELT(x []float64, cfg Config) ([]int, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(x) < 2 || len(x) < 2*cfg.MinSegLen {
		return nil, fmt.Errorf("PELT needs at least max(2, 2*min segment length) observations, got %d: %w", len(x), ErrTooShort)
	}
	z, err := prepare(x, cfg.Standardize)
	if err != nil {
		return nil, err
	}
	s, s2 := sumStats(z)
	n := len(z)
	pen := 3 * math.Log(float64(n)) // penalty_decision: (diffparam+2)*log(n)
	ends := peltMBIC(s, s2, n, pen, cfg.MinSegLen)
	return toZeroBased(ends), nil
}

// peltMBIC is PELTC from changepoint's PELT_one_func_minseglen.c with the
// mean.norm.mbic cost. It returns the 1-based segment ends, ascending.
func peltMBIC(s, s2 []float64, n int, pen float64, minseglen int) []int {
	logn := logTable(n)
	like := make([]float64, n+1) // lastchangelike
	last := make([]int32, n+1)   // lastchangecpts
	check := make([]int32, 0, 64)
	tmp := make([]float64, 0, 64)

	like[0] = -pen
	for j := minseglen; j < 2*minseglen; j++ {
		like[j] = mbicMean(s[j], s2[j], j, logn[j])
	}
	check = append(check, 0, int32(minseglen))
	for t := 2 * minseglen; t <= n; t++ {
		st, st2 := s[t], s2[t]
		tmp = tmp[:len(check)]
		best, which := math.Inf(1), 0
		for i, c := range check {
			x := st - s[c]
			x2 := st2 - s2[c]
			l := t - int(c)
			v := like[c] + (x2 - x*x/float64(l) + logn[l]) + pen
			tmp[i] = v
			if v < best || i == 0 {
				best, which = v, i
			}
		}
		like[t] = best
		last[t] = check[which]
		// Prune: keep tau with F(tau) + C(tau, t) + pen <= F(t) + pen.
		limit := best + pen
		k := 0
		for i, c := range check {
			if tmp[i] <= limit {
				check[k] = c
				k++
			}
		}
		check = append(check[:k], int32(t-(minseglen-1)))
		if cap(tmp) < len(check) {
			tmp = make([]float64, len(check), 2*len(check))
		}
	}
	var ends []int
	for l := n; l != 0; l = int(last[l]) {
		ends = append(ends, l)
	}
	for i, j := 0, len(ends)-1; i < j; i, j = i+1, j-1 {
		ends[i], ends[j] = ends[j], ends[i]
	}
	return ends
}

func toZeroBased(cps []int) []int {
	out := make([]int, len(cps))
	for i, c := range cps {
		out[i] = c - 1
	}
	return out
}
