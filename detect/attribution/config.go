package attribution

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Errors returned for unusable input. Test with errors.Is.
var (
	// ErrNoComponents: an attribution without components.
	ErrNoComponents = errors.New("no components")
	// ErrTooManyComponents: more than MaxComponents components (the exact
	// Shapley value needs 2^k coalitions).
	ErrTooManyComponents = errors.New("too many components")
	// ErrBadComponent: an empty or repeated component name.
	ErrBadComponent = errors.New("bad component name")
	// ErrEmptyGroup: group A or B has no items.
	ErrEmptyGroup = errors.New("empty group")
	// ErrRowWidth: an item whose number of components is not k.
	ErrRowWidth = errors.New("item has the wrong number of components")
	// ErrNotFinite: a component value that is NaN or infinite.
	ErrNotFinite = errors.New("value is not finite")
	// ErrNoItems: dimension slicing without items.
	ErrNoItems = errors.New("no items")
	// ErrNegativeCount: a contingency table with a negative cell.
	ErrNegativeCount = errors.New("negative count")
	// ErrNoRefs: a finding would cite no evidence.
	ErrNoRefs = errors.New("no evidence to cite")
	// ErrBadStatistic: a Statistic that does not parse.
	ErrBadStatistic = errors.New("bad statistic")
)

// Finding kinds produced by this package.
const (
	KindAttribution     = "latency_attribution"
	KindOverrepresented = "dimension_overrepresented"
)

// Limits.
const (
	// MaxComponents bounds k: 2^8 = 256 coalitions.
	MaxComponents = 8
	// MaxGridLimit bounds Config.MaxGrid.
	MaxGridLimit = 100_000
	// MaxExemplars bounds Config.Exemplars.
	MaxExemplars = 100
)

// Statistic names the statistic of the total latency that [Attribute]
// explains: "mean", "max", or "p" followed by a percentile in [0, 100]
// ("p50", "p95", "p99.9"). Quantiles interpolate linearly between order
// statistics (Hyndman–Fan type 7, numpy's default): with n sorted values
// the p-quantile is x[h] + (h−⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]), h = (n−1)p.
type Statistic string

// Common statistics.
const (
	StatMean Statistic = "mean"
	StatP50  Statistic = "p50"
	StatP95  Statistic = "p95"
	StatP99  Statistic = "p99"
	StatMax  Statistic = "max"
)

// level returns the quantile level in [0, 1], or mean = true.
func (s Statistic) level() (p float64, mean bool, err error) {
	switch s {
	case StatMean:
		return 0, true, nil
	case StatMax:
		return 1, false, nil
	}
	pct, ok := strings.CutPrefix(string(s), "p")
	if ok {
		v, perr := strconv.ParseFloat(pct, 64)
		if perr == nil && v >= 0 && v <= 100 {
			return v / 100, false, nil
		}
	}
	return 0, false, fmt.Errorf("statistic %q: want mean, max or p0..p100: %w", s, ErrBadStatistic)
}

// Config configures [Attribute] and [Slice] and the findings they produce.
type Config struct {
	// Statistic is the statistic of the total latency to attribute.
	Statistic Statistic
	// MaxGrid caps the quantile-matching grid m = min(|A|, |B|, MaxGrid);
	// 1..MaxGridLimit. Cost grows as 2^k · m·log m.
	MaxGrid int
	// MinRelChange is the smallest |stat(B) − stat(A)| / |stat(A)| that
	// makes a latency_attribution finding; ≥ 0.
	MinRelChange float64

	// Alpha, in (0, 1), is the significance level of the KS test that gates
	// attribution findings and the false discovery rate of the
	// Benjamini–Hochberg procedure in dimension slicing.
	Alpha float64
	// MinValueItems is the fewest items a (dimension, value) must have to
	// be tested at all (a filter on the table's margin, independent of the
	// slow labels); ≥ 1.
	MinValueItems int
	// MinExpected: Fisher's exact test is used when any expected cell count
	// of the 2×2 table is below it (Cochran's rule); ≥ 0.
	MinExpected float64
	// ExactMaxN: Fisher's exact test is also used whenever the dimension
	// has at most this many items; the z-test otherwise; ≥ 0.
	ExactMaxN int
	// MinLift is the smallest lift P(slow|value)/P(slow) reported as
	// over-represented; ≥ 1. With many items tiny lifts are significant;
	// this keeps the findings to effects worth reading.
	MinLift float64
	// Exemplars is how many slow item IDs per (dimension, value) are kept
	// and cited; 1..MaxExemplars.
	Exemplars int
}

// DefaultConfig returns the defaults: attribute the p95 on a grid of at
// most 1000 levels; a finding needs a 5% change and KS p ≤ 0.05; slicing
// tests values with at least 5 items, uses Fisher's exact test below an
// expected count of 5 or up to 1000 items, controls the FDR at 5% and
// reports lifts of at least 1.25 with 5 exemplars.
func DefaultConfig() Config {
	return Config{
		Statistic:     StatP95,
		MaxGrid:       1000,
		MinRelChange:  0.05,
		Alpha:         0.05,
		MinValueItems: 5,
		MinExpected:   5,
		ExactMaxN:     1000,
		MinLift:       1.25,
		Exemplars:     5,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if _, _, err := c.Statistic.level(); err != nil {
		return err
	}
	switch {
	case c.MaxGrid < 1 || c.MaxGrid > MaxGridLimit:
		return fmt.Errorf("max grid %d: must be in [1, %d]", c.MaxGrid, MaxGridLimit)
	case !(c.MinRelChange >= 0) || math.IsInf(c.MinRelChange, 1):
		return fmt.Errorf("min relative change %v: must be finite and at least 0", c.MinRelChange)
	case !(c.Alpha > 0 && c.Alpha < 1):
		return fmt.Errorf("alpha %v: must be in (0, 1)", c.Alpha)
	case c.MinValueItems < 1:
		return fmt.Errorf("min value items %d: must be at least 1", c.MinValueItems)
	case !(c.MinExpected >= 0) || math.IsInf(c.MinExpected, 1):
		return fmt.Errorf("min expected count %v: must be finite and at least 0", c.MinExpected)
	case c.ExactMaxN < 0:
		return fmt.Errorf("exact max n %d: must be at least 0", c.ExactMaxN)
	case !(c.MinLift >= 1) || math.IsInf(c.MinLift, 1):
		return fmt.Errorf("min lift %v: must be finite and at least 1", c.MinLift)
	case c.Exemplars < 1 || c.Exemplars > MaxExemplars:
		return fmt.Errorf("exemplars %d: must be in [1, %d]", c.Exemplars, MaxExemplars)
	}
	return nil
}
