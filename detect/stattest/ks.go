package stattest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Alternative is the alternative hypothesis of a two-sample test, named as
// in scipy: with F and G the CDFs of x and y, "less" means F < G
// somewhere and "greater" means F > G somewhere.
type Alternative string

// Alternatives.
const (
	TwoSided Alternative = "two-sided"
	Less     Alternative = "less"
	Greater  Alternative = "greater"
)

// Method selects how a KS p-value is computed.
type Method string

// Methods, as in scipy.stats.ks_2samp.
const (
	// Auto is Exact when both samples have at most 10,000 observations,
	// else Asymp.
	Auto Method = "auto"
	// Exact counts lattice paths; it falls back to Asymp when the count
	// would overflow or is too expensive, as scipy does.
	Exact Method = "exact"
	// Asymp uses the asymptotic distribution of the statistic.
	Asymp Method = "asymp"
	// Bounded is Exact while the exact count's work (about n1·n2 cells)
	// is at most MaxExactCells, else Asymp: Auto's accuracy on small
	// samples without its quadratic cost on large ones, where the two
	// p-values differ only far in the tail. Not a scipy method.
	Bounded Method = "bounded"
)

// MaxExactCells bounds the lattice the Bounded method counts exactly.
const MaxExactCells = 1_000_000

// maxAutoN is scipy's MAX_AUTO_N.
const maxAutoN = 10000

// Errors for unusable input.
var (
	ErrEmptySample = errors.New("sample is empty")
	ErrNaN         = errors.New("sample holds NaN")
)

// KSOptions configures [KS2Samp].
type KSOptions struct {
	Alternative Alternative
	Method      Method
}

// DefaultKSOptions is scipy's default: two-sided, method auto.
func DefaultKSOptions() KSOptions { return KSOptions{Alternative: TwoSided, Method: Auto} }

// Validate reports an unknown alternative or method.
func (o KSOptions) Validate() error {
	switch o.Alternative {
	case TwoSided, Less, Greater:
	default:
		return fmt.Errorf("alternative %q: want two-sided, less or greater", o.Alternative)
	}
	switch o.Method {
	case Auto, Exact, Asymp, Bounded:
	default:
		return fmt.Errorf("method %q: want auto, exact, asymp or bounded", o.Method)
	}
	return nil
}

// KSResult is the outcome of [KS2Samp].
type KSResult struct {
	// Statistic is the KS statistic D (D+ for greater, D- for less). With
	// the exact method it is rounded to a multiple of 1/lcm(n1, n2), as
	// scipy does.
	Statistic float64
	// PValue is the p-value, clipped to [0, 1].
	PValue float64
	// Method is the method that produced PValue: Exact or Asymp.
	Method Method
	// Location is the observation at which the ECDFs differ by Statistic;
	// Sign is +1 when the ECDF of x is above that of y there, else -1.
	Location float64
	Sign     int
}

// KS2Samp is scipy 1.10.1's stats.ks_2samp(x, y, alternative, method).
// Ties are handled as scipy does (ECDFs evaluated with side='right'). NaN
// in either sample is an error (scipy would propagate NaN).
func KS2Samp(x, y []float64, opt KSOptions) (KSResult, error) {
	if err := opt.Validate(); err != nil {
		return KSResult{}, err
	}
	if len(x) == 0 || len(y) == 0 {
		return KSResult{}, ErrEmptySample
	}
	if slices.ContainsFunc(x, math.IsNaN) || slices.ContainsFunc(y, math.IsNaN) {
		return KSResult{}, ErrNaN
	}
	res := ksStatistic(x, y, opt.Alternative)
	n1, n2 := len(x), len(y)
	g := gcd(n1, n2)
	n1g, n2g := n1/g, n2/g
	mode := opt.Method
	switch mode {
	case Auto:
		mode = Exact
		if max(n1, n2) > maxAutoN {
			mode = Asymp
		}
	case Bounded:
		mode = Exact
		if float64(n1)*float64(n2) > MaxExactCells {
			mode = Asymp
		}
	case Exact:
		if float64(n1g) >= float64(math.MaxInt32)/float64(n2g) {
			mode = Asymp
		}
	}
	prob := math.Inf(-1)
	if mode == Exact {
		ok, d, p := attemptExact(n1, n2, g, res.Statistic, opt.Alternative)
		res.Statistic = d
		if ok {
			prob = p
		} else {
			mode = Asymp
		}
	}
	if mode == Asymp {
		prob = asympPValue(n1, n2, res.Statistic, opt.Alternative)
	}
	res.Method = mode
	res.PValue = math.Min(math.Max(prob, 0), 1)
	return res, nil
}

