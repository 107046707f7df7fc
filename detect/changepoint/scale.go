package changepoint

import (
	"math"
	"slices"
)

func isNonFinite(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

// check rejects missing and infinite values.
func check(x []float64) error {
	for _, v := range x {
		if math.IsNaN(v) {
			return ErrMissingValue
		}
		if math.IsInf(v, 0) {
			return ErrNotFinite
		}
	}
	return nil
}

// Standardize returns x z-scored exactly as R's scale(x) does: the mean
// from colMeans (long double sum divided by n), the scale
// sqrt(sum(v^2)/(n-1)) of the centred values with a long double sum.
// It fails on missing values and on a constant series.
func Standardize(x []float64) ([]float64, error) {
	if err := check(x); err != nil {
		return nil, err
	}
	if len(x) == 0 {
		return nil, ErrTooShort
	}
	var s ldouble
	for _, v := range x {
		s = s.addF(v)
	}
	center := s.divInt(len(x)).float64()
	out := make([]float64, len(x))
	var ss ldouble
	for i, v := range x {
		c := v - center
		out[i] = c
		ss = ss.addF(c * c)
	}
	scale := math.Sqrt(ss.float64() / float64(max(1, len(x)-1)))
	if scale == 0 {
		return nil, ErrConstant
	}
	for i := range out {
		out[i] /= scale
	}
	return out, nil
}

// prepare validates x and standardizes it when asked to.
func prepare(x []float64, standardize bool) ([]float64, error) {
	if standardize {
		return Standardize(x)
	}
	if err := check(x); err != nil {
		return nil, err
	}
	return x, nil
}

// sumStats returns R changepoint's summary statistics for a mean change:
// c(0, cumsum(x)) and c(0, cumsum(x^2)), both accumulated in long double.
func sumStats(x []float64) (s, s2 []float64) {
	s = make([]float64, len(x)+1)
	s2 = make([]float64, len(x)+1)
	cumsumLD(s, x)
	sq := make([]float64, len(x))
	for i, v := range x {
		sq[i] = v * v
	}
	cumsumLD(s2, sq)
	return s, s2
}

// Clean keeps the change points TCPDBench scores: unique, sorted, with
// 1 <= cp < n-1. It drops the n-1 that ends every PELT and BinSeg list
// and the 0 that starts every BOCPD list. As in TCPDBench, the two
// conventions differ by one: PELT and BinSeg give the last index before a
// change, BOCPD the first index after it.
func Clean(cps []int, n int) []int {
	out := make([]int, 0, len(cps))
	seen := make(map[int]bool, len(cps))
	for _, c := range cps {
		if c >= 1 && c < n-1 && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}
