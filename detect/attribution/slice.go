package attribution

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/debugai/debugai/detect/stattest"
)

// Item is one span or trace for dimension slicing.
type Item struct {
	// ID is the item's evidence ID (span:<trace>/<span>), cited as an
	// exemplar when the item is slow; empty IDs are never cited.
	ID string
	// Slow is the label under test.
	Slow bool
	// Dims maps dimension names (version, host, kernel, region, endpoint,
	// ...) to the item's value. Empty names and empty values count as
	// absent: an item only takes part in the tables of the dimensions it
	// carries.
	Dims map[string]string
}

// Test names the test that produced a p-value.
type Test string

// Tests.
const (
	TestFisher Test = "fisher" // Fisher's exact test, one-sided
	TestZ      Test = "z"      // pooled two-proportion z-test, one-sided
)

// Overrep is the test of one (dimension, value): the 2×2 table value vs
// rest × slow vs not slow over the DimItems items that carry the dimension.
type Overrep struct {
	Dimension, Value string
	// Items and Slow count the items with the value, and the slow ones.
	Items, Slow int
	// DimItems and DimSlow count the items carrying the dimension, and the
	// slow ones.
	DimItems, DimSlow int
	// Rate = Slow/Items, BaseRate = DimSlow/DimItems, RestRate is the slow
	// rate of the other values.
	Rate, BaseRate, RestRate float64
	// Lift = Rate / BaseRate (0 when nothing is slow).
	Lift float64
	// Test is the test used; Z its statistic when Test is TestZ.
	Test Test
	Z    float64
	// P is the one-sided p-value for over-representation; Q the
	// Benjamini–Hochberg adjusted p-value across every tested pair.
	P, Q float64
	// Significant: rejected by Benjamini–Hochberg at Config.Alpha with
	// Lift ≥ Config.MinLift.
	Significant bool
	// Exemplars holds the IDs of the first Config.Exemplars slow items with
	// the value, in input order.
	Exemplars []string
}

// Subject is "dimension=value".
func (o *Overrep) Subject() string { return o.Dimension + "=" + o.Value }

// SliceReport is the result of [Slice].
type SliceReport struct {
	// Items and Slow count the input items and the slow ones.
	Items, Slow int
	// Tested holds every tested (dimension, value), by dimension then value.
	Tested []Overrep
	// Significant holds the significant ones, largest lift first (then
	// smallest q, dimension, value).
	Significant []Overrep

	cfg Config
}

type cell struct {
	n, a int
	ex   []string
}

type dimCounts struct {
	n, k int
	vals map[string]*cell
}

// Slice tests every (dimension, value) with at least Config.MinValueItems
// items, and not carried by every item of its dimension, for
// over-representation among slow items (see the package documentation).
func Slice(items []Item, cfg Config) (SliceReport, error) {
	if err := cfg.Validate(); err != nil {
		return SliceReport{}, fmt.Errorf("slice config: %w", err)
	}
	if len(items) == 0 {
		return SliceReport{}, ErrNoItems
	}
	r := SliceReport{Items: len(items), cfg: cfg}
	dims := map[string]*dimCounts{}
	for i := range items {
		it := &items[i]
		if it.Slow {
			r.Slow++
		}
		for d, v := range it.Dims {
			if d == "" || v == "" {
				continue
			}
			dc := dims[d]
			if dc == nil {
				dc = &dimCounts{vals: map[string]*cell{}}
				dims[d] = dc
			}
			c := dc.vals[v]
			if c == nil {
				c = &cell{}
				dc.vals[v] = c
			}
			dc.n++
			c.n++
			if it.Slow {
				dc.k++
				c.a++
				if it.ID != "" && len(c.ex) < cfg.Exemplars {
					c.ex = append(c.ex, it.ID)
				}
			}
		}
	}

	for _, d := range slices.Sorted(maps.Keys(dims)) {
		dc := dims[d]
		for _, v := range slices.Sorted(maps.Keys(dc.vals)) {
			c := dc.vals[v]
			if c.n < cfg.MinValueItems || c.n == dc.n {
				continue
			}
			o, err := testCell(d, v, c, dc, cfg)
			if err != nil {
				return SliceReport{}, err
			}
			r.Tested = append(r.Tested, o)
		}
	}
	if len(r.Tested) == 0 {
		return r, nil
	}
	ps := make([]float64, len(r.Tested))
	for i := range r.Tested {
		ps[i] = r.Tested[i].P
	}
	bh, err := stattest.BenjaminiHochberg(ps, cfg.Alpha)
	if err != nil {
		return SliceReport{}, fmt.Errorf("benjamini-hochberg: %w", err)
	}
	for i := range r.Tested {
		o := &r.Tested[i]
		o.Q = bh.Adjusted[i]
		o.Significant = bh.Reject[i] && o.Lift >= cfg.MinLift && o.Slow > 0
		if o.Significant {
			r.Significant = append(r.Significant, *o)
		}
	}
	slices.SortStableFunc(r.Significant, func(x, y Overrep) int {
		if c := cmp.Compare(y.Lift, x.Lift); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Q, y.Q); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Dimension, y.Dimension); c != 0 {
			return c
		}
		return cmp.Compare(x.Value, y.Value)
	})
	return r, nil
}

// testCell builds the 2×2 table of one value and picks the test: Fisher's
// exact test when the dimension has at most ExactMaxN items or any expected
// count is below MinExpected, the z-test otherwise.
func testCell(d, v string, c *cell, dc *dimCounts, cfg Config) (Overrep, error) {
	a, b := c.a, c.n-c.a
	cc, dd := dc.k-c.a, (dc.n-c.n)-(dc.k-c.a)
	o := Overrep{
		Dimension: d, Value: v,
		Items: c.n, Slow: c.a, DimItems: dc.n, DimSlow: dc.k,
		Rate:      float64(c.a) / float64(c.n),
		BaseRate:  float64(dc.k) / float64(dc.n),
		RestRate:  float64(cc) / float64(dc.n-c.n),
		Exemplars: c.ex,
	}
	if dc.k > 0 {
		o.Lift = o.Rate / o.BaseRate
	}
	N, K, n := float64(dc.n), float64(dc.k), float64(c.n)
	minExp := min(n*K, n*(N-K), (N-n)*K, (N-n)*(N-K)) / N
	var err error
	if dc.n <= cfg.ExactMaxN || minExp < cfg.MinExpected {
		o.Test = TestFisher
		o.P, err = FisherGreater(a, b, cc, dd)
	} else {
		o.Test = TestZ
		o.Z, o.P, err = TwoProportionZ(a, b, cc, dd)
	}
	if err != nil {
		return Overrep{}, fmt.Errorf("testing %s=%s: %w", d, v, err)
	}
	return o, nil
}
