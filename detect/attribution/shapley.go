package attribution

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/debugai/debugai/detect/stattest"
)

// Contribution is one component's Shapley share of a statistic's change.
type Contribution struct {
	// Component is the component's name.
	Component string
	// Delta is the component's Shapley value, in the unit of the input
	// (ns); the Deltas of an Attribution sum to its Delta.
	Delta float64
	// Share is Delta / Attribution.Delta: signed, summing to 1 over the
	// components; it can be negative (the component improved) or exceed 1
	// (others offset it). 0 when Attribution.Delta is 0.
	Share float64
	// MeanA and MeanB are the component's mean in each group, for context.
	MeanA, MeanB float64
}

// Attribution is the result of [Attribute].
type Attribution struct {
	// Statistic is the attributed statistic of the total.
	Statistic Statistic
	// Components holds the component names in input order.
	Components []string
	// NA and NB are the group sizes.
	NA, NB int
	// StatA and StatB are the statistic of the total over each full group;
	// Delta = StatB − StatA.
	StatA, StatB, Delta float64
	// Contributions holds one entry per component, largest |Delta| first
	// (ties in input order).
	Contributions []Contribution
	// Grid is m, the number of matched pairs; 0 for the mean (no pairing).
	Grid int
	// GridError is (v_grid(N) − v_grid(∅)) − Delta: how far the matched
	// grid's own change is from the full groups' change; the anchoring of
	// v(∅) and v(N) shares it equally among the components. 0 for the mean
	// and when NA = NB ≤ MaxGrid.
	GridError float64
	// KS is the two-sample Kolmogorov–Smirnov test of A's totals against
	// B's (scipy's ks_2samp, two-sided, method auto).
	KS stattest.KSResult

	cfg Config
}

// Attribute splits stat(B) − stat(A) of the total latency into the Shapley
// contributions of the named components (see the package documentation
// for the game and the pairing). a and b hold one row per item, each with
// len(components) finite values. More than MaxComponents components is an
// error wrapping ErrTooManyComponents.
func Attribute(components []string, a, b [][]float64, cfg Config) (Attribution, error) {
	if err := cfg.Validate(); err != nil {
		return Attribution{}, fmt.Errorf("attribution config: %w", err)
	}
	k := len(components)
	switch {
	case k == 0:
		return Attribution{}, ErrNoComponents
	case k > MaxComponents:
		return Attribution{}, fmt.Errorf("%d components, at most %d: %w", k, MaxComponents, ErrTooManyComponents)
	}
	for i, c := range components {
		if c == "" || slices.Contains(components[:i], c) {
			return Attribution{}, fmt.Errorf("component %d %q: %w", i, c, ErrBadComponent)
		}
	}
	totA, meanA, err := summarize("A", a, k)
	if err != nil {
		return Attribution{}, err
	}
	totB, meanB, err := summarize("B", b, k)
	if err != nil {
		return Attribution{}, err
	}
	p, isMean, _ := cfg.Statistic.level() // validated above

	full := 1<<k - 1
	v := make([]float64, full+1)
	res := Attribution{
		Statistic:  cfg.Statistic,
		Components: slices.Clone(components),
		NA:         len(a),
		NB:         len(b),
		cfg:        cfg,
	}
	if isMean {
		res.StatA, res.StatB = mean(totA), mean(totB)
		for mask := range v {
			for c := range k {
				if mask&(1<<c) != 0 {
					v[mask] += meanB[c]
				} else {
					v[mask] += meanA[c]
				}
			}
		}
	} else {
		res.StatA, res.StatB = quantile(slices.Sorted(slices.Values(totA)), p), quantile(slices.Sorted(slices.Values(totB)), p)
		g := newGrid(a, b, totA, totB, min(len(a), len(b), cfg.MaxGrid))
		g.values(v, p)
		res.Grid = g.m
		res.GridError = (v[full] - v[0]) - (res.StatB - res.StatA)
	}
	res.Delta = res.StatB - res.StatA
	v[0], v[full] = res.StatA, res.StatB // anchor: efficiency w.r.t. the full groups

	phi := shapley(v, k)
	res.Contributions = make([]Contribution, k)
	for c := range k {
		ct := Contribution{Component: components[c], Delta: phi[c], MeanA: meanA[c], MeanB: meanB[c]}
		if res.Delta != 0 {
			ct.Share = phi[c] / res.Delta
		}
		res.Contributions[c] = ct
	}
	slices.SortStableFunc(res.Contributions, func(x, y Contribution) int {
		return cmp.Compare(math.Abs(y.Delta), math.Abs(x.Delta))
	})

	res.KS, err = stattest.KS2Samp(totA, totB, stattest.KSOptions{Alternative: stattest.TwoSided, Method: stattest.Bounded})
	if err != nil {
		return Attribution{}, fmt.Errorf("ks test of totals: %w", err)
	}
	return res, nil
}

