package changepoint

import (
	"fmt"
	"math"
	"slices"
)

// BinSeg detects changes in mean with binary segmentation, exactly as R
// changepoint 2.2.2's cpt.mean(x, penalty="MBIC", method="BinSeg",
// Q=cfg.MaxChanges, test.stat="Normal", class=FALSE) does, after z-scoring
// when cfg.Standardize is set. It returns the 0-based last index of every
// segment, ending with len(x)-1; see [Clean].
//
// Like R it looks for Q change points greedily, then keeps the first k
// whose penalised likelihood gain stays above the penalty.
func BinSeg(x []float64, cfg Config) ([]int, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := len(x)
	if n < 2 || n < 2*cfg.MinSegLen {
		return nil, fmt.Errorf("BinSeg needs at least max(2, 2*min segment length) observations, got %d: %w", n, ErrTooShort)
	}
	if float64(cfg.MaxChanges) > float64(n)/2+1 {
		return nil, fmt.Errorf("max changes %d is larger than the maximum number of segments %v for %d observations: %w",
			cfg.MaxChanges, float64(n)/2+1, n, ErrTooShort)
	}
	z, err := prepare(x, cfg.Standardize)
	if err != nil {
		return nil, err
	}
	s, s2 := sumStats(z)
	pen := 3 * math.Log(float64(n))
	cpts, op := binsegMBIC(s, s2, n, pen, cfg.MaxChanges, cfg.MinSegLen)
	ends := slices.Clone(cpts[:op])
	slices.Sort(ends)
	ends = append(ends, n)
	return toZeroBased(ends), nil
}

// binsegMBIC is binseg() from changepoint's BinSeg_one_func_minseglen.c
// with the mean.norm.mbic cost. It returns the Q change points in the order
// found (1-based ends of the left segment) and how many to keep.
func binsegMBIC(s, s2 []float64, n int, pen float64, q, minseglen int) (cpts []int, op int) {
	logn := logTable(n)
	cost := func(a, b int) float64 { // segment (a, b], 0 <= a < b
		l := b - a
		if l <= 0 { // unreachable with valid tau; keep R's arithmetic anyway
			return s2[b] - s2[a] - (s[b]-s[a])*(s[b]-s[a])/float64(l) + math.Log(float64(l))
		}
		return mbicMean(s[b]-s[a], s2[b]-s2[a], l, logn[l])
	}
	lambda := make([]float64, n)
	tau := make([]int, 2, q+2)
	tau[0], tau[1] = 0, n
	cpts = make([]int, q)
	like := make([]float64, q)
	oldmax := 1.7e308
	for k := 0; k < q; k++ {
		clear(lambda)
		i := 1
		st, end := tau[0]+1, tau[1]
		null := float64(-0.5 * cost(st-1, end))
		for j := 2; j < n-2; j++ {
			if j == end {
				st = end + 1
				i++
				end = tau[i]
				null = float64(-0.5 * cost(st-1, end))
				continue
			}
			if j-st >= minseglen && end-j >= minseglen {
				left := float64(-0.5 * cost(st-1, j))
				right := float64(-0.5 * cost(j, end))
				lambda[j] = left + right - null
			}
		}
		maxout, which := lambda[0], 0
		for p := 1; p < n; p++ {
			if lambda[p] > maxout {
				maxout, which = lambda[p], p
			}
		}
		cpts[k] = which
		if oldmax <= maxout {
			like[k] = oldmax
		} else {
			like[k] = maxout
		}
		oldmax = like[k]
		tau = append(tau, which)
		slices.Sort(tau)
	}
	for op < q && 2*like[op] >= pen {
		op++
	}
	return cpts, op
}