// ksStatistic computes D, D+ or D- from the ECDFs evaluated with
// searchsorted(side='right') at every observation, as scipy does.
func ksStatistic(x, y []float64, alt Alternative) KSResult {
	d1, d2 := slices.Clone(x), slices.Clone(y)
	slices.Sort(d1)
	slices.Sort(d2)
	n1, n2 := len(d1), len(d2)
	all := append(slices.Clone(d1), d2...)
	argmin, argmax := 0, 0
	var minD, maxD float64
	for i, v := range all {
		c1 := float64(sort.Search(n1, func(k int) bool { return d1[k] > v })) / float64(n1)
		c2 := float64(sort.Search(n2, func(k int) bool { return d2[k] > v })) / float64(n2)
		diff := c1 - c2
		if i == 0 || diff < minD {
			minD, argmin = diff, i
		}
		if i == 0 || diff > maxD {
			maxD, argmax = diff, i
		}
	}
	minS := math.Min(math.Max(-minD, 0), 1)
	if alt == Less || (alt == TwoSided && minS > maxD) {
		return KSResult{Statistic: minS, Location: all[argmin], Sign: -1}
	}
	return KSResult{Statistic: maxD, Location: all[argmax], Sign: 1}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// asympPValue is ks_2samp's asymptotic branch.
func asympPValue(n1, n2 int, d float64, alt Alternative) float64 {
	m, n := float64(n1), float64(n2)
	if m < n {
		m, n = n, m
	}
	en := m * n / (m + n)
	if alt == TwoSided {
		return kolmognSF(int(math.RoundToEven(en)), d)
	}
	z := math.Sqrt(en) * d
	// Hodges' approximation, eq. 5.3; m is the larger sample.
	expt := -2*float64(z*z) - float64(2*z*(m+2*n))/math.Sqrt(m*n*(m+n))/3.0
	return math.Exp(expt)
}

// attemptExact is scipy's _attempt_exact_2kssamp: it reports whether the
// exact p-value could be computed, the statistic rounded to a multiple of
// 1/lcm, and the p-value.
func attemptExact(n1, n2, g int, d float64, alt Alternative) (bool, float64, float64) {
	lcm := (n1 / g) * n2
	h := int(math.RoundToEven(d * float64(lcm)))
	d = float64(h) * 1.0 / float64(lcm)
	if h == 0 {
		return true, d, 1.0
	}
	var prob float64
	switch {
	case alt == TwoSided && n1 == n2:
		prob = probOutsideSquare(n1, h)
	case alt == TwoSided:
		prob = outerProbInside(n1, n2, g, h)
	case n1 == n2:
		prob = 1.0
		for j := 0; j < h; j++ {
			prob *= float64(n1-j) / (float64(n1+j) + 1.0)
		}
	default:
		paths := countPathsOutside(n1, n2, g, h)
		bin := binom(float64(n1+n2), float64(n1))
		if math.IsInf(paths, 0) || math.IsNaN(paths) || paths > bin || math.IsInf(bin, 0) {
			return false, d, math.NaN()
		}
		prob = paths / bin
	}
	if math.IsNaN(prob) || math.IsInf(prob, 0) || !(prob >= 0 && prob <= 1) {
		return false, d, prob
	}
	return true, d, prob
}