// summarize checks a group and returns each row's total and each
// component's mean.
func summarize(name string, rows [][]float64, k int) (totals, means []float64, err error) {
	if len(rows) == 0 {
		return nil, nil, fmt.Errorf("group %s: %w", name, ErrEmptyGroup)
	}
	totals = make([]float64, len(rows))
	sums := make([]float64, k)
	for i, r := range rows {
		if len(r) != k {
			return nil, nil, fmt.Errorf("group %s item %d has %d components, want %d: %w", name, i, len(r), k, ErrRowWidth)
		}
		var t float64
		for c, x := range r {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, nil, fmt.Errorf("group %s item %d component %d is %v: %w", name, i, c, x, ErrNotFinite)
			}
			t += x
			sums[c] += x
		}
		totals[i] = t
	}
	for c := range sums {
		sums[c] /= float64(len(rows))
	}
	return totals, sums, nil
}

// grid holds m matched pairs: for pair i, base[i] is the A item's total and
// diff[i*k+c] is B's component c minus A's.
type grid struct {
	m, k int
	base []float64
	diff []float64
}

// newGrid pairs A's and B's items by rank of total on m quantile levels
// u_i = (i+½)/m: rank ⌊u_i·n⌋ = ⌊(2i+1)n / 2m⌋ in each group.
func newGrid(a, b [][]float64, totA, totB []float64, m int) *grid {
	ra, rb := rankOrder(totA), rankOrder(totB)
	k := len(a[0])
	g := &grid{m: m, k: k, base: make([]float64, m), diff: make([]float64, m*k)}
	for i := range m {
		ia := ra[(2*i+1)*len(a)/(2*m)]
		ib := rb[(2*i+1)*len(b)/(2*m)]
		g.base[i] = totA[ia]
		for c := range k {
			g.diff[i*k+c] = b[ib][c] - a[ia][c]
		}
	}
	return g
}

// rankOrder returns item indices sorted by total, ties by index.
func rankOrder(tot []float64) []int {
	idx := make([]int, len(tot))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int { return cmp.Compare(tot[x], tot[y]) })
	return idx
}

// values fills v[S] with the p-quantile of the hybrid totals of every
// coalition S (bit c set: component c from B).
func (g *grid) values(v []float64, p float64) {
	h := make([]float64, g.m)
	for mask := range v {
		for i := range g.m {
			t := g.base[i]
			d := g.diff[i*g.k : (i+1)*g.k]
			for rest := uint(mask); rest != 0; rest &= rest - 1 {
				t += d[bits.TrailingZeros(rest)]
			}
			h[i] = t
		}
		slices.Sort(h)
		v[mask] = quantile(h, p)
	}
}

// shapley returns the exact Shapley values of the k-player game v, indexed
// by coalition bitmask.
func shapley(v []float64, k int) []float64 {
	// w[s] = s!(k−s−1)!/k!, computed as 1 / (k · C(k−1, s)).
	w := make([]float64, k)
	binom := 1.0
	for s := range k {
		w[s] = 1 / (float64(k) * binom)
		binom = binom * float64(k-1-s) / float64(s+1)
	}
	phi := make([]float64, k)
	for c := range k {
		bit := 1 << c
		var sum float64
		for mask := range v {
			if mask&bit != 0 {
				continue
			}
			sum += w[bits.OnesCount(uint(mask))] * (v[mask|bit] - v[mask])
		}
		phi[c] = sum
	}
	return phi
}

// quantile is the type-7 p-quantile of sorted, non-empty s.
func quantile(s []float64, p float64) float64 {
	h := float64(len(s)-1) * p
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// LabelSlow labels durations above their type-7 p-quantile (p in [0, 1],
// e.g. 0.9) as slow and returns the labels and the threshold.
func LabelSlow(durations []float64, p float64) ([]bool, float64, error) {
	if len(durations) == 0 {
		return nil, 0, ErrNoItems
	}
	if !(p >= 0 && p <= 1) {
		return nil, 0, fmt.Errorf("quantile level %v: must be in [0, 1]", p)
	}
	if slices.ContainsFunc(durations, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }) {
		return nil, 0, fmt.Errorf("durations: %w", ErrNotFinite)
	}
	th := quantile(slices.Sorted(slices.Values(durations)), p)
	slow := make([]bool, len(durations))
	for i, d := range durations {
		slow[i] = d > th
	}
	return slow, th, nil
}
