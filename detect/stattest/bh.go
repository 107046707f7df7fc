package stattest

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrNoPValues is returned for an empty p-value list.
var ErrNoPValues = errors.New("no p-values")

// BHResult is the outcome of [BenjaminiHochberg], in input order.
type BHResult struct {
	// Reject is true for hypotheses rejected at the false discovery rate.
	Reject []bool
	// Adjusted holds the BH-adjusted p-values: monotone in the raw
	// p-values and at most 1.
	Adjusted []float64
}

// BenjaminiHochberg controls the false discovery rate at alpha with the
// Benjamini–Hochberg step-up procedure, exactly as statsmodels 0.13.5's
// multipletests(p, alpha, method="fdr_bh"): sort, reject every p-value up
// to the largest p_(i) <= alpha*i/n, adjust p_(i)*n/i with a running
// minimum from the largest, clip at 1. p-values must lie in [0, 1].
func BenjaminiHochberg(p []float64, alpha float64) (BHResult, error) {
	if len(p) == 0 {
		return BHResult{}, ErrNoPValues
	}
	if !(alpha > 0 && alpha < 1) {
		return BHResult{}, fmt.Errorf("alpha %v: must be in (0, 1)", alpha)
	}
	for i, v := range p {
		if !(v >= 0 && v <= 1) {
			return BHResult{}, fmt.Errorf("p-value %d is %v: must be in [0, 1]", i, v)
		}
	}
	n := len(p)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case p[a] < p[b]:
			return -1
		case p[a] > p[b]:
			return 1
		}
		return 0
	})
	ecdf := func(i int) float64 { return float64(i+1) / float64(n) } // _ecdf
	rejectMax := -1
	for i, k := range order {
		if p[k] <= ecdf(i)*alpha {
			rejectMax = i
		}
	}
	adj := make([]float64, n)
	running := math.Inf(1)
	for i := n - 1; i >= 0; i-- {
		running = math.Min(running, p[order[i]]/ecdf(i))
		adj[i] = running
	}
	res := BHResult{Reject: make([]bool, n), Adjusted: make([]float64, n)}
	for i, k := range order {
		res.Reject[k] = i <= rejectMax
		res.Adjusted[k] = math.Min(adj[i], 1)
	}
	return res, nil
}
